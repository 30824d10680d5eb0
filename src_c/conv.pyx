# distutils: sources = [src_c/conv_kernels.c, src_c/gemm.c]
# cython: language_level=3
"""Cython wrappers for the convolution kernels (conv_kernels.h) and the GEMM (gemm.h).

Every argument is checked here, with the GIL held, before the C code runs without it:
a bad call raises ValueError/TypeError naming the argument, what was expected and what
was given. The C functions then trust the sizes completely.

Conventions shared by the three convolution entry points (all NCHW, PyTorch layouts):
  stride = (s_h, s_w), dilation = (d_h, d_w), both >= 1
  padding = (top, bottom, left, right), all >= 0 (asymmetric for 'same' with even kernels)
  w has shape (C_out, C_in / groups, kH, kW)
"""

import numpy as np
cimport numpy as cnp

cnp.import_array()


from gemm cimport (
    mg_sgemm,
    mg_dgemm,
    mg_gemm_isa,
    mg_gemm_force_isa,
)


from conv_kernels cimport (
    mg_conv_shape,
    mg_conv2d_forward_f32,
    mg_conv2d_forward_f64,
    mg_conv2d_backward_input_f32,
    mg_conv2d_backward_input_f64,
    mg_conv2d_backward_weight_f32,
    mg_conv2d_backward_weight_f64,
)


# ---------------------------------------------------------------- argument checks

_MAX_WORKSPACE = 2**40  # elements in one image's workspace (see _geometry)

