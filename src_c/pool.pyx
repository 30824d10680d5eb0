# cython: language_level=3
# distutils: sources = [src_c/pool_f32.c, src_c/pool_f64.c]
"""Cython wrappers of the pooling kernels (src_c/pool_kernels.h).

Each wrapper checks every argument (with minigrad._C.checks) -- types, dtypes, shapes,
contiguity and the window geometry -- and only then releases the GIL and calls C. Every
entry point takes ``op``, the name of the calling op for its error messages (the 1-d
ops run the 2-d kernels on H = 1 and pass their own name).  Inputs are NCHW
arrays (1d pooling is the 2d kernel on H = 1).  The geometry of a pooling is
built here once per call as two `_Axis` objects (rows, columns); see
`mg_pool_axis` in pool_kernels.h for what the kernels expect.
"""

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

from minigrad._C import checks

from mg_common cimport MG_EINDEX
from mg_runtime cimport bind_runtime
from pool_kernels cimport (
    mg_pool_axis,
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
)

cnp.import_array()
bind_runtime()

INT32_MAX = 2**31 - 1


# ---------------------------------------------------------------- checks

def _input(str op, str name, a, dtype=None):
    """An (N, C, H, W) float array whose planes the kernels can index with int32."""
    a = checks.array(op, name, a, 4, dtype, "any")
    _check_plane(op, name, a.shape[2], a.shape[3])
    return a


def _check_plane(str op, str name, H, W):
    if H < 1 or W < 1:
        raise ValueError(f"{op}: {name} must have a spatial size >= 1, got ({H}, {W})")
    if H * W > INT32_MAX:
        raise ValueError(f"{op}: {name} has planes of {H}x{W} = {H * W} values; the pooling "
                         "kernels index a plane with 32 bits (at most 2**31 - 1 values)")


def _pair(str op, str name, v, minimum=0):
    return checks.ints(op, name, v, 2, minimum)


def _output(str op, tuple shape, dtype, bint with_indices=False):
    """Refuse an output that could never be allocated, before building anything for it."""
    n = checks.size_product(op, "the output", *shape)
    checks.allocatable(op, "the output" + (" and its indices" if with_indices else ""),
                       n, np.dtype(dtype).itemsize + (8 if with_indices else 0))


def pooling_output_size(n_in, k, s, p, d, bint ceil_mode, str axis="", str op="pooling") -> int:
    """PyTorch's pooled length (checks.window_count), refusing a window wider than the
    padded input."""
    n = checks.window_count(n_in, k, s, p, p, d, ceil_mode)
    if n < 1:
        raise ValueError(
            f"{op}: kernel_size: the window{axis} (kernel {k}, dilation {d}, extent "
            f"{d * (k - 1) + 1}) is larger than the padded input ({n_in} + 2*{p} = {n_in + 2 * p})")
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


