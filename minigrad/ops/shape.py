"""Ops that move elements without changing them: reshape, transpose, indexing,
padding, concatenation.  Each backward moves the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.autograd import Function, unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor


def _dims(args: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _check_dim(dim: int, ndim: int, op: str, scalar_ok: bool = False) -> int:
    """``dim`` in [0, ndim), from an int in [-ndim, ndim); ValueError/TypeError naming
    ``op``.  ``scalar_ok``: a 0-d tensor takes dim 0 or -1 (as PyTorch's softmax does)."""
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1) if scalar_ok else ndim
    if not -n <= dim < n:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % n


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape=()):
        ctx.in_shape = a.shape
        try:
            return np.reshape(a, shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                f"into {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, g):
        return np.reshape(g, ctx.in_shape)


def reshape(x: Any, *shape: Any) -> Tensor:
    """The same elements in a new shape (one entry may be -1); ``reshape(x, 2, 3)``
    or ``reshape(x, (2, 3))``."""
    return Reshape.apply(x, shape=_dims(shape))


view = reshape


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one."""
    shape = np.shape(unwrap(x))
    if len(shape) == 0:
        return reshape(x, 1)
    s = _check_dim(start_dim, len(shape), "flatten")
    e = _check_dim(end_dim, len(shape), "flatten")
    if s > e:
        raise ValueError(
            f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})"
        )
    return reshape(x, *shape[:s], -1, *shape[e + 1 :])


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims=()):
        ctx.inverse = tuple(np.argsort(dims))
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, ctx.inverse)


def permute(x: Any, *dims: Any) -> Tensor:
    """Reorder the dims: output dim i is input dim ``dims[i]``."""
    dims = _dims(dims)
    ndim = np.ndim(unwrap(x))
    if len(dims) != ndim or sorted(d + ndim if d < 0 else d for d in dims) != list(range(ndim)):
        raise ValueError(
            f"permute: dims {dims} must be a permutation of the {ndim} dimensions of the tensor"
        )
    return Permute.apply(x, dims=tuple(d % ndim for d in dims))


def transpose(x: Any, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """Swap two dims (PyTorch); with no dims, reverse them all (NumPy)."""
    ndim = np.ndim(unwrap(x))
    if dim0 is None and dim1 is None:
        return permute(x, *reversed(range(ndim)))
    if dim0 is None or dim1 is None:
        raise TypeError("transpose: give both dim0 and dim1, or neither")
    d0, d1 = _check_dim(dim0, ndim, "transpose"), _check_dim(dim1, ndim, "transpose")
    dims = list(range(ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, dims=tuple(dims))


def squeeze(x: Any, dim: Any = None) -> Tensor:
    """Drop size-1 dims (all of them, or those in ``dim``; others are kept, as PyTorch)."""
    shape = np.shape(unwrap(x))
    if dim is None:
        new = tuple(n for n in shape if n != 1)
    else:
        dims = {_check_dim(d, len(shape), "squeeze") for d in ((dim,) if np.isscalar(dim) else dim)}
        new = tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1))
    return reshape(x, *new)


def unsqueeze(x: Any, dim: int) -> Tensor:
    """Insert a size-1 dim at position ``dim``."""
    shape = np.shape(unwrap(x))
    d = _check_dim(dim, len(shape) + 1, "unsqueeze")
    return reshape(x, *shape[:d], 1, *shape[d:])


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, a, shape=()):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(
                f"expand: a tensor of shape {np.shape(a)} cannot be broadcast to {tuple(shape)} "
                "(only dimensions of size 1 can grow)"
            ) from None

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums it back to the input's shape


def expand(x: Any, *sizes: Any) -> Tensor:
    """PyTorch's expand: -1 keeps a dimension's size."""
    sizes = _dims(sizes)
    shape = np.shape(unwrap(x))
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes given for a tensor with {len(shape)} dims")
    target = tuple(shape[i - lead] if (n == -1 and i >= lead) else n for i, n in enumerate(sizes))
    return BroadcastTo.apply(x, shape=target)


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """NumPy's broadcast_to; the gradient is summed back over the broadcast dims."""
    return BroadcastTo.apply(x, shape=tuple(shape))


# ---------------------------------------------------------------- indexing


def _is_advanced(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list)) for i in items)


def _plain_index(index: Any) -> Any:
    """Tensors inside an index become arrays; lists become integer/bool arrays."""
    from minigrad.tensor import Tensor

    def conv(i):
        if isinstance(i, Tensor):
            return i._data
        if isinstance(i, list):
            # An empty list selects nothing; NumPy would read [] as a float array.
            return np.asarray(i) if i else np.zeros(0, dtype=np.intp)
        return i

    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


class GetItem(Function):
    """``a[index]``.  Backward scatters the gradient back with ``np.add.at`` when
    the index is an array (so repeated indices add up), or by assignment when it
    is made of slices and integers (each element is picked at most once)."""

    @staticmethod
    def forward(ctx, a, index=None):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        try:
            return a[index]
        except IndexError as e:
            raise IndexError(
                f"index {index!r} is invalid for a tensor of shape {a.shape}: {e}"
            ) from None

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        if _is_advanced(ctx.index) and not _picks_each_once(ctx.index, ctx.shape):
            np.add.at(out, ctx.index, g)  # repeated positions must add up
        else:
            out[ctx.index] = g
        return out


