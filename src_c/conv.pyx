# distutils: sources = [src_c/conv_f32.c, src_c/conv_f64.c]
# cython: language_level=3
"""Cython wrappers for the convolution kernels (conv_kernels.h).

Every argument is checked here (with minigrad._C.checks), with the GIL held, before the
C code runs without it: a bad call raises ValueError/TypeError naming the argument, what
was expected and what was given. The C functions then trust the sizes completely. The
GEMM under them is the core's (minigrad._C.core.gemm is its Python hook).

Conventions shared by the three convolution entry points (all NCHW, PyTorch layouts):
  stride = (s_h, s_w), dilation = (d_h, d_w), both >= 1
  padding = (top, bottom, left, right), all >= 0 (asymmetric for 'same' with even kernels)
  w has shape (C_out, C_in / groups, kH, kW)
"""

import numpy as np
cimport numpy as cnp

from minigrad._C import checks

from conv_kernels cimport (
    mg_conv_shape,
    mg_conv2d_forward_f32,
    mg_conv2d_forward_f64,
    mg_conv2d_backward_input_f32,
    mg_conv2d_backward_input_f64,
    mg_conv2d_backward_weight_f32,
    mg_conv2d_backward_weight_f64,
)
from mg_runtime cimport bind_runtime

cnp.import_array()
bind_runtime()


# ---------------------------------------------------------------- argument checks

_MAX_WORKSPACE = 2**40  # elements in one image's workspace (see _geometry)


cdef mg_conv_shape _geometry(str fn, batch, c_in, h, wd, w_shape, stride, padding, dilation,
                             groups) except *:
    """Check a convolution's hyper-parameters against its input and weight shapes and
    work out the output size; raises naming the first bad argument."""
    cdef mg_conv_shape s
    sh, sw = checks.ints(fn, "stride", stride, 2, 1)
    pt, pb, pl, pr = checks.ints(fn, "padding", padding, 4, 0)
    dh, dw = checks.ints(fn, "dilation", dilation, 2, 1)
    (g,) = checks.ints(fn, "groups", groups, 1, 1)
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
    h_out = checks.window_count(h, kh, sh, pt, pb, dh)
    w_out = checks.window_count(wd, kw, sw, pl, pr, dw)
    # The C code sizes its workspaces (the padded image, the unfolded columns of up to
    # 256 positions' worth of images) in ptrdiff_t: past this they would wrap around to
    # a small buffer (wrong results or a crash), so a huge padding or kernel stops here.
    # Along an axis whose stride exceeds the kernel's extent the padded image is
    # compacted to the extent each output reads (conv_template.h, compact_input).
    ph = h_out * ekh if sh > ekh else h + pt + pb
    pw = w_out * ekw if sw > ekw else wd + pl + pr
    padded = c_in * ph * pw
    unfolded = c_in * kh * kw * (h_out * w_out + 256)
    if max(padded, unfolded) > _MAX_WORKSPACE:
        raise ValueError(
            f"{fn}: padding {padding} and kernel {(kh, kw)} are too large: the padded input "
            f"would hold {padded} values and its unfolded columns {unfolded} "
            f"(at most 2**40 each)")
    checks.size_product(fn, "the output", batch, c_out, h_out, w_out)
    s.batch, s.c_in, s.h_in, s.w_in = batch, c_in, h, wd
    s.c_out, s.kh, s.kw = c_out, kh, kw
    s.h_out, s.w_out = h_out, w_out
    s.sh, s.sw, s.pt, s.pl, s.dh, s.dw, s.groups = sh, sw, pt, pl, dh, dw, g
    return s


# ---------------------------------------------------------------- convolution

def conv2d_forward(x, w, bias, stride, padding, dilation, groups, num_threads=1):
    """c (eq. 9.8): y[n, i] = sum_l w[i, l] * x[n, group's channel l] over each window.

    x (N, C_in, H, W); w (C_out, C_in/groups, kH, kW); bias (C_out,) or None.
    Returns y (N, C_out, H_out, W_out)."""
    fn = "conv2d"
    x = checks.array(fn, "input", x, 4, None, 0)
    w = checks.array(fn, "weight", w, 4, x.dtype)
    if bias is not None:
        bias = checks.array(fn, "bias", bias, 1, x.dtype)
        if bias.shape[0] != w.shape[0]:
            raise ValueError(f"{fn}: bias must have shape ({w.shape[0]},) (C_out), "
                             f"got {bias.shape}")
    cdef mg_conv_shape s = _geometry(fn, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w.shape, stride, padding, dilation, groups)
    cdef int nt = checks.threads(fn, num_threads)
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
    checks.status(fn, rc, "the im2col workspace")
    return y


def conv2d_backward_input(grad_output, w, input_size, stride, padding, dilation, groups,
                          num_threads=1):
    """h (eq. 9.13): the gradient of sum(grad_output * conv2d(x, w)) with respect to x,
    for x of spatial size input_size = (H, W). Also the transpose convolution.
    Returns dx (N, C_in, H, W), C_in = w.shape[1] * groups."""
    fn = "conv2d_backward_input"
    grad_output = checks.array(fn, "grad_output", grad_output, 4, None, 0)
    w = checks.array(fn, "weight", w, 4, grad_output.dtype)
    h, wd = checks.ints(fn, "input_size", input_size, 2, 1)
    (g,) = checks.ints(fn, "groups", groups, 1, 1)
    cdef mg_conv_shape s = _geometry(fn, grad_output.shape[0], w.shape[1] * g, h, wd, w.shape,
                                     stride, padding, dilation, groups)
    if grad_output.shape[1:] != (s.c_out, s.h_out, s.w_out):
        raise ValueError(
            f"{fn}: grad_output must have shape (N, {s.c_out}, {s.h_out}, {s.w_out}) for "
            f"input_size {(h, wd)}, got {grad_output.shape}")
    cdef int nt = checks.threads(fn, num_threads)
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
    checks.status(fn, rc, "the col2im workspace")
    return dx


def conv2d_backward_weight(x, grad_output, kernel_size, stride, padding, dilation, groups,
                           num_threads=1):
    """g (eq. 9.11): the gradient of sum(grad_output * conv2d(x, w)) with respect to w,
    for w of kernel_size = (kH, kW). Returns dw (C_out, C_in/groups, kH, kW)."""
    fn = "conv2d_backward_weight"
    x = checks.array(fn, "input", x, 4, None, 0)
    grad_output = checks.array(fn, "grad_output", grad_output, 4, x.dtype, 0)
    kh, kw = checks.ints(fn, "kernel_size", kernel_size, 2, 1)
    (g,) = checks.ints(fn, "groups", groups, 1, 1)
    if x.shape[1] % g != 0:
        raise ValueError(f"{fn}: input channels ({x.shape[1]}) must be divisible by groups ({g})")
    w_shape = (grad_output.shape[1], x.shape[1] // g, kh, kw)
    cdef mg_conv_shape s = _geometry(fn, x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                     w_shape, stride, padding, dilation, groups)
    if grad_output.shape != (s.batch, s.c_out, s.h_out, s.w_out):
        raise ValueError(
            f"{fn}: grad_output must have shape {(s.batch, s.c_out, s.h_out, s.w_out)}, "
            f"got {grad_output.shape}")
    cdef int nt = checks.threads(fn, num_threads)
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
    checks.status(fn, rc, "the workspace")
    return dw
