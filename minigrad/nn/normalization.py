"""Normalization layers: ``BatchNorm1d``/``BatchNorm2d`` and ``LayerNorm`` over
``F.batch_norm`` / ``F.layer_norm`` (see ``minigrad/ops/norm.py`` for the
equations and the backward pass).

Batch norm keeps running estimates of each channel's mean and variance as
buffers (``running_mean``, ``running_var``, and the int64 ``num_batches_tracked``),
so the state dict has PyTorch's names and shapes.  In training mode it
normalizes with the batch's statistics and moves the running ones toward them:
r <- (1 - momentum) r + momentum s, or with ``momentum=None`` the cumulative
average of all batches so far (momentum 1 / num_batches_tracked).  In eval mode
it normalizes with the running statistics.  ``track_running_stats=False``
keeps no running statistics and always uses the batch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import Tensor, unwrap

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class _BatchNorm(Module):
    _dims: tuple = ()  # the input ranks the layer accepts

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"{name}: num_features must be an int, got {num_features!r}")
        if num_features <= 0:
            raise ValueError(f"{name}: num_features must be positive, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if affine:
            self.weight = Parameter(np.empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(np.empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            for b in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(b, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.numpy()[...] = 0
            self.running_var.numpy()[...] = 1
            self.num_batches_tracked.numpy()[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        shape = np.shape(unwrap(x))
        if len(shape) not in self._dims:
            want = " or ".join(f"{d}-d" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected a {want} input, got {len(shape)}-d")
        if shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: built for {self.num_features} channels (num_features), "
                f"got an input of shape {shape}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            count = self.num_batches_tracked.numpy()
            count += 1  # a counter, updated in place as PyTorch's add_(1)
            if self.momentum is None:  # cumulative average over the batches seen
                factor = 1.0 / float(count)
        # batch statistics in training mode, and in eval mode without running ones
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L), per feature C."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W), per channel C."""

    _dims = (4,)


class LayerNorm(Module):
    """Normalize each example over its last dimensions ``normalized_shape``, then
    scale and shift elementwise (``elementwise_affine``; ``bias=False`` drops the
    shift).  The statistics are the example's own, in training and eval mode alike."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) <= 0:
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}"
            )
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
