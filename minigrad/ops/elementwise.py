"""Elementwise arithmetic and math: each op's forward and backward side by side,
followed by its public function.

Binary ops broadcast like NumPy; backward returns gradients of the broadcast
(output) shape and the engine sums each back to its input's shape.  Operands
may be Tensors, arrays or Python/NumPy scalars; results are Tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import numpy as np

from minigrad.autograd import Function

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

Operand = Union["Tensor", np.ndarray, float, int]


def _broadcast_error(op: str, a: Any, b: Any) -> ValueError:
    return ValueError(
        f"{op}: shapes {np.shape(a)} and {np.shape(b)} cannot be broadcast together (each "
        f"trailing dimension must be equal, or 1 in one of them)"
    )


# ---------------------------------------------------------------- arithmetic


class Add(Function):
    """out = a + b;  dL/da = g,  dL/db = g."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.add(a, b)
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, g


def add(a: Operand, b: Operand) -> Tensor:
    """a + b, broadcasting."""
    return Add.apply(a, b)


class Sub(Function):
    """out = a - b;  dL/da = g,  dL/db = -g."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.subtract(a, b)
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


def sub(a: Operand, b: Operand) -> Tensor:
    """a - b, broadcasting."""
    return Sub.apply(a, b)


class Mul(Function):
    """out = a b;  dL/da = g b,  dL/db = g a."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad  # save only what backward will read
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        try:
            return np.multiply(a, b)
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


def mul(a: Operand, b: Operand) -> Tensor:
    """a * b (elementwise), broadcasting."""
    return Mul.apply(a, b)


class Div(Function):
    """out = a / b;  dL/da = g / b,  dL/db = -g a / b^2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)  # a: only for dL/db
        try:
            return np.true_divide(a, b)
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


def div(a: Operand, b: Operand) -> Tensor:
    """a / b (true division), broadcasting."""
    return Div.apply(a, b)


class Pow(Function):
    """out = a^b;  dL/da = g b a^(b-1),  dL/db = g a^b log a (taken as 0 where a <= 0)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = np.power(a, b)
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            # Where b == 0, a^0 is constant: its gradient is 0, not 0 * a^-1 (nan at a = 0).
            zero = np.equal(b, 0)
            if np.any(zero):
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = np.where(zero, 0, g * b * np.power(a, b - 1))
            else:
                ga = g * b * np.power(a, b - 1)
        if need_b:
            a_arr = np.asarray(a)
            safe_log = np.log(np.where(a_arr > 0, a_arr, 1))
            gb = g * out * safe_log
        return ga, gb


def pow(a: Operand, b: Operand) -> Tensor:  # noqa: A001 - PyTorch's name
    """a ** b, broadcasting."""
    return Pow.apply(a, b)


class Neg(Function):
    """out = -a;  dL/da = -g."""

    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


def neg(a: Operand) -> Tensor:
    """-a."""
    return Neg.apply(a)


# ---------------------------------------------------------------- math functions


class Exp(Function):
    """out = e^a;  dL/da = g out."""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


def exp(a: Operand) -> Tensor:
    """e^a, elementwise."""
    return Exp.apply(a)


class Log(Function):
    """out = ln a;  dL/da = g / a."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


def log(a: Operand) -> Tensor:
    """Natural logarithm, elementwise."""
    return Log.apply(a)


class Sqrt(Function):
    """out = sqrt(a);  dL/da = g / (2 out)."""

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


def sqrt(a: Operand) -> Tensor:
    """Square root, elementwise."""
    return Sqrt.apply(a)


class Abs(Function):
    """out = |a|;  dL/da = g sign(a), which is 0 at a = 0 (PyTorch's choice)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)


def abs(a: Operand) -> Tensor:  # noqa: A001 - PyTorch's name
    """|a|, elementwise."""
    return Abs.apply(a)


class Clamp(Function):
    """out = min(max(a, lo), hi) (hi wins where lo > hi, as in PyTorch).

    dL/da  = g where lo <= a <= hi, else 0;
    dL/dlo = g where a < lo (and lo < hi);   dL/dhi = g where a > hi (or hi < lo):
    a bound gets the gradient where it is the output.  Bounds may be None, numbers
    or arrays (the engine sums each gradient back to its operand's shape)."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a, lo, hi)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        need_a, need_lo, need_hi = ctx.needs_input_grad
        # Not in place: a bound may broadcast the output beyond a's shape.
        inside = True
        if lo is not None:
            inside = inside & (a >= lo)
        if hi is not None:
            inside = inside & (a <= hi)
        ga = g * inside if need_a else None
        glo = g * ((a < lo) & (lo < hi) if hi is not None else (a < lo)) if need_lo else None
        ghi = g * ((a > hi) | (hi < lo) if lo is not None else (a > hi)) if need_hi else None
        return ga, glo, ghi


def clamp(x: Operand, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max]; either bound may be None, a number or a
    Tensor/array.  As in PyTorch, a Tensor bound that requires grad gets the
    gradient where it is the output; where min > max the output is max."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(x, min, max)


clip = clamp


# ---------------------------------------------------------------- selection


def _split_ties(g, a_wins, tie):
    """Gradients of max/min: all of g to the winner, half to each side of a tie.
    Masks stay boolean (and g keeps its dtype) unless a tie actually occurs."""
    if not np.any(tie):
        return g * a_wins, g * ~a_wins
    half = g * 0.5
    return np.where(tie, half, g * a_wins), np.where(tie, half, g * ~a_wins)


class Maximum(Function):
    """out = max(a, b);  the gradient goes to the larger input, half to each on a tie."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_ties(g, a > b, a == b)


def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise maximum, broadcasting."""
    return Maximum.apply(a, b)


class Minimum(Function):
    """out = min(a, b);  the gradient goes to the smaller input, half to each on a tie."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.minimum(a, b)
        except ValueError:
            raise _broadcast_error("minimum", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_ties(g, a < b, a == b)


def minimum(a: Operand, b: Operand) -> Tensor:
    """Elementwise minimum, broadcasting."""
    return Minimum.apply(a, b)


class Where(Function):
    """out = a where cond else b;  dL/da = g where cond, dL/db = g elsewhere."""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ValueError(
                f"where: cond {np.shape(cond)}, a {np.shape(a)} and b {np.shape(b)} cannot "
                "be broadcast together"
            ) from None

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, np.where(cond, g, 0), np.where(cond, 0, g)


def where(cond: Any, a: Operand, b: Operand) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (all three broadcast); ``cond``
    (a boolean Tensor or array) gets no gradient."""
    return Where.apply(cond, a, b)


# ---------------------------------------------------------------- dtype


class Cast(Function):
    """out = a in another dtype;  dL/da = g (the engine casts it to a's dtype)."""

    @staticmethod
    def forward(ctx, a, dtype=None, copy=False):
        return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        return g


__all__ = [
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "neg",
    "exp",
    "log",
    "sqrt",
    "abs",
    "clamp",
    "clip",
    "maximum",
    "minimum",
    "where",
]
