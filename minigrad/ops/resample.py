"""Resampling: ``interpolate`` (PyTorch's ``F.interpolate``) in the modes
'nearest', 'nearest-exact', 'linear' (3-d input), 'bilinear' (4-d) and
'trilinear' (5-d).

Every mode here is separable: along each spatial axis k the output is a fixed
linear map of the input, y = M_k x along that axis, where M_k (out_k x in_k)
holds one 1 per row (nearest) or the two weights 1 - t and t of the input
positions either side of the sampling point (linear).  So

    forward:   y = x  mapped by M_1, M_2, ... along the spatial axes
    backward:  dL/dx = dL/dy  mapped by M_1^T, M_2^T, ...

(the gradient of a linear map is its transpose).  The sampling points follow
PyTorch's rules exactly, including the float32 arithmetic of its nearest
index, so both libraries pick the same pixels:

* nearest: src = min(floor(dst * s), in - 1); nearest-exact: the pixel whose centre
  is nearest, round((dst + 0.5) s - 0.5);
* linear, align_corners=False: src = max((dst + 0.5) s - 0.5, 0);
  align_corners=True: src = dst (in - 1) / (out - 1);

with s = 1 / scale_factor when a scale factor is given (and not recomputed), else
in / out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from minigrad.autograd import Function, unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

__all__ = ["interpolate"]

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
_MODES = ("nearest", "nearest-exact", *_LINEAR_MODES)


def _map_axis(m: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """y = M x along ``axis`` (M is (out, in)), as matrix products: the last axis is
    one product; another axis is viewed as (leading..., n, rest) and multiplied from
    the left, batched over the leading axes (3-5x faster here than tensordot, whose
    result needs a transposing copy)."""
    if axis == x.ndim - 1:
        return x @ m.T
    x = np.ascontiguousarray(x)
    lead, n = x.shape[:axis], x.shape[axis]
    y = m @ x.reshape(*lead, n, int(np.prod(x.shape[axis + 1 :], dtype=np.int64)))
    return y.reshape(*lead, m.shape[0], *x.shape[axis + 1 :])


class Resample(Function):
    """y = x mapped by ``matrices[k]`` along spatial axis 2 + k; dL/dx by their
    transposes.  Nearest modes also pass ``sources`` (the one input index each
    output copies, the column of the 1 in each row), so that forward is a gather."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, x, matrices=(), sources=None):
        ctx.matrices = matrices
        for k, m in enumerate(matrices):
            if sources is not None:
                x = np.take(x, sources[k], axis=2 + k)
            else:
                x = _map_axis(m, x, 2 + k)
        return np.ascontiguousarray(x)

    @staticmethod
    def backward(ctx, g):
        for k, m in enumerate(ctx.matrices):
            g = _map_axis(m.T, g, 2 + k)
        return np.ascontiguousarray(g)


def _nearest_matrix(n_in: int, n_out: int, scale: float | None, exact: bool, dtype) -> tuple:
    """One 1 per row, at PyTorch's nearest source index (computed in float32, as its
    CPU kernel does, so that the two agree where dst * s is close to an integer);
    also that index per row."""
    if scale is not None and scale > 0:
        s = np.float32(1.0 / scale)
    else:
        s = np.float32(n_in) / np.float32(n_out)
    dst = np.arange(n_out, dtype=np.float32)
    if exact:
        # PyTorch's CPU kernel: the linear rule's source point (s (dst + 0.5) - 0.5, in
        # double, stored as float32) rounded half up in float32
        point = np.maximum((np.float64(s) * (dst + 0.5) - 0.5).astype(np.float32), 0)
        src = np.minimum(np.floor(point + np.float32(0.5)).astype(np.int64), n_in - 1)
    else:
        src = np.minimum(np.floor(dst * s).astype(np.int64), n_in - 1)
    m = np.zeros((n_out, n_in), dtype=dtype)
    m[np.arange(n_out), src] = 1
    return m, src


def _linear_matrix(
    n_in: int, n_out: int, scale: float | None, align_corners: bool, dtype
) -> np.ndarray:
    """Weights 1 - t and t on the input positions i0 <= src < i0 + 1 (both i0 at the
    border), in the input's precision, as PyTorch computes them."""
    t = np.dtype(dtype).type
    dst = np.arange(n_out, dtype=dtype)
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = dst * s
    else:
        s = t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)
        src = np.maximum((dst + t(0.5)) * s - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    lam = np.clip(src - i0, 0, 1).astype(dtype)
    m = np.zeros((n_out, n_in), dtype=dtype)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1 - lam)
    np.add.at(m, (rows, i1), lam)
    return m


def _spatial(value: Any, n: int, name: str, kind: type) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"interpolate: {name} must have {n} entries for a {n}-d spatial input, "
                f"got {tuple(value)}"
            )
        vals = tuple(value)
    else:
        vals = (value,) * n
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"interpolate: {name} must hold numbers, got {value!r}")
        if kind is int and not isinstance(v, (int, np.integer)):
            raise TypeError(f"interpolate: size must hold ints, got {value!r}")
    return tuple(kind(v) for v in vals)


def interpolate(
    input: Any,
    size: Union[int, Sequence[int], None] = None,
    scale_factor: Union[float, Sequence[float], None] = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial axes of ``input`` (N, C, *spatial) to ``size``, or by
    ``scale_factor`` (output size floor(in * scale_factor)).  See the module
    docstring for the sampling rule of each mode."""
    shape = np.shape(unwrap(input))
    if len(shape) < 3:
        raise ValueError(
            f"interpolate: input must have shape (N, C, *spatial) with 1 to 3 spatial "
            f"dimensions, got {shape}"
        )
    n = len(shape) - 2
    if mode not in _MODES:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not available (modes: {', '.join(_MODES)})"
        )
    if mode in _LINEAR_MODES and _LINEAR_MODES[mode] != len(shape):
        raise ValueError(
            f"interpolate: mode {mode!r} needs a {_LINEAR_MODES[mode]}-d input, got shape {shape}"
        )
    if n > 3:
        raise ValueError(f"interpolate: at most 3 spatial dimensions, got input shape {shape}")
    if mode not in _LINEAR_MODES and align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating modes "
            "(linear, bilinear, trilinear)"
        )
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = shape[2:]
    if size is not None:
        out_sizes = _spatial(size, n, "size", int)
        scales: tuple = (None,) * n
    else:
        factors = _spatial(scale_factor, n, "scale_factor", float)
        if any(not math.isfinite(f) or f <= 0 for f in factors):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        out_sizes = tuple(math.floor(i * f) for i, f in zip(in_sizes, factors))
        scales = (None,) * n if recompute_scale_factor else factors
    if any(o <= 0 for o in out_sizes) or any(i <= 0 for i in in_sizes):
        raise ValueError(
            f"interpolate: input spatial size {in_sizes} and output size {out_sizes} must be "
            f"positive"
        )
    dtype = np.asarray(unwrap(input)).dtype
    if dtype.kind != "f":
        raise TypeError(f"interpolate: input must be floating point, got {dtype}")
    if mode in _LINEAR_MODES:
        mats = tuple(
            _linear_matrix(i, o, s, bool(align_corners), dtype)
            for i, o, s in zip(in_sizes, out_sizes, scales)
        )
        return Resample.apply(input, matrices=mats)
    pairs = [
        _nearest_matrix(i, o, s, mode == "nearest-exact", dtype)
        for i, o, s in zip(in_sizes, out_sizes, scales)
    ]
    return Resample.apply(
        input, matrices=tuple(m for m, _ in pairs), sources=tuple(i for _, i in pairs)
    )
