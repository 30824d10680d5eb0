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
from minigrad._C.parallel import get_num_threads
from minigrad.autograd import Function, is_grad_enabled
from minigrad.ops.checks import int_tuple, reject_nan_through
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


# ----------------------------------------------------------------------------- helpers


def _pair(v: IntPair, name: str) -> tuple[int, int]:
    return int_tuple(v, 2, name)  # type: ignore[return-value]


def _single(v: IntPair, name: str) -> int:
    return int_tuple(v, 1, name)[0]


def _as_input(x: object, ndims: tuple[int, int], op: str) -> tuple[Tensor, bool]:
    """x as a Tensor with a batch dimension; True if it came unbatched."""
    t = as_tensor(x)
    if t.ndim not in ndims:
        names = {4: "(N, C, H, W)", 3: "(N, C, L)" if ndims[0] == 2 else "(C, H, W)", 2: "(C, L)"}
        raise ValueError(
            f"{op}: input must be {names[ndims[1]]} or unbatched {names[ndims[0]]}, "
            f"got shape {t.shape}"
        )
    if t.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input must be float32 or float64, got {t.dtype}")
    return (t.unsqueeze(0), True) if t.ndim == ndims[0] else (t, False)


def _contig(a: np.ndarray) -> np.ndarray:
    # The kernels read planes as flat C-order memory: copy anything else.
    return np.ascontiguousarray(a)


def _finish(
    y: Tensor, unbatched: bool, squeeze_h: bool, op: str, input: object, **operands: object
) -> Tensor:
    # NaN policy (see minigrad.ops.checks): pooling is memory-bound, so instead of a
    # second full pass over the input we scan the 4-9x smaller output, which every
    # NaN inside a window reaches; the input (and any other operand, such as learned
    # window weights) is searched only to name the culprit.
    named = {k: getattr(v, "data", v) for k, v in {"input": input, **operands}.items()}
    reject_nan_through(op, y._data, **named)
    if squeeze_h:
        y = y.squeeze(-2)
    return y.squeeze(0) if unbatched else y


def _finish_indices(idx: np.ndarray, unbatched: bool, squeeze_h: bool) -> Tensor:
    if squeeze_h:
        idx = idx[..., 0, :]
    return Tensor(idx[0] if unbatched else idx)


def _wants_grad(x: Tensor) -> bool:
    return is_grad_enabled() and x.requires_grad


# ----------------------------------------------------------------------------- max pooling


