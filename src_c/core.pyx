# distutils: sources = [src_c/mg_cpu.c, src_c/mg_runtime.c, src_c/gemm_f32.c, src_c/gemm_f64.c, src_c/mg_array_cache.c]
# cython: language_level=3
"""The runtime every kernel family shares: the CPU dispatch, the thread count, the NaN
scan, the GEMM and the array cache, each defined once per process; and the rectifier,
small enough to live here rather than in a family of its own.

The other kernel extensions (conv, pool, local) reach the dispatch and the GEMM
through the capsule ``_C_API`` (see src_c/mg_runtime.h), so ``set_isa`` here steers
every family at once.

The kernels take their thread count as an argument (``num_threads``) instead of
reading OpenMP's global state, so a call's parallelism is exactly what
``minigrad.get_num_threads()`` said when the op ran, from any Python thread.
"""

import os

import numpy as np

cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_New

from minigrad._C import checks

from gemm cimport mg_dgemm, mg_sgemm
from mg_common cimport MG_HAVE_OPENMP, mg_build_cflags, mg_omp_max_threads
from mg_cpu cimport mg_cpu_best_isa, mg_cpu_isa, mg_cpu_set_isa, mg_isa_name

cnp.import_array()


cdef extern from "mg_runtime.h":
    ctypedef struct mg_runtime:
        pass
    const mg_runtime MG_RUNTIME

cdef extern from "mg_nan.h" nogil:
    int mg_has_nan_f32(const float *a, Py_ssize_t n, int nt)
    int mg_has_nan_f64(const double *a, Py_ssize_t n, int nt)

cdef extern from "mg_relu.h" nogil:
    void mg_relu_forward_f32(const float *a, float *out, Py_ssize_t n, int nt)
    void mg_relu_forward_f64(const double *a, double *out, Py_ssize_t n, int nt)
    void mg_relu_backward_f32(const float *out, const float *g, float *ga, Py_ssize_t n, int nt)
    void mg_relu_backward_f64(const double *out, const double *g, double *ga, Py_ssize_t n,
                              int nt)

cdef extern from "mg_array_cache.h":
    ctypedef struct mg_cache_stats:
        size_t limit, cached_bytes, cached_blocks, hits, misses
    void *mg_array_cache_handler()
    int mg_array_cache_init(size_t limit)
    void mg_array_cache_set_limit(size_t limit)
    void mg_array_cache_after_fork()
    void mg_array_cache_hold_lock(int hold)
    mg_cache_stats mg_array_cache_stats()

cdef extern from "numpy/arrayobject.h":
    object PyDataMem_SetHandler(object handler)

_C_API = PyCapsule_New(<void *>&MG_RUNTIME, "minigrad._C.core._C_API", NULL)


# ---------------------------------------------------------------- build and dispatch

def openmp_enabled() -> bool:
    """True when the kernels were compiled with OpenMP."""
    return bool(MG_HAVE_OPENMP)


def build_cflags() -> str:
    """The C compiler flags the kernels were built with."""
    return mg_build_cflags().decode()


ISA_NAMES = ("generic", "avx2", "avx512")


def isa() -> str:
    """The vector instruction set every kernel family runs: 'avx512', 'avx2' or 'generic'
    (portable C). The CPU's best, unless capped by MINIGRAD_ISA or ``set_isa``."""
    return mg_isa_name(mg_cpu_isa()).decode()


def best_isa() -> str:
    """The widest instruction set this CPU supports."""
    return mg_isa_name(mg_cpu_best_isa()).decode()


def set_isa(name) -> str:
    """Run every family on at most instruction set ``name`` ('generic', 'avx2', 'avx512'),
    or on the CPU's best with ``None``; returns the one now in use. For tests and
    benchmarks: call it while no kernel runs."""
    if name is None:
        return mg_isa_name(mg_cpu_set_isa(-1)).decode()
    if name not in ISA_NAMES:
        raise ValueError(f"set_isa: name must be one of {ISA_NAMES} or None, got {name!r}")
    return mg_isa_name(mg_cpu_set_isa(ISA_NAMES.index(name))).decode()


