"""Elementwise arithmetic and math: forward and backward side by side.

Binary ops broadcast like NumPy; the engine sums each gradient back to its
input's shape, so backward here returns full-size gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.autograd import Function


def _shapes(a: Any, b: Any) -> str:
    return f"{np.shape(a)} and {np.shape(b)}"


def _broadcast_error(op: str, a: Any, b: Any, err: Exception) -> ValueError:
    return ValueError(
        f"{op}: shapes {_shapes(a, b)} cannot be broadcast together (each trailing "
        f"dimension must be equal, or 1 in one of them)"
    )


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.add(a, b)
        except ValueError as e:
            raise _broadcast_error("add", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.subtract(a, b)
        except ValueError as e:
            raise _broadcast_error("sub", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.multiply(a, b)
        except ValueError as e:
            raise _broadcast_error("mul", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.true_divide(a, b)
        except ValueError as e:
            raise _broadcast_error("div", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    """a ** b.  d/da = b a^(b-1);  d/db = a^b log a (only where a > 0)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = np.power(a, b)
        except ValueError as e:
            raise _broadcast_error("pow", a, b, e) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = None
        if need_a:
            # b a^(b-1), except where b == 0: a^0 is constant (a^-1 would give 0 * inf).
            zero = np.equal(b, 0)
            if np.any(zero):
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = np.where(zero, 0, g * b * np.power(a, b - 1))
            else:
                ga = g * b * np.power(a, b - 1)
        gb = None
        if need_b:
            a_arr = np.asarray(a)
            safe_log = np.log(np.where(a_arr > 0, a_arr, 1))
            gb = g * out * safe_log
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Abs(Function):
    """|a|; the gradient at 0 is 0 (PyTorch's choice)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)


class Clamp(Function):
    """Clip to [lo, hi]; the gradient passes where lo <= a <= hi."""

    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        inside = np.ones(a.shape, dtype=bool)
        if ctx.lo is not None:
            inside &= a >= ctx.lo
        if ctx.hi is not None:
            inside &= a <= ctx.hi
        return g * inside


def clamp(x, min: float | None = None, max: float | None = None):
    """Limit values to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    # Bounds are constants (no gradient flows to them); Tensor bounds give their data.
    lo = getattr(min, "data", min)
    hi = getattr(max, "data", max)
    return Clamp.apply(x, lo=lo, hi=hi)


clip = clamp


def _split_ties(g, a_wins, tie):
    """Gradients of max/min: all of g to the winner, half to each side of a tie.
    Masks stay boolean (and g keeps its dtype) unless a tie actually occurs."""
    if not np.any(tie):
        return g * a_wins, g * ~a_wins
    half = g * 0.5
    return np.where(tie, half, g * a_wins), np.where(tie, half, g * ~a_wins)


class Maximum(Function):
    """Elementwise max; where a == b each side gets half the gradient."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a, b)
        except ValueError as e:
            raise _broadcast_error("maximum", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_ties(g, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.minimum(a, b)
        except ValueError as e:
            raise _broadcast_error("minimum", a, b, e) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_ties(g, a < b, a == b)


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


class Where(Function):
    """``cond ? a : b``; ``cond`` is not differentiable."""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        try:
            return np.where(cond, a, b)
        except ValueError as e:
            raise ValueError(
                f"where: cond {np.shape(cond)}, a {np.shape(a)} and b {np.shape(b)} cannot "
                "be broadcast together"
            ) from e

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, np.where(cond, g, 0), np.where(cond, 0, g)


def where(cond, a, b):
    from minigrad.tensor import Tensor

    if isinstance(cond, Tensor):
        cond = cond.data
    return Where.apply(cond, a, b)


class Cast(Function):
    """Change dtype; the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype=None, copy=False):
        return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine casts to the input's dtype


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - PyTorch's name
    return Pow.apply(a, b)


def neg(a):
    return Neg.apply(a)


def exp(a):
    return Exp.apply(a)


def log(a):
    return Log.apply(a)


def sqrt(a):
    return Sqrt.apply(a)


def abs(a):  # noqa: A001 - PyTorch's name
    return Abs.apply(a)


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
