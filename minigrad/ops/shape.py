"""Ops that move elements without changing them: reshape, transpose, indexing,
padding, concatenation.  Each backward moves the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.ops.checks import int_arg, physical_memory
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
        try:
            out = a[index]
        except IndexError as e:
            raise IndexError(
                f"index {index!r} is invalid for a tensor of shape {a.shape}: {e}"
            ) from None
        if _is_advanced(index):  # a private copy: the caller may change its index array
            items = index if isinstance(index, tuple) else (index,)
            copied = tuple(np.array(i) if isinstance(i, np.ndarray) else i for i in items)
            index = copied if isinstance(index, tuple) else copied[0]
        ctx.shape = a.shape
        ctx.save_for_backward(index)
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        out = np.zeros(ctx.shape, dtype=g.dtype)
        if _is_advanced(index) and not _picks_each_once(index, ctx.shape):
            np.add.at(out, index, g)  # repeated positions must add up
        else:
            out[index] = g
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

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_sources(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The input index each output position of one padded axis copies.

    The axis has length n and gets ``lo`` / ``hi`` positions before / after
    (a negative width crops).  Output position q holds input position:

    - reflect:    r(q - lo), r mirroring about the end elements (period 2(n - 1))
    - replicate:  clip(q - lo, 0, n - 1)
    - circular:   c0 + (q - max(lo, 0)) mod m, where [c0, c0 + m) is what is left of
                  the axis after cropping: PyTorch crops first, then wraps
    - constant:   q - lo, where that lies in [0, n) (elsewhere the fill value)
    """
    q = np.arange(n + lo + hi)
    if mode == "reflect":
        i = np.abs(q - lo) % (2 * (n - 1)) if n > 1 else np.zeros_like(q)
        return np.where(i < n, i, 2 * (n - 1) - i)
    if mode == "replicate":
        return np.clip(q - lo, 0, n - 1)
    if mode == "circular":
        c0, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        return c0 + (q - max(lo, 0)) % m
    return q - lo


class Pad(Function):
    """Pad (or crop, for negative widths) each axis by ``widths`` = ((lo, hi), ...).

    Every output element is a copy of one input element (reflect / replicate /
    circular; see ``_pad_sources``) or the constant ``value``, so the gradient of
    an input element is the sum of the output gradients at its copies:
    dL/dx[i] = sum over output positions q copying i of g[q].  Along each axis
    the copies straight across (q = i + lo) form one slab; the border slabs are
    added onto the slabs they copied."""

    @staticmethod
    def forward(ctx, a, widths=(), mode="constant", value=0.0):
        ctx.shape, ctx.widths, ctx.mode = a.shape, widths, mode
        if mode == "constant":
            out = np.full(
                [n + lo + hi for n, (lo, hi) in zip(a.shape, widths)], value, dtype=a.dtype
            )
            out[_straight(a.shape, widths, "out")] = a[_straight(a.shape, widths, "in")]
            return out
        for axis, ((lo, hi), n) in enumerate(zip(widths, a.shape)):
            if lo or hi:
                a = np.take(a, _pad_sources(n, lo, hi, mode), axis=axis)
        return a

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "constant":  # only the copied inside flows back
            gx = np.zeros(ctx.shape, dtype=g.dtype)
            gx[_straight(ctx.shape, ctx.widths, "in")] = g[_straight(ctx.shape, ctx.widths, "out")]
            return gx
        for axis in reversed(range(len(ctx.shape))):
            (lo, hi), n = ctx.widths[axis], ctx.shape[axis]
            if not (lo or hi):
                continue
            src = _pad_sources(n, lo, hi, ctx.mode)
            g = np.moveaxis(g, axis, 0)
            # output positions q0 <= q < q1 copy input q - lo straight across
            q0 = min(max(lo, 0), len(src))
            q1 = max(min(lo + n, len(src)), q0)
            folded = np.zeros((n, *g.shape[1:]), dtype=g.dtype)
            folded[q0 - lo : q1 - lo] = g[q0:q1]
            for q in (*range(q0), *range(q1, len(src))):
                folded[src[q]] += g[q]
            g = np.moveaxis(folded, 0, axis)
        return g