def _check_array(str fn, str name, a, int ndim):
    """a must be a C-contiguous, aligned float32/float64 ndarray of rank ndim."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{fn}: {name} must have dtype float32 or float64, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(
            f"{fn}: {name} must have {ndim} dimensions, got {a.ndim} (shape {a.shape})")
    if not (a.flags.c_contiguous and a.flags.aligned):
        raise ValueError(
            f"{fn}: {name} must be C-contiguous and aligned (use np.ascontiguousarray)")


def _check_same_dtype(str fn, str name, a, str ref_name, ref):
    if a.dtype != ref.dtype:
        raise TypeError(
            f"{fn}: {name} has dtype {a.dtype} but {ref_name} has {ref.dtype}; they must match")


def _ints(str fn, str name, value, int count, int minimum):
    """A tuple of `count` Python ints, each >= minimum."""
    try:
        vals = tuple(value)
    except TypeError:
        vals = None
    if vals is None or not all(isinstance(v, (int, np.integer)) for v in vals):
        raise TypeError(f"{fn}: {name} must be a tuple of {count} ints, got {value!r}")
    vals = tuple(int(v) for v in vals)
    if len(vals) != count:
        raise ValueError(f"{fn}: {name} must have {count} entries, got {value!r}")
    for v in vals:
        if v < minimum:
            raise ValueError(f"{fn}: every entry of {name} must be >= {minimum}, got {value!r}")
    return vals


cdef mg_conv_shape _geometry(str fn, Py_ssize_t batch, Py_ssize_t c_in, Py_ssize_t h, Py_ssize_t wd,
                             w_shape, stride, padding, dilation, groups) except *:
    """Check a convolution's hyper-parameters against its input and weight shapes and
    work out the output size; raises naming the first bad argument."""
    cdef mg_conv_shape s
    sh, sw = _ints(fn, "stride", stride, 2, 1)
    pt, pb, pl, pr = _ints(fn, "padding", padding, 4, 0)
    dh, dw = _ints(fn, "dilation", dilation, 2, 1)
    g = int(groups)
    if g < 1:
        raise ValueError(f"{fn}: groups must be >= 1, got {groups}")
    c_out, c_in_g, kh, kw = (int(v) for v in w_shape)
    if batch < 0 or c_in < 1 or h < 1 or wd < 1:
        raise ValueError(
            f"{fn}: input must have at least one channel and non-empty spatial size, "
            f"got (batch, C_in, H, W) = {(batch, c_in, h, wd)}")
    if c_out < 1 or c_in_g < 1 or kh < 1 or kw < 1:
        raise ValueError(f"{fn}: weight must have no zero-size dimension, got shape "
                         f"{tuple(w_shape)}")
    if c_in % g != 0:
        raise ValueError(f"{fn}: input channels ({c_in}) must be divisible by groups ({g})")
    if c_out % g != 0:
        raise ValueError(f"{fn}: output channels ({c_out}, weight.shape[0]) must be "
                         f"divisible by groups ({g})")
    if c_in_g * g != c_in:
        raise ValueError(
            f"{fn}: weight.shape[1] must be input channels / groups = {c_in // g}, "
            f"got weight shape {tuple(w_shape)} for {c_in} input channels and groups={g}")
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # extent of the dilated kernel
    if ekh > h + pt + pb or ekw > wd + pl + pr:
        raise ValueError(
            f"{fn}: kernel (dilated extent {(ekh, ekw)}) is larger than the padded input "
            f"{(h + pt + pb, wd + pl + pr)}; check weight, padding and dilation")
    h_out = (h + pt + pb - ekh) // sh + 1
    w_out = (wd + pl + pr - ekw) // sw + 1
    # The C code sizes its workspaces (the padded image, the unfolded columns of up to
    # 256 positions' worth of images) in ptrdiff_t: past this they would wrap around to
    # a small buffer (wrong results or a crash), so a huge padding or kernel stops here.
    padded = c_in * (h + pt + pb) * (wd + pl + pr)
    unfolded = c_in * kh * kw * (h_out * w_out + 256)
    if max(padded, unfolded) > _MAX_WORKSPACE:
        raise ValueError(
            f"{fn}: padding {padding} and kernel {(kh, kw)} are too large: the padded input "
            f"would hold {padded} values and its unfolded columns {unfolded} "
            f"(at most 2**40 each)")
    s.batch, s.c_in, s.h_in, s.w_in = batch, c_in, h, wd
    s.c_out, s.kh, s.kw = c_out, kh, kw
    s.h_out, s.w_out = h_out, w_out
    s.sh, s.sw, s.pt, s.pl, s.dh, s.dw, s.groups = sh, sw, pt, pl, dh, dw, g
    return s


def _threads(num_threads):
    n = int(num_threads)
    if n < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    return n


# ---------------------------------------------------------------- convolution

def conv2d_forward(x, w, bias, stride, padding, dilation, groups, num_threads=1):
    """c (eq. 9.8): y[n, i] = sum_l w[i, l] * x[n, group's channel l] over each window.

    x (N, C_in, H, W); w (C_out, C_in/groups, kH, kW); bias (C_out,) or None.
    Returns y (N, C_out, H_out, W_out)."""
    fn = "conv2d"
    _check_array(fn, "input", x, 4)
    _check_array(fn, "weight", w, 4)
    _check_same_dtype(fn, "weight", w, "input", x)
    if bias is not None:
        _check_array(fn, "bias", bias, 1)
        _check_same_dtype(fn, "bias", bias, "input", x)
        if bias.shape[0] != w.shape[0]:
            raise ValueError(f"{fn}: bias must have shape ({w.shape[0]},) (C_out), "
                             f"got {bias.shape}")
    cdef mg_conv_shape s = _geometry(fn, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w.shape, stride, padding, dilation, groups)
    cdef int nt = _threads(num_threads)
    y = np.empty((s.batch, s.c_out, s.h_out, s.w_out), dtype=x.dtype)
    cdef int rc = 0
    cdef cnp.ndarray ax = x, aw = w, ay = y, ab
    cdef void *pb = NULL
    if bias is not None:
        ab = bias
        pb = cnp.PyArray_DATA(ab)
    if x.dtype == np.float32:
        with nogil:
            rc = mg_conv2d_forward_f32(&s, <float *>cnp.PyArray_DATA(ax),
                                       <float *>cnp.PyArray_DATA(aw), <float *>pb,
                                       <float *>cnp.PyArray_DATA(ay), nt)
    else:
        with nogil:
            rc = mg_conv2d_forward_f64(&s, <double *>cnp.PyArray_DATA(ax),
                                       <double *>cnp.PyArray_DATA(aw), <double *>pb,
                                       <double *>cnp.PyArray_DATA(ay), nt)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the im2col workspace")
    return y


def conv2d_backward_input(grad_output, w, input_size, stride, padding, dilation, groups,
                          num_threads=1):
    """h (eq. 9.13): the gradient of sum(grad_output * conv2d(x, w)) with respect to x,
    for x of spatial size input_size = (H, W). Also the transpose convolution.
    Returns dx (N, C_in, H, W), C_in = w.shape[1] * groups."""
    fn = "conv2d_backward_input"
    _check_array(fn, "grad_output", grad_output, 4)
    _check_array(fn, "weight", w, 4)
    _check_same_dtype(fn, "weight", w, "grad_output", grad_output)
    h, wd = _ints(fn, "input_size", input_size, 2, 1)
    g = int(groups)
    if g < 1:
        raise ValueError(f"{fn}: groups must be >= 1, got {groups}")
    cdef mg_conv_shape s = _geometry(fn, grad_output.shape[0], w.shape[1] * g, h, wd, w.shape,
                                     stride, padding, dilation, groups)
    if grad_output.shape[1:] != (s.c_out, s.h_out, s.w_out):
        raise ValueError(
            f"{fn}: grad_output must have shape (N, {s.c_out}, {s.h_out}, {s.w_out}) for "
            f"input_size {(h, wd)}, got {grad_output.shape}")
    cdef int nt = _threads(num_threads)
    dx = np.empty((s.batch, s.c_in, s.h_in, s.w_in), dtype=grad_output.dtype)
    cdef int rc = 0
    cdef cnp.ndarray ag = grad_output, aw = w, ad = dx
    if dx.dtype == np.float32:
        with nogil:
            rc = mg_conv2d_backward_input_f32(&s, <float *>cnp.PyArray_DATA(ag),
                                              <float *>cnp.PyArray_DATA(aw),
                                              <float *>cnp.PyArray_DATA(ad), nt)
    else:
        with nogil:
            rc = mg_conv2d_backward_input_f64(&s, <double *>cnp.PyArray_DATA(ag),
                                              <double *>cnp.PyArray_DATA(aw),
                                              <double *>cnp.PyArray_DATA(ad), nt)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the col2im workspace")
    return dx


def conv2d_backward_weight(x, grad_output, kernel_size, stride, padding, dilation, groups,
                           num_threads=1):
    """g (eq. 9.11): the gradient of sum(grad_output * conv2d(x, w)) with respect to w,
    for w of kernel_size = (kH, kW). Returns dw (C_out, C_in/groups, kH, kW)."""
    fn = "conv2d_backward_weight"
    _check_array(fn, "input", x, 4)
    _check_array(fn, "grad_output", grad_output, 4)
    _check_same_dtype(fn, "grad_output", grad_output, "input", x)
    kh, kw = _ints(fn, "kernel_size", kernel_size, 2, 1)
    g = int(groups)
    if g < 1:
        raise ValueError(f"{fn}: groups must be >= 1, got {groups}")
    if x.shape[1] % g != 0:
        raise ValueError(f"{fn}: input channels ({x.shape[1]}) must be divisible by groups ({g})")
    w_shape = (grad_output.shape[1], x.shape[1] // g, kh, kw)
    cdef mg_conv_shape s = _geometry(fn, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w_shape, stride, padding, dilation, groups)
    if grad_output.shape != (s.batch, s.c_out, s.h_out, s.w_out):
        raise ValueError(
            f"{fn}: grad_output must have shape {(s.batch, s.c_out, s.h_out, s.w_out)}, "
            f"got {grad_output.shape}")
    cdef int nt = _threads(num_threads)
    dw = np.empty(w_shape, dtype=x.dtype)
    cdef int rc = 0
    cdef cnp.ndarray ax = x, ag = grad_output, ad = dw
    if dw.dtype == np.float32:
        with nogil:
            rc = mg_conv2d_backward_weight_f32(&s, <float *>cnp.PyArray_DATA(ax),
                                               <float *>cnp.PyArray_DATA(ag),
                                               <float *>cnp.PyArray_DATA(ad), nt)
    else:
        with nogil:
            rc = mg_conv2d_backward_weight_f64(&s, <double *>cnp.PyArray_DATA(ax),
                                               <double *>cnp.PyArray_DATA(ag),
                                               <double *>cnp.PyArray_DATA(ad), nt)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the workspace")
    return dw


# ---------------------------------------------------------------- GEMM (for tests, reuse)

def gemm(a, b, bint trans_a=False, bint trans_b=False, double alpha=1.0, double beta=0.0,
         c=None, num_threads=1):
    """C = alpha * op(a) @ op(b) + beta * C with minigrad's own GEMM (gemm.h).

    a, b (and c if given) are 2-d C-contiguous arrays of one float dtype; op transposes
    when trans_* is true. Returns c (a new array when c is None; then beta is ignored)."""
    fn = "gemm"
    _check_array(fn, "a", a, 2)
    _check_array(fn, "b", b, 2)
    _check_same_dtype(fn, "b", b, "a", a)
    cdef Py_ssize_t m = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t kb = b.shape[1] if trans_b else b.shape[0]
    cdef Py_ssize_t n = b.shape[0] if trans_b else b.shape[1]
    if kb != k:
        raise ValueError(f"{fn}: inner dimensions differ: op(a) is {m}x{k}, op(b) is {kb}x{n}")
    if c is None:
        c = np.zeros((m, n), dtype=a.dtype)
        beta = 0.0
    else:
        _check_array(fn, "c", c, 2)
        _check_same_dtype(fn, "c", c, "a", a)
        if c.shape != (m, n):
            raise ValueError(f"{fn}: c must have shape {(m, n)}, got {c.shape}")
    cdef int nt = _threads(num_threads)
    cdef cnp.ndarray aa = a, ab = b, ac = c
    cdef Py_ssize_t lda = a.shape[1], ldb = b.shape[1], ldc = c.shape[1]
    cdef int ta = trans_a, tb = trans_b
    if m == 0 or n == 0:
        return c
    if a.dtype == np.float32:
        with nogil:
            mg_sgemm(ta, tb, m, n, k, <float>alpha, <float *>cnp.PyArray_DATA(aa), lda,
                     <float *>cnp.PyArray_DATA(ab), ldb, <float>beta,
                     <float *>cnp.PyArray_DATA(ac), ldc, nt)
    else:
        with nogil:
            mg_dgemm(ta, tb, m, n, k, alpha, <double *>cnp.PyArray_DATA(aa), lda,
                     <double *>cnp.PyArray_DATA(ab), ldb, beta,
                     <double *>cnp.PyArray_DATA(ac), ldc, nt)
    return c


def gemm_isa() -> str:
    """The GEMM micro-kernel in use: 'avx512', 'avx2' or 'generic'."""
    return mg_gemm_isa().decode()


def gemm_force_isa(str name) -> None:
    """Force a GEMM micro-kernel (testing); ValueError if this CPU lacks it."""
    if mg_gemm_force_isa(name.encode()) != 0:
        raise ValueError(f"gemm_force_isa: name must be an instruction set this CPU runs "
                         f"('avx512', 'avx2', 'generic'), got {name!r}")
