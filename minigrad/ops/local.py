"""Locally connected (unshared) and tiled convolution: the book's two alternatives
to full parameter sharing (Deep Learning, sec. 9.5, eq. 9.9 and 9.10).

With V the zero-padded input and s the stride (0-based indices)::

    locally connected (9.9):  Z[n,i,j,k] = b[i,j,k]
                                  + sum_{l,m,o} V[n, l, j*s+m, k*s+o] W[i, j, k, l, m, o]
    tiled (9.10):             Z[n,i,j,k] = b[i, j%t_h, k%t_w]
                                  + sum_{l,m,o} V[n, l, j*s+m, k*s+o] K[i, j%t_h, k%t_w, l, m, o]

Every output unit of a locally connected layer has its own kernel; a tiled
layer cycles through t_h x t_w kernels, so neighbouring units use different
filters while the parameter count grows only t_h * t_w times over a
convolution's.  Both share one weight layout, (C_out, T_h, T_w, C_in, kH, kW),
and one C kernel family (minigrad._C.local): locally connected *is* tiled
convolution with T = the output size, and tiled with T = (1, 1) is conv2d.

Backward (the gradients of sum(Z * G), G = dL/dZ)::

    dV[n, l, j*s+m, k*s+o] += sum_i G[n,i,j,k] W[i, j', k', l, m, o]
    dW[i, j', k', l, m, o]  = sum_{(j,k) using (j',k')} sum_n G[n,i,j,k] V[n, l, j*s+m, k*s+o]
    db[i, j', k']           = sum_{the same (j, k)} sum_n G[n,i,j,k]

where (j', k') = (j, k) for locally connected and (j % t_h, k % t_w) for tiled.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from minigrad._C import local as _kernels
from minigrad._C.core import get_num_threads
from minigrad.autograd import Context, Function
from minigrad.ops.spatial import Spatial
from minigrad.tensor import Tensor

__all__ = ["locally_connected1d", "locally_connected2d", "tiled_conv1d", "tiled_conv2d"]

IntPair = Union[int, tuple]
Padding = Union[int, tuple, str]

# (1-d op, 2-d op) layouts; a 1-d op's operands gain unit height axes (see _apply)
_LOCAL_WEIGHT = ("(C_out, W_out, C_in, kW)", "(C_out, H_out, W_out, C_in, kH, kW)")
_TILED_WEIGHT = ("(C_out, t, C_in, kW)", "(C_out, t_h, t_w, C_in, kH, kW)")
_LOCAL_BIAS = ("(C_out, W_out)", "(C_out, H_out, W_out)")
_TILED_BIAS = ("(C_out, t)", "(C_out, t_h, t_w)")


# ----------------------------------------------------------------------------- the op


class _LocalConvFn(Function):
    """Locally connected / tiled convolution of (N, C_in, H, W) inputs; the C kernel
    packs the input once in forward (``x_packed``) and backward reads it from there."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        stride: tuple,
        padding: tuple,
        tiled: bool,
        name: str,
    ) -> np.ndarray:
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        b = None if b is None else np.ascontiguousarray(b)
        y, x_packed = _kernels.forward(x, w, b, stride, padding, tiled, get_num_threads(), name)
        ctx.save_for_backward(x_packed, w)
        ctx.input_size, ctx.has_bias = x.shape[2:], b is not None
        ctx.stride, ctx.padding, ctx.tiled, ctx.name = stride, padding, tiled, name
        return y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x_packed, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return _kernels.backward(
            np.ascontiguousarray(grad),
            x_packed,
            w,
            ctx.input_size,
            ctx.stride,
            ctx.padding,
            need_x,
            need_w,
            need_b and ctx.has_bias,
            ctx.tiled,
            get_num_threads(),
            ctx.name,
        )


def _apply(
    op: str,
    ndim: int,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: Padding,
    tiled: bool,
) -> Tensor:
    a = Spatial(op, ndim, input)
    # 1-d: (C_out, W_out, C_in, kW) -> (C_out, 1, W_out, C_in, 1, kW), bias gains H = 1
    w_layout, b_layout = (_TILED_WEIGHT, _TILED_BIAS) if tiled else (_LOCAL_WEIGHT, _LOCAL_BIAS)
    w = a.operand("weight", weight, w_layout, unit_axes=(1, 4))
    b = None if bias is None else a.operand("bias", bias, b_layout, unit_axes=(1,))
    s = a.ints("stride", stride, 1)
    kernel = a.shape_of(w)[4:6]
    pad = a.padding(padding, kernel, s, (1, 1), symmetric=True)
    a.output_size(kernel, s, pad, channels=w.shape[0])
    return a.call(_LocalConvFn, a.x, w, b, s, pad[::2], tiled, op)


# ----------------------------------------------------------------------------- public ops


def locally_connected2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: Padding = 0,
) -> Tensor:
    """Unshared convolution (eq. 9.9): every output location has its own kernel.
    An input without the batch axis, (C_in, H, W), is one example (as in PyTorch).

    input (N, C_in, H, W); weight (C_out, H_out, W_out, C_in, kH, kW) with
    (H_out, W_out) the output size that stride and padding give; bias
    (C_out, H_out, W_out), one per output unit.  Returns (N, C_out, H_out, W_out).
    padding: int, pair, 'valid', 'full' (k - 1) or 'same' (stride 1, odd kernels).
    """
    return _apply("locally_connected2d", 2, input, weight, bias, stride, padding, False)


def tiled_conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: Padding = 0,
) -> Tensor:
    """Tiled convolution (eq. 9.10): output (j, k) uses kernel (j mod t_h, k mod t_w).
    An input without the batch axis, (C_in, H, W), is one example.

    input (N, C_in, H, W); weight (C_out, t_h, t_w, C_in, kH, kW); bias
    (C_out, t_h, t_w), tiled like the kernels.  t = (1, 1) is conv2d; t = the
    output size is locally_connected2d.  Returns (N, C_out, H_out, W_out).
    """
    return _apply("tiled_conv2d", 2, input, weight, bias, stride, padding, True)


def locally_connected1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: Union[int, str] = 0,
) -> Tensor:
    """Unshared 1-d convolution: input (N, C_in, W) or (C_in, W); weight (C_out, W_out, C_in, kW);
    bias (C_out, W_out).  Returns (N, C_out, W_out)."""
    return _apply("locally_connected1d", 1, input, weight, bias, stride, padding, False)


def tiled_conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: Union[int, str] = 0,
) -> Tensor:
    """Tiled 1-d convolution: output k uses kernel k mod t.  input (N, C_in, W) or
    (C_in, W); weight (C_out, t, C_in, kW); bias (C_out, t).  Returns (N, C_out, W_out)."""
    return _apply("tiled_conv1d", 1, input, weight, bias, stride, padding, True)
