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
from minigrad._C.parallel import get_num_threads
from minigrad.autograd import Function
from minigrad.ops.checks import int_tuple, reject_nan
from minigrad.tensor import Tensor, as_tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

IntOrPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], str]


# ----------------------------------------------------------------------- arguments


def _conv_padding(
    fn: str, padding: Padding, kernel: tuple[int, int], stride: tuple, dilation: tuple
) -> tuple[int, int, int, int]:
    """Padding as (top, bottom, left, right) zeros around the input.

    'valid' = none; 'full' = d*(k-1) on each side, so every partial overlap of kernel and
    input is an output (the book's full convolution); 'same' keeps the input size and,
    as in PyTorch, needs stride 1 and puts the odd zero of an even kernel at the end."""
    if isinstance(padding, str):
        extent = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "full":
            return (extent[0], extent[0], extent[1], extent[1])
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{fn}: padding='same' needs stride 1, got stride={stride}")
            top, left = extent[0] // 2, extent[1] // 2
            return (top, extent[0] - top, left, extent[1] - left)
        raise ValueError(
            f"{fn}: padding must be an int, a tuple, 'valid', 'same' or 'full', got {padding!r}"
        )
    ph, pw = int_tuple(padding, 2, f"{fn}: padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"{fn}: padding must be non-negative, got {padding!r}")
    return (ph, ph, pw, pw)


def _tensor(x: object) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _contiguous(a: np.ndarray) -> np.ndarray:
    # The kernels index raw memory: views (transposes, slices) are copied first.
    return np.ascontiguousarray(a)


def _check_float(fn: str, name: str, t: Tensor) -> None:
    if t.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: {name} must be float32 or float64, got {t.dtype}")


def _check_operands(fn: str, x: Tensor, w: Tensor, w_layout: str, groups: object) -> None:
    """A batched 4-d input, a 4-d weight (``w_layout`` names its axes) of the input's
    dtype, and a positive int ``groups``: what conv2d and conv_transpose2d both need."""
    if x.ndim != 4:
        raise ValueError(
            f"{fn}: input must be 4-d (N, C_in, H, W) or 3-d (C_in, H, W), got shape {x.shape}"
        )
    if w.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-d {w_layout}, got shape {w.shape}")
    if w.dtype != x.dtype:
        raise TypeError(
            f"{fn}: weight has dtype {w.dtype} but input has {x.dtype}; they must match"
        )
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")


def _bias_kind(fn: str, bias: Tensor | None, c_out: int, out_spatial: tuple, dtype) -> str:
    """'none', 'channel' (one per output channel) or 'location' (one per output unit)."""
    if bias is None:
        return "none"
    if bias.dtype != dtype:
        raise TypeError(f"{fn}: bias has dtype {bias.dtype} but input has {dtype}; they must match")
    if bias.shape == (c_out,):
        return "channel"
    if bias.shape == (c_out, *out_spatial):
        return "location"
    raise ValueError(
        f"{fn}: bias must have shape ({c_out},) (per channel) or {(c_out, *out_spatial)} "
        f"(per output location), got {bias.shape}"
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


# ----------------------------------------------------------------------- conv2d


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
    *,
    _fn: str = "conv2d",
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
    fn = _fn  # conv1d reports errors under its own name
    x, w = _tensor(input), _tensor(weight)
    _check_float(fn, "input", x)
    x_in = x  # the caller's array: a NaN's index is reported in its shape
    unbatched = x.ndim == 3 and fn == "conv2d"  # one image (C_in, H, W), as PyTorch allows
    if unbatched:
        x = x.unsqueeze(0)
    _check_operands(fn, x, w, "(C_out, C_in/groups, kH, kW)", groups)
    s = int_tuple(stride, 2, f"{fn}: stride", 1)
    d = int_tuple(dilation, 2, f"{fn}: dilation", 1)
    pad = _conv_padding(fn, padding, w.shape[2:], s, d)
    out_hw = _conv_out_size(fn, x.shape[2:], w.shape[2:], s, pad, d)
    b = None if bias is None else _tensor(bias)
    kind = _bias_kind(fn, b, w.shape[0], out_hw, x.dtype)
    if fn == "conv2d":  # conv1d checks its own 3-d arrays, so indices read as the user's
        reject_nan(fn, input=x_in._data, weight=w._data, bias=None if b is None else b._data)
    y = Conv2dFn.apply(x, w, b, s, pad, d, int(groups), kind)
    return y.squeeze(0) if unbatched else y


def _conv_out_size(fn, in_hw, k_hw, stride, pad, dilation) -> tuple[int, int]:
    """H_out = floor((H + p_t + p_b - d*(k-1) - 1) / s) + 1, and the same for W."""
    out = []
    for size, k, s, p0, p1, d in zip(in_hw, k_hw, stride, pad[0::2], pad[1::2], dilation):
        extent = d * (k - 1) + 1
        if extent > size + p0 + p1:
            raise ValueError(
                f"{fn}: kernel (dilated extent {extent}) is larger than the padded input "
                f"({size + p0 + p1}); check weight, padding and dilation"
            )
        out.append((size + p0 + p1 - extent) // s + 1)
    return tuple(out)


def conv1d(
    input: object,
    weight: object,
    bias: object = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int], str] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    groups: int = 1,
) -> Tensor:
    """1-d convolution: conv2d on images of height one.

    input (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k); bias (C_out,) or
    (C_out, L_out).
    """
    fn = "conv1d"
    x, w = _tensor(input), _tensor(weight)
    x_in, unbatched = x, x.ndim == 2  # one signal (C_in, L)
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ValueError(
            f"{fn}: input must be 3-d (N, C_in, L) or 2-d (C_in, L), got shape {x.shape}"
        )
    if w.ndim != 3:
        raise ValueError(f"{fn}: weight must be 3-d (C_out, C_in/groups, k), got shape {w.shape}")
    s, d = int_tuple(stride, 1, f"{fn}: stride")[0], int_tuple(dilation, 1, f"{fn}: dilation")[0]
    pad = padding if isinstance(padding, str) else (0, int_tuple(padding, 1, f"{fn}: padding")[0])
    b = None if bias is None else _tensor(bias)
    reject_nan(fn, input=x_in._data, weight=w._data, bias=None if b is None else b._data)
    if b is not None and b.ndim == 2:  # per-location bias (C_out, L_out) -> (C_out, 1, L_out)
        b = b.reshape(b.shape[0], 1, b.shape[1])
    y = conv2d(x.unsqueeze(2), w.unsqueeze(2), b, (1, s), pad, (1, d), groups, _fn=fn)
    return y.squeeze(2).squeeze(0) if unbatched else y.squeeze(2)


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
        y = _C.conv2d_backward_input(x, w, reach_hw, *conf, nt)
        if reach_hw != out_hw:  # rows / columns no tap reaches: zero (bias only)
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
        if ctx.needs_input_grad[0]:
            gx = _C.conv2d_forward(gr, w, None, *ctx.conf, nt)
        if ctx.needs_input_grad[1]:
            gw = _C.conv2d_backward_weight(gr, x, w.shape[2:], *ctx.conf, nt)
        gb = _bias_grad(g, ctx.bias_kind) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def _transpose_output_padding(
    fn: str,
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
    smallest = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + 1
        for n, k, s, p, d in zip(in_hw, k_hw, stride, padding, dilation)
    )
    if output_size is None:
        for op, s, d in zip(output_padding, stride, dilation):
            if op < 0 or op >= max(s, d):
                raise ValueError(
                    f"{fn}: output_padding must be >= 0 and smaller than stride or dilation, "
                    f"got output_padding={output_padding}, stride={stride}, dilation={dilation}"
                )
        return output_padding
    size = tuple(int(v) for v in output_size)
    if len(size) == len(in_hw) + 2:  # PyTorch also accepts (N, C, H, W)
        size = size[2:]
    if len(size) != len(in_hw):
        raise ValueError(
            f"{fn}: output_size must have {len(in_hw)} entries (or {len(in_hw) + 2} with "
            f"batch and channels), got {tuple(output_size)}"
        )
    largest = tuple(lo + s - 1 for lo, s in zip(smallest, stride))
    for n, lo, hi in zip(size, smallest, largest):
        if not lo <= n <= hi:
            shown = slice(1, None) if fn.endswith("1d") else slice(None)  # 1-d: drop H = 1
            raise ValueError(
                f"{fn}: output_size {size[shown]} is impossible for this input, kernel, "
                f"stride and padding: each entry must lie between {smallest[shown]} and "
                f"{largest[shown]}"
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
    *,
    _fn: str = "conv_transpose2d",
) -> Tensor:
    """Transpose convolution: the gradient of conv2d with respect to its input (eq. 9.13),
    applied to ``input``. It is the adjoint of conv2d with the same weight:
    <conv2d(v, w), z> = <v, conv_transpose2d(z, w)>.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW) (PyTorch's layout);
    bias (C_out,) or (C_out, H_out, W_out). Output size
    H_out = (H - 1)*s - 2p + d*(kH - 1) + output_padding + 1; pass ``output_size`` to
    have output_padding chosen for you (an impossible size is a ValueError)."""
    fn = _fn  # conv_transpose1d reports errors under its own name
    x, w = _tensor(input), _tensor(weight)
    _check_float(fn, "input", x)
    x_in = x  # the caller's array: a NaN's index is reported in its shape
    unbatched = x.ndim == 3 and fn == "conv_transpose2d"  # one image (C_in, H, W)
    if unbatched:
        x = x.unsqueeze(0)
    _check_operands(fn, x, w, "(C_in, C_out/groups, kH, kW)", groups)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"{fn}: weight.shape[0] must equal the input channels ({x.shape[1]}), "
            f"got weight shape {w.shape}"
        )
    if w.shape[0] % groups != 0:
        raise ValueError(
            f"{fn}: input channels ({w.shape[0]}) must be divisible by groups ({groups})"
        )
    s = int_tuple(stride, 2, f"{fn}: stride", 1)
    d = int_tuple(dilation, 2, f"{fn}: dilation", 1)
    p = int_tuple(padding, 2, f"{fn}: padding")
    if min(p) < 0:
        raise ValueError(f"{fn}: padding must be non-negative, got {padding!r}")
    op = int_tuple(output_padding, 2, f"{fn}: output_padding")
    op = _transpose_output_padding(fn, x.shape[2:], w.shape[2:], s, p, d, op, output_size)
    out_hw = tuple(
        (n - 1) * si - 2 * pi + di * (k - 1) + 1 + o
        for n, k, si, pi, di, o in zip(x.shape[2:], w.shape[2:], s, p, d, op)
    )
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: the output would be empty ({out_hw}); padding {p} is too large")
    # The convolution this is the transpose of maps out_hw back to the input size. Its
    # padding after the image is p - output_padding, clipped at 0 (the extra rows of
    # output_padding are then never read by a full stride step). With dilation > stride
    # output_padding may even pass the last row any tap reaches, (H - 1)*s + d*(k - 1)
    # - p; the kernels then run on the reached rows (reach_hw), the rest are zero.
    pad = (p[0], max(0, p[0] - op[0]), p[1], max(0, p[1] - op[1]))
    reach_hw = tuple(
        min(o, (n - 1) * si + di * (k - 1) + si - pi)
        for o, n, k, si, pi, di in zip(out_hw, x.shape[2:], w.shape[2:], s, p, d)
    )
    b = None if bias is None else _tensor(bias)
    kind = _bias_kind(fn, b, w.shape[1] * groups, out_hw, x.dtype)
    if fn == "conv_transpose2d":  # conv_transpose1d checks its own 3-d arrays
        reject_nan(fn, input=x_in._data, weight=w._data, bias=None if b is None else b._data)
    y = ConvTranspose2dFn.apply(x, w, b, s, pad, d, int(groups), out_hw, reach_hw, kind)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(
    input: object,
    weight: object,
    bias: object = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int]] = 0,
    output_padding: Union[int, Sequence[int]] = 0,
    groups: int = 1,
    dilation: Union[int, Sequence[int]] = 1,
    output_size: Sequence[int] | None = None,
) -> Tensor:
    """1-d transpose convolution: conv_transpose2d on images of height one.

    input (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups, k); bias (C_out,) or
    (C_out, L_out)."""
    fn = "conv_transpose1d"
    x, w = _tensor(input), _tensor(weight)
    x_in, unbatched = x, x.ndim == 2  # one signal (C_in, L)
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != 3:
        raise ValueError(
            f"{fn}: input must be 3-d (N, C_in, L) or 2-d (C_in, L), got shape {x.shape}"
        )
    if w.ndim != 3:
        raise ValueError(f"{fn}: weight must be 3-d (C_in, C_out/groups, k), got shape {w.shape}")
    one = lambda name, v: int_tuple(v, 1, f"{fn}: {name}")[0]  # noqa: E731
    size = None
    if output_size is not None:
        size = tuple(int(v) for v in output_size)
        if len(size) not in (1, 3):
            raise ValueError(
                f"{fn}: output_size must have 1 entry (or 3 with batch and channels), "
                f"got {tuple(output_size)}"
            )
        size = (1, size[-1])
    b = None if bias is None else _tensor(bias)
    reject_nan(fn, input=x_in._data, weight=w._data, bias=None if b is None else b._data)
    if b is not None and b.ndim == 2:
        b = b.reshape(b.shape[0], 1, b.shape[1])
    y = conv_transpose2d(
        x.unsqueeze(2),
        w.unsqueeze(2),
        b,
        (1, one("stride", stride)),
        (0, one("padding", padding)),
        (0, one("output_padding", output_padding)),
        groups,
        (1, one("dilation", dilation)),
        size,
        _fn=fn,
    )
    return y.squeeze(2).squeeze(0) if unbatched else y.squeeze(2)
