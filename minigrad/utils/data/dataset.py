"""Datasets as PyTorch defines them: anything with ``__getitem__`` and ``__len__``.

``Dataset`` is the base class (``a + b`` concatenates); ``TensorDataset`` pairs tensors
along their first axis; ``Subset`` is a view at given indices; ``ConcatDataset`` chains
datasets; ``random_split`` cuts one into disjoint random subsets.

The batch fast path
-------------------
PyTorch's DataLoader builds a batch item by item: ``collate_fn([ds[i] for i in idx])``.
A dataset that can do better declares it by defining ``get_batch(indices)``: given a
1-d int64 array it returns what ``default_collate([ds[i] for i in indices])`` would
(NumPy arrays may stand in for Tensors). The DataLoader then calls it once per batch,
when ``collate_fn`` is the default; otherwise it goes item by item. Having the method
is the declaration: nothing is guessed from a failed call, so a dataset whose
``__getitem__`` takes one index always works. TensorDataset, Subset (of a dataset with
the fast path) and the image datasets of ``minigrad.data`` have it.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from minigrad.tensor import Tensor, unwrap

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(index)`` and
    ``__len__``; ``a + b`` is ``ConcatDataset([a, b])``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _is_index(index: Any) -> bool:
    """One example's index (an int or a 0-d integer array/Tensor), not a batch."""
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        return True
    return isinstance(index, (np.ndarray, Tensor)) and index.ndim == 0 and index.dtype.kind in "iu"


def _index_array(indices: Any, what: str) -> np.ndarray:
    a = np.asarray(unwrap(indices))
    if a.size == 0:
        a = a.astype(np.int64)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise TypeError(
            f"{what}: expected a 1-d sequence of integer indices, got {a.dtype} {a.shape}"
        )
    return a.astype(np.int64, copy=False)


class TensorDataset(Dataset):
    """Example ``i`` is ``tuple(t[i] for t in tensors)``; every tensor (or array) must
    have the same first dimension."""

    def __init__(self, *tensors: Any):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        sizes = [np.shape(t)[0] if np.ndim(t) > 0 else None for t in tensors]
        if any(s != sizes[0] for s in sizes) or sizes[0] is None:
            raise ValueError(f"TensorDataset: size mismatch between tensors (first dims {sizes})")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def get_batch(self, indices: np.ndarray) -> tuple:
        return tuple(_take(t, indices) for t in self.tensors)

    def __len__(self) -> int:
        return int(np.shape(self.tensors[0])[0])


def _take(t: Any, indices: np.ndarray) -> Any:
    """Rows of a Tensor or array; a Tensor that requires grad goes through indexing so
    the gradient flows, as ``torch.stack`` of its rows would."""
    if isinstance(t, Tensor):
        return t[indices] if t.requires_grad else Tensor._wrap(t._data[indices])
    return np.asarray(t)[indices]


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices`` (kept as a 1-d int64 array)."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = _index_array(indices, "Subset indices")

    def __getitem__(self, index: Any) -> Any:
        if _is_index(index):
            return self.dataset[int(self.indices[int(index)])]
        # a batch of positions (a list, array or slice), as PyTorch's Subset takes lists
        return self.dataset[
            self.indices[index if isinstance(index, slice) else _index_array(index, "Subset")]
        ]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def get_batch(self) -> Any:
        """The batch fast path, present exactly when the wrapped dataset has one (a
        Subset must not declare a capability its dataset lacks)."""
        if not hasattr(self.dataset, "get_batch"):
            raise AttributeError(f"{type(self.dataset).__name__} has no get_batch")
        return self._get_batch

    def _get_batch(self, indices: np.ndarray) -> Any:
        return self.dataset.get_batch(self.indices[indices])

    def __repr__(self) -> str:
        return f"Subset(n={len(self)}, of={self.dataset!r})"


class ConcatDataset(Dataset):
    """Datasets one after another: index ``len(a) + i`` is ``b[i]``."""

    def __init__(self, datasets: Iterable[Any]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: Any) -> Any:
        if not _is_index(index):
            raise TypeError(f"ConcatDataset: index must be an integer, got {type(index).__name__}")
        index = int(index)
        if index < 0:
            if -index > len(self):
                raise IndexError(
                    f"ConcatDataset: index {index} out of range for length {len(self)}"
                )
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


def random_split(dataset: Any, lengths: Sequence[float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into disjoint random Subsets of the given ``lengths``, as PyTorch.

    ``lengths`` are counts summing to len(dataset), or fractions summing to 1 (each gets
    floor(n * fraction) and the remainder goes one by one to the first subsets). The
    permutation is drawn from ``generator`` (a ``minigrad.Generator``), by default the
    global one that ``mg.manual_seed`` seeds.
    """
    from minigrad.utils.data.sampler import numpy_rng

    n = len(dataset)
    lengths = list(lengths)
    if any(not isinstance(x, (int, float, np.integer, np.floating)) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative numbers, got {lengths}")
    if (
        math.isclose(sum(lengths), 1)
        and sum(lengths) <= 1
        and not all(isinstance(x, (int, np.integer)) for x in lengths)
    ):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0", stacklevel=2)
    elif all(isinstance(x, (int, np.integer)) for x in lengths):
        counts = [int(x) for x in lengths]
    else:
        raise ValueError(
            f"random_split: lengths must be counts summing to {n} or fractions summing to 1, "
            f"got {lengths}"
        )
    if sum(counts) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(counts)}) does not equal the length of "
            f"the input dataset ({n})"
        )
    perm = numpy_rng(generator).permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
