"""Lookup tables: ``embedding`` (rows of a weight matrix picked by index) and
``one_hot``.

embedding: out[..., :] = W[idx[...], :].  Each output row is a copy of one row
of W, so dL/dW[k] = sum of dL/dout over the positions where idx == k (rows
never picked get 0; the ``padding_idx`` row always gets 0).  With
``scale_grad_by_freq`` each contribution is divided by how often its index
occurs in the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.tensor import Tensor

__all__ = ["embedding", "one_hot"]


class Embedding(Function):
    """out = W[idx];  dL/dW = scatter-add of g into the picked rows."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, weight, indices=None, padding_idx=None, scale_grad_by_freq=False):
        ctx.indices, ctx.num = indices, weight.shape[0]
        ctx.padding_idx, ctx.by_freq = padding_idx, scale_grad_by_freq
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        idx = ctx.indices.reshape(-1)
        rows = g.reshape(idx.size, g.shape[-1])
        if ctx.by_freq:
            counts = np.bincount(idx, minlength=ctx.num)
            rows = rows / counts[idx][:, None].astype(g.dtype)
        gw = np.zeros((ctx.num, rows.shape[1]), dtype=g.dtype)
        np.add.at(gw, idx, rows)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw


def _index_array(x: Any, op: str) -> np.ndarray:
    a = np.asarray(unwrap(x))
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {a.dtype}")
    # a copy: backward reads the indices, which the caller may change in the meantime
    return a.astype(np.int64, copy=True)


def embedding(
    input: Any,
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """The rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``
    (any shape): output shape ``input.shape + (dim,)``.  PyTorch's ``F.embedding``.

    ``padding_idx``: that row gets no gradient.  ``max_norm``: every row that is
    looked up and whose ``norm_type``-norm exceeds max_norm is first rescaled to
    norm max_norm, in place in ``weight`` (as PyTorch does).
    """
    op = "embedding"
    idx = _index_array(input, op)
    w = unwrap(weight)
    if np.ndim(w) != 2:
        raise ValueError(f"{op}: weight must be 2-d (num_embeddings, dim), got shape {np.shape(w)}")
    num = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)][0]
        raise IndexError(f"{op}: index {bad} is out of range for {num} embeddings")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(
                f"{op}: padding_idx {padding_idx} is out of range for {num} embeddings"
            )
        padding_idx = padding_idx % num
    if sparse:
        raise NotImplementedError(f"{op}: sparse gradients are not supported (sparse=False)")
    if max_norm is not None:
        _renorm_rows(w, np.unique(idx), float(max_norm), float(norm_type))
    return Embedding.apply(
        weight, indices=idx, padding_idx=padding_idx, scale_grad_by_freq=bool(scale_grad_by_freq)
    )


def _renorm_rows(w: np.ndarray, rows: np.ndarray, max_norm: float, p: float) -> None:
    """Rescale, in place, the given rows whose p-norm exceeds max_norm to norm max_norm
    (PyTorch's embedding_renorm_, with its 1e-7 guard)."""
    sub = w[rows]
    norms = np.sum(np.abs(sub) ** p, axis=1) ** (1.0 / p)
    big = norms > max_norm
    if np.any(big):
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] = sub[big] * scale[:, None]


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape ``tensor.shape + (num_classes,)`` with a 1 at each
    class index (``num_classes=-1``: one more than the largest index)."""
    op = "one_hot"
    idx = _index_array(tensor, op)
    if idx.size and idx.min() < 0:
        raise ValueError(f"{op}: class values must be non-negative, got {idx.min()}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError(f"{op}: cannot infer num_classes from an empty tensor")
        num_classes = int(idx.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{op}: num_classes must be an int, got {num_classes!r}")
    elif num_classes < 1 or (idx.size and idx.max() >= num_classes):
        raise ValueError(
            f"{op}: class values must be smaller than num_classes={num_classes}, got "
            f"{int(idx.max()) if idx.size else 'none'}"
        )
    out = np.zeros((*idx.shape, num_classes), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return Tensor(out)
