"""Tied weights: decoders that reuse their encoder's weight (autoencoders, ch. 14).

``TiedLinear(enc)`` decodes with W^T: r = h W + c for an encoder h = f(x W^T + b).
``TiedConvTranspose2d(enc)`` decodes with the transpose convolution of the
encoder's own kernel, the book's R = h(K, H, s) (sec. 9.5, with h of eq. 9.13).

The decoder registers the *same* Parameter object as the encoder, so a model
holding both reports it once in ``parameters()`` (the optimizer updates it
once), and backward sums the gradients of its two uses into its one ``.grad``.
Each decoder has its own bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn.conv import Conv2d
from minigrad.nn.linear import Linear, fan_in_uniform_
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor

__all__ = ["TiedLinear", "TiedConvTranspose2d"]


class TiedLinear(Module):
    """Maps out_features of ``encoder`` back to its in_features with its weight
    transposed: ``y = x W_enc + b``."""

    def __init__(self, encoder: Linear, bias: bool = True) -> None:
        super().__init__()
        if not isinstance(encoder, Linear):
            raise TypeError(
                f"TiedLinear: encoder must be an nn.Linear, got {type(encoder).__name__}"
            )
        self.weight = encoder.weight  # the encoder's Parameter itself, not a copy
        self.in_features, self.out_features = encoder.out_features, encoder.in_features
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=encoder.weight.dtype))
            fan_in_uniform_(self.bias, self.in_features)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight.T, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, tied"
        )


def _numeric_padding(conv: Conv2d) -> tuple:
    p = conv.padding
    if not isinstance(p, str):
        return p
    if p == "valid":
        return (0, 0)
    if p == "full":
        return tuple(d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size))
    # 'same' at stride 1: the transpose of a same convolution is a same convolution
    total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
    if any(t % 2 for t in total):
        raise ValueError(
            "TiedConvTranspose2d: the encoder's padding='same' is asymmetric for this kernel; "
            "give the encoder explicit padding"
        )
    return tuple(t // 2 for t in total)


class TiedConvTranspose2d(Module):
    """Transpose convolution with ``encoder``'s kernel: maps the encoder's C_out
    channels back to its C_in channels with the same stride, padding, dilation and
    groups.  ``forward(h, output_size=(H, W))`` picks the input size the encoder saw
    when its stride makes it ambiguous."""

    def __init__(self, encoder: Conv2d, bias: bool = True, output_padding: Any = 0) -> None:
        super().__init__()
        if not isinstance(encoder, Conv2d):
            raise TypeError(
                f"TiedConvTranspose2d: encoder must be an nn.Conv2d, got {type(encoder).__name__}"
            )
        # conv weight (C_out, C_in/g, kH, kW) read as a transpose-conv weight
        # (C_in', C_out'/g, kH, kW) maps C_out channels back to C_in: no copy needed
        self.weight = encoder.weight
        self.in_channels, self.out_channels = encoder.out_channels, encoder.in_channels
        self.kernel_size, self.stride = encoder.kernel_size, encoder.stride
        self.padding = _numeric_padding(encoder)
        self.dilation, self.groups = encoder.dilation, encoder.groups
        self.output_padding = output_padding
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=encoder.weight.dtype))
            fan_in_uniform_(self.bias, self.weight.shape[1] * int(np.prod(self.kernel_size)))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Any, output_size: tuple | None = None) -> Tensor:
        opts = {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "dilation": self.dilation,
        }
        if output_size is not None:
            opts["output_size"] = output_size
        return F.conv_transpose2d(x, self.weight, self.bias, **opts)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, tied"
        )
