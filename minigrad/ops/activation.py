"""Activations and the softmax family: forward and backward side by side."""

from __future__ import annotations

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.rng import get_rng


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, a, slope=0.01):
        ctx.save_for_backward(a)
        ctx.slope = slope
        return np.where(a > 0, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return np.where(a > 0, g, g * ctx.slope)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so no overflow for large |a|.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = _sigmoid(a).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


class Softplus(Function):
    """log(1 + exp(beta a)) / beta, and a itself where beta a > threshold."""

    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        z = a * beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        # logaddexp(0, z) = log(1 + exp(z)) without overflow
        return np.where(z > threshold, a, np.logaddexp(0, z) / beta).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * np.where(z > ctx.threshold, 1, _sigmoid(z))


class Softmax(Function):
    """s = exp(a - max) / sum(exp(a - max));  dL/da = s (g - sum(g s))."""

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


class LogSoftmax(Function):
    """a - max - log(sum(exp(a - max)));  dL/da = g - softmax * sum(g)."""

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


class Dropout(Function):
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


def _check_axis(x, dim: int, op: str) -> int:
    nd = np.ndim(unwrap(x))
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor with {nd} dimensions")
    return dim


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, slope=negative_slope)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    return Softplus.apply(x, beta=beta, threshold=threshold)


def softmax(x, dim: int = -1):
    return Softmax.apply(x, axis=_check_axis(x, dim, "softmax"))


def log_softmax(x, dim: int = -1):
    return LogSoftmax.apply(x, axis=_check_axis(x, dim, "log_softmax"))


def dropout(x, p: float = 0.5, training: bool = True):
    """Zero each element with probability p and scale the rest by 1/(1-p)
    (inverted dropout), so evaluation (``training=False``) is the identity."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        from minigrad.tensor import as_tensor

        return as_tensor(x)
    return Dropout.apply(x, p=p)


__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax", "dropout"]
