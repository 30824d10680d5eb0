"""``nn.utils``: gradient clipping and flattening parameters into one vector.

Clipping rescales each ``p.grad`` Tensor (the same object keeps the new values,
as PyTorch's in-place ``mul_``); the old gradient array is never written into,
because it may be shared (the rule ``Module.zero_grad`` follows too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Union

import numpy as np

from minigrad.tape import no_grad
from minigrad.tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "parameters_to_vector",
    "vector_to_parameters",
]

Params = Union[Tensor, Iterable[Tensor]]


def _param_list(parameters: Params) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (parameters), got {type(p).__name__}")
    return params


def _norm_order(norm_type: Any) -> float:
    if isinstance(norm_type, str):
        if norm_type != "inf":
            raise ValueError(
                f"clip_grad_norm_: norm_type must be a number or 'inf', got {norm_type!r}"
            )
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.number)):
        raise TypeError(f"clip_grad_norm_: norm_type must be a number, got {norm_type!r}")
    return float(norm_type)


def _vector_norm(a: np.ndarray, order: float) -> np.ndarray:
    """(sum |a_i|^p)^(1/p); max |a_i| for p = inf; the count of non-zeros for p = 0."""
    a = np.abs(a.ravel())
    if order == math.inf:
        return a.max(initial=0.0)
    if order == -math.inf:
        return a.min()
    if order == 0:
        return np.asarray(np.count_nonzero(a), dtype=a.dtype)
    if order == 1:
        return a.sum()
    if order == 2:
        return np.sqrt(np.dot(a, a))
    return np.sum(a**order) ** (1.0 / order)


def clip_grad_norm_(
    parameters: Params,
    max_norm: float,
    norm_type: Union[float, str] = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale the gradients so that their joint norm is at most ``max_norm``.

    The joint norm is the ``norm_type``-norm of the vector of all gradient
    entries (computed as the norm of the per-parameter norms, as PyTorch does);
    every gradient is multiplied by min(1, max_norm / (norm + 1e-6)).  Returns
    the norm before clipping.  A non-finite norm raises with
    ``error_if_nonfinite=True`` (otherwise the gradients are scaled by it, NaN
    included, as in PyTorch).
    """
    order = _norm_order(norm_type)
    grads = [p.grad for p in _param_list(parameters) if p.grad is not None]
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    dtype = np.result_type(*(g.dtype for g in grads))
    norms = np.array([_vector_norm(g._data, order) for g in grads], dtype=dtype)
    total = _vector_norm(norms, order)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"non-finite ({total}), so it cannot be clipped; pass error_if_nonfinite=False "
            "to scale the gradients by it anyway"
        )
    # min() keeps a NaN coefficient (1.0 < nan is False), as PyTorch's clamp does
    coef = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    for g in grads:
        g._data = (g._data * coef).astype(g.dtype, copy=False)
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grad_value_(parameters: Params, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]."""
    v = float(clip_value)
    for p in _param_list(parameters):
        if p.grad is not None:
            p.grad._data = np.clip(p.grad._data, -v, v)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters' values, flattened and concatenated into one 1-d Tensor (a copy)."""
    params = _param_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return Tensor(np.concatenate([p._data.ravel() for p in params]))


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-d ``vec`` into the parameters, in place."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-d Tensor, got shape {vec.shape}")
    params = _param_list(parameters)
    total = sum(p._data.size for p in params)
    if vec.shape[0] != total:
        raise ValueError(
            f"vector_to_parameters: the vector has {vec.shape[0]} entries, the parameters "
            f"hold {total}"
        )
    start = 0
    for p in params:
        n = p._data.size
        with no_grad():  # in place, bumping p's version counter
            p.copy_(vec._data[start : start + n].reshape(p.shape))
        start += n
