"""Convolution and transpose convolution (Goodfellow et al., Deep Learning, ch. 9).

Three kernels do all the work (``src_c/conv_kernels.h``):

* c, the convolution (eq. 9.8)::

      Z[n, i, y, x] = sum_{l, m, k} K[i, l, m, k] * V[n, l, y*s - p + m*d, x*s - p + k*d]

* g, its gradient with respect to the kernel (eq. 9.11), and
* h, its gradient with respect to the input (eq. 9.13), which is also the transpose
  convolution a decoder uses to go from a small map back to a large one.

So conv2d's backward is (h, g) and conv_transpose2d's forward is h, its backward (c, g).
1-d convolution is 2-d convolution on images of height one. Names, argument orders,
defaults and weight layouts follow ``torch.nn.functional``; ``padding='full'`` (the
book's full convolution) and a per-location bias are additions from the book.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from minigrad._C import conv as _C
from minigrad._C.core import get_num_threads
from minigrad.autograd import Function
from minigrad.ops.checks import int_arg
from minigrad.ops.spatial import Spatial, transposed_size
from minigrad.tensor import Tensor, as_tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

IntOrPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], str]

# weight layouts as (1-d op, 2-d op); a 1-d weight gains the unit height at axis 2
_CONV_WEIGHT = ("(C_out, C_in/groups, k)", "(C_out, C_in/groups, kH, kW)")
_TRANSPOSE_WEIGHT = ("(C_in, C_out/groups, k)", "(C_in, C_out/groups, kH, kW)")


def _contiguous(a: np.ndarray) -> np.ndarray:
    # The kernels index raw memory: views (transposes, slices) are copied first.
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------- arguments


def _check_groups(a: Spatial, c_in: int, w: tuple, groups: int, transposed: bool) -> None:
    """Channels against groups: C_in and C_out divisible by groups, and the weight's
    channel axis matching the input (axis 1 holds C_in/groups for a convolution;
    axis 0 holds C_in for a transpose convolution)."""
    op = a.op
    if 0 in w:
        raise ValueError(f"{op}: weight must not be empty, got weight shape {w}")
    if c_in % groups:
        raise ValueError(f"{op}: input channels ({c_in}) must be divisible by groups ({groups})")
    if transposed and w[0] != c_in:
        raise ValueError(
            f"{op}: weight.shape[0] must equal the input channels ({c_in}), got weight shape {w}"
        )
    if not transposed and w[0] % groups:
        raise ValueError(
            f"{op}: output channels ({w[0]}, weight.shape[0]) must be divisible by groups "
            f"({groups})"
        )
    if not transposed and w[1] * groups != c_in:
        raise ValueError(
            f"{op}: weight.shape[1] must be input channels / groups = {c_in // groups}, got "
            f"weight shape {w} for {c_in} input channels and groups={groups}"
        )


def _bias(a: Spatial, bias: object, c_out: int, out_hw: tuple) -> tuple:
    """The bias operand and its kind: 'none', 'channel' (C_out,) or 'location' (one
    per output unit: (C_out, H_out, W_out), or (C_out, L_out) for a 1-d op)."""
    if bias is None:
        return None, "none"
    b = as_tensor(bias)
    if b.shape == (c_out,):
        return a.operand("bias", b), "channel"
    if b.shape == (c_out, *a.shown(out_hw)):
        return a.operand("bias", b, unit_axes=(1,)), "location"
    raise ValueError(
        f"{a.op}: bias must have shape ({c_out},) (per channel) or "
        f"{(c_out, *a.shown(out_hw))} (per output location), got {b.shape}"
    )


def _add_location_bias(y: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    if kind == "location":
        y += b
    elif kind == "channel":
        y += b[:, None, None]
    return y


def _bias_grad(g: np.ndarray, kind: str) -> np.ndarray | None:
    if kind == "channel":
        return g.sum(axis=(0, 2, 3))
    if kind == "location":
        return g.sum(axis=0)
    return None


# ----------------------------------------------------------------------- convolution


class Conv2dFn(Function):
    """y = c(w, x) + b.   dL/dx = h(w, g),   dL/dw = g(g, x),   dL/db = sum of g."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, bias_kind):
        x, w = _contiguous(x), _contiguous(w)
        nt = get_num_threads()
        b_channel = _contiguous(b) if bias_kind == "channel" else None
        y = _C.conv2d_forward(x, w, b_channel, stride, padding, dilation, groups, nt)
        if bias_kind == "location":
            y += b
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.bias_kind = bias_kind
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        g = _contiguous(g)
        nt = get_num_threads()
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = _C.conv2d_backward_input(g, w, x.shape[2:], *ctx.conf, nt)
        if ctx.needs_input_grad[1]:
            gw = _C.conv2d_backward_weight(x, g, w.shape[2:], *ctx.conf, nt)
        gb = _bias_grad(g, ctx.bias_kind) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def conv2d(
    input: object,
    weight: object,
    bias: object = None,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-d convolution (cross-correlation, as in every deep-learning library), eq. 9.8::

        out[n, i, y, x] = bias[i] + sum_{l, m, k} weight[i, l, m, k]
                          * input[n, G(i) + l, y*s_h - p_t + m*d_h, x*s_w - p_l + k*d_w]

    input (N, C_in, H, W), or (C_in, H, W) for one image; weight (C_out, C_in/groups,
    kH, kW); bias (C_out,) or (C_out, H_out, W_out) for an untied bias, one per output
    unit. With ``groups`` > 1 output channel i sees only its group's input channels
    G(i) .. G(i) + C_in/groups - 1.
    padding: int, (p_h, p_w), 'valid', 'same' (stride 1) or 'full' (d*(k-1) each side).
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(
    input: object,
    weight: object,
    bias: object = None,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """1-d convolution: conv2d on images of height one.

    input (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k); bias (C_out,) or
    (C_out, L_out).
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def _operands(op, ndim, input, weight, groups, stride, dilation, transposed: bool) -> tuple:
    """The checked input (as a Spatial), weight, groups, stride and dilation of a
    convolution (weight (C_out, C_in/groups, k...)) or of its transpose (weight
    (C_in, C_out/groups, k...)), in that order."""
    a = Spatial(op, ndim, input)
    layout = _TRANSPOSE_WEIGHT if transposed else _CONV_WEIGHT
    w = a.operand("weight", weight, layout, unit_axes=(2,))
    g = int_arg(groups, f"{op}: groups", 1)
    _check_groups(a, a.shape[1], w.shape, g, transposed=transposed)
    return a, w, g, a.ints("stride", stride, 1), a.ints("dilation", dilation, 1)


def _conv(op, ndim, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    a, w, g, s, d = _operands(op, ndim, input, weight, groups, stride, dilation, False)
    k_hw = a.shape_of(w)[2:]
    pad = a.padding(padding, k_hw, s, d)
    out_hw = a.output_size(k_hw, s, pad, d, channels=w.shape[0])
    b, kind = _bias(a, bias, w.shape[0], out_hw)
    return a.call(Conv2dFn, a.x, w, b, s, pad, d, g, kind)


# ----------------------------------------------------------------------- transpose


class ConvTranspose2dFn(Function):
    """y = h(w, x) + b: the input gradient of a convolution, applied to x.

    dL/dx = c(w, g) (convolving back down),  dL/dw = g(x, g) with the roles of the
    convolution's input and output swapped,  dL/db = sum of g."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, out_hw, reach_hw, bias_kind):
        x, w = _contiguous(x), _contiguous(w)
        nt = get_num_threads()
        conf = (stride, padding, dilation, groups)
        if min(reach_hw) < 1:  # padding and output_padding past every tap: all zero
            y = np.zeros((x.shape[0], w.shape[1] * groups, *out_hw), dtype=x.dtype)
        else:
            y = _C.conv2d_backward_input(x, w, reach_hw, *conf, nt)
        if y.shape[2:] != out_hw:  # rows / columns no tap reaches: zero (bias only)
            full = np.zeros((*y.shape[:2], *out_hw), dtype=y.dtype)
            full[:, :, : reach_hw[0], : reach_hw[1]] = y
            y = full
        _add_location_bias(y, b, bias_kind)
        ctx.save_for_backward(x, w)
        ctx.conf = conf
        ctx.reach_hw = reach_hw
        ctx.bias_kind = bias_kind
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nt = get_num_threads()
        gr = _contiguous(g[:, :, : ctx.reach_hw[0], : ctx.reach_hw[1]])
        gx = gw = None
        reached = min(ctx.reach_hw) >= 1  # else no output depends on x or w
        if ctx.needs_input_grad[0]:
            gx = _C.conv2d_forward(gr, w, None, *ctx.conf, nt) if reached else np.zeros_like(x)
        if ctx.needs_input_grad[1]:
            gw = (
                _C.conv2d_backward_weight(gr, x, w.shape[2:], *ctx.conf, nt)
                if reached
                else np.zeros_like(w)
            )
        gb = _bias_grad(g, ctx.bias_kind) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def _output_padding(
    a: Spatial,
    in_hw: tuple,
    k_hw: tuple,
    stride: tuple,
    padding: tuple,
    dilation: tuple,
    output_padding: tuple,
    output_size: Sequence[int] | None,
) -> tuple[int, ...]:
    """The output_padding, chosen from output_size when given.

    A stride-s convolution maps s consecutive input sizes onto one output size, so its
    transpose must be told which one to produce (the book's point in sec. 9.5):
    H_out = (H - 1)*s - 2p + d*(k - 1) + 1 + output_padding, output_padding in [0, s)."""
    if output_size is None:
        for o, s, d in zip(output_padding, stride, dilation):
            if o >= max(s, d):
                raise ValueError(
                    f"{a.op}: output_padding must be smaller than stride or dilation, got "
                    f"output_padding={a.shown(output_padding)}, stride={a.shown(stride)}, "
                    f"dilation={a.shown(dilation)}"
                )
        return output_padding
    size = a.sizes("output_size", output_size)
    smallest = tuple(map(transposed_size, in_hw, k_hw, stride, padding, dilation))
    largest = tuple(lo + s - 1 for lo, s in zip(smallest, stride))
    if not all(lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
        raise ValueError(
            f"{a.op}: output_size {a.shown(size)} is impossible for this input, kernel, "
            f"stride and padding: each entry must lie between {a.shown(smallest)} and "
            f"{a.shown(largest)}"
        )
    return tuple(n - lo for n, lo in zip(size, smallest))


def conv_transpose2d(
    input: object,
    weight: object,
    bias: object = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """Transpose convolution: the gradient of conv2d with respect to its input (eq. 9.13),
    applied to ``input``. It is the adjoint of conv2d with the same weight:
    <conv2d(v, w), z> = <v, conv_transpose2d(z, w)>.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW) (PyTorch's layout);
    bias (C_out,) or (C_out, H_out, W_out). Output size
    H_out = (H - 1)*s - 2p + d*(kH - 1) + output_padding + 1; pass ``output_size`` (H, W)
    or (N, C, H, W) to have output_padding chosen for you (an impossible size is a
    ValueError)."""
    args = (input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)
    return _conv_transpose("conv_transpose2d", 2, *args)


def conv_transpose1d(
    input: object,
    weight: object,
    bias: object = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """1-d transpose convolution: conv_transpose2d on images of height one.

    input (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, k); bias (C_out,) or
    (C_out, L_out); output_size (L,) or (N, C, L)."""
    args = (input, weight, bias, stride, padding, output_padding, groups, dilation, output_size)
    return _conv_transpose("conv_transpose1d", 1, *args)


def _conv_transpose(
    op, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size
) -> Tensor:
    a, w, g, s, d = _operands(op, ndim, input, weight, groups, stride, dilation, True)
    p = a.ints("padding", padding, 0, fill=0)
    op_ = a.ints("output_padding", output_padding, 0, fill=0)
    in_hw, k_hw = a.shape[2:], a.shape_of(w)[2:]
    op_ = _output_padding(a, in_hw, k_hw, s, p, d, op_, output_size)
    out_hw = tuple(map(transposed_size, in_hw, k_hw, s, p, d, op_))
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: the output would be empty ({a.shown(out_hw)}); padding "
            f"{a.shown(p)} is too large"
        )
    a.check_plane(out_hw, w.shape[1] * g)
    # The convolution this is the transpose of maps out_hw back to the input size. Its
    # padding after the image is p - output_padding, clipped at 0 (the extra rows of
    # output_padding are then never read by a full stride step). With dilation > stride
    # output_padding may even pass the last row any tap reaches, (H - 1)*s + d*(k - 1)
    # - p; the kernels then run on the reached rows (reach_hw), the rest are zero.
    pad = (p[0], max(0, p[0] - op_[0]), p[1], max(0, p[1] - op_[1]))
    reach_hw = tuple(
        min(o, (n - 1) * si + di * (k - 1) + si - pi)
        for o, n, k, si, pi, di in zip(out_hw, in_hw, k_hw, s, p, d)
    )
    b, kind = _bias(a, bias, w.shape[1] * g, out_hw)
    return a.call(ConvTranspose2dFn, a.x, w, b, s, pad, d, g, out_hw, reach_hw, kind)
