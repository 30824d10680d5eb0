"""Upsampling layers over ``F.interpolate`` (decoders: nearest or bilinear
upsampling followed by a convolution, an alternative to transpose convolution)."""

from __future__ import annotations

from typing import Any, Union

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]

Size = Union[int, tuple, None]


class Upsample(Module):
    """Resize (N, C, *spatial) to ``size`` or by ``scale_factor`` with ``mode``
    'nearest', 'nearest-exact', 'linear', 'bilinear' or 'trilinear'."""

    def __init__(
        self,
        size: Size = None,
        scale_factor: Union[float, tuple, None] = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Any) -> Tensor:
        return F.interpolate(
            x,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')`` for (N, C, H, W)."""

    def __init__(self, size: Size = None, scale_factor: Union[float, tuple, None] = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)`` for (N, C, H, W)."""

    def __init__(self, size: Size = None, scale_factor: Union[float, tuple, None] = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
