"""Input checks shared by the C-kernel op families (conv, pool, local).

NaN policy: the kernels refuse an input holding a NaN with a ``ValueError`` that
names the argument and the first bad index, instead of letting the NaN spread
silently through a whole batch (one NaN pixel poisons every output its window
touches, and through the weight gradient every weight).  The scan runs at
memory speed in C before any kernel work (for the memory-bound pooling kernels,
on their output instead: see ``reject_nan_through``).  ``mg.set_nan_check(False)`` turns it
off for users who want PyTorch's propagate-NaN behaviour or the last bit of speed.
"""

from __future__ import annotations

import numpy as np

from minigrad._C.parallel import has_nan

_enabled = True


def int_tuple(value: object, n: int, what: str, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int, or a tuple/list/range/1-d array of ``n`` ints) as a tuple of ints.

    ``what`` heads the error ("conv2d: stride").  Floats are refused rather than
    truncated (int(1.5) would quietly be 1); a wrong count is a ValueError, as is
    an entry below ``minimum`` when given.
    """
    form = {1: "an int or a 1-tuple of ints", 2: "an int or a pair of ints"}.get(
        n, f"an int or a tuple of {n} ints"
    )
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        vals: tuple = (value,) * n
    elif isinstance(value, (tuple, list, range)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    ):  # any sequence of ints, as conv's parser took before this one replaced it
        vals = tuple(value)
        if len(vals) != n:
            raise ValueError(f"{what} must be {form}, got {value!r} ({len(vals)} entries)")
    else:
        vals = ()
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
    if not vals or not ints:
        raise TypeError(f"{what} must be {form}, got {value!r}")
    if minimum is not None and any(v < minimum for v in vals):
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def set_nan_check(enabled: bool) -> None:
    """Whether the convolution, pooling and local kernels reject NaN inputs."""
    global _enabled
    _enabled = bool(enabled)


def get_nan_check() -> bool:
    return _enabled


def reject_nan(op: str, **arrays: np.ndarray | None) -> None:
    """Raise ``ValueError`` if any named array holds a NaN (when the check is on)."""
    if not _enabled:
        return
    for name, a in arrays.items():
        if a is not None and has_nan(a):
            _raise(op, name, a)


def reject_nan_through(op: str, output: np.ndarray, **inputs: object) -> None:
    """The same policy for memory-bound kernels: scan the (smaller) ``output``,
    which every NaN inside a window reaches, and search the inputs only on a hit
    to name the culprit.  A NaN made from infinities (inf - inf) is let through,
    as infinities are legitimate inputs."""
    if not _enabled or not has_nan(output):
        return
    for name, a in inputs.items():
        a = np.asarray(a)
        if a.dtype.kind == "f" and np.isnan(a).any():
            _raise(op, name, a)


def _raise(op: str, name: str, a: np.ndarray) -> None:
    first = tuple(int(i) for i in np.argwhere(np.isnan(a))[0])
    raise ValueError(
        f"{op}: {name} contains NaN (first at index {first}); expected finite "
        "values. Check the data or the op that produced it "
        "(mg.set_nan_check(False) lets NaN through, as PyTorch does)."
    )
