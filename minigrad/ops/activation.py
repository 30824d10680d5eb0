"""Activations and the softmax family: each op's forward and backward side by
side, followed by its public function."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.ops.shape import _check_dim
from minigrad.rng import get_rng
from minigrad.tensor import Tensor, as_tensor


def _check_axis(x: Any, dim: int, op: str) -> int:
    return _check_dim(dim, np.ndim(unwrap(x)), op, scalar_ok=True)


def _check_number(v: Any, op: str, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {v!r}")


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-a), taking exp of non-positive numbers only, so that large
    |a| cannot overflow: e^-|a| / (1 + e^-|a|) for a < 0."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


# ---------------------------------------------------------------- rectifiers


class ReLU(Function):
    """out = max(a, 0);  dL/da = g where a > 0 (0 at a = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


def relu(x: Any) -> Tensor:
    """Rectified linear unit max(x, 0)."""
    return ReLU.apply(x)


class LeakyReLU(Function):
    """out = a where a > 0 else slope a;  dL/da = g or slope g."""

    @staticmethod
    def forward(ctx, a, slope=0.01):
        ctx.save_for_backward(a)
        ctx.slope = slope
        return np.where(a > 0, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return np.where(a > 0, g, g * ctx.slope)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    _check_number(negative_slope, "leaky_relu", "negative_slope")
    return LeakyReLU.apply(x, slope=negative_slope)


# ---------------------------------------------------------------- squashing


class Sigmoid(Function):
    """out = 1 / (1 + e^-a);  dL/da = g out (1 - out)."""

    @staticmethod
    def forward(ctx, a):
        out = _sigmoid(a).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid 1 / (1 + e^-x), overflow-free for large |x|."""
    return Sigmoid.apply(x)


class Tanh(Function):
    """out = tanh(a);  dL/da = g (1 - out^2)."""

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return Tanh.apply(x)


class Softplus(Function):
    """out = log(1 + e^(beta a)) / beta, or a itself where beta a > threshold;
    dL/da = g sigmoid(beta a) (or g above the threshold)."""

    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        z = a * beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        # logaddexp(0, z) = log(1 + e^z) without overflow
        return np.where(z > threshold, a, np.logaddexp(0, z) / beta).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * np.where(z > ctx.threshold, 1, _sigmoid(z))


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth rectifier log(1 + e^(beta x)) / beta; linear where beta x > threshold
    (PyTorch's definition, so the two agree to the last bit there)."""
    _check_number(beta, "softplus", "beta")
    _check_number(threshold, "softplus", "threshold")
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return Softplus.apply(x, beta=beta, threshold=threshold)


# ---------------------------------------------------------------- softmax family


class Softmax(Function):
    """s = e^(a - max) / sum e^(a - max) (shifting by the max changes nothing but
    keeps exp from overflowing);  dL/da = s (g - sum(g s))."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        e = np.exp(a - np.max(a, axis=axis, keepdims=True))
        s = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(s)
        ctx.axis = axis
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (g - np.sum(g * s, axis=ctx.axis, keepdims=True))


def softmax(x: Any, dim: int = -1) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``dim``, stable for huge logits."""
    return Softmax.apply(x, axis=_check_axis(x, dim, "softmax"))


class LogSoftmax(Function):
    """out = (a - max) - log sum e^(a - max);  dL/da = g - softmax(a) sum(g)."""

    @staticmethod
    def forward(ctx, a, axis=-1):
        shifted = a - np.max(a, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - np.exp(out) * np.sum(g, axis=ctx.axis, keepdims=True)


def log_softmax(x: Any, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed without forming softmax (stable)."""
    return LogSoftmax.apply(x, axis=_check_axis(x, dim, "log_softmax"))


# ---------------------------------------------------------------- dropout


class Dropout(Function):
    """out = a m with m_i = 0 (probability p) or 1 / (1 - p);  dL/da = g m."""

    @staticmethod
    def forward(ctx, a, p=0.5):
        keep = get_rng().random(a.shape) >= p
        scale = np.asarray(0.0 if p >= 1 else 1.0 / (1.0 - p), dtype=a.dtype)
        mask = keep * scale
        ctx.save_for_backward(mask)
        return a * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p)
    (inverted dropout), so evaluation (``training=False``) is the identity.
    The mask comes from minigrad's generator (``mg.manual_seed``)."""
    _check_number(p, "dropout", "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return as_tensor(x)
    return Dropout.apply(x, p=p)


__all__ = [
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "log_softmax",
    "dropout",
]
