# cython: language_level=3
# distutils: sources = src_c/pool_kernels.c
"""Cython wrappers of the pooling kernels (src_c/pool_kernels.c).

Each wrapper checks every argument -- types, dtypes, shapes, contiguity and the
window geometry -- and only then releases the GIL and calls C.  Inputs are NCHW
arrays (1d pooling is the 2d kernel on H = 1).  The geometry of a pooling is
built here once per call as two `_Axis` objects (rows, columns); see
`mg_pool_axis` in pool_kernels.h for what the kernels expect.
"""

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

cnp.import_array()

from pool_kernels cimport (
    mg_pool_axis,
    MG_POOL_OK,
    MG_POOL_ENOMEM,
    MG_POOL_EINDEX,
    MG_POOL_ESIZE,
    mg_max_pool2d_fwd_f32,
    mg_max_pool2d_fwd_f64,
    mg_max_pool2d_bwd_f32,
    mg_max_pool2d_bwd_f64,
    mg_sum_pool2d_fwd_f32,
    mg_sum_pool2d_fwd_f64,
    mg_sum_pool2d_bwd_f32,
    mg_sum_pool2d_bwd_f64,
    mg_max_unpool_fwd_f32,
    mg_max_unpool_fwd_f64,
    mg_max_unpool_bwd_f32,
    mg_max_unpool_bwd_f64,
    mg_pool_isa,
)

INT32_MAX = 2**31 - 1


def isa() -> str:
    """The instruction set the row kernels were dispatched to."""
    return mg_pool_isa().decode()


# ---------------------------------------------------------------- checks

def _check_array(a, str name, int ndim, dtype=None):
    """a must be a C-contiguous float32/float64 ndarray of ndim dims (of `dtype` if given)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)} (like the input), got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array (N, C, H, W), got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array (use np.ascontiguousarray)")


def _check_index_array(a, str name, tuple shape):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.int64:
        raise TypeError(f"{name}: expected dtype int64, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array")


def _check_plane(int64_t H, int64_t W, str name):
    if H < 1 or W < 1:
        raise ValueError(f"{name}: expected spatial size >= 1, got ({H}, {W})")
    if H * W > INT32_MAX:
        raise ValueError(f"{name}: a plane of {H}x{W} is too large (at most 2**31-1 elements)")


def _pair(v, str name):
    """An int or a pair of ints -> (a, b), checked."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
        a, b = v
    else:
        a = b = v
    for e in (a, b):
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)):
            raise TypeError(f"{name}: expected ints, got {v!r}")
    return int(a), int(b)


def pooling_output_size(int64_t n_in, int64_t k, int64_t s, int64_t p, int64_t d, bint ceil_mode,
                        str axis="") -> int:
    """PyTorch's pooled length: floor or ceil of (n + 2p - d(k-1) - 1)/s + 1, where
    with ceil_mode the last window must start inside the input or its left padding."""
    cdef int64_t span = n_in + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ValueError(
            f"kernel_size: the window{axis} (kernel {k}, dilation {d}, extent {d * (k - 1) + 1}) "
            f"is larger than the padded input ({n_in} + 2*{p} = {n_in + 2 * p})")
    cdef int64_t n = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= n_in + p:
        n -= 1
    return n


cdef class _Axis:
    """One axis of a pooling geometry (see mg_pool_axis in pool_kernels.h).

    start/count: first valid input index and number of valid taps per output;
    size: the window size PyTorch divides by with count_include_pad (the window
    clipped to the padded input); regular: a sliding window (stride, k, pad)."""
    cdef public object start, count, size
    cdef public int n_out, step, regular, stride, k, pad
    cdef mg_pool_axis ax

    cdef void fill(self):
        cdef int32_t[::1] st = self.start
        cdef int32_t[::1] ct = self.count
        self.ax.n_out = self.n_out
        self.ax.start = &st[0]
        self.ax.count = &ct[0]
        self.ax.step = self.step
        self.ax.regular = self.regular
        self.ax.stride = self.stride
        self.ax.k = self.k
        self.ax.pad = self.pad


