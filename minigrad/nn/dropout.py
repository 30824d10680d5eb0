"""Dropout layers: active in training mode, the identity in evaluation mode.

``inplace=True`` is accepted and computed out of place (same output values; the
input is left unchanged).
"""

from __future__ import annotations

from typing import Any

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], got {p!r}")
        self.p, self.inplace = p, bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout: in training mode, zero each element with probability p and
    scale the survivors by 1 / (1 - p); in eval mode, the identity."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability p."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels (feature maps) of (N, C, H, W) with probability p, since
    neighbouring pixels are too correlated for element dropout to regularize."""

    def forward(self, x: Any) -> Tensor:
        return F.dropout2d(x, self.p, self.training)
