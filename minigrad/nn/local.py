"""Unshared and tiled convolution layers (Deep Learning, sec. 9.5, eqs. 9.9 and 9.10).

``LocallyConnected2d``: every output unit (i, j, k) has its own kernel,
weight (C_out, H_out, W_out, C_in, kH, kW) and bias (C_out, H_out, W_out).
``TiledConv2d``: t_h x t_w kernels rotated over the output, position (j, k) uses
kernel (j mod t_h, k mod t_w); weight (C_out, t_h, t_w, C_in, kH, kW), bias
(C_out, t_h, t_w).  Arguments: ``LocallyConnected2d(in, out, kernel_size,
input_size, ...)`` and ``TiledConv2d(in, out, kernel_size, tiles, ...)``.  Both
default to PyTorch's conv initialisation with fan_in = C_in * kH * kW (each
unit sees as many inputs as a conv unit does).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from minigrad import functional as F
from minigrad.autograd import unwrap
from minigrad.nn.conv import _channels, conv_output_size
from minigrad.nn.linear import default_init_
from minigrad.nn.module import Module, Parameter
from minigrad.ops.checks import int_tuple
from minigrad.tensor import Tensor

__all__ = ["LocallyConnected2d", "TiledConv2d"]

IntOrTuple = Union[int, tuple]


def _unit_parameters(m: Module, units: tuple, bias: bool, dtype: Any) -> None:
    """m.weight (C_out, *units, C_in, kH, kW) and m.bias (C_out, *units) or None: one
    kernel per unit (an output location, or a tile), with the conv initialisation."""
    c_in, c_out = m.in_channels, m.out_channels
    m.weight = Parameter(np.empty((c_out, *units, c_in, *m.kernel_size), dtype=dtype))
    if bias:
        m.bias = Parameter(np.empty((c_out, *units), dtype=dtype))
    else:
        m.register_parameter("bias", None)
    default_init_(m.weight, m.bias, c_in * int(np.prod(m.kernel_size)))


class LocallyConnected2d(Module):
    """Unshared convolution over inputs of size ``input_size=(H, W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        input_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        _channels("LocallyConnected2d", in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.input_size = int_tuple(input_size, 2, "LocallyConnected2d: input_size", 1)
        self.kernel_size = int_tuple(kernel_size, 2, "LocallyConnected2d: kernel_size", 1)
        self.stride = int_tuple(stride, 2, "LocallyConnected2d: stride", 1)
        self.padding = int_tuple(padding, 2, "LocallyConnected2d: padding", 0)
        self.output_size = tuple(
            conv_output_size(
                self.input_size[i], self.kernel_size[i], self.stride[i], self.padding[i]
            )
            for i in range(2)
        )
        if min(self.output_size) < 1:
            raise ValueError(
                f"LocallyConnected2d: input_size {self.input_size} with kernel "
                f"{self.kernel_size}, stride {self.stride}, padding {self.padding} gives an "
                f"empty output {self.output_size}"
            )
        _unit_parameters(self, self.output_size, bias, dtype)

    def forward(self, x: Any) -> Tensor:
        shape = np.shape(unwrap(x))
        if len(shape) in (3, 4) and tuple(shape[-2:]) != self.input_size:
            # Caught here to say why: the weights are per location of this size.
            raise ValueError(
                f"LocallyConnected2d: built for inputs of size {self.input_size} "
                f"(input_size: one kernel per output location), got input shape {shape}"
            )
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"input_size={self.input_size}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )


class TiledConv2d(Module):
    """Tiled convolution with ``tiles=(t_h, t_w)`` kernels per output channel."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        tiles: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        _channels("TiledConv2d", in_channels, out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = int_tuple(kernel_size, 2, "TiledConv2d: kernel_size", 1)
        self.tiles = int_tuple(tiles, 2, "TiledConv2d: tiles", 1)
        self.stride = int_tuple(stride, 2, "TiledConv2d: stride", 1)
        self.padding = int_tuple(padding, 2, "TiledConv2d: padding", 0)
        _unit_parameters(self, self.tiles, bias, dtype)

    def forward(self, x: Any) -> Tensor:
        return F.tiled_conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"tiles={self.tiles}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )
