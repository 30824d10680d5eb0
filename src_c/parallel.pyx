# cython: language_level=3
"""Thread-count controls shared by every kernel family.

The kernels take their thread count as an argument (``num_threads``) instead of
reading OpenMP's global state, so a call's parallelism is exactly what
``minigrad.get_num_threads()`` said when the op ran, from any Python thread.
"""

import os

from mg_common cimport (
    MG_HAVE_OPENMP,
    mg_omp_max_threads,
    mg_build_cflags,
)


def _initial_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return mg_omp_max_threads()


cdef int _num_threads = _initial_threads() if MG_HAVE_OPENMP else 1


def openmp_enabled() -> bool:
    """True when the kernels were compiled with OpenMP."""
    return bool(MG_HAVE_OPENMP)


def build_cflags() -> str:
    """The C compiler flags the kernels were built with."""
    return mg_build_cflags().decode()


def max_threads() -> int:
    """OpenMP's own idea of the available threads (1 in a serial build)."""
    return mg_omp_max_threads()


def get_num_threads() -> int:
    """Threads the kernels use for the next call."""
    return _num_threads


def set_num_threads(int n) -> None:
    """Use ``n`` threads in every following kernel call (1 in a serial build)."""
    global _num_threads
    if n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n}")
    _num_threads = n if MG_HAVE_OPENMP else 1


# ---------------------------------------------------------------- NaN scan
# The kernels refuse NaN inputs (a NaN would silently spread through a whole
# batch).  The scan runs at memory speed, in parallel, before any kernel work.

import numpy as np

from mg_nan cimport (
    mg_has_nan_f32,
    mg_has_nan_f64,
)


def has_nan(a) -> bool:
    """True when the float32/float64 array ``a`` holds a NaN (other dtypes: False)."""
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.size == 0:
        return False
    if a.dtype not in (np.float32, np.float64) or not a.flags.c_contiguous:
        return bool(np.isnan(a).any())
    # Small arrays are not worth waking a second thread for.
    cdef int nt = _num_threads if a.size >= (1 << 18) else 1
    cdef const float[::1] f32
    cdef const double[::1] f64
    cdef int found
    if a.dtype == np.float32:
        f32 = a.reshape(-1)
        with nogil:
            found = mg_has_nan_f32(&f32[0], f32.shape[0], nt)
    else:
        f64 = a.reshape(-1)
        with nogil:
            found = mg_has_nan_f64(&f64[0], f64.shape[0], nt)
    return found != 0
