"""Convolution layers over ``F.conv1d/conv2d/conv_transpose1d/conv_transpose2d``.

Weight layouts are PyTorch's: convolution (C_out, C_in/groups, k...), transpose
convolution (C_in, C_out/groups, k...).  ``Conv2d`` also offers the book's untied
bias (``bias='location'``: one bias per output unit, sec. 9.5), which needs the
input size to know how many output locations there are.

``padding_mode`` ('zeros', 'reflect', 'replicate', 'circular'), as in PyTorch:
any mode but 'zeros' pads the input with ``F.pad`` in that mode first and then
convolves without padding.  Transpose convolutions take 'zeros' only.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from minigrad import functional as F
from minigrad.nn.linear import default_init_
from minigrad.nn.module import Module, Parameter
from minigrad.ops.checks import int_tuple
from minigrad.ops.spatial import conv_output_size, conv_padding
from minigrad.tensor import Tensor, unwrap

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "conv_output_size"]

IntOrTuple = Union[int, tuple]
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _channels(name: str, in_channels: Any, out_channels: Any) -> None:
    """Channel counts: positive ints."""
    for arg, c in (("in_channels", in_channels), ("out_channels", out_channels)):
        if not isinstance(c, (int, np.integer)):
            raise TypeError(f"{name}: {arg} must be an int, got {c!r}")
        if c <= 0:
            raise ValueError(f"{name}: {arg} must be positive, got {c}")


class _ConvNd(Module):
    _ndim = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias_shape: tuple | None = None,
        output_padding: IntOrTuple = 0,
        padding_mode: str = "zeros",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        n, name = self._ndim, type(self).__name__
        _channels(name, in_channels, out_channels)
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {', '.join(PADDING_MODES)}, "
                f"got {padding_mode!r}"
            )
        if self._transposed and padding_mode != "zeros":
            raise ValueError(
                f'{name}: only padding_mode="zeros" is supported, got {padding_mode!r}'
            )
        if (
            not isinstance(groups, (int, np.integer))
            or groups <= 0
            or in_channels % groups
            or out_channels % groups
        ):
            raise ValueError(
                f"{name}: groups={groups} must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(kernel_size, n, f"{name}: kernel_size", 1)
        self.stride = int_tuple(stride, n, f"{name}: stride", 1)
        self.padding = (
            padding if isinstance(padding, str) else int_tuple(padding, n, f"{name}: padding", 0)
        )
        self.dilation = int_tuple(dilation, n, f"{name}: dilation", 1)
        self.transposed = self._transposed
        self.output_padding = int_tuple(output_padding, n, f"{name}: output_padding", 0)
        self.padding_mode = padding_mode
        # (before, after) pairs from the last axis on, as F.pad takes them
        self._reversed_padding_repeated_twice = _pad_pairs(
            self.padding, self.kernel_size, self.dilation, self.stride, name
        )
        if self._transposed:
            wshape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            wshape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(np.empty(wshape, dtype=dtype))
        if bias_shape is not None:
            self.bias = Parameter(np.empty(bias_shape, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch computes fan_in from the weight's second axis for both layouts
        fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
        default_init_(self.weight, self.bias, fan_in)

    def _options(self) -> dict:
        opts = {
            "stride": self.stride,
            "padding": self.padding if self.padding_mode == "zeros" else 0,
            "dilation": self.dilation,
            "groups": self.groups,
        }
        if self._transposed:
            opts["output_padding"] = self.output_padding
        if self._ndim == 1:  # the 1-d ops take plain ints, as PyTorch's do
            opts = {k: (v[0] if isinstance(v, tuple) else v) for k, v in opts.items()}
        return opts

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding not in ((0,) * self._ndim,):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._ndim:
            s += f", dilation={self.dilation}"
        if self._transposed and self.output_padding != (0,) * self._ndim:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _padded(self, x: Any) -> Any:
        """The input padded in ``padding_mode`` (any mode but 'zeros', which the
        convolution does itself)."""
        if self.padding_mode == "zeros":
            return x
        return F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)


def _pad_pairs(padding: Any, kernel: tuple, dilation: tuple, stride: tuple, name: str) -> tuple:
    """Padding as F.pad's flat (before, after) pairs, last axis first.  'same' splits
    d (k - 1) with the odd one after, as PyTorch does; 'full' is d (k - 1) each side."""
    if isinstance(padding, str):
        if padding not in ("valid", "same", "full"):
            raise ValueError(
                f"{name}: padding must be an int, a tuple, 'valid', 'same' or 'full', "
                f"got {padding!r}"
            )
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride={stride}")
        sides = conv_padding(padding, kernel, dilation)  # (before, after) per axis
        pairs = list(zip(sides[::2], sides[1::2]))
    else:
        pairs = [(p, p) for p in padding]
    return tuple(v for pair in reversed(pairs) for v in pair)


class Conv1d(_ConvNd):
    """1-d convolution (cross-correlation, as in every library) over (N, C_in, W)."""

    _ndim = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            (out_channels,) if bias else None,
            padding_mode=padding_mode,
            dtype=dtype,
        )

    def forward(self, x: Any) -> Tensor:
        return F.conv1d(self._padded(x), self.weight, self.bias, **self._options())


class Conv2d(_ConvNd):
    """2-d convolution over (N, C_in, H, W), eq. 9.7 of the book with stride (9.8).

    ``bias``: ``True``/``'channel'`` (one per output channel, PyTorch's),
    ``'location'`` (one per output unit (C_out, H_out, W_out), needs
    ``input_size=(H, W)``) or ``False``/``None``.
    """

    _ndim = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool | str | None = True,
        padding_mode: str = "zeros",
        input_size: tuple | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if bias is True or bias == "channel":
            mode, bias_shape = "channel", (out_channels,)
        elif bias is False or bias is None:
            mode, bias_shape = None, None
        elif bias == "location":
            if input_size is None:
                raise ValueError("Conv2d: bias='location' needs input_size=(H, W) to size the bias")
            k = int_tuple(kernel_size, 2, "Conv2d: kernel_size", 1)
            s = int_tuple(stride, 2, "Conv2d: stride", 1)
            d = int_tuple(dilation, 2, "Conv2d: dilation", 1)
            hw = int_tuple(input_size, 2, "Conv2d: input_size", 1)
            p = (
                (padding,) * 2
                if isinstance(padding, str)
                else int_tuple(padding, 2, "Conv2d: padding", 0)
            )
            out = tuple(conv_output_size(hw[i], k[i], s[i], p[i], d[i]) for i in range(2))
            if min(out) < 1:
                raise ValueError(f"Conv2d: input_size {hw} gives an empty output {out}")
            mode, bias_shape = "location", (out_channels, *out)
        else:
            raise ValueError(
                f"Conv2d: bias must be True, False, None, 'channel' or 'location', got {bias!r}"
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias_shape,
            padding_mode=padding_mode,
            dtype=dtype,
        )
        self.bias_mode = mode
        self.input_size = (
            None if input_size is None else int_tuple(input_size, 2, "Conv2d: input_size", 1)
        )

    def forward(self, x: Any) -> Tensor:
        if self.bias_mode == "location":
            hw = tuple(np.shape(unwrap(x))[-2:])
            if hw != self.input_size:
                raise ValueError(
                    f"Conv2d with bias='location' was built for inputs of size "
                    f"{self.input_size}, got {hw}"
                )
        return F.conv2d(self._padded(x), self.weight, self.bias, **self._options())

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", bias='location'" if self.bias_mode == "location" else "")


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            (out_channels,) if bias else None,
            output_padding=output_padding,
            padding_mode=padding_mode,
            dtype=dtype,
        )

    def forward(self, x: Any, output_size: tuple | None = None) -> Tensor:
        opts = self._options()
        if output_size is not None:
            opts["output_size"] = output_size
        op = F.conv_transpose1d if self._ndim == 1 else F.conv_transpose2d
        return op(x, self.weight, self.bias, **opts)


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transpose convolution (the gradient of conv1d with respect to its input)."""

    _ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transpose convolution; ``forward(x, output_size=(H, W))`` resolves the
    output size when stride > 1 makes it ambiguous."""

    _ndim = 2