def _straight(shape: tuple, widths: tuple, side: str) -> tuple:
    """Slices selecting, in the output (``side='out'``) or the input (``'in'``), the
    elements copied straight across by a constant pad (or crop)."""
    idx = []
    for n, (lo, hi) in zip(shape, widths):
        start = max(-lo, 0)  # first input index kept
        stop = n - max(-hi, 0)
        idx.append(slice(start, stop) if side == "in" else slice(start + lo, stop + lo))
    return tuple(idx)


def pad(
    input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Tensor:
    """PyTorch's ``F.pad(input, pad, mode='constant', value=None)``.

    ``pad`` lists (before, after) widths starting from the LAST dimension:
    ``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two,
    and so on.  A negative width crops.  Modes:

    - ``'constant'``: fill with ``value`` (default 0);
    - ``'reflect'``: mirror about the edge element, which is not repeated
      (``[1 2 3]`` padded by 2 on the left: ``[3 2 1 2 3]``); each width < the size;
    - ``'replicate'``: repeat the edge element;
    - ``'circular'``: wrap around (as PyTorch: after cropping any negative width,
      each width <= the size that is left).

    Differentiable in ``input``: each input element's gradient is the sum of the
    output gradients at its copies.  ``value`` is a constant.  Unlike PyTorch,
    the non-constant modes pad any number of trailing dims of any input rank
    (PyTorch: the last 1, 2 or 3 dims of a 2-5-d input); within PyTorch's range
    the results are identical."""
    shape = np.shape(unwrap(input))
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {tuple(pad)!r}")
    pad = tuple(int_arg(p, "pad: each width") for p in pad)
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ValueError(
            f"pad: pad needs an even number of values, at most 2 per dimension "
            f"({2 * len(shape)} for this {len(shape)}-d input), got {len(pad)}"
        )
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(PAD_MODES)}, got {mode!r}")
    if value is None:
        value = 0.0
    elif isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"pad: value must be a number, got {value!r}")
    elif mode != "constant" and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no value (got value={value!r})")
    widths = [(0, 0)] * len(shape)
    for k in range(len(pad) // 2):
        widths[len(shape) - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    for d, ((lo, hi), n) in enumerate(zip(widths, shape)):
        _check_pad_axis(d, n, lo, hi, mode, shape)
    out_shape = [n + lo + hi for n, (lo, hi) in zip(shape, widths)]
    itemsize = np.asarray(unwrap(input)).dtype.itemsize
    if float(np.prod(out_shape, dtype=float)) * itemsize > physical_memory():
        raise ValueError(
            f"pad: the padded output {tuple(out_shape)} would be larger than this machine's "
            "memory; check the widths"
        )
    named = out_shape[len(shape) - len(pad) // 2 :]
    if mode in ("reflect", "replicate") and named and max(named) < 1:  # PyTorch's rule
        raise ValueError(f"pad: {mode} widths {pad} leave nothing of the input of shape {shape}")
    return Pad.apply(input, widths=tuple(widths), mode=mode, value=value)


def _check_pad_axis(d: int, n: int, lo: int, hi: int, mode: str, shape: tuple) -> None:
    """PyTorch's limits on one axis's widths (a negative width crops)."""
    if lo == 0 and hi == 0:
        return
    where = f"dimension {d} (size {n}) of the input of shape {shape}"
    kept = n - max(-lo, 0) - max(-hi, 0)  # input elements left after cropping
    if n + lo + hi < 0 or (kept < 0 and mode in ("constant", "circular")):
        raise ValueError(f"pad: widths ({lo}, {hi}) crop more than the {n} elements of {where}")
    if mode == "constant":
        return
    if n == 0 or (mode == "reflect" and max(lo, hi) >= n):
        raise ValueError(f"pad: {mode} widths ({lo}, {hi}) must each be smaller than {where}")
    if mode == "circular" and n + lo + hi > 0 and max(lo, hi) > kept:
        raise ValueError(
            f"pad: circular widths ({lo}, {hi}) would wrap around more than once: each must "
            f"be at most the {kept} element(s) of {where} left after cropping"
        )


# ---------------------------------------------------------------- joining and splitting


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.bounds = [int(b) for b in np.cumsum([a.shape[axis] for a in arrays])[:-1]]
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
        sizes = list(split_size_or_sections)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
            raise TypeError(f"split: sections must be ints, got {split_size_or_sections!r}")
        sizes = [int(s) for s in sizes]
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
