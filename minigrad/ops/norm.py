"""Normalization: ``batch_norm`` (Ioffe & Szegedy, 2015) and ``layer_norm`` (Ba et
al., 2016), each op's forward and backward side by side, then its public function.

Both standardize x over a set of axes A holding m elements each,

    x_hat = (x - mu) / sigma,   mu = mean_A(x),   sigma = sqrt(var_A(x) + eps)

(var the biased variance, divided by m), then scale and shift, y = gamma x_hat + beta.

Backward.  The statistics depend on x too: d x_hat_i / d x_j = (delta_ij - 1/m -
x_hat_i x_hat_j / m) / sigma within one group, so with g_hat = dL/dx_hat = g gamma,

    dL/dx = (g_hat - mean_A(g_hat) - x_hat mean_A(g_hat x_hat)) / sigma,

and dL/dgamma = sum g x_hat, dL/dbeta = sum g over the axes gamma is broadcast along.
Batch norm in evaluation mode uses fixed running statistics instead, so x_hat is
affine in x there and dL/dx = g_hat / sigma.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.autograd import Function, unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

__all__ = ["batch_norm", "layer_norm"]


def _standardize(x: np.ndarray, axes: tuple, eps: float) -> tuple:
    """x_hat and 1 / sigma (which keeps the reduced axes, for broadcasting)."""
    x_hat = x - x.mean(axis=axes, keepdims=True)
    var = np.mean(x_hat * x_hat, axis=axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat *= invstd
    return x_hat, invstd


def _standardize_backward(g_hat: np.ndarray, x_hat: np.ndarray, invstd: Any, axes: tuple):
    """dL/dx from g_hat = dL/dx_hat when the statistics were computed from x."""
    mean_g = g_hat.mean(axis=axes, keepdims=True)
    mean_gx = np.mean(g_hat * x_hat, axis=axes, keepdims=True)
    return (g_hat - mean_g - x_hat * mean_gx) * invstd


def _check_param(p: Any, shape: tuple, name: str, op: str, why: str) -> None:
    if p is not None and np.shape(unwrap(p)) != shape:
        raise ValueError(f"{op}: {name} has shape {np.shape(unwrap(p))}, expected {shape} ({why})")


# ---------------------------------------------------------------- batch norm


class BatchNorm(Function):
    """Per channel c over the batch and spatial axes (m elements each); see the
    module docstring.  With gamma per channel the backward factors:

        dL/dx = gamma / sigma (g - sum(g) / m - x_hat sum(g x_hat) / m)
              = gamma / sigma (g - dL/dbeta / m - x_hat dL/dgamma / m),

    so the two parameter gradients are the only reductions.  Computed on the view
    (N, C, L), L the spatial size, with channel vectors broadcast as (C, 1).

    Training: the batch statistics are used, and the running ones (when given)
    move toward them in place: r <- (1 - momentum) r + momentum s, with the
    unbiased variance (m / (m - 1)) for running_var, as PyTorch does.
    """

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(
        ctx,
        x,
        weight,
        bias,
        running_mean=None,
        running_var=None,
        training=True,
        momentum=0.1,
        eps=1e-5,
    ):
        x3 = x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64)))
        m = x3.shape[0] * x3.shape[2]
        if training:  # (an empty batch gives zero statistics and updates nothing)
            mean = x3.sum(axis=2).sum(axis=0) / max(m, 1)
            x_hat = x3 - mean[:, None]
            var = np.einsum("ncl,ncl->c", x_hat, x_hat) / max(m, 1)  # biased
            if running_mean is not None and m > 0:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += (momentum * m / (m - 1)) * var
        else:
            x_hat = x3 - running_mean.astype(x.dtype)[:, None]
            var = running_var.astype(x.dtype)
        invstd = (1.0 / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype, copy=False)
        x_hat *= invstd[:, None]
        ctx.save_for_backward(x_hat, invstd, weight)
        ctx.training, ctx.m = training, m
        if weight is not None:
            out = x_hat * weight[:, None]
        else:  # never hand out the array saved for backward
            out = x_hat.copy()
        if bias is not None:
            out += bias[:, None]
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x_hat, invstd, weight = ctx.saved_tensors
        g3 = g.reshape(x_hat.shape)
        gb = g3.sum(axis=2).sum(axis=0)  # dL/dbeta = sum g
        gw = np.einsum("ncl,ncl->c", g3, x_hat)  # dL/dgamma = sum g x_hat
        gx = None
        if ctx.needs_input_grad[0]:
            k = invstd if weight is None else invstd * weight  # gamma / sigma
            if ctx.training:
                m = max(ctx.m, 1)
                gx = x_hat * (-gw / m)[:, None]
                gx += g3
                gx -= (gb / m)[:, None]
                gx *= k[:, None]
            else:
                gx = g3 * k[:, None]
            gx = gx.reshape(g.shape)
        return gx, (gw if weight is not None else None), (gb if ctx.needs_input_grad[2] else None)


def batch_norm(
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization of ``input`` (N, C, ...) per channel C.

    ``training=True`` normalizes with the batch's statistics and, when
    ``running_mean`` / ``running_var`` are given (Tensors of shape (C,)), updates
    them in place with ``momentum``; ``training=False`` normalizes with the running
    statistics.  ``weight`` and ``bias`` (shape (C,)) scale and shift.
    PyTorch's ``F.batch_norm``.
    """
    op = "batch_norm"
    shape = np.shape(unwrap(input))
    if len(shape) < 2:
        raise ValueError(f"{op}: input must have shape (N, C, ...), got {shape}")
    C = shape[1]
    why = f"one entry per channel of the input of shape {shape}"
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        _check_param(t, (C,), name, op, why)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)):
        raise TypeError(f"{op}: momentum must be a number, got {momentum!r}")
    if training and np.prod(shape) // max(C, 1) == 1:
        raise ValueError(
            f"{op}: expected more than 1 value per channel when training, got input of "
            f"shape {shape}"
        )
    return BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean=unwrap(running_mean),
        running_var=unwrap(running_var),
        training=bool(training),
        momentum=float(momentum),
        eps=float(eps),
    )


