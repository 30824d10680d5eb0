"""Reductions over axes: sum, mean, var, max/min.  Backward broadcasts the
gradient back over the reduced axes."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.tensor import MaxResult, Tensor


def _norm_axes(axis: Any, ndim: int) -> tuple | None:
    """``None`` (all axes) or a tuple of non-negative axes, range-checked."""
    if axis is None:
        return None
    try:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    except TypeError:  # not iterable: a float, say
        axes = (axis,)
    if not all(isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"dim must be an int, a tuple of ints or None, got {axis!r}")
    n = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    out = []
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"dim {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"dim {axis} repeats a dimension")
    return tuple(out)


def _expand_back(g: np.ndarray, shape: tuple, axes: tuple | None, keepdims: bool):
    """Reinsert the reduced axes of ``g`` (size 1) so it broadcasts against ``shape``."""
    if not keepdims:
        if axes is None:
            g = np.reshape(g, (1,) * len(shape))
        else:
            g = np.expand_dims(g, tuple(sorted(axes)))
    return g


def _count(a: np.ndarray, axes: tuple | None) -> int:
    """How many elements of ``a`` each output of a reduction over ``axes`` sees."""
    return a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.sum(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand_back(g, ctx.shape, ctx.axis, ctx.keepdims)
        return np.broadcast_to(g, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        ctx.count = _count(a, axis)
        return np.mean(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = _expand_back(g, ctx.shape, ctx.axis, ctx.keepdims)
        return np.broadcast_to(g / ctx.count, ctx.shape)


class Var(Function):
    """var = sum((a - mean)^2) / (n - correction);  d/da = 2 (a - mean) / (n - correction)."""

    @staticmethod
    def forward(ctx, a, axis=None, correction=1, keepdims=False):
        n = _count(a, axis)
        if n - correction <= 0:
            raise ValueError(
                f"var: {n} element(s) along the reduced dims is too few for correction={correction}"
            )
        centred = a - np.mean(a, axis=axis, keepdims=True)
        ctx.save_for_backward(centred)
        ctx.axis, ctx.keepdims, ctx.denom = axis, keepdims, n - correction
        return np.sum(centred * centred, axis=axis, keepdims=keepdims) / ctx.denom

    @staticmethod
    def backward(ctx, g):
        (centred,) = ctx.saved_tensors
        g = _expand_back(g, centred.shape, ctx.axis, ctx.keepdims)
        return g * (2.0 / ctx.denom) * centred


class Amax(Function):
    """max (or min) over axes; tied extremes share the gradient equally."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, mode="max"):
        axis = _norm_axes(axis, a.ndim)
        if a.size == 0:
            raise ValueError(f"{mode}: cannot reduce an empty tensor of shape {a.shape}")
        reduce = np.max if mode == "max" else np.min
        out = reduce(a, axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        out = _expand_back(out, a.shape, ctx.axis, ctx.keepdims)
        g = _expand_back(g, a.shape, ctx.axis, ctx.keepdims)
        hit = a == out
        count = np.sum(hit, axis=ctx.axis, keepdims=True)
        return g * hit / count


def _alias(dim: Any, axis: Any, keepdim: bool, keepdims: bool | None, op: str):
    """PyTorch's ``dim``/``keepdim`` with NumPy's ``axis``/``keepdims`` as aliases."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: pass either dim or axis, not both")
        dim = axis
    return dim, _keepdim(keepdim, keepdims)


def _keepdim(keepdim: bool, keepdims: bool | None) -> bool:
    """PyTorch's ``keepdim``, unless NumPy's ``keepdims`` alias is given."""
    return bool(keepdims) if keepdims is not None else bool(keepdim)


def sum(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple, or None for all); d/dx_i = 1."""
    dim, keep = _alias(dim, axis, keepdim, keepdims, "sum")
    return Sum.apply(x, axis=_norm_axes(dim, np.ndim(unwrap(x))), keepdims=keep)


def mean(x, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Mean over ``dim``: sum / n;  d/dx_i = 1 / n."""
    dim, keep = _alias(dim, axis, keepdim, keepdims, "mean")
    return Mean.apply(x, axis=_norm_axes(dim, np.ndim(unwrap(x))), keepdims=keep)


def var(
    x, dim=None, correction: int = 1, keepdim: bool = False, *, axis=None, keepdims=None
) -> Tensor:
    """Variance over ``dim``: sum (x - mean)^2 / (n - correction); correction=1
    (the default, as PyTorch) is the unbiased estimate, 0 is NumPy's default."""
    dim, keep = _alias(dim, axis, keepdim, keepdims, "var")
    return Var.apply(
        x, axis=_norm_axes(dim, np.ndim(unwrap(x))), correction=correction, keepdims=keep
    )


def std(
    x, dim=None, correction: int = 1, keepdim: bool = False, *, axis=None, keepdims=None
) -> Tensor:
    """Standard deviation: sqrt(var(x, dim, correction))."""
    return var(x, dim, correction, keepdim, axis=axis, keepdims=keepdims).sqrt()


class TakeAlong(Function):
    """``a`` at one index per slice along ``axis`` (the arg-extreme of
    ``max(dim)``); backward puts the gradient back at exactly those indices."""

    @staticmethod
    def forward(ctx, a, indices, axis=0, keepdims=False):
        idx = np.expand_dims(indices, axis)  # argmax's result, without the reduced axis
        ctx.save_for_backward(idx)
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        out = np.take_along_axis(a, idx, axis=axis)
        return out if keepdims else np.squeeze(out, axis)

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        out = np.zeros(ctx.shape, dtype=g.dtype)
        g = g if ctx.keepdims else np.expand_dims(g, ctx.axis)
        np.put_along_axis(out, idx, g, axis=ctx.axis)  # one index per slice: no overlap
        return out


def extremum(x, dim, axis, keepdim: bool, mode: str):
    """``max``/``min``.  With ``dim`` (PyTorch): the ``(values, indices)`` pair,
    the gradient going to the returned index (the first of tied extremes).
    Without (``max()``, or NumPy's ``axis=``): the values, tied extremes sharing
    the gradient equally (as ``amax``)."""
    if dim is None:
        return Amax.apply(x, axis=axis, keepdims=keepdim, mode=mode)
    if axis is not None:
        raise TypeError("pass either dim or axis, not both")
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{mode}(dim): dim must be an int, got {dim!r}")
    a = unwrap(x)
    (d,) = _norm_axes(dim, np.ndim(a))
    if np.ndim(a) == 0:  # PyTorch allows dim 0 / -1 on a scalar: itself, index 0
        values = Amax.apply(x, axis=None, keepdims=False, mode=mode)
        return MaxResult(values, Tensor._wrap(np.zeros((), dtype=np.int64)))
    if np.shape(a)[d] == 0:
        raise ValueError(
            f"{mode}: cannot reduce an empty dimension (dim {dim}, shape {np.shape(a)})"
        )
    arg = np.argmax if mode == "max" else np.argmin
    idx = arg(a, axis=d)
    values = TakeAlong.apply(x, idx, axis=d, keepdims=keepdim)
    indices = Tensor._wrap(np.expand_dims(idx, d) if keepdim else idx)
    return MaxResult(values, indices)


def max(x, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The largest element (``dim=None``), or PyTorch's ``(values, indices)``
    along ``dim``.  See ``extremum`` for how ties share the gradient."""
    return extremum(x, dim, None, keepdim, "max")


def min(x, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The smallest element, or ``(values, indices)`` along ``dim``."""
    return extremum(x, dim, None, keepdim, "min")


def amax(x, dim=None, keepdim: bool = False) -> Tensor:
    """Max over ``dim`` (int, tuple or None), values only; ties share the gradient."""
    return Amax.apply(x, axis=dim, keepdims=keepdim, mode="max")


def amin(x, dim=None, keepdim: bool = False) -> Tensor:
    """Min over ``dim`` (int, tuple or None), values only; ties share the gradient."""
    return Amax.apply(x, axis=dim, keepdims=keepdim, mode="min")


__all__ = ["sum", "mean", "var", "std", "max", "min", "amax", "amin"]