def _regular_axis(int64_t n_in, int64_t k, int64_t s, int64_t p, int64_t d, bint ceil_mode,
                  str axis):
    """Geometry of a sliding window (kernel k, stride s, padding p, dilation d)."""
    if k < 1:
        raise ValueError(f"kernel_size: expected >= 1, got {k}{axis}")
    if s < 1:
        raise ValueError(f"stride: expected >= 1, got {s}{axis}")
    if d < 1:
        raise ValueError(f"dilation: expected >= 1, got {d}{axis}")
    if p < 0 or p > k // 2:
        raise ValueError(
            f"padding: expected between 0 and half the kernel size ({k // 2}), got {p}{axis}")
    # the kernels hold these in C ints (mg_pool_axis)
    for name, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if v > INT32_MAX:
            raise ValueError(f"{name}: expected at most 2**31-1, got {v}{axis}")
    cdef int64_t n = pooling_output_size(n_in, k, s, p, d, ceil_mode, axis)
    if n > INT32_MAX:
        raise ValueError(f"kernel_size: the output would have {n} > 2**31-1 positions{axis}")
    o = np.arange(n, dtype=np.int64)
    first = o * s - p                                  # window's first tap, maybe in padding
    t0 = np.where(first < 0, (-first + d - 1) // d, 0)  # first tap inside the input
    t1 = np.minimum(k - 1, (n_in - 1 - first) // d)     # last tap inside the input
    count = t1 - t0 + 1
    if np.any(count < 1):
        bad = int(np.argmax(count < 1))
        raise ValueError(
            f"dilation/padding: the window of output {bad}{axis} holds only padding "
            f"(kernel {k}, stride {s}, padding {p}, dilation {d}, input {n_in})")
    ax = _Axis()
    ax.n_out = n
    ax.start = np.ascontiguousarray(first + t0 * d, dtype=np.int32)
    ax.count = np.ascontiguousarray(count, dtype=np.int32)
    ax.size = (np.minimum(first + k, n_in + p) - first).astype(np.float64)
    ax.regular, ax.step, ax.stride, ax.k, ax.pad = 1, d, s, k, p
    ax.fill()
    return ax


def _adaptive_axis(int64_t n_in, int64_t n_out, str axis):
    """Adaptive windows: output o covers [floor(o n/m), ceil((o+1) n/m))."""
    if n_out < 1:
        raise ValueError(f"output_size: expected >= 1, got {n_out}{axis}")
    o = np.arange(n_out, dtype=np.int64)
    start = (o * n_in) // n_out
    end = -((-(o + 1) * n_in) // n_out)
    ax = _Axis()
    ax.n_out = n_out
    ax.start = np.ascontiguousarray(start, dtype=np.int32)
    ax.count = np.ascontiguousarray(end - start, dtype=np.int32)
    ax.size = (end - start).astype(np.float64)
    ax.step, ax.pad = 1, 0
    if n_in % n_out == 0:  # then it is an ordinary pooling with k = s = n/m
        ax.regular, ax.stride, ax.k = 1, n_in // n_out, n_in // n_out
    else:
        ax.regular, ax.stride, ax.k = 0, 1, 1
    ax.fill()
    return ax


def _geometry(hw, kernel_size, stride, padding, dilation, bint ceil_mode):
    """The (rows, cols) axes of a sliding-window pooling of an H x W plane, hw = (H, W)."""
    kH, kW = _pair(kernel_size, "kernel_size")
    sH, sW = _pair(kernel_size if stride is None else stride, "stride")
    pH, pW = _pair(padding, "padding")
    dH, dW = _pair(dilation, "dilation")
    H, W = hw
    rows = _regular_axis(H, kH, sH, pH, dH, ceil_mode, " (height)")
    cols = _regular_axis(W, kW, sW, pW, dW, ceil_mode, " (width)")
    return rows, cols


def _check_err(int err, str what):
    if err == MG_POOL_ENOMEM:
        raise MemoryError(f"{what}: out of memory for the row buffers")
    if err & MG_POOL_EINDEX:
        raise ValueError(f"indices: {what} found an index outside the plane")
    if err == MG_POOL_ESIZE:
        raise ValueError(f"kernel_size/stride: {what} windows this wide need a row buffer of "
                         f"2**31 or more elements; use a smaller kernel_size or stride")
    if err:
        raise RuntimeError(f"{what}: kernel error {err}")


# ---------------------------------------------------------------- max pooling

cdef _max_fwd(cnp.ndarray x, _Axis rows, _Axis cols, bint return_indices, int nt):
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef int64_t P = N * C
    cdef cnp.ndarray y = np.empty((N, C, rows.n_out, cols.n_out), dtype=x.dtype)
    cdef cnp.ndarray yi = None
    cdef int64_t *pi = NULL
    if return_indices:
        yi = np.empty((N, C, rows.n_out, cols.n_out), dtype=np.int64)
        pi = <int64_t *>cnp.PyArray_DATA(yi)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef int err
    if x.dtype == np.float32:
        with nogil:
            err = mg_max_pool2d_fwd_f32(<float *>px, <float *>py, pi, P, <int>H, <int>W,
                                        &rows.ax, &cols.ax, nt)
    else:
        with nogil:
            err = mg_max_pool2d_fwd_f64(<double *>px, <double *>py, pi, P, <int>H, <int>W,
                                        &rows.ax, &cols.ax, nt)
    _check_err(err, "max_pool2d")
    return y, yi


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, bint ceil_mode=False,
                       bint return_indices=False, int num_threads=1):
    """y[n,c,i,j] = max of x[n,c] over window (i,j); (y, indices or None)."""
    _check_array(x, "input", 4)
    _check_plane(x.shape[2], x.shape[3], "input")
    rows, cols = _geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    return _max_fwd(x, rows, cols, return_indices, max(1, num_threads))


def adaptive_max_pool2d_forward(x, output_size, bint return_indices=False, int num_threads=1):
    """Max over adaptive windows [floor(o n/m), ceil((o+1) n/m)) per axis."""
    _check_array(x, "input", 4)
    _check_plane(x.shape[2], x.shape[3], "input")
    oh, ow = _pair(output_size, "output_size")
    rows = _adaptive_axis(x.shape[2], oh, " (height)")
    cols = _adaptive_axis(x.shape[3], ow, " (width)")
    return _max_fwd(x, rows, cols, return_indices, max(1, num_threads))


def max_pool2d_backward(grad_output, indices, input_hw, int num_threads=1):
    """gx[n,c,idx] += gy[n,c,o]: the gradient goes to the element the index names."""
    _check_array(grad_output, "grad_output", 4)
    _check_index_array(indices, "indices", grad_output.shape)
    H, W = _pair(input_hw, "input_hw")
    _check_plane(H, W, "input_hw")
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t n_out = grad_output.shape[2] * grad_output.shape[3]
    cdef int64_t n_in = H * W, P = N * C
    cdef cnp.ndarray gx = np.empty((N, C, H, W), dtype=grad_output.dtype)
    cdef void *pg = cnp.PyArray_DATA(grad_output)
    cdef void *px = cnp.PyArray_DATA(gx)
    cdef int64_t *pi = <int64_t *>cnp.PyArray_DATA(indices)
    cdef int err, nt = max(1, num_threads)
    if gx.dtype == np.float32:
        with nogil:
            err = mg_max_pool2d_bwd_f32(<float *>pg, pi, <float *>px, P, n_out, n_in, nt)
    else:
        with nogil:
            err = mg_max_pool2d_bwd_f64(<double *>pg, pi, <double *>px, P, n_out, n_in, nt)
    _check_err(err, "max_pool2d_backward")
    return gx


# ---------------------------------------------------------------- average / Lp

cdef _sum_fwd(cnp.ndarray x, _Axis rows, _Axis cols, cnp.ndarray rfac, cnp.ndarray cfac,
              double norm_p, int nt):
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef cnp.ndarray y = np.empty((N, C, rows.n_out, cols.n_out), dtype=x.dtype)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef void *pr = cnp.PyArray_DATA(rfac)
    cdef void *pc = cnp.PyArray_DATA(cfac)
    cdef int err
    if x.dtype == np.float32:
        with nogil:
            err = mg_sum_pool2d_fwd_f32(<float *>px, <float *>py, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, <float *>pr, <float *>pc, norm_p, nt)
    else:
        with nogil:
            err = mg_sum_pool2d_fwd_f64(<double *>px, <double *>py, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, <double *>pr, <double *>pc, norm_p,
                                        nt)
    _check_err(err, "pooling")
    return y


cdef _sum_bwd(cnp.ndarray gy, cnp.ndarray x, cnp.ndarray y, int64_t H, int64_t W, _Axis rows,
              _Axis cols, cnp.ndarray rfac, cnp.ndarray cfac, double norm_p, int nt):
    cdef int64_t N = gy.shape[0], C = gy.shape[1]
    cdef cnp.ndarray gx = np.empty((N, C, H, W), dtype=gy.dtype)
    cdef void *pg = cnp.PyArray_DATA(gy)
    cdef void *px = NULL
    cdef void *py = NULL
    if x is not None:
        px = cnp.PyArray_DATA(x)
        py = cnp.PyArray_DATA(y)
    cdef void *pgx = cnp.PyArray_DATA(gx)
    cdef void *pr = cnp.PyArray_DATA(rfac)
    cdef void *pc = cnp.PyArray_DATA(cfac)
    cdef int err
    if gy.dtype == np.float32:
        with nogil:
            err = mg_sum_pool2d_bwd_f32(<float *>pg, <float *>px, <float *>py, <float *>pgx,
                                        N * C, <int>H, <int>W, &rows.ax, &cols.ax,
                                        <float *>pr, <float *>pc, norm_p, nt)
    else:
        with nogil:
            err = mg_sum_pool2d_bwd_f64(<double *>pg, <double *>px, <double *>py, <double *>pgx,
                                        N * C, <int>H, <int>W, &rows.ax, &cols.ax,
                                        <double *>pr, <double *>pc, norm_p, nt)
    _check_err(err, "pooling backward")
    return gx


def _avg_factors(_Axis rows, _Axis cols, bint count_include_pad, divisor_override, dtype):
    """1/divisor as a row factor times a column factor (PyTorch's divisor rules)."""
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
            raise TypeError(f"divisor_override: expected an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError("divisor_override: expected a nonzero int, got 0")
        return (np.full(rows.n_out, 1.0 / divisor_override, dtype=dtype),
                np.ones(cols.n_out, dtype=dtype))
    if count_include_pad:
        return (1.0 / rows.size).astype(dtype), (1.0 / cols.size).astype(dtype)
    return (1.0 / rows.count).astype(dtype), (1.0 / cols.count).astype(dtype)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, bint ceil_mode=False,
                       bint count_include_pad=True, divisor_override=None, int num_threads=1):
    """y[n,c,i,j] = sum of x[n,c] over window (i,j) / divisor (PyTorch's rules)."""
    _check_array(x, "input", 4)
    _check_plane(x.shape[2], x.shape[3], "input")
    rows, cols = _geometry(x.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    rf, cf = _avg_factors(rows, cols, count_include_pad, divisor_override, x.dtype)
    return _sum_fwd(x, rows, cols, rf, cf, 0.0, max(1, num_threads))


def avg_pool2d_backward(grad_output, input_hw, kernel_size, stride=None, padding=0,
                        bint ceil_mode=False, bint count_include_pad=True, divisor_override=None,
                        int num_threads=1):
    """gx[i] = sum over windows w containing i of gy[w] / divisor(w)."""
    _check_array(grad_output, "grad_output", 4)
    H, W = _pair(input_hw, "input_hw")
    _check_plane(H, W, "input_hw")
    rows, cols = _geometry((H, W), kernel_size, stride, padding, 1, ceil_mode)
    if grad_output.shape[2:] != (rows.n_out, cols.n_out):
        raise ValueError(f"grad_output: expected spatial shape {(rows.n_out, cols.n_out)}, "
                         f"got {grad_output.shape[2:]}")
    rf, cf = _avg_factors(rows, cols, count_include_pad, divisor_override, grad_output.dtype)
    return _sum_bwd(grad_output, None, None, H, W, rows, cols, rf, cf, 0.0, max(1, num_threads))


def adaptive_avg_pool2d_forward(x, output_size, int num_threads=1):
    """Mean over adaptive windows [floor(o n/m), ceil((o+1) n/m)) per axis."""
    _check_array(x, "input", 4)
    _check_plane(x.shape[2], x.shape[3], "input")
    oh, ow = _pair(output_size, "output_size")
    rows = _adaptive_axis(x.shape[2], oh, " (height)")
    cols = _adaptive_axis(x.shape[3], ow, " (width)")
    rf, cf = (1.0 / rows.size).astype(x.dtype), (1.0 / cols.size).astype(x.dtype)
    return _sum_fwd(x, rows, cols, rf, cf, 0.0, max(1, num_threads))


def adaptive_avg_pool2d_backward(grad_output, input_hw, int num_threads=1):
    _check_array(grad_output, "grad_output", 4)
    H, W = _pair(input_hw, "input_hw")
    _check_plane(H, W, "input_hw")
    rows = _adaptive_axis(H, grad_output.shape[2], " (height)")
    cols = _adaptive_axis(W, grad_output.shape[3], " (width)")
    rf = (1.0 / rows.size).astype(grad_output.dtype)
    cf = (1.0 / cols.size).astype(grad_output.dtype)
    return _sum_bwd(grad_output, None, None, H, W, rows, cols, rf, cf, 0.0, max(1, num_threads))


def _lp_setup(x, norm_type, kernel_size, stride, bint ceil_mode):
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"norm_type: expected a number, got {norm_type!r}")
    p = float(norm_type)
    if not (p > 0 and np.isfinite(p)):
        raise ValueError(f"norm_type: expected a finite number > 0, got {norm_type!r}")
    rows, cols = _geometry(x.shape[2:], kernel_size, stride, 0, 1, ceil_mode)
    # PyTorch: (avg_pool2d(x^p) * kH*kW)^(1/p), where that average divides by
    # the number of valid elements -- so windows cut by ceil_mode are rescaled.
    rf = (rows.k / rows.size).astype(x.dtype)
    cf = (cols.k / cols.size).astype(x.dtype)
    return p, rows, cols, rf, cf


def lp_pool2d_forward(x, norm_type, kernel_size, stride=None, bint ceil_mode=False,
                      int num_threads=1):
    """y = (sum over the window of x^p)^(1/p) (PyTorch's lp_pool2d)."""
    _check_array(x, "input", 4)
    _check_plane(x.shape[2], x.shape[3], "input")
    p, rows, cols, rf, cf = _lp_setup(x, norm_type, kernel_size, stride, ceil_mode)
    return _sum_fwd(x, rows, cols, rf, cf, p, max(1, num_threads))


def lp_pool2d_backward(grad_output, x, y, norm_type, kernel_size, stride=None,
                       bint ceil_mode=False, int num_threads=1):
    """gx[i] = x[i]^(p-1) sum over windows w of gy[w] y[w]^(1-p) (0 where y[w] = 0)."""
    _check_array(x, "input", 4)
    _check_array(grad_output, "grad_output", 4, x.dtype)
    _check_array(y, "output", 4, x.dtype)
    _check_plane(x.shape[2], x.shape[3], "input")
    p, rows, cols, rf, cf = _lp_setup(x, norm_type, kernel_size, stride, ceil_mode)
    expect = (x.shape[0], x.shape[1], rows.n_out, cols.n_out)
    if grad_output.shape != expect:
        raise ValueError(f"grad_output: expected shape {expect}, got {grad_output.shape}")
    if y.shape != expect:
        raise ValueError(f"output: expected shape {expect}, got {y.shape}")
    return _sum_bwd(grad_output, x, y, x.shape[2], x.shape[3], rows, cols, rf, cf, p,
                    max(1, num_threads))


# ---------------------------------------------------------------- unpooling

def max_unpool2d_forward(x, indices, output_hw, int num_threads=1):
    """y = 0; y[n, c, indices[n, c, k]] = x[n, c, k] on planes of output_hw."""
    _check_array(x, "input", 4)
    _check_index_array(indices, "indices", x.shape)
    H, W = _pair(output_hw, "output_size")
    _check_plane(H, W, "output_size")
    cdef int64_t N = x.shape[0], C = x.shape[1]
    cdef int64_t n_in = x.shape[2] * x.shape[3], n_out = H * W
    cdef cnp.ndarray y = np.empty((N, C, H, W), dtype=x.dtype)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef int64_t *pi = <int64_t *>cnp.PyArray_DATA(indices)
    cdef int err, nt = max(1, num_threads)
    if x.dtype == np.float32:
        with nogil:
            err = mg_max_unpool_fwd_f32(<float *>px, pi, <float *>py, N * C, n_in, n_out, nt)
    else:
        with nogil:
            err = mg_max_unpool_fwd_f64(<double *>px, pi, <double *>py, N * C, n_in, n_out, nt)
    if err & MG_POOL_EINDEX:
        raise ValueError(f"indices: expected values in [0, {n_out}) (output plane {H}x{W}), "
                         f"got min {indices.min()}, max {indices.max()}")
    _check_err(err, "max_unpool2d")
    return y


def max_unpool2d_backward(grad_output, indices, int num_threads=1):
    """gx[n, c, k] = gy[n, c, indices[n, c, k]]."""
    _check_array(grad_output, "grad_output", 4)
    if not isinstance(indices, np.ndarray) or indices.ndim != 4 or \
            indices.shape[:2] != grad_output.shape[:2]:
        raise ValueError("indices: expected an (N, C, h, w) array matching grad_output's N, C")
    _check_index_array(indices, "indices", indices.shape)
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t n_out = grad_output.shape[2] * grad_output.shape[3]
    cdef int64_t n_in = indices.shape[2] * indices.shape[3]
    cdef cnp.ndarray gx = np.empty(indices.shape, dtype=grad_output.dtype)
    cdef void *pg = cnp.PyArray_DATA(grad_output)
    cdef void *px = cnp.PyArray_DATA(gx)
    cdef int64_t *pi = <int64_t *>cnp.PyArray_DATA(indices)
    cdef int err, nt = max(1, num_threads)
    if gx.dtype == np.float32:
        with nogil:
            err = mg_max_unpool_bwd_f32(<float *>pg, pi, <float *>px, N * C, n_in, n_out, nt)
    else:
        with nogil:
            err = mg_max_unpool_bwd_f64(<double *>pg, pi, <double *>px, N * C, n_in, n_out, nt)
    _check_err(err, "max_unpool2d_backward")
    return gx
