# distutils: sources = [src_c/local_f32.c, src_c/local_f64.c]
# cython: language_level=3
"""Cython wrappers of the locally connected / tiled convolution kernels.

Two entry points, ``forward`` and ``backward``, serve both ops: a locally
connected weight is a tiled weight whose tile count equals the output size
(see local_kernels.h).  ``tiled`` only changes what is checked and how errors
read.  Everything is validated here, before the GIL is released; the C code
trusts its arguments. Checks come from minigrad._C.checks, shared by every wrapper.

The packed input returned by ``forward`` (batch-innermost, zero-padded) is
what ``backward`` needs for the weight gradient, so the op layer keeps it
instead of the input.
"""

import threading

import numpy as np

cimport numpy as cnp

cnp.import_array()

from minigrad._C import checks

from local_kernels cimport (
    mg_local_shape,
    MG_LOCAL_BATCH_ALIGN_F32,
    MG_LOCAL_BATCH_ALIGN_F64,
    mg_local_pack_input_f32,
    mg_local_pack_input_f64,
    mg_local_unpack_input_f32,
    mg_local_unpack_input_f64,
    mg_local_pack_output_f32,
    mg_local_pack_output_f64,
    mg_local_unpack_output_f32,
    mg_local_unpack_output_f64,
    mg_local_forward_f32,
    mg_local_forward_f64,
    mg_local_grad_input_f32,
    mg_local_grad_input_f64,
    mg_local_grad_weight_f32,
    mg_local_grad_weight_f64,
)
from mg_runtime cimport bind_runtime

bind_runtime()


# ------------------------------------------------------------------ checking

cdef mg_local_shape _shape(str op, tuple xshape, tuple wshape, object stride, object padding,
                           bint tiled, int align) except *:
    """Fill the kernel's shape record from the input / weight shapes, checking all."""
    cdef mg_local_shape s
    n, c_in, h, w = xshape
    c_out, th, tw, wc_in, kh, kw = wshape
    sh, sw = checks.ints(op, "stride", stride, 2, 1)
    ph, pw = checks.ints(op, "padding", padding, 2, 0)
    if ph > kh - 1 or pw > kw - 1:
        raise ValueError(
            f"{op}: padding ({ph}, {pw}) must be at most kernel size - 1 = ({kh - 1}, {kw - 1}) "
            "(more would only add outputs that see nothing but zeros)")
    if wc_in != c_in:
        raise ValueError(
            f"{op}: weight has {wc_in} input channels (dim 3 of shape {wshape}) "
            f"but the input has {c_in} (dim 1 of shape {xshape})")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"{op}: kernel ({kh}, {kw}) is larger than the padded input "
            f"({h + 2 * ph}, {w + 2 * pw})")
    h_out = checks.window_count(h, kh, sh, ph, ph)
    w_out = checks.window_count(w, kw, sw, pw, pw)
    if not tiled and (th != h_out or tw != w_out):
        raise ValueError(
            f"{op}: weight's H_out, W_out = ({th}, {tw}) (dims 1, 2 of shape {wshape}) must "
            f"equal the output size ({h_out}, {w_out}) that input ({h}, {w}), kernel "
            f"({kh}, {kw}), stride ({sh}, {sw}) and padding ({ph}, {pw}) give")
    checks.size_product(op, "the output", n, c_out, h_out, w_out)
    s.n = n
    s.n_pad = (n + align - 1) // align * align
    s.c_in, s.h, s.w = c_in, h, w
    s.ph, s.pw = ph, pw
    s.hp, s.wp = h + 2 * ph, w + 2 * pw
    s.kh, s.kw, s.sh, s.sw = kh, kw, sh, sw
    s.c_out, s.h_out, s.w_out = c_out, h_out, w_out
    s.th, s.tw = th, tw
    return s


# Below this many multiply-adds a call runs on one thread: waking a team costs
# more than it saves (and much more when the cores are oversubscribed).
_SERIAL_WORK = 1 << 20


cdef int _threads(str op, object num_threads, const mg_local_shape *s) except -1:
    cdef int nt = checks.threads(op, num_threads)
    work = s.n * s.c_out * s.h_out * s.w_out * s.c_in * s.kh * s.kw
    return 1 if work < _SERIAL_WORK else nt


def _aligned_empty(shape, dtype):
    """np.empty, but starting on a 64-byte boundary, so that the kernels'
    whole-vector loads never straddle two cache lines."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.empty(nbytes + 64, dtype=np.uint8)
    start = (-buf.ctypes.data) % 64
    return buf[start:start + nbytes].view(dtype).reshape(shape)


class _Scratch:
    """Packed buffers that never leave a call (the packed output and its
    gradient, the packed input gradient), kept between calls: a fresh 6 MB
    array costs ~1.5 ms of page faults on first touch, a good part of a layer's
    time.  One caller at a time holds them; a concurrent call (another Python
    thread) allocates its own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bufs = {}

    def get(self, role, shape, dtype, bint owned):
        if not owned:
            return _aligned_empty(shape, dtype)
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buf = self.bufs.get(role)
        if buf is None or buf.size < nbytes + 64:
            buf = self.bufs[role] = np.empty(nbytes + 64, dtype=np.uint8)
        start = (-buf.ctypes.data) % 64
        return buf[start:start + nbytes].view(dtype).reshape(shape)


