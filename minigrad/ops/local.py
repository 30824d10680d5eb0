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
from minigrad._C.parallel import get_num_threads
from minigrad.autograd import Context, Function
from minigrad.ops.checks import int_tuple, reject_nan
from minigrad.tensor import Tensor, as_tensor

__all__ = ["locally_connected1d", "locally_connected2d", "tiled_conv1d", "tiled_conv2d"]

IntPair = Union[int, tuple]
Padding = Union[int, tuple, str]


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer))


def _resolve_padding(padding: Padding, stride: tuple, kernel: tuple, op: str) -> tuple:
    """Padding as a pair of ints; also 'valid' (none), 'full' (k - 1: every
    partial overlap, as in the book) and 'same' (stride 1, odd kernels)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "full":
            return kernel[0] - 1, kernel[1] - 1
        if padding == "same":
            if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
                raise ValueError(
                    f"{op}: padding='same' needs stride 1 and odd kernel sizes, "
                    f"got stride {stride} and kernel {kernel}"
                )
            return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
        raise ValueError(
            f"{op}: padding must be an int, a pair, 'valid', 'same' or 'full', got {padding!r}"
        )
    return int_tuple(padding, 2, f"{op}: padding")


def _as_array(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- the op


class _LocalConvFn(Function):
    """Locally connected / tiled convolution of 2-d (NCHW) or 1-d (NCW) inputs.

    1-d is 2-d with H = kH = 1: the arrays are viewed with a unit height axis.
    """

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        stride: tuple = (1, 1),
        padding: tuple = (0, 0),
        tiled: bool = False,
        name: str = "",
    ) -> np.ndarray:
        x, w, b = _as_array(x), _as_array(w), _as_array(b)
        one_d = x.ndim == 3
        ctx.shapes = (x.shape, w.shape, None if b is None else b.shape)
        if one_d:  # (N, C, W) -> (N, C, 1, W); weights and bias gain unit H axes
            x = x[:, :, None, :]
            w = w.reshape(w.shape[0], 1, w.shape[1], w.shape[2], 1, w.shape[3])
            b = None if b is None else b.reshape(b.shape[0], 1, b.shape[1])
        y, x_packed = _kernels.forward(x, w, b, stride, padding, tiled, get_num_threads(), name)
        ctx.save_for_backward(x_packed, w)
        ctx.input_size = x.shape[2:]
        ctx.stride, ctx.padding, ctx.tiled, ctx.name = stride, padding, tiled, name
        return y[:, :, 0, :] if one_d else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:
        x_shape, w_shape, b_shape = ctx.shapes
        if len(x_shape) == 3:
            grad = grad[:, :, None, :]
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        x_packed, w = ctx.saved_tensors
        gx, gw, gb = _kernels.backward(
            np.ascontiguousarray(grad),
            x_packed,
            w,
            ctx.input_size,
            ctx.stride,
            ctx.padding,
            need_x,
            need_w,
            need_b and b_shape is not None,
            ctx.tiled,
            get_num_threads(),
            ctx.name,
        )
        # Back to the caller's shapes (a no-op for 2-d).
        gx = None if gx is None else gx.reshape(x_shape)
        gw = None if gw is None else gw.reshape(w_shape)
        gb = None if gb is None else gb.reshape(b_shape)
        return gx, gw, gb


def _apply(
    name: str,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: Padding,
    tiled: bool,
    ndim: int,
) -> Tensor:
    x = as_tensor(x)
    weight = as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    w_ndim, b_ndim = (6, 3) if ndim == 2 else (4, 2)
    x_in = x  # the caller's array: a NaN's index is reported in its shape
    unbatched = x.ndim == ndim + 1  # one example, as PyTorch's conv layers allow
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != ndim + 2:
        raise ValueError(
            f"{name}: input must have {ndim + 2} dimensions (or {ndim + 1} for one unbatched "
            f"example), got shape {x.shape}"
        )
    if weight.ndim != w_ndim:
        raise ValueError(f"{name}: weight must have {w_ndim} dimensions, got shape {weight.shape}")
    if bias is not None and bias.ndim != b_ndim:
        raise ValueError(f"{name}: bias must have {b_ndim} dimensions, got shape {bias.shape}")
    if ndim == 2:
        stride2 = int_tuple(stride, 2, f"{name}: stride")
        kernel = tuple(weight.shape[4:6])
    else:
        if isinstance(stride, (tuple, list)) and len(stride) == 1:
            stride = stride[0]
        if not _is_int(stride):
            raise TypeError(f"{name}: stride must be an int, got {stride!r}")
        stride2 = (1, int(stride))
        kernel = (1, weight.shape[3])
    if isinstance(padding, (tuple, list)) and ndim == 1:
        if len(padding) != 1:
            raise TypeError(f"{name}: padding must be an int, got {padding!r}")
        padding = padding[0]
    pad2 = _resolve_padding(padding, stride2, kernel, name)
    if ndim == 1:
        pad2 = (0, pad2[1])
    reject_nan(
        name, input=x_in._data, weight=weight._data, bias=None if bias is None else bias._data
    )
    y = _LocalConvFn.apply(x, weight, bias, stride=stride2, padding=pad2, tiled=tiled, name=name)
    return y.squeeze(0) if unbatched else y


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
    """
    return _apply("locally_connected2d", input, weight, bias, stride, padding, False, 2)


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
    return _apply("tiled_conv2d", input, weight, bias, stride, padding, True, 2)


def locally_connected1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: Union[int, str] = 0,
) -> Tensor:
    """Unshared 1-d convolution: input (N, C_in, W) or (C_in, W); weight (C_out, W_out, C_in, kW);
    bias (C_out, W_out).  Returns (N, C_out, W_out)."""
    return _apply("locally_connected1d", input, weight, bias, stride, padding, False, 1)


def tiled_conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int = 1,
    padding: Union[int, str] = 0,
) -> Tensor:
    """Tiled 1-d convolution: output k uses kernel k mod t.  input (N, C_in, W) or
    (C_in, W); weight (C_out, t, C_in, kW); bias (C_out, t).  Returns (N, C_out, W_out)."""
    return _apply("tiled_conv1d", input, weight, bias, stride, padding, True, 1)
