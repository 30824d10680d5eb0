"""Pooling layers over the functional pooling ops (PyTorch's arguments and defaults;
the stride defaults to the kernel size, so windows do not overlap).

Max pooling reports the location of each maximum with ``return_indices=True``;
``MaxUnpool`` puts values back at those locations (the SegNet decoder).
"""

from __future__ import annotations

from typing import Any, Union

from minigrad.nn.conv import _op
from minigrad.nn.module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "LPPool1d",
    "LPPool2d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
]

IntOrTuple = Union[int, tuple]


def _opts_repr(opts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in opts.items())


class _PoolNd(Module):
    """A pooling layer: the functional op ``_fn`` called with the options ``opts``."""

    _fn: str
    opts: dict

    def forward(self, x: Any) -> Any:
        return _op(self._fn)(x, **self.opts)

    def extra_repr(self) -> str:
        return _opts_repr(self.opts)


class _MaxPoolNd(_PoolNd):
    _fn = "max_pool2d"

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.opts = {
            "kernel_size": kernel_size,
            "stride": kernel_size if stride is None else stride,
            "padding": padding,
            "dilation": dilation,
            "ceil_mode": ceil_mode,
            "return_indices": return_indices,
        }


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, W); with ``return_indices`` also the argmax positions."""

    _fn = "max_pool1d"


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) (the book's max pooling, sec. 9.3)."""

    _fn = "max_pool2d"


class _AvgPoolNd(_PoolNd):
    _fn = "avg_pool2d"

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.opts = {
            "kernel_size": kernel_size,
            "stride": kernel_size if stride is None else stride,
            "padding": padding,
            "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad,
        }


class AvgPool1d(_AvgPoolNd):
    _fn = "avg_pool1d"


class AvgPool2d(_AvgPoolNd):
    _fn = "avg_pool2d"


class _LPPoolNd(_PoolNd):
    _fn = "lp_pool2d"

    def __init__(
        self,
        norm_type: float,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.opts = {
            "kernel_size": kernel_size,
            "stride": kernel_size if stride is None else stride,
            "ceil_mode": ceil_mode,
        }

    def forward(self, x: Any) -> Any:
        return _op(self._fn)(x, self.norm_type, **self.opts)

    def extra_repr(self) -> str:
        return f"norm_type={self.norm_type}, " + _opts_repr(self.opts)


class LPPool1d(_LPPoolNd):
    """(sum over the window of x^p)^(1/p); p = 2 is the book's L2-norm pooling."""

    _fn = "lp_pool1d"


class LPPool2d(_LPPoolNd):
    _fn = "lp_pool2d"


class _MaxUnpoolNd(_PoolNd):
    _fn = "max_unpool2d"

    def __init__(
        self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0
    ) -> None:
        super().__init__()
        self.opts = {
            "kernel_size": kernel_size,
            "stride": kernel_size if stride is None else stride,
            "padding": padding,
        }

    def forward(self, x: Any, indices: Any, output_size: tuple | None = None) -> Any:
        extra = {} if output_size is None else {"output_size": output_size}
        return _op(self._fn)(x, indices, **self.opts, **extra)


class MaxUnpool1d(_MaxUnpoolNd):
    _fn = "max_unpool1d"


class MaxUnpool2d(_MaxUnpoolNd):
    """Scatter each value to the position its max pooling recorded; zeros elsewhere."""

    _fn = "max_unpool2d"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size."""

    def __init__(self, output_size: IntOrTuple) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Any:
        return _op("adaptive_avg_pool2d")(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    def __init__(self, output_size: IntOrTuple, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Any) -> Any:
        return _op("adaptive_max_pool2d")(x, self.output_size, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, return_indices={self.return_indices}"
