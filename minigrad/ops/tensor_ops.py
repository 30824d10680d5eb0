"""Ops of PyTorch's tensor API (the ``torch.*`` namespace and ``Tensor`` methods) that
``torch.nn.functional`` does not have: ``repeat``, ``gather``, ``topk``, ``norm``,
``lerp``, ``argmax``/``argmin``, ``contiguous``, and ``max``/``min`` taking a second
tensor.  Each op's forward and backward side by side, then its public function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.autograd import Function
from minigrad.ops import elementwise as _ew
from minigrad.ops import reduce as _red
from minigrad.ops.reduce import _norm_axes
from minigrad.ops.shape import _check_dim, _dims
from minigrad.tensor import Tensor, TopKResult, unwrap

__all__ = ["repeat", "gather", "topk", "norm", "lerp", "argmax", "argmin"]


# ---------------------------------------------------------------- repeat


class Repeat(Function):
    """out = a tiled ``reps`` times along each dim (leading dims added as needed);
    dL/da = the sum of g over the tiles."""

    @staticmethod
    def forward(ctx, a, reps=()):
        ctx.shape = a.shape
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        shape = (1,) * (g.ndim - len(ctx.shape)) + ctx.shape
        # g's axis i has length reps_i * n_i: split it into (reps_i, n_i), sum the reps.
        g = g.reshape([d for m, n in zip(g.shape, shape) for d in (m // n if n else 0, n)])
        return g.sum(axis=tuple(range(0, 2 * len(shape), 2))).reshape(ctx.shape)


def repeat(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``Tensor.repeat``: ``x`` tiled ``sizes[i]`` times along dim i; with more
    sizes than dims, x gains leading dims of size 1 first.  (NumPy's ``tile``.)"""
    reps = _dims(sizes)
    ndim = np.ndim(unwrap(x))
    if len(reps) < ndim:
        raise ValueError(
            f"repeat: the number of repeat sizes ({len(reps)}) can not be smaller than the "
            f"number of dimensions of the tensor ({ndim})"
        )
    if not all(
        isinstance(r, (int, np.integer)) and not isinstance(r, bool) and r >= 0 for r in reps
    ):
        raise ValueError(f"repeat: sizes must be non-negative ints, got {reps}")
    return Repeat.apply(x, reps=tuple(int(r) for r in reps))


# ---------------------------------------------------------------- gather, topk


class Gather(Function):
    """out[..., j, ...] = a[..., index[..., j, ...], ...] along ``axis``;
    dL/da = g added back at the gathered positions (repeats add up)."""

    @staticmethod
    def forward(ctx, a, index=None, axis=0):
        ctx.shape, ctx.index, ctx.axis = a.shape, index, axis
        return np.take_along_axis(a, index, axis=axis)

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        where = list(np.indices(ctx.index.shape, sparse=True))
        where[ctx.axis] = ctx.index
        np.add.at(out, tuple(where), g)
        return out


def _index_array(index: Any, op: str) -> np.ndarray:
    idx = np.asarray(unwrap(index))
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {idx.dtype}")
    return idx


def gather(x: Any, dim: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on):
    ``index`` has x's number of dims and x's sizes outside ``dim``."""
    a = unwrap(x)
    idx = _index_array(index, "gather")
    d = _check_dim(dim, np.ndim(a), "gather")
    shape = np.shape(a)
    if idx.ndim != len(shape) or any(idx.shape[i] != shape[i] for i in range(len(shape)) if i != d):
        raise ValueError(
            f"gather: index of shape {idx.shape} must have the input's shape {shape} "
            f"except along dim {d}"
        )
    if idx.size and (idx.min() < -shape[d] or idx.max() >= shape[d]):
        raise IndexError(f"gather: index out of range for dim {d} of size {shape[d]}")
    return Gather.apply(x, index=idx, axis=d)


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (or smallest) elements along ``dim``: PyTorch's ``(values,
    indices)`` pair, in descending (ascending) order.  The gradient goes to the
    selected elements.  Ties are broken towards the lower index."""
    a = unwrap(x)
    d = _check_dim(dim, np.ndim(a), "topk", scalar_ok=True)
    n = np.shape(a)[d] if np.ndim(a) else 1
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k ({k!r}) must be an int between 0 and the size of dim {d} ({n})")
    if np.ndim(a) == 0:
        return TopKResult(
            _ew.Cast.apply(x, dtype=np.asarray(a).dtype), Tensor(np.zeros((), np.int64))
        )
    # A stable sort of -a (largest) or a: equal values keep their index order.
    key = -a if largest and a.dtype.kind != "u" else a
    order = np.argsort(key, axis=d, kind="stable")
    if largest and a.dtype.kind == "u":
        order = np.flip(order, axis=d)
    idx = np.take(order, np.arange(k), axis=d)
    values = Gather.apply(x, index=idx, axis=d)
    return TopKResult(values, Tensor._wrap(idx.astype(np.int64)))


