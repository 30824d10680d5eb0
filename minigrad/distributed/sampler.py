"""``DistributedSampler``: each rank's share of a dataset's indices, PyTorch's rules.

Every rank draws the same permutation (seeded by ``seed + epoch``) and takes every
``num_replicas``-th index of it starting at its rank, so the shards are disjoint. To give
every rank the same number of examples (and so the same number of steps, which the
collectives need), the permutation is padded by repeating its first indices
(``drop_last=False``) or cut to a multiple of ``num_replicas`` (``drop_last=True``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def _int_arg(name: str, value: Any, low: int, high: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"DistributedSampler: {name} must be an integer {bound}, got {value!r}")
    return int(value)


class DistributedSampler:
    """The indices of rank ``rank``'s shard of ``dataset`` (anything with ``len``).

    An iterable of ints with ``len()``, for a DataLoader's ``sampler=``; call
    ``set_epoch(epoch)`` before each epoch so that the shuffle changes from epoch to epoch
    (and stays the same on every rank). ``num_replicas`` and ``rank`` default to the MPI
    job's ``world_size()`` and ``rank()``.
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from minigrad.distributed import comm

            num_replicas = comm.world_size() if num_replicas is None else num_replicas
            rank = comm.rank() if rank is None else rank
        self.num_replicas = _int_arg("num_replicas", num_replicas, 1)
        self.rank = _int_arg("rank", rank, 0, self.num_replicas)
        self.seed = _int_arg("seed", seed, 0)
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas  # the remainder is dropped
        else:
            self.num_samples = -(-n // self.num_replicas)  # padded up to a multiple
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` (seeded by ``seed + epoch``) next."""
        self.epoch = _int_arg("epoch", epoch, 0)

    def __len__(self) -> int:
        return self.num_samples

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.num_samples == 0:
            return np.zeros(0, dtype=np.int64)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        # Position k of the (padded or cut) global order is order[k % n]: only this rank's
        # positions are made, so the work grows with the shard, not with num_replicas.
        positions = np.arange(self.rank, self.total_size, self.num_replicas, dtype=np.int64)
        return order[positions % n].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __repr__(self) -> str:
        return (
            f"DistributedSampler(rank={self.rank}, num_replicas={self.num_replicas}, "
            f"num_samples={self.num_samples}, shuffle={self.shuffle}, seed={self.seed}, "
            f"drop_last={self.drop_last}, epoch={self.epoch})"
        )
