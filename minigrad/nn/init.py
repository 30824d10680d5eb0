"""Weight initialisation (PyTorch's ``torch.nn.init``), in place, drawing from
minigrad's generator so that ``mg.manual_seed`` makes models repeatable.

The scaled schemes keep the variance of activations (forward) or gradients
(backward) roughly constant from layer to layer:

* Glorot & Bengio (2010), "xavier": Var(w) = gain^2 * 2 / (fan_in + fan_out);
  uniform on [-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)).
* He et al. (2015), "kaiming": Var(w) = gain^2 / fan, fan = fan_in (forward) or
  fan_out (backward); uniform bound gain * sqrt(3 / fan).

Fans follow PyTorch's convention for weight layouts: for a weight of shape
(d0, d1, k...), fan_in = d1 * prod(k) and fan_out = d0 * prod(k).
"""

from __future__ import annotations

import math

import numpy as np

from minigrad.rng import get_rng
from minigrad.tape import no_grad
from minigrad.tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "glorot_uniform_",
    "glorot_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "he_uniform_",
    "he_normal_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the standard deviation, undone by init."""
    linear = (
        "linear",
        "identity",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    )
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r} (expected one of linear, "
        f"sigmoid, tanh, relu, leaky_relu, selu, conv*)"
    )


def _fans(t: Tensor) -> tuple[int, int]:
    shape = t.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a weight with at least 2 dimensions, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    # An in-place op (not a raw array write): it bumps t's version counter, so a graph
    # that saved t's old values refuses backward instead of using the new ones.
    with no_grad():
        return t.copy_(values.astype(t.dtype, copy=False))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``t`` with samples from U(a, b)."""
    return _fill(t, get_rng().uniform(a, b, t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``t`` with samples from N(mean, std^2)."""
    return _fill(t, get_rng().normal(mean, std, t.shape))


def constant_(t: Tensor, val: float) -> Tensor:
    return _fill(t, np.full(t.shape, val))


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(t)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"kaiming init: a weight of shape {t.shape} has zero {mode}")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan); ``a`` is leaky_relu's negative slope."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """N(0, gain^2 / fan)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