def _picks_each_once(index: Any, shape: tuple) -> bool:
    """True for the common advanced indices that cannot repeat a position (a
    boolean mask, or one integer array without duplicates), where plain
    assignment is a much faster scatter than ``np.add.at``."""
    if not isinstance(index, np.ndarray):
        return False
    if index.dtype == np.bool_:
        return True
    positions = index.reshape(-1) % shape[0]  # -1 and n-1 are the same row
    return np.unique(positions).size == positions.size


def getitem(x: Any, index: Any) -> Tensor:
    """``x[index]`` with NumPy's indexing: ints, slices, None, Ellipsis, integer
    arrays/lists/Tensors (repeats allowed: their gradients add) and boolean masks."""
    return GetItem.apply(x, index=_plain_index(index))


# ---------------------------------------------------------------- padding

_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Pad(Function):
    """Constant padding adds a border of ``value``; reflect / replicate / circular
    fill it with copies of input elements.  Along each axis, padded position p
    copies input position ``sources[axis][p]`` (NumPy's own rule, found by
    padding ``arange(n)``), so backward folds each border slab of the gradient
    back onto the input slab it was copied from."""

    @staticmethod
    def forward(ctx, a, widths=(), mode="constant", value=0.0):
        ctx.shape, ctx.widths, ctx.mode = a.shape, widths, mode
        if mode == "constant":
            return np.pad(a, widths, mode="constant", constant_values=value)
        np_mode = _NUMPY_PAD_MODE[mode]
        ctx.sources = [np.pad(np.arange(n), w, mode=np_mode) for n, w in zip(a.shape, widths)]
        return np.pad(a, widths, mode=np_mode)

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "constant":  # the border is constant: only the inside flows back
            inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(ctx.widths, ctx.shape))
            return g[inner]
        for axis, ((lo, hi), n) in enumerate(zip(ctx.widths, ctx.shape)):
            if lo == 0 and hi == 0:
                continue
            g = np.moveaxis(g, axis, 0)
            folded = g[lo : lo + n].copy()
            source = ctx.sources[axis]
            for p in (*range(lo), *range(lo + n, lo + n + hi)):
                folded[source[p]] += g[p]
            g = np.moveaxis(folded, 0, axis)
        return g


def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) pairs starting from the
    LAST dimension, e.g. (left, right, top, bottom) for an image."""
    shape = np.shape(unwrap(x))
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ValueError(
            f"pad: needs an even number of values, at most 2 per dimension "
            f"({2 * len(shape)} here), got {len(pad)}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: padding must be non-negative, got {pad}")
    if mode not in ("constant", *_NUMPY_PAD_MODE):
        raise ValueError(
            f"pad: mode must be constant, reflect, replicate or circular, got {mode!r}"
        )
    widths = [(0, 0)] * len(shape)
    for k in range(len(pad) // 2):
        widths[len(shape) - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "reflect":
        for (lo, hi), n in zip(widths, shape):
            if max(lo, hi) >= n and (lo or hi):
                raise ValueError(
                    f"pad: reflect padding ({lo}, {hi}) must be smaller than the dimension ({n})"
                )
    return Pad.apply(x, widths=tuple(widths), mode=mode, value=value)


# ---------------------------------------------------------------- joining and splitting


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        ctx.axis = axis
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.bounds, axis=ctx.axis))


def _check_join(tensors: Sequence, op: str):
    if not isinstance(tensors, (list, tuple)) or len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of tensors")


def cat(tensors: Sequence, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; all other dims must agree."""
    _check_join(tensors, "cat")
    shapes = [np.shape(unwrap(t)) for t in tensors]
    nd = len(shapes[0])
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    d = _check_dim(dim, nd, "cat")
    for i, s in enumerate(shapes):
        if len(s) != nd or s[:d] + s[d + 1 :] != shapes[0][:d] + shapes[0][d + 1 :]:
            raise ValueError(
                f"cat: tensor {i} has shape {s}, which differs from tensor 0's {shapes[0]} "
                f"outside dim {d}"
            )
    return Cat.apply(*tensors, axis=d)


concatenate = cat


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis, ctx.n = axis, len(arrays)
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.axis, 0))


def stack(tensors: Sequence, dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim ``dim``."""
    _check_join(tensors, "stack")
    shapes = [np.shape(unwrap(t)) for t in tensors]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise ValueError(f"stack: tensor {i} has shape {s}, expected {shapes[0]} like tensor 0")
    d = _check_dim(dim, len(shapes[0]) + 1, "stack")
    return Stack.apply(*tensors, axis=d)


def split(x: Any, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple:
    """PyTorch's split: chunks of a given size (the last may be smaller), or the
    listed section sizes (which must add up to the dimension)."""
    shape = np.shape(unwrap(x))
    d = _check_dim(dim, len(shape), "split")
    n = shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(
                f"split: sections {sizes} must be non-negative and sum to {n} (dim {d})"
            )
    out, start = [], 0
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        out.append(getitem(x, idx))
        start += s
    return tuple(out)


def chunk(x: Any, chunks: int, dim: int = 0) -> tuple:
    """PyTorch's chunk: ``chunks`` pieces of ceil(n / chunks) (fewer if they run out)."""
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks!r}")
    shape = np.shape(unwrap(x))
    n = shape[_check_dim(dim, len(shape), "chunk")]
    return split(x, max(1, -(-n // chunks)), dim)


__all__ = [
    "reshape",
    "view",
    "flatten",
    "permute",
    "transpose",
    "squeeze",
    "unsqueeze",
    "expand",
    "broadcast_to",
    "getitem",
    "pad",
    "cat",
    "concatenate",
    "stack",
    "split",
    "chunk",
]
