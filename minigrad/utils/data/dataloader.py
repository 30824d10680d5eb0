"""``DataLoader``: batches of Tensors from a dataset, with PyTorch's arguments.

Order: a sampler gives indices (``SequentialSampler``, or ``RandomSampler`` with
``shuffle=True``), a ``BatchSampler`` groups them, and each group is fetched and
collated (``default_collate`` stacks arrays and Tensors into Tensors). Shuffling draws
from ``generator`` or from the global generator (``mg.manual_seed``): two runs of a
seeded script see the same batches, and every epoch a new order.

Workers are threads. ``num_workers=k > 0`` starts k threads that fetch and collate
batches ahead of the loop (``prefetch_factor`` batches per thread in flight), handing
them over in the sampler's order; the sampler itself runs in the caller's thread, so the
batches and their order are those of ``num_workers=0``. Threads share one interpreter:
what they overlap with is the training step (minigrad's kernels and NumPy release the
GIL), not one another's Python code, so one worker usually gives what there is to gain.
Unlike PyTorch's worker processes they share the dataset object and its random
generators, so a transform that draws random numbers sees its draws in the order the
threads happen to run: with more than one worker such draws are not repeatable run to
run (the batches' contents otherwise are). ``worker_init_fn(worker_id)`` runs once in each
thread; ``get_worker_info()`` inside a worker gives its id, ``num_workers`` and a seed
(``base_seed + id``, the base drawn from the generator at each epoch, or once with
``persistent_workers``). ``persistent_workers=True`` keeps the threads between epochs.

``pin_memory`` has no meaning here: page-locked memory speeds copies to a GPU and
minigrad has none (batches already live in ordinary CPU memory). It is accepted, with the
warning PyTorch gives on a machine without an accelerator.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from minigrad.utils.data.collate import default_collate, default_convert
from minigrad.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    numpy_rng,
)

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker thread."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """This worker thread's WorkerInfo, or None in any other thread."""
    return getattr(_local, "info", None)


class _WorkerStart:
    """The thread pool's initializer: numbers the threads 0, 1, ... and runs the user's
    worker_init_fn in each."""

    def __init__(self, num_workers: int, base_seed: int, dataset: Any, init_fn: Callable | None):
        self.num_workers, self.base_seed, self.dataset = num_workers, base_seed, dataset
        self.init_fn = init_fn
        self.lock = threading.Lock()
        self.next_id = 0

    def __call__(self) -> None:
        with self.lock:
            wid = self.next_id
            self.next_id += 1
        _local.info = WorkerInfo(wid, self.num_workers, self.base_seed + wid, self.dataset)
        if self.init_fn is not None:
            self.init_fn(wid)


