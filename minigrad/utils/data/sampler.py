"""Samplers: which examples a DataLoader takes, in which order, as PyTorch defines them.

A sampler is any iterable of indices with ``__len__`` (a DistributedSampler adds
``set_epoch``); a batch sampler is an iterable of lists of indices. Randomness comes from
a ``generator=`` (a ``minigrad.Generator``) or, by default, from the global generator
that ``mg.manual_seed`` seeds, so a seeded script draws the same batches every run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from minigrad.tensor import unwrap

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "numpy_rng",
]


def numpy_rng(generator: Any = None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s (a ``minigrad.Generator``), or
    the global one's (looked up at each call: ``mg.manual_seed`` replaces it)."""
    from minigrad import rng

    if generator is None:
        return rng.get_rng()
    if hasattr(generator, "numpy_generator"):
        return generator.numpy_generator()
    raise TypeError(f"generator must be a minigrad.Generator, got {type(generator).__name__}")


def _fresh_rng(generator: Any) -> np.random.Generator:
    """For one pass of a sampler: ``generator`` itself, or without one a generator seeded
    by one draw from the global generator (as PyTorch does, so the global generator
    advances by one draw per epoch whatever the dataset's size)."""
    if generator is not None:
        return numpy_rng(generator)
    return np.random.default_rng(int(numpy_rng(None).integers(2**63)))


def _positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"{owner}: {name} should be a positive integer value, but got {name}={value!r}"
        )
    return int(value)


class Sampler:
    """Base class: subclasses define ``__iter__`` (and usually ``__len__``)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation each pass (or, with ``replacement``, ``num_samples`` draws);
    ``num_samples`` beyond len(data_source) without replacement chains permutations."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                f"RandomSampler: replacement should be a boolean value, but got {replacement!r}"
            )
        if num_samples is not None:
            _positive_int(num_samples, "num_samples", "RandomSampler")
        if generator is not None:
            numpy_rng(generator)  # refuse a wrong type now, not at the first epoch
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        rng = _fresh_rng(self.generator)
        if self.replacement:
            left = self.num_samples
            while left > 0:  # in blocks, so memory does not grow with num_samples
                k = min(left, 1 << 16)
                yield from rng.integers(0, n, size=k).tolist()
                left -= k
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[: self.num_samples % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each pass."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        if generator is not None:
            numpy_rng(generator)
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in _fresh_rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        _positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        if not isinstance(replacement, bool):
            raise ValueError(
                "WeightedRandomSampler: replacement should be a boolean value, but got "
                f"{replacement!r}"
            )
        w = np.asarray(unwrap(weights), dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(
                "WeightedRandomSampler: weights should be a non-empty 1-d sequence, got shape "
                f"{w.shape}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero"
            )
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement "
                f"from {np.count_nonzero(w)} non-zero weights"
            )
        if generator is not None:
            numpy_rng(generator)
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = _fresh_rng(self.generator)
        p = self.weights / self.weights.sum()
        yield from rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last may be shorter unless
    ``drop_last``."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        self.batch_size = _positive_int(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ValueError(
                "BatchSampler: drop_last should be a boolean value, but got "
                f"drop_last={drop_last!r}"
            )
        self.sampler = sampler
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        batch: list = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