# ---------------------------------------------------------------- threads

def _initial_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return mg_omp_max_threads()


cdef int _num_threads = _initial_threads() if MG_HAVE_OPENMP else 1


def max_threads() -> int:
    """OpenMP's own idea of the available threads (1 in a serial build)."""
    return mg_omp_max_threads()


def get_num_threads() -> int:
    """Threads the kernels use for the next call."""
    return _num_threads


def set_num_threads(n) -> None:
    """Use ``n`` threads in every following kernel call (1 in a serial build)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _num_threads = min(int(n), 2**31 - 1) if MG_HAVE_OPENMP else 1


# ---------------------------------------------------------------- NaN scan
# The kernels refuse NaN inputs (a NaN would silently spread through a whole batch).
# The scan runs at memory speed, in parallel, before any kernel work.

cdef bint _kernel_ready(a):
    """A float32/float64 array the C loops can read in place (contiguous, aligned)."""
    return (isinstance(a, np.ndarray) and (a.dtype == np.float32 or a.dtype == np.float64)
            and a.flags.c_contiguous and a.flags.aligned)


def has_nan(a) -> bool:
    """True when the float32/float64 array ``a`` holds a NaN (other dtypes: False)."""
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.size == 0:
        return False
    if not _kernel_ready(a):
        return bool(np.isnan(a).any())  # views and misaligned arrays: NumPy's own loop
    # Small arrays are not worth waking a second thread for.
    cdef int nt = _num_threads if a.size >= (1 << 18) else 1
    cdef cnp.ndarray c = a
    cdef void *p = cnp.PyArray_DATA(c)
    cdef Py_ssize_t n = a.size
    cdef int found
    if a.dtype == np.float32:
        with nogil:
            found = mg_has_nan_f32(<const float *>p, n, nt)
    else:
        with nogil:
            found = mg_has_nan_f64(<const double *>p, n, nt)
    return found != 0


# ---------------------------------------------------------------- rectifier
# ReLU's two passes in one (src_c/mg_relu.h); float32/float64 arrays that are contiguous
# and aligned go to C, anything else to the same equations in NumPy.

def relu_forward(a):
    """max(a, 0), a NaN kept (PyTorch's relu): ``a < 0 ? 0 : a``."""
    if not _kernel_ready(a):
        return np.maximum(a, 0)
    out = np.empty_like(a)
    cdef cnp.ndarray ca = a, co = out
    cdef Py_ssize_t n = a.size
    cdef int nt = _num_threads if n >= (1 << 16) else 1  # not worth a second thread below
    if a.dtype == np.float32:
        with nogil:
            mg_relu_forward_f32(<const float *>cnp.PyArray_DATA(ca),
                                <float *>cnp.PyArray_DATA(co), n, nt)
    else:
        with nogil:
            mg_relu_forward_f64(<const double *>cnp.PyArray_DATA(ca),
                                <double *>cnp.PyArray_DATA(co), n, nt)
    return out


def relu_backward(out, g):
    """dL/da from ReLU's output and dL/dout: ``out <= 0 ? 0 : g`` (PyTorch's
    threshold_backward; a NaN output passes its gradient on)."""
    if not _kernel_ready(out) or np.shape(g) != out.shape:
        return g * ~(out <= 0)
    g = checks.prepared(np.asarray(g, dtype=out.dtype))  # a broadcast view (sum) is copied
    ga = np.empty_like(out)
    cdef cnp.ndarray co = out, cg = g, cga = ga
    cdef Py_ssize_t n = out.size
    cdef int nt = _num_threads if n >= (1 << 16) else 1
    if out.dtype == np.float32:
        with nogil:
            mg_relu_backward_f32(<const float *>cnp.PyArray_DATA(co),
                                 <const float *>cnp.PyArray_DATA(cg),
                                 <float *>cnp.PyArray_DATA(cga), n, nt)
    else:
        with nogil:
            mg_relu_backward_f64(<const double *>cnp.PyArray_DATA(co),
                                 <const double *>cnp.PyArray_DATA(cg),
                                 <double *>cnp.PyArray_DATA(cga), n, nt)
    return ga


# ---------------------------------------------------------------- array cache
# A NumPy memory handler that keeps freed array buffers for reuse (src_c/mg_array_cache.h
# says why); minigrad/memory.py decides when it is in use and how much it may keep.

if mg_array_cache_init(0) != 0:
    raise MemoryError("minigrad: could not create the array cache's lock")

ARRAY_CACHE = PyCapsule_New(mg_array_cache_handler(), "mem_handler", NULL)


def _cache_after_fork() -> None:
    mg_array_cache_after_fork()


def _hold_cache_lock(bint hold) -> None:
    """Take (True) or give back (False) the cache's lock: for the fork test only."""
    mg_array_cache_hold_lock(hold)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_cache_after_fork)


