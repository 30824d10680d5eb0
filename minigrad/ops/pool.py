"""Pooling ops (Deep Learning book, section 9.3), on the C kernels of ``minigrad._C.pool``.

Pooling replaces each output by a summary statistic of a rectangular
neighbourhood of its input plane.  With x one (H, W) plane, a window of
``kernel_size`` (kH, kW) sliding with ``stride`` (sH, sW) over x padded by
``padding`` (pH, pW), and R(i, j) the input positions of window (i, j):

- max pooling          y[i, j] = max_{(h, w) in R(i, j)} x[h, w]
- average pooling      y[i, j] = (1 / |R|) sum_{R(i, j)} x[h, w]
- Lp (L2 for p = 2)    y[i, j] = (sum_{R(i, j)} x[h, w]^p)^(1/p)
- weighted average     y[i, j] = sum_{(a, b)} K[a, b] x[i sH + a - pH, j sW + b - pW]

Every op takes (N, C, H, W) (or unbatched (C, H, W)) input, or (N, C, L) / (C, L)
for the 1d versions, which run the 2d kernels on H = 1.  Names, arguments,
defaults and results follow ``torch.nn.functional``.

Each op is a ``Function`` with its forward and backward side by side.  The
forward passes run the C kernels; the backward of max pooling scatters the
gradient to the element the saved indices name, the backward of average pooling
spreads it uniformly over the window, the backward of Lp pooling by
dy/dx = x^(p-1) / y^(p-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from minigrad._C import pool as _k
from minigrad._C.core import get_num_threads
from minigrad.autograd import Function, is_grad_enabled
from minigrad.ops.checks import _is_int, int_arg, int_tuple
from minigrad.ops.spatial import Spatial, transposed_size
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "lp_pool1d",
    "lp_pool2d",
    "max_unpool1d",
    "max_unpool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "weighted_avg_pool2d",
    "gaussian_window",
]

IntPair = Union[int, Sequence[int]]


# ----------------------------------------------------------------------------- arguments


def _pooling(op: str, ndim: int, input: object) -> Spatial:
    # NaN policy (see minigrad.ops.checks): pooling is memory-bound, so instead of a
    # second full pass over the input we scan the 4-9x smaller output, which every
    # NaN inside a window reaches; the operands are searched only to name the culprit.
    return Spatial(op, ndim, input, nan_scan="output")


def _window(a: Spatial, kernel_size, stride, padding, dilation=1, ceil_mode=False) -> tuple:
    """(kernel, stride, padding, dilation) as (height, width) pairs, checked as
    PyTorch does: each >= 1, padding in [0, kernel // 2], and windows that fit the
    padded input.  Returns them with the output size.

    A training loop pools the same shapes with the same arguments on every step, so
    the checked geometry is remembered (a failed check is not)."""
    # by repr: 2.0 == 2 and True == 1 as dict keys, but only 2 is a valid size
    args = repr((kernel_size, stride, padding, dilation, ceil_mode))
    key = (a.op, a.shape, a.x._data.itemsize, args)
    geometry = _WINDOWS.get(key)
    if geometry is not None:
        return geometry
    if len(_WINDOWS) > 1024:
        _WINDOWS.clear()
    _WINDOWS[key] = geometry = _check_window(a, kernel_size, stride, padding, dilation, ceil_mode)
    return geometry


_WINDOWS: dict = {}


def _check_window(a: Spatial, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    k = a.ints("kernel_size", kernel_size, 1)
    s = k if stride is None else a.ints("stride", stride, 1)
    p = a.ints("padding", padding, 0, fill=0)
    d = a.ints("dilation", dilation, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{a.op}: padding must be at most half the kernel size "
            f"({a.shown((k[0] // 2, k[1] // 2))}), got {a.shown(p)}"
        )
    out = a.output_size(k, s, (p[0], p[0], p[1], p[1]), d, ceil_mode, "kernel_size")
    return k, s, p, d, out


def _wants_grad(x: Tensor) -> bool:
    return is_grad_enabled() and x.requires_grad


def _contig(a: np.ndarray) -> np.ndarray:
    # The kernels read planes as flat C-order memory: copy anything else.
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- max pooling


class MaxPool2dFn(Function):
    """y = max over each window; the backward sends gy to the element the int64 flat
    index (h*W + w in its plane) of each maximum names.  Those indices are a second,
    non-differentiable output when the caller asks for them (``outputs=2``), else
    kept for backward only (and not computed at all when no gradient is needed)."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, want, outputs):
        y, idx = _k.max_pool2d_forward(
            _contig(x), kernel_size, stride, padding, dilation, ceil_mode, want, get_num_threads()
        )
        return _max_outputs(ctx, x, y, idx, want, outputs)

    @staticmethod
    def backward(ctx, gy, gidx=None):
        (idx,) = ctx.saved_tensors
        return (_k.max_pool2d_backward(_contig(gy), idx, ctx.input_hw, get_num_threads()),)


class AdaptiveMaxPool2dFn(Function):
    """Max over adaptive windows (and the indices); backward as for max pooling."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, output_size, want, outputs):
        y, idx = _k.adaptive_max_pool2d_forward(_contig(x), output_size, want, get_num_threads())
        return _max_outputs(ctx, x, y, idx, want, outputs)

    backward = MaxPool2dFn.backward


def _max_outputs(ctx, x, y, idx, want, outputs):
    """Max pooling's result: y alone (indices kept for backward when ``want``), or
    (y, indices) with the indices marked non-differentiable."""
    if want:
        ctx.save_for_backward(idx)
        ctx.input_hw = x.shape[2:]
    if outputs == 1:
        return y
    ctx.mark_non_differentiable(idx)
    return y, idx


def _max_pool(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    a = _pooling(op, ndim, input)
    k, s, p, d, _ = _window(a, kernel_size, stride, padding, dilation, bool(ceil_mode))
    ri = bool(return_indices)
    return a.call(MaxPool2dFn, a.x, k, s, p, d, bool(ceil_mode), ri or _wants_grad(a.x), 1 + ri)


def max_pool2d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2d max pooling: y[n, c, i, j] = max over the window of x[n, c] (padding is -inf).

    Windows are ``kernel_size`` with taps ``dilation`` apart, placed every
    ``stride`` (default: ``kernel_size``); ``ceil_mode`` rounds the output size
    up (a last window must still start inside the input or its left padding).
    ``return_indices`` also returns the int64 flat index h*W + w, within its
    plane, of each maximum (as PyTorch, and what ``max_unpool2d`` takes).

    Ties: the first maximum in row-major order wins, and the gradient goes to
    that same element.  NaN: a NaN inside any window is refused (ValueError); with
    ``mg.set_nan_check(False)`` it propagates as in PyTorch -- a window holding a NaN
    outputs NaN and its index names the window's first NaN in row-major order
    (PyTorch names the last one).

    Deviations from PyTorch: a window that covers only padding (possible with
    dilation > 1, e.g. kernel 2, padding 1, dilation 3 on a 2x2 input) is a
    ValueError; PyTorch outputs -inf there with an index outside the plane.  A
    window wider than the padded input is a ValueError also with ``ceil_mode``
    (PyTorch then pools one partial window).
    """
    args = (kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return _max_pool("max_pool2d", 2, input, *args)


def max_pool1d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """1d max pooling over the last axis of (N, C, L) or (C, L); see ``max_pool2d``.

    Indices are positions along L."""
    args = (kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return _max_pool("max_pool1d", 1, input, *args)


def _adaptive_size(a: Spatial, output_size: object) -> tuple[int, int]:
    """output_size as (height, width): an int, or a tuple of ndim entries each an
    int >= 1 or (2-d only) None, which keeps that input size.  Floats are refused
    (PyTorch refuses them; int(2.5) would quietly be 2)."""
    what = f"{a.op}: output_size"
    if a.ndim == 1:
        hw = (1, int_tuple(output_size, 1, what, 1)[0])
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        hw = tuple(
            int(a.shape[2 + i]) if v is None else int_arg(v, what, 1)
            for i, v in enumerate(output_size)
        )
    else:
        hw = int_tuple(output_size, 2, what, 1)
    return a.check_plane(hw)  # type: ignore[return-value]


def _adaptive_max_pool(op, ndim, input, output_size, return_indices):
    a = _pooling(op, ndim, input)
    osz = _adaptive_size(a, output_size)
    ri = bool(return_indices)
    return a.call(AdaptiveMaxPool2dFn, a.x, osz, ri or _wants_grad(a.x), 1 + ri)


def adaptive_max_pool2d(input: Tensor, output_size: IntPair, return_indices: bool = False):
    """Max over adaptive windows, for an output of ``output_size`` whatever the input size.

    Output row i covers input rows floor(i H / OH) .. ceil((i+1) H / OH) - 1
    (likewise columns); ``None`` in output_size keeps that input size.  With
    output (2, 2) this is the book's "one summary per quadrant"."""
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: IntPair, return_indices: bool = False):
    """``adaptive_max_pool2d`` along the last axis of (N, C, L) or (C, L)."""
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


# ----------------------------------------------------------------------------- average pooling


class AvgPool2dFn(Function):
    """y = window sum / divisor; backward spreads gy / divisor over each window."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor):
        ctx.args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)
        ctx.input_hw = x.shape[2:]
        return _k.avg_pool2d_forward(_contig(x), *ctx.args, get_num_threads())

    @staticmethod
    def backward(ctx, gy):
        gx = _k.avg_pool2d_backward(_contig(gy), ctx.input_hw, *ctx.args, get_num_threads())
        return (gx,)


class AdaptiveAvgPool2dFn(Function):
    """Mean over adaptive windows; backward spreads gy / window size."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.input_hw = x.shape[2:]
        return _k.adaptive_avg_pool2d_forward(_contig(x), output_size, get_num_threads())

    @staticmethod
    def backward(ctx, gy):
        return (_k.adaptive_avg_pool2d_backward(_contig(gy), ctx.input_hw, get_num_threads()),)


def _avg_pool(op, ndim, input, kernel_size, stride, padding, ceil_mode, cip, divisor) -> Tensor:
    a = _pooling(op, ndim, input)
    k, s, p, _, _ = _window(a, kernel_size, stride, padding, 1, bool(ceil_mode))
    if divisor is not None and int_arg(divisor, f"{op}: divisor_override") == 0:
        raise ValueError(f"{op}: divisor_override must be nonzero, got 0")
    return a.call(AvgPool2dFn, a.x, k, s, p, bool(ceil_mode), bool(cip), divisor)


def avg_pool2d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2d average pooling: y[n, c, i, j] = sum over the window of x[n, c] / divisor.

    Padding is zeros.  The divisor is ``divisor_override`` when given; else the
    window size clipped to the padded input when ``count_include_pad`` (the
    default), else the number of real (non-padding) elements in the window."""
    args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _avg_pool("avg_pool2d", 2, input, *args)


def avg_pool1d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1d average pooling over the last axis of (N, C, L) or (C, L); see ``avg_pool2d``."""
    args = (kernel_size, stride, padding, ceil_mode, count_include_pad, None)
    return _avg_pool("avg_pool1d", 1, input, *args)


def _adaptive_avg_pool(op: str, ndim: int, input: Tensor, output_size: IntPair) -> Tensor:
    a = _pooling(op, ndim, input)
    return a.call(AdaptiveAvgPool2dFn, a.x, _adaptive_size(a, output_size))


def adaptive_avg_pool2d(input: Tensor, output_size: IntPair) -> Tensor:
    """Mean over adaptive windows (see ``adaptive_max_pool2d`` for the windows).

    With output_size equal to the input size it is the identity."""
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool1d(input: Tensor, output_size: IntPair) -> Tensor:
    """``adaptive_avg_pool2d`` along the last axis of (N, C, L) or (C, L)."""
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


# ----------------------------------------------------------------------------- Lp pooling


class LpPool2dFn(Function):
    """y = (sum x^p)^(1/p); dy/dx = x^(p-1) y^(1-p), taken as 0 where y = 0."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, x, norm_type, kernel_size, stride, ceil_mode):
        x = _contig(x)
        ctx.args = (norm_type, kernel_size, stride, ceil_mode)
        y = _k.lp_pool2d_forward(x, *ctx.args, get_num_threads())
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, y = ctx.saved_tensors
        return (_k.lp_pool2d_backward(_contig(gy), x, y, *ctx.args, get_num_threads()),)


def _lp_pool(op, ndim, input, norm_type, kernel_size, stride, ceil_mode) -> Tensor:
    a = _pooling(op, ndim, input)
    if not (_is_int(norm_type) or isinstance(norm_type, (float, np.floating))):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    try:
        p = float(norm_type)
    except OverflowError:
        p = float("inf")
    if not (0 < p < float("inf")):
        raise ValueError(f"{op}: norm_type must be a finite number > 0, got {norm_type!r}")
    k, s, _, _, _ = _window(a, kernel_size, stride, 0, 1, bool(ceil_mode))
    return a.call(LpPool2dFn, a.x, p, k, s, bool(ceil_mode))


def lp_pool2d(
    input: Tensor,
    norm_type: float,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    ceil_mode: bool = False,
) -> Tensor:
    """Power-average pooling: y = (sum over the window of x^p)^(1/p), p = ``norm_type``.

    p = 2 is the book's L2-norm pooling, sqrt(sum x^2).  As PyTorch: no padding;
    x^p of a negative x is NaN unless p is an integer, and a window cut short by
    ``ceil_mode`` has its sum scaled by (full window size / elements present).

    Gradient: dy/dx = x^(p-1) / y^(p-1).  Where a whole window is zero (y = 0) that is
    0/0 for p > 1; we return 0 there (the minimum-norm subgradient), never NaN, as
    PyTorch does.  Deviation from PyTorch: for p = 1 the op is the window sum, and we
    return its derivative, 1, everywhere -- also at an all-zero window, where PyTorch
    returns 0.
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d(
    input: Tensor,
    norm_type: float,
    kernel_size: int,
    stride: int | None = None,
    ceil_mode: bool = False,
) -> Tensor:
    """1d Lp pooling over the last axis of (N, C, L) or (C, L); see ``lp_pool2d``."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


# ----------------------------------------------------------------------------- unpooling


class MaxUnpool2dFn(Function):
    """y = 0 except y[indices] = x (per plane); backward gathers gy at the indices."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, indices, output_hw):
        ctx.save_for_backward(indices)
        return _k.max_unpool2d_forward(_contig(x), indices, output_hw, get_num_threads())

    @staticmethod
    def backward(ctx, gy):
        (indices,) = ctx.saved_tensors
        return _k.max_unpool2d_backward(_contig(gy), indices, get_num_threads()), None


def _max_unpool(op, ndim, input, indices, kernel_size, stride, padding, output_size) -> Tensor:
    a = _pooling(op, ndim, input)
    k = a.ints("kernel_size", kernel_size, 1)
    s = k if stride is None else a.ints("stride", stride, 1)
    p = a.ints("padding", padding, 0, fill=0)
    # PyTorch's rule: the input size a max pooling with these arguments maps here,
    # unless output_size picks another within one stride of it.
    default = tuple(map(transposed_size, a.shape[2:], k, s, p))
    out = default if output_size is None else a.sizes("output_size", output_size)
    for o, lo, si in zip(out, default, s):
        if not lo - si < o < lo + si:
            raise ValueError(
                f"{op}: output_size {a.shown(out)} is not within one stride "
                f"{a.shown(s)} of the default size {a.shown(default)}"
            )
    if min(out) < 1:
        raise ValueError(
            f"{op}: the output would be empty ({a.shown(out)}); check kernel_size, stride "
            "and padding"
        )
    a.check_plane(out)
    # The indices go in positionally as a Tensor, so the tape guards them (an index
    # changed in place after forward would move the gradient).
    idx = as_tensor(indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{op}: indices must be an integer array, got dtype {idx.dtype}")
    if idx.shape != a.x.shape:
        raise ValueError(f"{op}: indices must have the input's shape {a.x.shape}, got {idx.shape}")
    if idx.dtype != np.int64 or not idx._data.flags.c_contiguous:
        idx = Tensor(np.ascontiguousarray(idx._data, dtype=np.int64))
    a.view(idx, a.shape)
    return a.call(MaxUnpool2dFn, a.x, idx, out)


def max_unpool2d(
    input: Tensor,
    indices: object,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Partial inverse of ``max_pool2d`` (the SegNet decoder): each value goes back to
    the position ``indices`` names (flat h*W + w in its plane), every other output is 0.

    The output is (in - 1) * stride - 2 * padding + kernel_size per axis; several
    input sizes pool to the same size, so ``output_size`` (H, W) or (N, C, H, W)
    may pick another within one stride.  An index outside the output plane is a
    ValueError (nothing is written).  Gradient: gx = gy at the indices.

    Deviation from PyTorch: where several inputs name the same position, the output
    keeps the last of them in the input's row-major order, and only that input gets
    the gradient there (the true derivative: the others do not reach the output);
    PyTorch gives every duplicate the gradient at its index."""
    args = (indices, kernel_size, stride, padding, output_size)
    return _max_unpool("max_unpool2d", 2, input, *args)


def max_unpool1d(
    input: Tensor,
    indices: object,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """``max_unpool2d`` along the last axis of (N, C, L) or (C, L).  The same deviation
    with duplicate indices: the last of them in row-major order is kept and alone gets
    the gradient there."""
    args = (indices, kernel_size, stride, padding, output_size)
    return _max_unpool("max_unpool1d", 1, input, *args)


# ----------------------------------------------------------------------------- weighted average


def gaussian_window(kernel_size: IntPair, sigma: Union[None, float, Sequence[float]] = None):
    """The normalized Gaussian window K[a, b] proportional to
    exp(-((a - cH)^2 / (2 sH^2) + (b - cW)^2 / (2 sW^2))), c = (k - 1) / 2 the window
    centre, summing to 1.  Default sigma per axis: 0.3 ((k - 1) / 2 - 1) + 0.8
    (the usual rule tying the spread to the window size)."""
    kh, kw = int_tuple(kernel_size, 2, "gaussian_window: kernel_size", 1)
    if sigma is None:
        sig = tuple(0.3 * ((k - 1) * 0.5 - 1) + 0.8 for k in (kh, kw))
    elif isinstance(sigma, (tuple, list)):
        sig = (float(sigma[0]), float(sigma[1]))
    else:
        sig = (float(sigma), float(sigma))
    if not all(s > 0 for s in sig):
        raise ValueError(f"gaussian_window: sigma must be > 0, got {sigma!r}")
    a = (np.arange(kh) - (kh - 1) / 2) ** 2 / (2 * sig[0] ** 2)
    b = (np.arange(kw) - (kw - 1) / 2) ** 2 / (2 * sig[1] ** 2)
    w = np.exp(-(a[:, None] + b[None, :]))
    return w / w.sum()


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """(N, C, OH, OW, kH, kW) read-only view of the windows of a padded input."""
    v = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw]


class WeightedAvgPool2dFn(Function):
    """y = sum_{a,b} K[a,b] xpad[i sH + a, j sW + b]: a depthwise correlation with one
    fixed window K; backward to x (scatter of K gy) and to K (sum of gy x-windows)."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, x, K, stride, padding):
        (ph, pw), (sh, sw) = padding, stride
        kh, kw = K.shape
        K = K.astype(x.dtype, copy=False)  # the engine casts gK back to K's dtype
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        ctx.save_for_backward(xp, K)
        ctx.geom = (sh, sw, ph, pw)
        return np.einsum("nchwab,ab->nchw", _windows(xp, kh, kw, sh, sw), K, optimize=True)

    @staticmethod
    def backward(ctx, gy):
        xp, K = ctx.saved_tensors
        sh, sw, ph, pw = ctx.geom
        kh, kw = K.shape
        oh, ow = gy.shape[2:]
        gx = gK = None
        if ctx.needs_input_grad[0]:
            gxp = np.zeros_like(xp)
            for a in range(kh):  # each tap of the window adds K[a, b] gy on its grid
                for b in range(kw):
                    gxp[:, :, a : a + sh * oh : sh, b : b + sw * ow : sw] += K[a, b] * gy
            gx = gxp[:, :, ph : xp.shape[2] - ph, pw : xp.shape[3] - pw]
        if ctx.needs_input_grad[1]:
            gK = np.einsum("nchwab,nchw->ab", _windows(xp, kh, kw, sh, sw), gy, optimize=True)
        return gx, gK


def weighted_avg_pool2d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    weights: object | None = None,
    sigma: Union[None, float, Sequence[float]] = None,
) -> Tensor:
    """Weighted-average pooling (the book's "weighted average based on the distance
    from the central pixel"); minigrad's own op, not in PyTorch.

        y[n, c, i, j] = sum_{a < kH, b < kW} K[a, b] x[n, c, i sH + a - pH, j sW + b - pW]

    with zero padding (padding counts as zeros; K is not renormalized at the
    border).  K is ``weights`` (a (kH, kW) array or Tensor of real numbers, used as
    given -- it may require grad and is then learned), else ``gaussian_window(kernel_size,
    sigma)``: a Gaussian of the distance from the window centre, summing to 1.
    ``stride`` defaults to ``kernel_size``; padding at most half the window."""
    op = "weighted_avg_pool2d"
    a = _pooling(op, 2, input)
    (kh, kw), (sh, sw), (ph, pw), _, _ = _window(a, kernel_size, stride, padding)
    if weights is None:
        K = Tensor(gaussian_window((kh, kw), sigma).astype(a.x.dtype))
    else:
        K = as_tensor(weights)
        if K.dtype.kind not in "fiu":  # bool, complex, object: no real weights
            raise TypeError(
                f"{op}: weights must hold real numbers (float or int), got dtype {K.dtype}"
            )
        if K.shape != (kh, kw):
            raise ValueError(f"{op}: weights must have shape {(kh, kw)}, got {K.shape}")
        a.named["weights"] = K
    return a.call(WeightedAvgPool2dFn, a.x, K, (sh, sw), (ph, pw))
