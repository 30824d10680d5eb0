"""DataLoader and random_split."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["DataLoader", "Subset", "random_split"]


class Subset:
    """The examples of ``dataset`` at ``indices`` (array-indexable like the dataset)."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __repr__(self) -> str:
        return f"Subset(n={len(self)}, of={self.dataset!r})"


def random_split(dataset, lengths: Sequence[float], seed: int | None = None) -> list[Subset]:
    """Split into disjoint random subsets of the given lengths.

    ``lengths`` are counts summing to len(dataset), or fractions summing to 1 (the
    remainder of rounding goes to the first subsets, as in PyTorch).
    """
    n = len(dataset)
    lengths = list(lengths)
    if any(length < 0 for length in lengths):
        raise ValueError(f"lengths: expected non-negative values, got {lengths}")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        counts = [int(x) for x in lengths]
    elif abs(sum(lengths) - 1.0) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        raise ValueError(f"lengths: expected counts summing to {n} or fractions summing to 1")
    if sum(counts) != n:
        raise ValueError(f"lengths: counts {counts} sum to {sum(counts)}, dataset has {n}")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _collate(items: list):
    """Stack a list of items (arrays or tuples of arrays/scalars) into a batch."""
    first = items[0]
    if isinstance(first, tuple):
        return tuple(_collate([it[k] for it in items]) for k in range(len(first)))
    return np.stack([np.asarray(it) for it in items])


def _as_batch(batch):
    """Floating arrays become float32; integer labels stay int64."""
    if isinstance(batch, tuple):
        return tuple(_as_batch(b) for b in batch)
    batch = np.asarray(batch)
    if batch.dtype.kind == "f":
        return np.ascontiguousarray(batch, dtype=np.float32)
    if batch.dtype.kind in "iub":
        return batch.astype(np.int64)
    return batch


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Yields what the dataset's items are, batched: for the image datasets here a tuple
    ``(x, y)`` with x float32 (B, 1, H, W) and y int64 (B,). With ``shuffle`` each epoch
    takes a new permutation from a Generator seeded once with ``seed``, so runs repeat
    exactly and epochs differ. ``drop_last`` drops a final batch smaller than batch_size.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
    ):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _fetch(self, idx: np.ndarray):
        try:
            return self.dataset[idx]  # array-backed datasets take an index array at once
        except (TypeError, IndexError, KeyError):
            return _collate([self.dataset[int(i)] for i in idx])

    def __iter__(self) -> Iterator:
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield _as_batch(self._fetch(idx))