_scratch = _Scratch()


def release_scratch() -> None:
    """Free the buffers kept between calls (they are re-created on demand)."""
    with _scratch.lock:
        _scratch.bufs.clear()


cdef inline void *_ptr(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a) if a is not None else NULL


# ------------------------------------------------------------------ entry points

def forward(x, w, b, stride, padding, bint tiled, num_threads, name=None):
    """y, x_packed = forward(x, w, b, stride, padding, tiled, num_threads).

    x (N, C_in, H, W); w (C_out, T_h, T_w, C_in, kH, kW); b (C_out, T_h, T_w) or None;
    stride, padding pairs.  Locally connected (tiled=False) needs T = the output size.
    Returns y (N, C_out, H_out, W_out) and the packed padded input for ``backward``.
    ``name`` is the op's name in error messages.
    """
    op = name or ("tiled_conv2d" if tiled else "locally_connected2d")
    x = checks.array(op, "input", x, 4, None, 0)
    w = checks.array(op, "weight", w, 6, x.dtype)
    cdef bint f32 = x.dtype == np.float32
    cdef mg_local_shape s = _shape(op, x.shape, w.shape, stride, padding, tiled,
                                   MG_LOCAL_BATCH_ALIGN_F32 if f32 else MG_LOCAL_BATCH_ALIGN_F64)
    if b is not None:
        b = checks.array(op, "bias", b, 3, x.dtype)
        if b.shape != (s.c_out, s.th, s.tw):
            raise ValueError(
                f"{op}: bias must have shape {(s.c_out, s.th, s.tw)} (one per output channel "
                f"and {'tile' if tiled else 'output location'}), got {b.shape}")
    cdef int nt = _threads(op, num_threads, &s)
    xp = _aligned_empty((s.c_in, s.hp, s.wp, s.n_pad), x.dtype)
    y = np.empty((s.n, s.c_out, s.h_out, s.w_out), dtype=x.dtype)
    if s.n == 0:
        return y, xp
    cdef void *px = _ptr(x)
    cdef void *pxp = _ptr(xp)
    cdef void *pw = _ptr(w)
    cdef void *pb = _ptr(b)
    cdef void *py = _ptr(y)
    cdef void *pyp
    cdef int rc
    cdef bint owned = _scratch.lock.acquire(False)
    try:
        yp = _scratch.get("y", (s.h_out * s.w_out, s.c_out, s.n_pad), x.dtype, owned)
        pyp = _ptr(yp)
        _forward_nogil(f32, px, pxp, pw, pb, pyp, py, &s, nt, &rc)
    finally:
        if owned:
            _scratch.lock.release()
    checks.status(op, rc, "the tap table")
    return y, xp


cdef void _forward_nogil(bint f32, void *px, void *pxp, void *pw, void *pb, void *pyp,
                         void *py, mg_local_shape *ps, int nt, int *prc) noexcept:
    cdef mg_local_shape s = ps[0]
    cdef int rc
    with nogil:
        if f32:
            mg_local_pack_input_f32(<float *>px, <float *>pxp, s.n, s.n_pad, s.c_in, s.h, s.w,
                                    s.ph, s.pw, nt)
            rc = mg_local_forward_f32(<float *>pxp, <float *>pw, <float *>pb, <float *>pyp, &s, nt)
            mg_local_unpack_output_f32(<float *>pyp, <float *>py, s.n, s.n_pad, s.c_out,
                                       s.h_out * s.w_out, nt)
        else:
            mg_local_pack_input_f64(<double *>px, <double *>pxp, s.n, s.n_pad, s.c_in, s.h, s.w,
                                    s.ph, s.pw, nt)
            rc = mg_local_forward_f64(<double *>pxp, <double *>pw, <double *>pb, <double *>pyp, &s, nt)
            mg_local_unpack_output_f64(<double *>pyp, <double *>py, s.n, s.n_pad, s.c_out,
                                       s.h_out * s.w_out, nt)
    prc[0] = rc