# ---------------------------------------------------------------- layer norm


class LayerNorm(Function):
    """Per example over the last k axes (``normalized_shape``); gamma and beta have
    that shape, elementwise."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, weight, bias, k=1, eps=1e-5):
        axes = tuple(range(x.ndim - k, x.ndim))
        x_hat, invstd = _standardize(x, axes, eps)
        ctx.save_for_backward(x_hat, invstd, weight)
        ctx.axes, ctx.lead = axes, tuple(range(x.ndim - k))
        out = x_hat * weight if weight is not None else x_hat.copy()  # never the saved array
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, g):
        x_hat, invstd, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:
            g_hat = g if weight is None else g * weight
            gx = _standardize_backward(g_hat, x_hat, invstd, ctx.axes)
        if need_w:
            gw = np.sum(g * x_hat, axis=ctx.lead)
        if need_b:
            gb = np.sum(g, axis=ctx.lead)
        return gx, gw, gb


def layer_norm(
    input: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each example over its last ``len(normalized_shape)`` axes, which must
    have that shape; ``weight`` and ``bias`` (of that shape) scale and shift each
    element.  PyTorch's ``F.layer_norm``."""
    op = "layer_norm"
    norm = (
        (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    )
    norm = tuple(int(n) for n in norm)
    shape = np.shape(unwrap(input))
    if not norm or shape[len(shape) - len(norm) :] != norm or len(norm) > len(shape):
        raise ValueError(
            f"{op}: normalized_shape={norm} must be the last dimensions of the input, got "
            f"input of shape {shape}"
        )
    _check_param(weight, norm, "weight", op, "normalized_shape")
    _check_param(bias, norm, "bias", op, "normalized_shape")
    return LayerNorm.apply(input, weight, bias, k=len(norm), eps=float(eps))
