"""Matrix products: ``a @ b`` with NumPy's batched, broadcasting semantics, and
PyTorch's ``linear`` (x W^T + b, the fully connected layer's op)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.autograd import Function, _sum_to_shape, unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor


class MatMul(Function):
    """out = a @ b;  dL/da = g @ b^T,  dL/db = a^T @ g (batch dims summed back).

    1-d operands are lifted to matrices (a row for ``a``, a column for ``b``)
    exactly as NumPy does, and the gradients are folded back to 1-d.
    """

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Give g the dims NumPy dropped: the column of a 1-d b first, then the row
        # of a 1-d a (in this order, so that vector @ vector works from a 0-d g).
        g2 = g
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _sum_to_shape(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = _sum_to_shape(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules; a clear error when inner dims differ."""
    sa, sb = np.shape(unwrap(a)), np.shape(unwrap(b))
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {sa} and {sb}")
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: inner dimensions differ: a has shape {sa} and b has shape {sb}; "
            f"a.shape[-1] ({k_a}) must equal b.shape[{'0' if len(sb) == 1 else '-2'}] ({k_b})"
        )
    try:
        return MatMul.apply(a, b)
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of {sa} and {sb} cannot be broadcast together"
        ) from None


def mm(a: Any, b: Any) -> Tensor:
    """Matrix product (an alias of ``matmul``)."""
    return matmul(a, b)


class LinearFn(Function):
    """y = x W^T + b over the last axis of x (any leading axes).

    dL/dx = g W;  dL/dW = sum over leading axes of g^T x;  dL/db = sum of g.
    """

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        out = x @ w.T
        return out if b is None else out + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = g @ w
        g2 = g.reshape(-1, g.shape[-1])
        if ctx.needs_input_grad[1]:
            gw = g2.T @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """``x W^T + b`` with weight (out_features, in_features), PyTorch's ``F.linear``."""
    xs = np.shape(unwrap(x))
    ws = np.shape(unwrap(weight))
    if len(ws) != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got {ws}")
    if len(xs) < 1 or xs[-1] != ws[1]:
        raise ValueError(
            f"linear: input has shape {xs}; its last dimension must be in_features={ws[1]}"
        )
    if bias is not None:
        bs = np.shape(unwrap(bias))
        if bs != (ws[0],):
            raise ValueError(f"linear: bias must have shape ({ws[0]},), got {bs}")
    return LinearFn.apply(x, weight, bias)


__all__ = ["matmul", "mm", "linear"]