def set_memory_handler(handler):
    """Make ``handler`` (a "mem_handler" capsule) NumPy's allocator in this thread's
    context; returns the one it replaces."""
    return PyDataMem_SetHandler(handler)


def set_cache_limit(size_t nbytes) -> None:
    """Keep at most ``nbytes`` of freed buffers (0: none); frees what no longer fits."""
    mg_array_cache_set_limit(nbytes)


def cache_stats() -> dict:
    cdef mg_cache_stats s = mg_array_cache_stats()
    return {"limit": s.limit, "cached_bytes": s.cached_bytes,
            "cached_blocks": s.cached_blocks, "hits": s.hits, "misses": s.misses}


# ---------------------------------------------------------------- GEMM

def gemm(a, b, bint trans_a=False, bint trans_b=False, double alpha=1.0, double beta=0.0,
         c=None, num_threads=1):
    """C = alpha * op(a) @ op(b) + beta * C with minigrad's own GEMM (gemm.h).

    a, b are 2-d arrays of one float dtype (views and misaligned arrays are copied);
    op transposes when trans_* is true. c, if given, is updated in place and must be a
    C-contiguous, aligned, writeable (m, n) array of that dtype; without it a new
    array is returned (and beta ignored). Returns c."""
    op = "gemm"
    a = checks.array(op, "a", a, 2, None, "any")
    b = checks.array(op, "b", b, 2, a.dtype, "any")
    cdef Py_ssize_t m = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t kb = b.shape[1] if trans_b else b.shape[0]
    cdef Py_ssize_t n = b.shape[0] if trans_b else b.shape[1]
    if kb != k:
        raise ValueError(f"{op}: inner dimensions differ: op(a) is {m}x{k}, op(b) is {kb}x{n}")
    if c is None:
        c = np.zeros((m, n), dtype=a.dtype)
        beta = 0.0
    else:
        checks.output(op, "c", c, (m, n), a.dtype)
    cdef int nt = checks.threads(op, num_threads)
    cdef cnp.ndarray aa = a, ab = b, ac = c
    # leading dimensions of the stored (not transposed) matrices; 1 for an empty one
    cdef Py_ssize_t lda = max(a.shape[1], 1), ldb = max(b.shape[1], 1), ldc = max(n, 1)
    cdef int ta = trans_a, tb = trans_b, rc = 0
    if m == 0 or n == 0:
        return c
    if a.dtype == np.float32:
        with nogil:
            rc = mg_sgemm(ta, tb, m, n, k, <float>alpha, <float *>cnp.PyArray_DATA(aa), lda,
                          <float *>cnp.PyArray_DATA(ab), ldb, <float>beta,
                          <float *>cnp.PyArray_DATA(ac), ldc, nt)
    else:
        with nogil:
            rc = mg_dgemm(ta, tb, m, n, k, alpha, <double *>cnp.PyArray_DATA(aa), lda,
                          <double *>cnp.PyArray_DATA(ab), ldb, beta,
                          <double *>cnp.PyArray_DATA(ac), ldc, nt)
    checks.status(op, rc, "the packing buffers")
    return c