_FIXED = ("dataset", "batch_size", "batch_sampler", "sampler", "drop_last", "persistent_workers")


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors (PyTorch's DataLoader).

    Arguments as in PyTorch: ``batch_size`` (None: no batching, each example converted
    by ``default_convert``), ``shuffle``, ``sampler`` / ``batch_sampler`` (instead of
    shuffle / batch_size / drop_last), ``collate_fn`` (default ``default_collate``),
    ``drop_last``, ``generator`` (a ``minigrad.Generator`` for shuffling; default: the
    global one, seeded by ``mg.manual_seed``), ``num_workers``, ``prefetch_factor``,
    ``persistent_workers``, ``worker_init_fn``, ``timeout`` (seconds to wait for a
    worker's batch) and ``pin_memory`` — see the module docstring for what the workers
    are here and why ``pin_memory`` does nothing. ``multiprocessing_context`` must be
    None: there are no worker processes to configure.

    A dataset that defines ``get_batch(indices)`` is asked for whole batches when
    ``collate_fn`` is the default (see ``minigrad.utils.data.dataset``); any other is
    indexed one example at a time with Python ints, as in PyTorch.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
    ):
        if (
            isinstance(num_workers, bool)
            or not isinstance(num_workers, (int, np.integer))
            or num_workers < 0
        ):
            raise ValueError(
                f"DataLoader: num_workers option should be a non-negative integer, got "
                f"{num_workers!r}; use num_workers=0 to load in the calling thread"
            )
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified with worker threads: "
                "let num_workers > 0, otherwise set prefetch_factor to None"
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (
            isinstance(prefetch_factor, bool)
            or not isinstance(prefetch_factor, (int, np.integer))
            or prefetch_factor < 1
        ):
            raise ValueError(
                f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}"
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            raise ValueError(
                "DataLoader: multiprocessing_context must be None: minigrad's workers are threads"
            )
        if generator is not None:
            numpy_rng(generator)  # a wrong type fails here, not at the first epoch
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is mutually "
                "exclusive with drop_last"
            )
        if sampler is None:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        elif shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if pin_memory:
            warnings.warn(
                "DataLoader: 'pin_memory' argument is set as true but no accelerator is found "
                "(minigrad computes on the CPU), so pinned memory won't be used",
                UserWarning,
                stacklevel=2,
            )

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.pin_memory = bool(pin_memory)
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = None
        self._auto_collation = batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
            self._fast = self._auto_collation and hasattr(dataset, "get_batch")
        else:
            self._fast = False
        self.collate_fn = collate_fn
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_initialized", False) and name in _FIXED:
            raise ValueError(
                f"DataLoader: {name} attribute should not be set after the DataLoader is "
                "initialized"
            )
        super().__setattr__(name, value)

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _fetch(self, index: Any) -> Any:
        """One batch (or, without batching, one example) for the sampler's ``index``."""
        ds = self.dataset
        if not self._auto_collation:
            return self.collate_fn(ds[index])
        if self._fast:
            return default_convert(ds.get_batch(np.asarray(index, dtype=np.int64)))
        if getattr(ds, "__getitems__", None):  # PyTorch's protocol: a list of examples
            return self.collate_fn(ds.__getitems__(index))
        return self.collate_fn([ds[i] for i in index])

    def __iter__(self):
        # As in PyTorch, every epoch draws the workers' base seed first (with or without
        # workers), so the sampler's draws, and the batches, do not depend on num_workers.
        base_seed = int(numpy_rng(self.generator).integers(2**63 - 2**16))
        indices = iter(self._index_sampler)
        if self.num_workers == 0:
            return map(self._fetch, indices)
        return self._threaded(indices, base_seed)

    def _new_pool(self, base_seed: int) -> concurrent.futures.ThreadPoolExecutor:
        start = _WorkerStart(self.num_workers, base_seed, self.dataset, self.worker_init_fn)
        return concurrent.futures.ThreadPoolExecutor(
            max_workers=self.num_workers,
            thread_name_prefix="minigrad-dataloader",
            initializer=start,
        )

    def _threaded(self, indices, base_seed: int):
        if self.persistent_workers:
            if self._pool is None:  # its threads keep the seeds of their first epoch
                self._pool = self._new_pool(base_seed)
            pool = self._pool
        else:
            pool = self._new_pool(base_seed)
        pending: collections.deque = collections.deque()
        try:
            depth = self.num_workers * self.prefetch_factor
            for index in itertools.islice(indices, depth):
                pending.append(pool.submit(self._fetch, index))
            while pending:
                future = pending.popleft()
                try:
                    batch = future.result(timeout=self.timeout or None)
                except concurrent.futures.TimeoutError:
                    raise RuntimeError(
                        f"DataLoader timed out after {self.timeout} seconds"
                    ) from None
                for index in itertools.islice(indices, 1):  # keep the queue full
                    pending.append(pool.submit(self._fetch, index))
                yield batch
        finally:
            for future in pending:
                future.cancel()
            if not self.persistent_workers:
                pool.shutdown(wait=True)

    def __del__(self) -> None:
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown(wait=False)
