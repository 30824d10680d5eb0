"""Fully connected layers: ``Linear`` (y = x W^T + b) and the shared default init."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor

__all__ = ["Linear", "Identity"]


def fan_in_uniform_(t: Parameter, fan_in: int) -> None:
    """Fill ``t`` from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (all zeros when fan_in is 0)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(t, -bound, bound)


def default_init_(weight: Parameter, bias: Parameter | None, fan_in: int) -> None:
    """PyTorch's default for Linear and conv layers: kaiming_uniform with a = sqrt(5),
    which works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias on the same
    interval.  Weight first, then bias, as PyTorch draws them."""
    fan_in_uniform_(weight, fan_in)
    if bias is not None:
        fan_in_uniform_(bias, fan_in)


class Linear(Module):
    """Fully connected layer ``y = x W^T + b``; W is (out_features, in_features)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        if not all(isinstance(n, (int, np.integer)) for n in (in_features, out_features)):
            raise TypeError(
                f"Linear: in_features and out_features must be ints, got "
                f"{in_features!r} and {out_features!r}"
            )
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"Linear: in_features and out_features must be positive, got "
                f"{in_features} and {out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        default_init_(self.weight, self.bias, self.in_features)

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input unchanged (a placeholder in Sequential models)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