class MaxPool2dFn(Function):
    """y = max over each window; the backward sends gy to the argmax (saved indices).

    ``sink`` (a list) receives the int64 indices, so the public function can
    return them without running the kernel twice."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, want_indices, sink):
        y, idx = _k.max_pool2d_forward(
            _contig(x),
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode,
            want_indices,
            get_num_threads(),
        )
        ctx.indices, ctx.input_hw = idx, x.shape[2:]
        sink.append(idx)
        return y

    @staticmethod
    def backward(ctx, gy):
        return (_k.max_pool2d_backward(_contig(gy), ctx.indices, ctx.input_hw, get_num_threads()),)


class AdaptiveMaxPool2dFn(Function):
    """Max over adaptive windows; backward as for max pooling."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, output_size, want_indices, sink):
        y, idx = _k.adaptive_max_pool2d_forward(
            _contig(x), output_size, want_indices, get_num_threads()
        )
        ctx.indices, ctx.input_hw = idx, x.shape[2:]
        sink.append(idx)
        return y

    backward = MaxPool2dFn.backward


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
    """
    x, unb = _as_input(input, (3, 4), "max_pool2d")
    sink: list = []
    y = MaxPool2dFn.apply(
        x,
        kernel_size,
        stride,
        padding,
        dilation,
        bool(ceil_mode),
        bool(return_indices) or _wants_grad(x),
        sink,
    )
    y = _finish(y, unb, False, "max_pool2d", input)
    return (y, _finish_indices(sink[0], unb, False)) if return_indices else y


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
    x, unb = _as_input(input, (2, 3), "max_pool1d")
    k = _single(kernel_size, "max_pool1d: kernel_size")
    s = k if stride is None else _single(stride, "max_pool1d: stride")
    p, d = _single(padding, "max_pool1d: padding"), _single(dilation, "max_pool1d: dilation")
    sink: list = []
    y = MaxPool2dFn.apply(
        x.unsqueeze(2),
        (1, k),
        (1, s),
        (0, p),
        (1, d),
        bool(ceil_mode),
        bool(return_indices) or _wants_grad(x),
        sink,
    )
    y = _finish(y, unb, True, "max_pool1d", input)
    return (y, _finish_indices(sink[0], unb, True)) if return_indices else y


def adaptive_max_pool2d(input: Tensor, output_size: IntPair, return_indices: bool = False):
    """Max over adaptive windows, for an output of ``output_size`` whatever the input size.

    Output row i covers input rows floor(i H / OH) .. ceil((i+1) H / OH) - 1
    (likewise columns); ``None`` in output_size keeps that input size.  With
    output (2, 2) this is the book's "one summary per quadrant"."""
    x, unb = _as_input(input, (3, 4), "adaptive_max_pool2d")
    osz = _adaptive_size(output_size, x.shape[2:])
    sink: list = []
    y = AdaptiveMaxPool2dFn.apply(x, osz, bool(return_indices) or _wants_grad(x), sink)
    y = _finish(y, unb, False, "adaptive_max_pool2d", input)
    return (y, _finish_indices(sink[0], unb, False)) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size: IntPair, return_indices: bool = False):
    """``adaptive_max_pool2d`` along the last axis of (N, C, L) or (C, L)."""
    x, unb = _as_input(input, (2, 3), "adaptive_max_pool1d")
    sink: list = []
    y = AdaptiveMaxPool2dFn.apply(
        x.unsqueeze(2),
        (1, _single(output_size, "adaptive_max_pool1d: output_size")),
        bool(return_indices) or _wants_grad(x),
        sink,
    )
    y = _finish(y, unb, True, "adaptive_max_pool1d", input)
    return (y, _finish_indices(sink[0], unb, True)) if return_indices else y


def _adaptive_size(output_size: object, hw: tuple) -> tuple[int, int]:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size: expected an int or a pair, got {output_size!r}")
        return tuple(int(hw[i]) if v is None else int(v) for i, v in enumerate(output_size))
    return int(output_size), int(output_size)


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
    x, unb = _as_input(input, (3, 4), "avg_pool2d")
    y = AvgPool2dFn.apply(
        x, kernel_size, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override
    )
    return _finish(y, unb, False, "avg_pool2d", input)