def backward(grad_out, x_packed, w, input_size, stride, padding, bint need_input,
             bint need_weight, bint need_bias, bint tiled, num_threads, name=None):
    """gx, gw, gb = backward(grad_out, x_packed, w, (H, W), stride, padding, ...).

    grad_out (N, C_out, H_out, W_out); x_packed from ``forward``; entries not
    asked for (need_input / need_weight / need_bias false) come back as None.
    """
    op = (name or ("tiled_conv2d" if tiled else "locally_connected2d")) + " backward"
    grad_out = checks.array(op, "grad_output", grad_out, 4, None, 0)
    w = checks.array(op, "weight", w, 6, grad_out.dtype)
    x_packed = checks.array(op, "x_packed", x_packed, 4, grad_out.dtype, 3)  # (C, H, W, batch)
    cdef bint f32 = grad_out.dtype == np.float32
    h, w_in = checks.ints(op, "input_size", input_size, 2, 1)
    n = grad_out.shape[0]
    cdef mg_local_shape s = _shape(op, (n, w.shape[3], h, w_in), w.shape, stride, padding, tiled,
                                   MG_LOCAL_BATCH_ALIGN_F32 if f32 else MG_LOCAL_BATCH_ALIGN_F64)
    if grad_out.shape != (s.n, s.c_out, s.h_out, s.w_out):
        raise ValueError(f"{op}: grad_output must have shape {(s.n, s.c_out, s.h_out, s.w_out)}, "
                         f"got {grad_out.shape}")
    if x_packed.shape != (s.c_in, s.hp, s.wp, s.n_pad):
        raise ValueError(f"{op}: x_packed must have shape {(s.c_in, s.hp, s.wp, s.n_pad)} "
                         f"(as forward returns it), got {x_packed.shape}")
    cdef int nt = _threads(op, num_threads, &s)
    gx = gw = gb = None
    if need_input:
        gx = np.empty((s.n, s.c_in, s.h, s.w), dtype=grad_out.dtype)
    if need_weight:
        gw = np.empty(w.shape, dtype=grad_out.dtype)
    if need_bias:
        gb = np.empty((s.c_out, s.th, s.tw), dtype=grad_out.dtype)
    if s.n == 0:  # no images: every sum is empty
        return gx, None if gw is None else np.zeros_like(gw), None if gb is None else np.zeros_like(gb)
    cdef void *pgy = _ptr(grad_out)
    cdef void *pxp = _ptr(x_packed)
    cdef void *pw = _ptr(w)
    cdef void *pgx = _ptr(gx)
    cdef void *pgw = _ptr(gw)
    cdef void *pgb = _ptr(gb)
    cdef void *pgyp
    cdef void *pgxp = NULL
    cdef int rc = 0
    cdef bint owned = _scratch.lock.acquire(False)
    try:
        gyp = _scratch.get("gy", (s.h_out * s.w_out, s.c_out, s.n_pad), grad_out.dtype, owned)
        pgyp = _ptr(gyp)
        if need_input:
            gxp = _scratch.get("gx", (s.c_in, s.hp, s.wp, s.n_pad), grad_out.dtype, owned)
            pgxp = _ptr(gxp)
        _backward_nogil(f32, pgy, pgyp, pxp, pw, pgxp, pgx, pgw, pgb, need_input,
                        need_weight or need_bias, &s, nt, &rc)
    finally:
        if owned:
            _scratch.lock.release()
    checks.status(op, rc, "the tap tables")
    return gx, gw, gb


cdef void _backward_nogil(bint f32, void *pgy, void *pgyp, void *pxp, void *pw, void *pgxp,
                          void *pgx, void *pgw, void *pgb, bint need_input, bint need_wb,
                          mg_local_shape *ps, int nt, int *prc) noexcept:
    cdef mg_local_shape s = ps[0]
    cdef int rc = 0
    with nogil:
        if f32:
            mg_local_pack_output_f32(<float *>pgy, <float *>pgyp, s.n, s.n_pad, s.c_out,
                                     s.h_out * s.w_out, nt)
            if need_input:
                rc |= mg_local_grad_input_f32(<float *>pgyp, <float *>pw, <float *>pgxp, &s, nt)
                mg_local_unpack_input_f32(<float *>pgxp, <float *>pgx, s.n, s.n_pad, s.c_in, s.h,
                                          s.w, s.ph, s.pw, nt)
            if need_wb:
                rc |= mg_local_grad_weight_f32(<float *>pgyp, <float *>pxp, <float *>pgw,
                                               <float *>pgb, &s, nt)
        else:
            mg_local_pack_output_f64(<double *>pgy, <double *>pgyp, s.n, s.n_pad, s.c_out,
                                     s.h_out * s.w_out, nt)
            if need_input:
                rc |= mg_local_grad_input_f64(<double *>pgyp, <double *>pw, <double *>pgxp, &s, nt)
                mg_local_unpack_input_f64(<double *>pgxp, <double *>pgx, s.n, s.n_pad, s.c_in, s.h,
                                          s.w, s.ph, s.pw, nt)
            if need_wb:
                rc |= mg_local_grad_weight_f64(<double *>pgyp, <double *>pxp, <double *>pgw,
                                               <double *>pgb, &s, nt)
    prc[0] = rc
