"""Pooling layers over the functional pooling ops (``F.max_pool2d`` ...), with
PyTorch's arguments, defaults and attributes (``nn.MaxPool2d(2).kernel_size`` is
2, its ``stride`` 2: the stride defaults to the kernel size, so windows do not
overlap).  Attributes are stored as PyTorch stores them: as given for max
pooling, 2-d average and Lp pooling, as tuples for 1-d average pooling and
unpooling.

Max pooling reports the location of each maximum with ``return_indices=True``;
``MaxUnpool`` puts values back at those locations (the SegNet decoder).
"""

from __future__ import annotations

from typing import Any, Union

from minigrad import functional as F
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
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
]

IntOrTuple = Union[int, tuple]


def _ntuple(v: Any, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _MaxPoolNd(Module):
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
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def _args(self) -> dict:
        return dict(
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L); with ``return_indices`` also the argmax positions."""

    def forward(self, x: Any) -> Any:
        return F.max_pool1d(x, **self._args())


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) (the book's max pooling, sec. 9.3)."""

    def forward(self, x: Any) -> Any:
        return F.max_pool2d(x, **self._args())


class AvgPool1d(Module):
    """Mean over windows of (N, C, L) (padding counts as zeros unless
    ``count_include_pad=False``)."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1)
        self.stride = _ntuple(kernel_size if stride is None else stride, 1)
        self.padding = _ntuple(padding, 1)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Any) -> Any:
        return F.avg_pool1d(
            x,
            self.kernel_size[0],
            self.stride[0],
            self.padding[0],
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over windows of (N, C, H, W); ``divisor_override`` replaces the window size."""

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Any) -> Any:
        return F.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _LPPoolNd(Module):
    def __init__(
        self,
        norm_type: float,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        # stride None means the kernel size (kept as None, as PyTorch keeps it)
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """(sum over the window of x^p)^(1/p); p = 2 is the book's L2-norm pooling."""

    def forward(self, x: Any) -> Any:
        return F.lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    def forward(self, x: Any) -> Any:
        return F.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class _MaxUnpoolNd(Module):
    _n = 2

    def __init__(
        self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0
    ) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._n)
        self.stride = _ntuple(kernel_size if stride is None else stride, self._n)
        self.padding = _ntuple(padding, self._n)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    _n = 1

    def forward(self, x: Any, indices: Any, output_size: tuple | None = None) -> Any:
        return F.max_unpool1d(
            x, indices, self.kernel_size[0], self.stride[0], self.padding[0], output_size
        )


class MaxUnpool2d(_MaxUnpoolNd):
    """Scatter each value to the position its max pooling recorded; zeros elsewhere."""

    _n = 2

    def forward(self, x: Any, indices: Any, output_size: tuple | None = None) -> Any:
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)


class _AdaptivePool(Module):
    def __init__(self, output_size: IntOrTuple) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    def forward(self, x: Any) -> Any:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed output size, whatever the input size."""

    def forward(self, x: Any) -> Any:
        return F.adaptive_avg_pool2d(x, self.output_size)


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size: IntOrTuple, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    def forward(self, x: Any) -> Any:
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    def forward(self, x: Any) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)
