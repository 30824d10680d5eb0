# cython: language_level=3
"""Argument checks and array preparation shared by every kernel wrapper.

Each wrapper (conv, pool, local, core.gemm) validates its arguments with these
functions, with the GIL held, before the C code runs without it; the C code then
trusts every size. Errors name the op, the argument and what was expected:
``ValueError("conv2d: stride must be >= 1, got (0, 1)")``.
"""

import os

import numpy as np

from mg_common cimport MG_ENOMEM, MG_EINDEX

# The C kernels index with ptrdiff_t (int64 on every 64-bit platform).
INDEX_MAX = 2**63 - 1


def array(str op, str name, a, int ndim, dtype=None, empty_axis=None):
    """``a`` as a C-contiguous, aligned float32/float64 ndarray of ``ndim`` dims.

    ``dtype`` (if given) is the dtype it must have (the input's); every axis must be
    non-empty except ``empty_axis`` (the batch), if given ("any": every axis may be 0). A valid array that the kernels
    cannot read in place -- a view with strides, or one misaligned inside its buffer
    (``buf[1:].view(np.float32)``) -- is copied, never refused and never misread.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if dtype is None:
        if a.dtype != np.float32 and a.dtype != np.float64:
            raise TypeError(f"{op}: {name} must have dtype float32 or float64, got {a.dtype}")
    elif a.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {a.dtype} but must have {np.dtype(dtype)} "
                        "(the input's)")
    if a.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dimensions, got shape {a.shape}")
    for i in range(ndim):
        if a.shape[i] == 0 and i != empty_axis and empty_axis != "any":
            raise ValueError(f"{op}: {name} must not be empty, got shape {a.shape}"
                             + (f" (only axis {empty_axis} may be 0)"
                                if isinstance(empty_axis, int) else ""))
    return prepared(a)


def index_array(str op, str name, a, tuple shape):
    """``a`` as a C-contiguous, aligned int64 array of exactly ``shape`` (copied if needed)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.int64:
        raise TypeError(f"{op}: {name} must have dtype int64, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {a.shape}")
    return prepared(a)


def prepared(a):
    """``a`` itself when the kernels can read it in place (C-contiguous and aligned to its
    element size), else a copy that is. Aligned vector loads of a misaligned array are
    undefined behaviour in C, so the kernels never see one."""
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.require(a, requirements=("C", "A"))


def output(str op, str name, a, tuple shape, dtype):
    """An array the kernel writes into (no copy would do): ``shape``, ``dtype``,
    C-contiguous, aligned and writeable."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{op}: {name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {a.shape}")
    if not (a.flags.c_contiguous and a.flags.aligned and a.flags.writeable):
        raise ValueError(f"{op}: {name} is written in place, so it must be a C-contiguous, "
                         "aligned, writeable array (a copy would not receive the result)")
    return a


def same_dtype(str op, str name, a, str ref_name, ref):
    if a.dtype != ref.dtype:
        raise TypeError(
            f"{op}: {name} has dtype {a.dtype} but {ref_name} has {ref.dtype}; they must match")


def ints(str op, str name, value, int count, minimum=0):
    """``value`` (an int, or a sequence of ``count`` ints) as a tuple of Python ints, each
    in [minimum, 2**63 - 1]: the range the kernels' sizes live in. Larger values are a
    ValueError naming the argument, not a bare OverflowError; bools and floats are
    refused (int(1.5) would quietly truncate)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        vals = (value,) * count
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
        if vals and len(vals) != count:
            raise ValueError(f"{op}: {name} must be an int or {count} ints, got {value!r}")
    if not vals or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                           for v in vals):
        raise TypeError(f"{op}: {name} must be an int or {count} ints, got {value!r}")
    out = tuple(int(v) for v in vals)
    for v in out:
        if v < minimum:
            raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
        if v > INDEX_MAX:
            raise ValueError(f"{op}: {name} must be at most 2**63 - 1, got {value!r}")
    return out


def window_count(n, k, s, lo, hi, d=1, bint ceil_mode=False):
    """How many windows of ``k`` taps ``d`` apart, starting every ``s``, fit an axis of
    ``n`` padded with ``lo`` before and ``hi`` after (PyTorch's rule)::

        floor((n + lo + hi - d * (k - 1) - 1) / s) + 1

    or the ceiling with ``ceil_mode``, where a last window must still start inside the
    input or its left padding. 0 when not even one window fits. The wrappers' copy of
    ``conv_output_size`` (minigrad/ops/spatial.py): the kernels' entry points may be
    called directly, so they size their outputs themselves, all with this function."""
    span = n + lo + hi - d * (k - 1) - 1
    if span < 0:
        return 0
    count = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (count - 1) * s >= n + lo:
        count -= 1
    return count


def threads(str op, num_threads):
    """A thread count: an int >= 1 (counts past 2**31 - 1 are refused, not wrapped)."""
    (n,) = ints(op, "num_threads", num_threads, 1, 1)
    if n > 2**31 - 1:
        raise ValueError(f"{op}: num_threads must be at most 2**31 - 1, got {num_threads!r}")
    return n


def size_product(str op, str what, *sizes):
    """The product of sizes, refused past 2**63 - 1 (a ptrdiff_t would wrap)."""
    p = 1
    for s in sizes:
        p *= int(s)
    if p > INDEX_MAX:
        raise ValueError(f"{op}: {what} would have {p} elements, more than 2**63 - 1")
    return p


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: no bound known here
        return 2**63 - 1


PHYSICAL_MEMORY = _physical_memory()


def allocatable(str op, str what, count, int itemsize):
    """Refuse an array of ``count`` elements of ``itemsize`` bytes that could not possibly
    be allocated: more bytes than the machine's physical memory. With overcommit such an
    allocation can succeed and then kill the process when first touched, so the bound is
    checked before anything is allocated."""
    nbytes = int(count) * itemsize
    if nbytes > PHYSICAL_MEMORY:
        raise ValueError(f"{op}: {what} would take {nbytes} bytes, more than this machine's "
                         f"{PHYSICAL_MEMORY} bytes of physical memory")


def status(str op, int rc, str what="a workspace"):
    """Raise for a nonzero status (mg_common.h) of a C kernel."""
    if rc == 0:
        return
    if rc & MG_ENOMEM:
        raise MemoryError(f"{op}: out of memory for {what}")
    if rc & MG_EINDEX:
        raise ValueError(f"{op}: indices hold a position outside the plane")
    raise RuntimeError(f"{op}: kernel error {rc}")
