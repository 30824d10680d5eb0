"""Things only one rank should do: print, draw progress, write files.

Every rank computes the same model, so one copy of the logs and one checkpoint is
enough; rank 0 (the "main process") does it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from minigrad.distributed.comm import barrier, is_main_process


def print0(*args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only (flushed, so lines from a job show up as they happen)."""
    if is_main_process():
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def rank_zero_only(fn: Callable) -> Callable:
    """Decorator: ``fn`` runs on rank 0 only; the other ranks get None."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if is_main_process() else None

    return wrapper


def save_on_main(obj: Any, path: str) -> None:
    """``mg.save(obj, path)`` on rank 0 (atomically, as mg.save writes), then every rank
    waits until the file is complete, so that no rank reads it half written. ``obj`` is
    what mg.save takes, e.g. ``model.state_dict()`` (not the DDP wrapper's, whose keys
    carry a ``module.`` prefix)."""
    if is_main_process():
        from minigrad.serialization import save

        save(obj, path)
    barrier()
