"""Ops that write values into a tensor: ``t[index] = v``, ``masked_fill``, ``fill`` /
``copy``.  Each is an out-of-place Function; the in-place Tensor methods
(``__setitem__``, ``masked_fill_``, ``fill_``, ``copy_``, ``zero_``, ``normal_``,
``uniform_``) write directly when outside the graph and run these when the write
must be recorded (see ``Tensor._inplace``).

The written values are converted to the tensor's dtype (as PyTorch's
assignments do: ``int_t[0] = 2.7`` stores 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.autograd import Function
from minigrad.ops.shape import _plain_index
from minigrad.tensor import unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

__all__ = ["index_put", "masked_fill", "fill"]


class IndexPut(Function):
    """out = a with out[index] = v;  dL/da = g with g[index] = 0,  dL/dv = g[index]
    (summed back to v's shape when v was broadcast).  With repeated positions in an
    integer-array index the last write wins in forward, but each copy of a position
    sends it its gradient (PyTorch leaves this case undefined)."""

    @staticmethod
    def forward(ctx, a, v, index=None):
        ctx.index = index
        out = a.copy()
        out[index] = v
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            ga[ctx.index] = 0
        if ctx.needs_input_grad[1]:
            gv = g[ctx.index]
        return ga, gv


def index_put(x: Any, index: Any, values: Any) -> Tensor:
    """A copy of ``x`` with ``x[index] = values`` (NumPy's indexing; values broadcast)."""
    return IndexPut.apply(x, values, index=_plain_index(index))


class MaskedFill(Function):
    """out = v where mask else a;  dL/da = g where not mask,  dL/dv = sum of g where mask."""

    @staticmethod
    def forward(ctx, a, v, mask=None):
        ctx.mask = mask
        return np.where(mask, np.asarray(v).astype(a.dtype, copy=False), a)

    @staticmethod
    def backward(ctx, g):
        m = ctx.mask
        ga = np.where(m, 0, g) if ctx.needs_input_grad[0] else None
        gv = np.where(m, g, 0) if ctx.needs_input_grad[1] else None
        return ga, gv


def bool_mask(mask: Any, shape: tuple, op: str) -> np.ndarray:
    """``mask`` as a boolean array that broadcasts to ``shape``, or a clear error."""
    m = np.asarray(unwrap(mask))
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a boolean tensor, got dtype {m.dtype}")
    try:
        if np.broadcast_shapes(m.shape, shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{op}: mask of shape {m.shape} does not broadcast to the tensor's shape {shape}"
        ) from None
    return m


def masked_fill(x: Any, mask: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``value`` (a number or a one-element tensor, which then gets
    the summed gradient) where the boolean ``mask`` (broadcastable to x) is true."""
    if np.size(unwrap(value)) != 1:
        raise ValueError(
            f"masked_fill: value must be a number or a one-element tensor, got shape "
            f"{np.shape(unwrap(value))}"
        )
    return MaskedFill.apply(x, value, mask=bool_mask(mask, np.shape(unwrap(x)), "masked_fill"))


class Fill(Function):
    """out = src broadcast to a's shape, in a's dtype;  dL/da = 0 (zeros, as PyTorch
    gives),  dL/dsrc = g (summed
    back to src's shape).  Behind ``fill_``, ``zero_``, ``copy_``, ``normal_``, ``uniform_``."""

    @staticmethod
    def forward(ctx, a, src):
        try:
            return np.array(np.broadcast_to(src, a.shape), dtype=a.dtype)
        except ValueError:
            raise ValueError(
                f"copy: source of shape {np.shape(src)} does not broadcast to the tensor's "
                f"shape {a.shape}"
            ) from None

    @staticmethod
    def backward(ctx, g):
        return (np.zeros_like(g) if ctx.needs_input_grad[0] else None), g


def fill(x: Any, src: Any) -> Tensor:
    """A tensor like ``x`` holding ``src`` (a number, or an array or tensor broadcast
    to x's shape) in x's dtype; differentiable with respect to ``src``."""
    return Fill.apply(x, src)