def _regular_axis(str op, n_in, k, s, p, d, bint ceil_mode, str axis):
    """Geometry of a sliding window (kernel k, stride s, padding p, dilation d)."""
    if p > k // 2:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size "
                         f"({k // 2}), got {p}{axis}")
    # the kernels hold these in C ints (mg_pool_axis); a window or a stride past the
    # padded input reads nothing more, so the kernels get min(value, what can matter)
    for name, v in (("kernel_size", k), ("dilation", d)):
        if v > INT32_MAX:
            raise ValueError(f"{op}: {name} must be at most 2**31 - 1, got {v}{axis}")
    n = pooling_output_size(n_in, k, s, p, d, ceil_mode, axis, op)
    if n == 1:  # a lone window: the stride's value does not matter (and may be huge)
        s = min(s, INT32_MAX)
    o = np.arange(n, dtype=np.int64)
    first = o * s - p                                  # window's first tap, maybe in padding
    t0 = np.where(first < 0, (-first + d - 1) // d, 0)  # first tap inside the input
    t1 = np.minimum(k - 1, (n_in - 1 - first) // d)     # last tap inside the input
    count = t1 - t0 + 1
    if np.any(count < 1):
        bad = int(np.argmax(count < 1))
        raise ValueError(
            f"{op}: dilation/padding: the window of output {bad}{axis} holds only padding "
            f"(kernel {k}, stride {s}, padding {p}, dilation {d}, input {n_in})")
    ax = _Axis()
    ax.n_out = n
    ax.start = np.ascontiguousarray(first + t0 * d, dtype=np.int32)
    ax.count = np.ascontiguousarray(count, dtype=np.int32)
    ax.size = (np.minimum(first + k, n_in + p) - first).astype(np.float64)
    ax.regular, ax.step, ax.stride, ax.k, ax.pad = 1, d, s, k, p
    ax.fill()
    return ax


def _adaptive_axis(n_in, n_out, str axis):
    """Adaptive windows: output o covers [floor(o n/m), ceil((o+1) n/m))."""
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


def _geometry(str op, hw, kernel_size, stride, padding, dilation, bint ceil_mode):
    """The (rows, cols) axes of a sliding-window pooling of an H x W plane, hw = (H, W)."""
    kH, kW = _pair(op, "kernel_size", kernel_size, 1)
    sH, sW = _pair(op, "stride", kernel_size if stride is None else stride, 1)
    pH, pW = _pair(op, "padding", padding, 0)
    dH, dW = _pair(op, "dilation", dilation, 1)
    H, W = hw
    rows = _regular_axis(op, H, kH, sH, pH, dH, ceil_mode, " (height)")
    cols = _regular_axis(op, W, kW, sW, pW, dW, ceil_mode, " (width)")
    return rows, cols


def _adaptive_geometry(str op, x_shape, output_size, dtype, bint with_indices=False):
    """The (rows, cols) axes of an adaptive pooling; the output size is checked against
    what could ever be allocated before any per-output table is built."""
    oh, ow = _pair(op, "output_size", output_size, 1)
    _output(op, (x_shape[0], x_shape[1], oh, ow), dtype, with_indices)
    if oh > INT32_MAX or ow > INT32_MAX:
        raise ValueError(f"{op}: output_size must be at most 2**31 - 1 per axis, got "
                         f"{(oh, ow)}")
    return (_adaptive_axis(x_shape[2], oh, " (height)"),
            _adaptive_axis(x_shape[3], ow, " (width)"))


# ---------------------------------------------------------------- index kernels

# The kernels that move values by an index array (max pooling's backward, max unpooling
# forward and backward) share one signature: (src, idx, dst, P, n1, n2, nt).
ctypedef int (*_index_kernel_f32)(const float *, const int64_t *, float *, int64_t, int64_t,
                                  int64_t, int) noexcept nogil
ctypedef int (*_index_kernel_f64)(const double *, const int64_t *, double *, int64_t, int64_t,
                                  int64_t, int) noexcept nogil


cdef int _run_index_kernel(_index_kernel_f32 k32, _index_kernel_f64 k64, cnp.ndarray src,
                           cnp.ndarray idx, cnp.ndarray dst, int64_t n1, int64_t n2, int nt):
    """The status of k32 or k64 (by dst's dtype) on the N*C planes of src, idx and dst."""
    cdef void *ps = cnp.PyArray_DATA(src)
    cdef void *pd = cnp.PyArray_DATA(dst)
    cdef int64_t *pi = <int64_t *>cnp.PyArray_DATA(idx)
    cdef int64_t P = dst.shape[0] * dst.shape[1]
    cdef int err
    if dst.dtype == np.float32:
        with nogil:
            err = k32(<float *>ps, pi, <float *>pd, P, n1, n2, nt)
    else:
        with nogil:
            err = k64(<double *>ps, pi, <double *>pd, P, n1, n2, nt)
    return err


# ---------------------------------------------------------------- max pooling

cdef _max_fwd(str op, cnp.ndarray x, _Axis rows, _Axis cols, bint return_indices, int nt):
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    shape = (N, C, rows.n_out, cols.n_out)
    _output(op, shape, x.dtype, return_indices)
    cdef cnp.ndarray y = np.empty(shape, dtype=x.dtype)
    cdef cnp.ndarray yi = None
    cdef int64_t *pi = NULL
    if return_indices:
        yi = np.empty(shape, dtype=np.int64)
        pi = <int64_t *>cnp.PyArray_DATA(yi)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef int err = 0
    if N * C == 0:
        return y, yi
    if x.dtype == np.float32:
        with nogil:
            err = mg_max_pool2d_fwd_f32(<float *>px, <float *>py, pi, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, nt)
    else:
        with nogil:
            err = mg_max_pool2d_fwd_f64(<double *>px, <double *>py, pi, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, nt)
    checks.status(op, err, "the row buffers")
    return y, yi


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, bint ceil_mode=False,
                       bint return_indices=False, num_threads=1, str op="max_pool2d"):
    """y[n,c,i,j] = max of x[n,c] over window (i,j); (y, indices or None).
    ``op`` names the calling op in errors (max_pool1d runs this on H = 1)."""
    x = _input(op, "input", x)
    rows, cols = _geometry(op, x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    return _max_fwd(op, x, rows, cols, return_indices, checks.threads(op, num_threads))


def adaptive_max_pool2d_forward(x, output_size, bint return_indices=False, num_threads=1,
                                str op="adaptive_max_pool2d"):
    """Max over adaptive windows [floor(o n/m), ceil((o+1) n/m)) per axis."""
    x = _input(op, "input", x)
    rows, cols = _adaptive_geometry(op, x.shape, output_size, x.dtype, return_indices)
    return _max_fwd(op, x, rows, cols, return_indices, checks.threads(op, num_threads))


def max_pool2d_backward(grad_output, indices, input_hw, num_threads=1,
                        str op="max_pool2d backward"):
    """gx[n,c,idx] += gy[n,c,o]: the gradient goes to the element the index names."""
    grad_output = checks.array(op, "grad_output", grad_output, 4, None, "any")
    indices = checks.index_array(op, "indices", indices, grad_output.shape)
    H, W = _pair(op, "input_hw", input_hw, 1)
    _check_plane(op, "input_hw", H, W)
    cdef int64_t N = grad_output.shape[0], C = grad_output.shape[1]
    cdef int64_t n_out = grad_output.shape[2] * grad_output.shape[3]
    cdef int64_t n_in = H * W
    gx = np.empty((N, C, H, W), dtype=grad_output.dtype)
    cdef int nt = checks.threads(op, num_threads)
    cdef int err = _run_index_kernel(mg_max_pool2d_bwd_f32, mg_max_pool2d_bwd_f64, grad_output,
                                     indices, gx, n_out, n_in, nt)
    checks.status(op, err)
    return gx


# ---------------------------------------------------------------- average / Lp

cdef _sum_fwd(str op, cnp.ndarray x, _Axis rows, _Axis cols, cnp.ndarray rfac,
              cnp.ndarray cfac, double norm_p, int nt):
    cdef int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    shape = (N, C, rows.n_out, cols.n_out)
    _output(op, shape, x.dtype)
    cdef cnp.ndarray y = np.empty(shape, dtype=x.dtype)
    cdef void *px = cnp.PyArray_DATA(x)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef void *pr = cnp.PyArray_DATA(rfac)
    cdef void *pc = cnp.PyArray_DATA(cfac)
    cdef int err = 0
    if N * C == 0:
        return y
    if x.dtype == np.float32:
        with nogil:
            err = mg_sum_pool2d_fwd_f32(<float *>px, <float *>py, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, <float *>pr, <float *>pc, norm_p, nt)
    else:
        with nogil:
            err = mg_sum_pool2d_fwd_f64(<double *>px, <double *>py, N * C, <int>H, <int>W,
                                        &rows.ax, &cols.ax, <double *>pr, <double *>pc, norm_p,
                                        nt)
    checks.status(op, err, "the row buffers")
    return y


cdef _sum_bwd(str op, cnp.ndarray gy, cnp.ndarray x, cnp.ndarray y, int64_t H, int64_t W,
              _Axis rows, _Axis cols, cnp.ndarray rfac, cnp.ndarray cfac, double norm_p,
              int nt):
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
    cdef int err = 0
    if N * C == 0:
        return gx
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
    checks.status(op, err, "the row buffers")
    return gx


def _avg_factors(str op, _Axis rows, _Axis cols, bint count_include_pad, divisor_override,
                 dtype):
    """1/divisor as a row factor times a column factor (PyTorch's divisor rules)."""
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be a nonzero int, got 0")
        return (np.full(rows.n_out, 1.0 / divisor_override, dtype=dtype),
                np.ones(cols.n_out, dtype=dtype))
    if count_include_pad:
        return (1.0 / rows.size).astype(dtype), (1.0 / cols.size).astype(dtype)
    return (1.0 / rows.count).astype(dtype), (1.0 / cols.count).astype(dtype)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, bint ceil_mode=False,
                       bint count_include_pad=True, divisor_override=None, num_threads=1,
                       str op="avg_pool2d"):
    """y[n,c,i,j] = sum of x[n,c] over window (i,j) / divisor (PyTorch's rules)."""
    x = _input(op, "input", x)
    rows, cols = _geometry(op, x.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    rf, cf = _avg_factors(op, rows, cols, count_include_pad, divisor_override, x.dtype)
    return _sum_fwd(op, x, rows, cols, rf, cf, 0.0, checks.threads(op, num_threads))


def avg_pool2d_backward(grad_output, input_hw, kernel_size, stride=None, padding=0,
                        bint ceil_mode=False, bint count_include_pad=True, divisor_override=None,
                        num_threads=1, str op="avg_pool2d backward"):
    """gx[i] = sum over windows w containing i of gy[w] / divisor(w)."""
    grad_output = checks.array(op, "grad_output", grad_output, 4, None, "any")
    H, W = _pair(op, "input_hw", input_hw, 1)
    _check_plane(op, "input_hw", H, W)
    rows, cols = _geometry(op, (H, W), kernel_size, stride, padding, 1, ceil_mode)
    if grad_output.shape[2:] != (rows.n_out, cols.n_out):
        raise ValueError(f"{op}: grad_output must have spatial shape "
                         f"{(rows.n_out, cols.n_out)}, got {grad_output.shape[2:]}")
    rf, cf = _avg_factors(op, rows, cols, count_include_pad, divisor_override,
                          grad_output.dtype)
    return _sum_bwd(op, grad_output, None, None, H, W, rows, cols, rf, cf, 0.0,
                    checks.threads(op, num_threads))


def adaptive_avg_pool2d_forward(x, output_size, num_threads=1, str op="adaptive_avg_pool2d"):
    """Mean over adaptive windows [floor(o n/m), ceil((o+1) n/m)) per axis."""
    x = _input(op, "input", x)
    rows, cols = _adaptive_geometry(op, x.shape, output_size, x.dtype)
    rf, cf = (1.0 / rows.size).astype(x.dtype), (1.0 / cols.size).astype(x.dtype)
    return _sum_fwd(op, x, rows, cols, rf, cf, 0.0, checks.threads(op, num_threads))


def adaptive_avg_pool2d_backward(grad_output, input_hw, num_threads=1,
                                 str op="adaptive_avg_pool2d backward"):
    grad_output = checks.array(op, "grad_output", grad_output, 4, None, "any")
    H, W = _pair(op, "input_hw", input_hw, 1)
    _check_plane(op, "input_hw", H, W)
    rows = _adaptive_axis(H, grad_output.shape[2], " (height)")
    cols = _adaptive_axis(W, grad_output.shape[3], " (width)")
    rf = (1.0 / rows.size).astype(grad_output.dtype)
    cf = (1.0 / cols.size).astype(grad_output.dtype)
    return _sum_bwd(op, grad_output, None, None, H, W, rows, cols, rf, cf, 0.0,
                    checks.threads(op, num_threads))


def _lp_setup(str op, x, norm_type, kernel_size, stride, bint ceil_mode):
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    p = float(norm_type)
    if not (p > 0 and np.isfinite(p)):
        raise ValueError(f"{op}: norm_type must be a finite number > 0, got {norm_type!r}")
    rows, cols = _geometry(op, x.shape[2:], kernel_size, stride, 0, 1, ceil_mode)
    # PyTorch: (avg_pool2d(x^p) * kH*kW)^(1/p), where that average divides by
    # the number of valid elements -- so windows cut by ceil_mode are rescaled.
    rf = (rows.k / rows.size).astype(x.dtype)
    cf = (cols.k / cols.size).astype(x.dtype)
    return p, rows, cols, rf, cf


def lp_pool2d_forward(x, norm_type, kernel_size, stride=None, bint ceil_mode=False,
                      num_threads=1, str op="lp_pool2d"):
    """y = (sum over the window of x^p)^(1/p) (PyTorch's lp_pool2d)."""
    x = _input(op, "input", x)
    p, rows, cols, rf, cf = _lp_setup(op, x, norm_type, kernel_size, stride, ceil_mode)
    return _sum_fwd(op, x, rows, cols, rf, cf, p, checks.threads(op, num_threads))


def lp_pool2d_backward(grad_output, x, y, norm_type, kernel_size, stride=None,
                       bint ceil_mode=False, num_threads=1, str op="lp_pool2d backward"):
    """gx[i] = x[i]^(p-1) sum over windows w of gy[w] y[w]^(1-p) (0 where y[w] = 0)."""
    x = _input(op, "input", x)
    grad_output = checks.array(op, "grad_output", grad_output, 4, x.dtype, "any")
    y = checks.array(op, "output", y, 4, x.dtype, "any")
    p, rows, cols, rf, cf = _lp_setup(op, x, norm_type, kernel_size, stride, ceil_mode)
    expect = (x.shape[0], x.shape[1], rows.n_out, cols.n_out)
    if grad_output.shape != expect:
        raise ValueError(f"{op}: grad_output must have shape {expect}, got {grad_output.shape}")
    if y.shape != expect:
        raise ValueError(f"{op}: output must have shape {expect}, got {y.shape}")
    return _sum_bwd(op, grad_output, x, y, x.shape[2], x.shape[3], rows, cols, rf, cf, p,
                    checks.threads(op, num_threads))


# ---------------------------------------------------------------- unpooling

def max_unpool2d_forward(x, indices, output_hw, num_threads=1, str op="max_unpool2d"):
    """y = 0; y[n, c, indices[n, c, k]] = x[n, c, k] on planes of output_hw."""
    x = checks.array(op, "input", x, 4, None, "any")
    indices = checks.index_array(op, "indices", indices, x.shape)
    H, W = _pair(op, "output_size", output_hw, 1)
    _check_plane(op, "output_size", H, W)
    _output(op, (x.shape[0], x.shape[1], H, W), x.dtype)
    cdef int64_t N = x.shape[0], C = x.shape[1]
    cdef int64_t n_in = x.shape[2] * x.shape[3], n_out = H * W
    y = np.empty((N, C, H, W), dtype=x.dtype)
    cdef int nt = checks.threads(op, num_threads)
    cdef int err = _run_index_kernel(mg_max_unpool_fwd_f32, mg_max_unpool_fwd_f64, x, indices,
                                     y, n_in, n_out, nt)
    if err & MG_EINDEX:
        raise ValueError(f"{op}: indices must be in [0, {n_out}) (output plane {H}x{W}), "
                         f"got min {indices.min()}, max {indices.max()}")
    checks.status(op, err)
    return y


def max_unpool2d_backward(grad_output, indices, num_threads=1,
                          str op="max_unpool2d backward"):
    """gx[n, c, k] = gy[n, c, indices[n, c, k]]."""
    grad_output = checks.array(op, "grad_output", grad_output, 4, None, "any")
    if not isinstance(indices, np.ndarray) or indices.ndim != 4 or \
            indices.shape[:2] != grad_output.shape[:2]:
        raise ValueError(f"{op}: indices must be an (N, C, h, w) array matching "
                         "grad_output's N, C")
    indices = checks.index_array(op, "indices", indices, indices.shape)
    cdef int64_t n_out = grad_output.shape[2] * grad_output.shape[3]
    cdef int64_t n_in = indices.shape[2] * indices.shape[3]
    gx = np.empty(indices.shape, dtype=grad_output.dtype)
    cdef int nt = checks.threads(op, num_threads)
    cdef int err = _run_index_kernel(mg_max_unpool_bwd_f32, mg_max_unpool_bwd_f64, grad_output,
                                     indices, gx, n_in, n_out, nt)
    checks.status(op, err)
    return gx
