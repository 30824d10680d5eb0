"""The array cache: freed NumPy buffers kept for the next step.

A training step allocates the same activations and gradients every time and frees
them all at the end of backward. With NumPy's default allocator, glibc hands the freed
top of its heap back to the kernel and the next step faults every page in again (half
of a small convolutional autoencoder's step went there). So while minigrad runs an op
with an input of 16 KiB or more, a backward pass or an optimizer step, NumPy allocates
through minigrad's handler (src_c/mg_array_cache.c), which keeps freed buffers of
64 KiB and more, up to a limit, and hands them out again for requests of the same size.
Arrays you create yourself outside minigrad's ops keep NumPy's allocator.

The limit is ``MINIGRAD_CACHE_MB`` megabytes (default 256) at import; change it with
:func:`set_cache_limit` (0 turns caching off) and return everything kept with
:func:`empty_cache`, as with ``torch.cuda.empty_cache``.
"""

from __future__ import annotations

import os

from minigrad._C import core as _core

DEFAULT_LIMIT_MB = 256

#: The caching handler, and how to install a NumPy memory handler in this thread's
#: context (it returns the previous one):
#: ``prev = use_handler(CACHING); try: ... finally: use_handler(prev)``.
CACHING = _core.ARRAY_CACHE
use_handler = _core.set_memory_handler


def set_cache_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` bytes of freed array buffers (0: keep none)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"set_cache_limit: nbytes must be an int >= 0, got {nbytes!r}")
    _core.set_cache_limit(nbytes)


def empty_cache() -> None:
    """Return every kept buffer to the system allocator (the limit stays)."""
    limit = _core.cache_stats()["limit"]
    _core.set_cache_limit(0)
    _core.set_cache_limit(limit)


def cache_info() -> dict:
    """``limit``, ``cached_bytes`` and ``cached_blocks`` now, and the ``hits`` and
    ``misses`` of requests of cacheable size so far."""
    return _core.cache_stats()


def _limit_from_env() -> int:
    raw = os.environ.get("MINIGRAD_CACHE_MB", str(DEFAULT_LIMIT_MB))
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0:  # also NaN
        raise ValueError(f"MINIGRAD_CACHE_MB must be a number of megabytes >= 0, got {raw!r}")
    return int(mb * 2**20)


set_cache_limit(_limit_from_env())
