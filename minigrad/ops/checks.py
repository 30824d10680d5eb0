"""Argument checks and the NaN policy of the C-kernel ops (conv, transpose conv,
local/tiled, pooling, the book's c/g/h).

Arguments: ``int_arg`` / ``int_tuple`` parse every int-or-tuple argument: ints only
(a float is refused, not truncated), within 64 bits, with the op and the argument
named in the error.

NaN policy: these ops refuse an input holding a NaN with a ``ValueError`` that
names the op, the argument and the first bad index, instead of letting the NaN
spread silently through a whole batch (one NaN pixel poisons every output its
window touches, and through the weight gradient every weight).  It is applied in
one place, ``Spatial.call`` (minigrad/ops/spatial.py), with one of two scans, both
at memory speed in C: ``reject_nan`` on the operands before the kernel runs, or,
for the memory-bound pooling kernels, ``reject_nan_through`` on their smaller
output.  ``mg.set_nan_check(False)`` turns it off for users who want PyTorch's
propagate-NaN behaviour or the last bit of speed.
"""

from __future__ import annotations

import os

import numpy as np

from minigrad._C.core import has_nan

_enabled = True

INT64_MAX = 2**63 - 1  # what a size or stride may be at all: the kernels take int64
INDEX_MAX = 2**31 - 1  # the pooling kernels index one plane with C ints


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def int_arg(value: object, what: str, minimum: int | None = None) -> int:
    """``value`` as a Python int: an int (not a bool, not a float: int(2.5) would
    quietly be 2) in [minimum, 2**63 - 1].  ``what`` heads the error ("conv2d: groups")."""
    if not _is_int(value):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return _check_range(int(value), value, what, minimum)


def _check_range(v: int, value: object, what: str, minimum: int | None) -> int:
    if minimum is not None and v < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    if abs(v) > INT64_MAX:  # past 64 bits the kernels would raise a bare OverflowError
        raise ValueError(f"{what} must fit in 64 bits (at most 2**63 - 1), got {value!r}")
    return v


def int_tuple(value: object, n: int, what: str, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int, or a tuple/list/range/1-d array of ``n`` ints) as a tuple of ints.

    ``what`` heads the error ("conv2d: stride").  Floats are refused rather than
    truncated (int(1.5) would quietly be 1); a wrong count is a ValueError, as is
    an entry below ``minimum`` when given or past 64 bits.
    """
    if type(value) is int and -INT64_MAX <= value <= INT64_MAX:  # the common case, fast
        if minimum is None or value >= minimum:
            return (value,) * n
    form = {1: "an int or a 1-tuple of ints", 2: "an int or a pair of ints"}.get(
        n, f"an int or a tuple of {n} ints"
    )
    if _is_int(value):
        vals: tuple = (value,) * n
    elif isinstance(value, (tuple, list, range)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    ):  # any sequence of ints, as conv's parser took before this one replaced it
        vals = tuple(value)
        if len(vals) != n:
            raise ValueError(f"{what} must be {form}, got {value!r} ({len(vals)} entries)")
    else:
        vals = ()
    if not vals or not all(_is_int(v) for v in vals):
        raise TypeError(f"{what} must be {form}, got {value!r}")
    return tuple(_check_range(int(v), value, what, minimum) for v in vals)


def physical_memory() -> float:
    """This machine's memory in bytes (inf where the OS does not say): an output
    larger than it is refused before anything is allocated."""
    global _MEMORY
    if _MEMORY is None:
        try:
            _MEMORY = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):  # not POSIX
            _MEMORY = float("inf")
    return _MEMORY


_MEMORY: float | None = None


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