def avg_pool1d(
    input: Tensor,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1d average pooling over the last axis of (N, C, L) or (C, L); see ``avg_pool2d``."""
    x, unb = _as_input(input, (2, 3), "avg_pool1d")
    k = _single(kernel_size, "avg_pool1d: kernel_size")
    s = k if stride is None else _single(stride, "avg_pool1d: stride")
    y = AvgPool2dFn.apply(
        x.unsqueeze(2),
        (1, k),
        (1, s),
        (0, _single(padding, "avg_pool1d: padding")),
        bool(ceil_mode),
        bool(count_include_pad),
        None,
    )
    return _finish(y, unb, True, "avg_pool1d", input)


def adaptive_avg_pool2d(input: Tensor, output_size: IntPair) -> Tensor:
    """Mean over adaptive windows (see ``adaptive_max_pool2d`` for the windows).

    With output_size equal to the input size it is the identity."""
    x, unb = _as_input(input, (3, 4), "adaptive_avg_pool2d")
    y = AdaptiveAvgPool2dFn.apply(x, _adaptive_size(output_size, x.shape[2:]))
    return _finish(y, unb, False, "adaptive_avg_pool2d", input)


def adaptive_avg_pool1d(input: Tensor, output_size: IntPair) -> Tensor:
    """``adaptive_avg_pool2d`` along the last axis of (N, C, L) or (C, L)."""
    x, unb = _as_input(input, (2, 3), "adaptive_avg_pool1d")
    y = AdaptiveAvgPool2dFn.apply(
        x.unsqueeze(2), (1, _single(output_size, "adaptive_avg_pool1d: output_size"))
    )
    return _finish(y, unb, True, "adaptive_avg_pool1d", input)


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

    Gradient: dy/dx = x^(p-1) / y^(p-1).  Where a whole window is zero (y = 0)
    that is 0/0; we return 0 there (the minimum-norm subgradient), never NaN.
    """
    x, unb = _as_input(input, (3, 4), "lp_pool2d")
    y = LpPool2dFn.apply(x, norm_type, kernel_size, stride, bool(ceil_mode))
    return _finish(y, unb, False, "lp_pool2d", input)


def lp_pool1d(
    input: Tensor,
    norm_type: float,
    kernel_size: int,
    stride: int | None = None,
    ceil_mode: bool = False,
) -> Tensor:
    """1d Lp pooling over the last axis of (N, C, L) or (C, L); see ``lp_pool2d``."""
    x, unb = _as_input(input, (2, 3), "lp_pool1d")
    k = _single(kernel_size, "lp_pool1d: kernel_size")
    s = k if stride is None else _single(stride, "lp_pool1d: stride")
    y = LpPool2dFn.apply(x.unsqueeze(2), norm_type, (1, k), (1, s), bool(ceil_mode))
    return _finish(y, unb, True, "lp_pool1d", input)


# ----------------------------------------------------------------------------- unpooling


class MaxUnpool2dFn(Function):
    """y = 0 except y[indices] = x (per plane); backward gathers gy at the indices."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, indices, output_hw):
        ctx.indices = indices
        return _k.max_unpool2d_forward(_contig(x), indices, output_hw, get_num_threads())

    @staticmethod
    def backward(ctx, gy):
        return _k.max_unpool2d_backward(_contig(gy), ctx.indices, get_num_threads()), None


def _unpool_size(
    in_hw: tuple, kernel: tuple, stride: tuple, padding: tuple, output_size: object
) -> tuple:
    """PyTorch's rule: (in - 1) * stride - 2 * padding + kernel, unless output_size
    (the last len(kernel) entries) picks another size within one stride of it."""
    default = tuple((i - 1) * s - 2 * p + k for i, k, s, p in zip(in_hw, kernel, stride, padding))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)
        out = out[len(out) - len(kernel) :] if len(out) >= len(kernel) else out
        if len(out) != len(kernel):
            raise ValueError(
                f"output_size: expected {len(kernel)} (or {len(kernel) + 2}) sizes, "
                f"got {output_size!r}"
            )
        for d, (o, s) in enumerate(zip(out, stride)):
            if not default[d] - s < o < default[d] + s:
                raise ValueError(
                    f"output_size: size {o} of dimension {d} is not within one stride of "
                    f"the pooled input's size {default[d]} (stride {s})"
                )
    if any(o < 1 for o in out):
        raise ValueError(f"output_size: expected sizes >= 1, got {out}")
    return out


def _indices_array(indices: object, shape: tuple) -> np.ndarray:
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices: expected an integer array, got dtype {idx.dtype}")
    if idx.shape != shape:
        raise ValueError(f"indices: expected the input's shape {shape}, got {idx.shape}")
    return np.ascontiguousarray(idx, dtype=np.int64)


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
    ValueError (nothing is written).  Gradient: gx = gy at the indices."""
    x, unb = _as_input(input, (3, 4), "max_unpool2d")
    k = _pair(kernel_size, "max_unpool2d: kernel_size")
    s = k if stride is None else _pair(stride, "max_unpool2d: stride")
    out_hw = _unpool_size(x.shape[2:], k, s, _pair(padding, "max_unpool2d: padding"), output_size)
    idx_shape = x.shape[1:] if unb else x.shape
    idx = _indices_array(indices, idx_shape).reshape(x.shape)
    return _finish(MaxUnpool2dFn.apply(x, idx, out_hw), unb, False, "max_unpool2d", input)


def max_unpool1d(
    input: Tensor,
    indices: object,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """``max_unpool2d`` along the last axis of (N, C, L) or (C, L)."""
    x, unb = _as_input(input, (2, 3), "max_unpool1d")
    k = _single(kernel_size, "max_unpool1d: kernel_size")
    s = k if stride is None else _single(stride, "max_unpool1d: stride")
    (out_l,) = _unpool_size(
        x.shape[2:], (k,), (s,), (_single(padding, "max_unpool1d: padding"),), output_size
    )
    idx_shape = x.shape[1:] if unb else x.shape
    idx = _indices_array(indices, idx_shape).reshape(x.shape)[:, :, None, :]
    y = MaxUnpool2dFn.apply(x.unsqueeze(2), np.ascontiguousarray(idx), (1, out_l))
    return _finish(y, unb, True, "max_unpool1d", input)


# ----------------------------------------------------------------------------- weighted average


def gaussian_window(kernel_size: IntPair, sigma: Union[None, float, Sequence[float]] = None):
    """The normalized Gaussian window K[a, b] proportional to
    exp(-((a - cH)^2 / (2 sH^2) + (b - cW)^2 / (2 sW^2))), c = (k - 1) / 2 the window
    centre, summing to 1.  Default sigma per axis: 0.3 ((k - 1) / 2 - 1) + 0.8
    (the usual rule tying the spread to the window size)."""
    kh, kw = _pair(kernel_size, "gaussian_window: kernel_size")
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size: expected >= 1, got {kernel_size!r}")
    if sigma is None:
        sig = tuple(0.3 * ((k - 1) * 0.5 - 1) + 0.8 for k in (kh, kw))
    elif isinstance(sigma, (tuple, list)):
        sig = (float(sigma[0]), float(sigma[1]))
    else:
        sig = (float(sigma), float(sigma))
    if not all(s > 0 for s in sig):
        raise ValueError(f"sigma: expected > 0, got {sigma!r}")
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
    border).  K is ``weights`` (a (kH, kW) array or Tensor, used as given -- it
    may require grad and is then learned), else ``gaussian_window(kernel_size,
    sigma)``: a Gaussian of the distance from the window centre, summing to 1.
    ``stride`` defaults to ``kernel_size``; padding at most half the window."""
    x, unb = _as_input(input, (3, 4), "weighted_avg_pool2d")
    kh, kw = _pair(kernel_size, "weighted_avg_pool2d: kernel_size")
    sh, sw = (kh, kw) if stride is None else _pair(stride, "weighted_avg_pool2d: stride")
    ph, pw = _pair(padding, "weighted_avg_pool2d: padding")
    if min(kh, kw) < 1 or min(sh, sw) < 1:
        raise ValueError(f"kernel_size/stride: expected >= 1, got {(kh, kw)} / {(sh, sw)}")
    if not (0 <= ph <= kh // 2 and 0 <= pw <= kw // 2):
        raise ValueError(f"padding: expected between 0 and half the kernel size, got {(ph, pw)}")
    H, W = x.shape[2:]
    if kh > H + 2 * ph or kw > W + 2 * pw:
        raise ValueError(
            f"kernel_size: window {(kh, kw)} is larger than the padded input "
            f"{(H + 2 * ph, W + 2 * pw)}"
        )
    if weights is None:
        K = Tensor(gaussian_window((kh, kw), sigma).astype(x.dtype))
    else:
        K = as_tensor(weights)
        if K.shape != (kh, kw):
            raise ValueError(f"weights: expected shape {(kh, kw)}, got {K.shape}")
    y = WeightedAvgPool2dFn.apply(x, K, (sh, sw), (ph, pw))
    return _finish(y, unb, False, "weighted_avg_pool2d", input, weights=K)
