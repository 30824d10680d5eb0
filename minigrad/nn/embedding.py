"""``Embedding``: a learnable lookup table, row k the vector of index k
(``F.embedding``), initialised from N(0, 1) with the ``padding_idx`` row zero."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor, unwrap

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight`` (num_embeddings, embedding_dim); ``forward(idx)`` gives
    ``weight[idx]``, of shape ``idx.shape + (embedding_dim,)``.  See ``F.embedding``
    for padding_idx, max_norm and scale_grad_by_freq; ``sparse=True`` (sparse
    gradients) is not supported and raises."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(f"Embedding: {name} must be a positive int, got {n!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                    f"({num_embeddings})"
                )
            padding_idx = padding_idx % num_embeddings
        if sparse:
            raise NotImplementedError("Embedding: sparse gradients are not supported")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), bool(sparse)
        if _weight is None:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
            self.reset_parameters()
        else:
            w = np.asarray(unwrap(_weight))
            if w.shape != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight has shape {w.shape}, expected "
                    f"{(num_embeddings, embedding_dim)}"
                )
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.numpy()[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding ``embeddings`` (2-d; shared, not copied), frozen by default."""
        w = np.asarray(unwrap(embeddings))
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-d weight, got {w.shape}")
        return cls(
            w.shape[0],
            w.shape[1],
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=w,
            _freeze=freeze,
        )

    def forward(self, idx: Any) -> Tensor:
        return F.embedding(
            idx,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s