# ---------------------------------------------------------------- norm


class Norm(Function):
    """n = (sum |a|^p)^(1/p) over ``axis`` (p = inf: max |a|, -inf: min |a|);

    dL/da = g sign(a) |a|^(p-1) / n^(p-1)   (p = 2: g a / n; p = 1: g sign(a)),
    0 where n = 0 (the minimum-norm subgradient, as PyTorch);
    p = +-inf: g sign(a) at the extreme elements, shared equally among ties."""

    @staticmethod
    def forward(ctx, a, p=2.0, axis=None, keepdims=False):
        absa = np.abs(a)
        if np.isinf(p):
            n = (np.max if p > 0 else np.min)(absa, axis=axis, keepdims=True)
        elif p == 2:
            n = np.sqrt(np.sum(absa * absa, axis=axis, keepdims=True))
        elif p == 1:
            n = np.sum(absa, axis=axis, keepdims=True)
        else:
            n = np.sum(absa**p, axis=axis, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(a, n)
        ctx.p, ctx.axis = p, axis
        out = n if keepdims else (n.reshape(()) if axis is None else np.squeeze(n, axis))
        return np.asarray(out, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, n = ctx.saved_tensors
        p, axis = ctx.p, ctx.axis
        g = np.reshape(g, n.shape)  # reinsert the reduced axes (size 1)
        if np.isinf(p):
            hit = np.abs(a) == n
            return g * np.sign(a) * hit / np.sum(hit, axis=axis, keepdims=True)
        if p == 1:
            return g * np.sign(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2:
                grad = g * a / n
            else:
                grad = g * np.sign(a) * np.abs(a) ** (p - 1) / n ** (p - 1)
        return np.where(n == 0, 0, grad)


def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """PyTorch's ``norm``: the vector p-norm over ``dim`` (all elements by default);
    ``p`` a number >= 1, ``inf``/``-inf``, or ``'fro'`` (= 2)."""
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float, np.number)):
        raise ValueError(
            f"norm: p must be a number, inf or 'fro', got {p!r} ('nuc' is not supported)"
        )
    if not (np.isinf(p) or p >= 1):
        raise ValueError(f"norm: p must be >= 1 or +-inf for a differentiable norm, got {p}")
    a = unwrap(x)
    if not np.issubdtype(np.asarray(a).dtype, np.floating):
        raise TypeError(f"norm: expected a floating-point tensor, got dtype {np.asarray(a).dtype}")
    axes = _norm_axes(dim, np.ndim(a))
    return Norm.apply(x, p=float(p), axis=axes, keepdims=bool(keepdim))


# ---------------------------------------------------------------- small ones


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    """start + weight (end - start), differentiable in all three."""
    return start + weight * (end - start)


def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None), int64."""
    return _arg(np.argmax, x, dim, keepdim, "argmax")


def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (of the flattened tensor when ``dim`` is None), int64."""
    return _arg(np.argmin, x, dim, keepdim, "argmin")


def _arg(fn: Any, x: Any, dim: Any, keepdim: bool, op: str) -> Tensor:
    a = np.asarray(unwrap(x))
    if a.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {a.shape}")
    if dim is None:
        out = fn(a)
        return Tensor._wrap(
            np.asarray(out, dtype=np.int64).reshape((1,) * a.ndim if keepdim else ())
        )
    d = _check_dim(dim, a.ndim, op, scalar_ok=True)
    if a.ndim == 0:
        return Tensor._wrap(np.zeros((), np.int64))
    return Tensor._wrap(fn(a, axis=d, keepdims=bool(keepdim)).astype(np.int64))


class Contiguous(Function):
    """out = a, laid out C-contiguously;  dL/da = g."""

    @staticmethod
    def forward(ctx, a):
        return np.ascontiguousarray(a)

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(x: Any) -> Tensor:
    return Contiguous.apply(x)


def max(x: Any, dim: Any = None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """``max(x)``: the largest element; ``max(x, dim)``: PyTorch's ``(values, indices)``;
    ``max(x, other)``: the elementwise maximum (as ``torch.max``)."""
    if isinstance(dim, (Tensor, np.ndarray)):
        return _ew.maximum(x, dim)
    return _red.max(x, dim, keepdim)


def min(x: Any, dim: Any = None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """``min(x)``, ``min(x, dim)`` or the elementwise ``min(x, other)``."""
    if isinstance(dim, (Tensor, np.ndarray)):
        return _ew.minimum(x, dim)
    return _red.min(x, dim, keepdim)
