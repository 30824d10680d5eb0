"""Activations and the softmax family: each op's forward and backward side by
side, followed by its public function."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minigrad._C import core as _core
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
    """out = max(a, 0), a NaN kept;  dL/da = g where out > 0, else 0 (0 at a = 0, and
    a NaN output passes g on, as PyTorch). Each direction is one pass in C for float
    arrays (``core.relu_forward``, ``core.relu_backward``: src_c/mg_relu.h)."""

    fresh_grads = True

    @staticmethod
    def forward(ctx, a):
        out = _core.relu_forward(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return _core.relu_backward(out, g)


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


# ---------------------------------------------------------------- smooth rectifiers
# (GELU, ELU, SiLU) and channel dropout; added after the original set.

# Phi(x) = (1 + erf(x / sqrt 2)) / 2 without an erf in NumPy (math.erf element by
# element was 50x slower than PyTorch's GELU).
#
# float64: Hart et al., "Computer Approximations" (1968), as in 4.2BSD's libm: erf
# near 0 is (2/sqrt(pi)) z P(z^2)/Q(z^2), erfc(z) = e^(-z^2) R(z)/S(z) for z >= 0.5.
# Checked against math.erf in the tests: absolute error below 3e-16 everywhere,
# relative error 1e-15 up to z = 2, growing in the far tail (5e-10 at z = 6, where
# erfc is 2e-17).  Highest degree first.
_ERF_P = (0.007547728033418631287834, -0.288805137207594084924010, 0.143383842191748205576712e2,
          0.380140318123903008244444e2, 0.301782788536507577809226e4,
          0.740407142710151470082064e4, 0.804373630960840172832162e5)  # fmt: skip
_ERF_Q = (1.0, 0.380190713951939403753468e2, 0.658070155459240506326937e3,
          0.637960017324428279487120e4, 0.342165257924628539769006e5,
          0.804373630960840172826266e5)  # fmt: skip
_ERFC_R = (0.5641877825507397413087057563, 0.9675807882987265400604202961e1,
           0.7708161730368428609781633646e2, 0.3685196154710010637133875746e3,
           0.1143262070703886173606073338e4, 0.2320439590251635247384768711e4,
           0.28980293292167655611275846e4, 0.18263348842295112592168999e4)  # fmt: skip
_ERFC_S = (1.0, 0.1714980943627607849376131193e2, 0.1371255960500622202878443578e3,
           0.6617361207107653469211984771e3, 0.2094384367789539593790281779e4,
           0.4429612803883682726711528526e4, 0.60895424232724435504633068e4,
           0.495882756472114071495438422e4, 0.18263348842295112595576438e4)  # fmt: skip
# float32: Abramowitz & Stegun 7.1.26, erfc(z) = t P(t) e^(-z^2), t = 1 / (1 + 0.3275911 z),
# absolute error 1.5e-7: float32's own precision, and the formula PyTorch's vectorized
# float erf is built on.
_AS_P = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _horner(coeffs: tuple, x: np.ndarray) -> np.ndarray:
    """P(x), highest degree first, in place in one new array (np.polyval makes a
    temporary per coefficient, which made GELU memory-bound several times over)."""
    out = np.full_like(x, coeffs[0])
    for c in coeffs[1:]:
        out *= x
        out += c
    return out


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) in x's floating precision (float64 if x is float64, else float32),
    accurate in both tails (erfc is used where 1 - erf would cancel)."""
    if x.dtype != np.float64:
        return _normal_cdf32(np.asarray(x, dtype=np.float32))
    z = x / np.sqrt(2.0)
    a = np.minimum(np.abs(z), 30.0)  # erfc(30) underflows; keeps the polynomials finite
    small = a < 0.5
    out = np.empty_like(z)
    zs = z[small]
    zz = zs * zs
    out[small] = 0.5 + zs * (_horner(_ERF_P, zz) / _horner(_ERF_Q, zz)) / np.sqrt(np.pi)
    big = ~small
    ab = a[big]
    half_erfc = 0.5 * np.exp(-ab * ab) * _horner(_ERFC_R, ab) / _horner(_ERFC_S, ab)
    out[big] = np.where(z[big] > 0, 1.0 - half_erfc, half_erfc)
    return out


def _normal_cdf32(x: np.ndarray) -> np.ndarray:
    f = np.float32
    z = np.abs(x) * f(1 / np.sqrt(2.0))
    t = z * f(0.3275911)
    t += f(1)
    np.reciprocal(t, out=t)
    half_erfc = _horner(_AS_P, t)
    half_erfc *= t
    np.multiply(z, z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    half_erfc *= z
    half_erfc *= f(0.5)  # Phi(-|x|); Phi(x) = 1 - Phi(-x) for x > 0
    np.subtract(f(1), half_erfc, out=half_erfc, where=x > 0)
    return half_erfc


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_CUBIC = 0.044715


class GELU(Function):
    """Exact: out = a Phi(a);  dL/da = g (Phi(a) + a phi(a)), phi the normal density.
    Tanh form: out = a (1 + tanh u) / 2, u = sqrt(2/pi) (a + 0.044715 a^3);
    dL/da = g [(1 + tanh u) / 2 + a (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 a^2) / 2]."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, a, approximate="none"):
        ctx.approximate = approximate
        if approximate == "tanh":
            ctx.save_for_backward(a)
            t = np.tanh(_SQRT_2_OVER_PI * (a + _GELU_CUBIC * a * a * a))
            return 0.5 * a * (1 + t)
        cdf = _normal_cdf(a).astype(a.dtype, copy=False)
        ctx.save_for_backward(a, cdf)
        return a * cdf

    @staticmethod
    def backward(ctx, g):
        if ctx.approximate == "tanh":
            (a,) = ctx.saved_tensors
            t = np.tanh(_SQRT_2_OVER_PI * (a + _GELU_CUBIC * a * a * a))
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * a * a)
            return g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * du)
        a, cdf = ctx.saved_tensors
        d = a * a  # dPhi term: a phi(a) = a e^(-a^2 / 2) / sqrt(2 pi)
        d *= -0.5
        np.exp(d, out=d)
        d *= a
        d *= a.dtype.type(1 / np.sqrt(2 * np.pi))
        d += cdf
        d *= g
        return d


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x Phi(x) (Hendrycks & Gimpel, 2016);
    ``approximate='tanh'``: their tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)


class ELU(Function):
    """out = a where a > 0, alpha (e^a - 1) otherwise;  dL/da = g or g alpha e^a."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, a, alpha=1.0):
        ctx.save_for_backward(a)
        ctx.alpha = alpha
        return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return np.where(a > 0, g, g * ctx.alpha * np.exp(np.minimum(a, 0)))


def elu(x: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Exponential linear unit (Clevert et al., 2015).  ``inplace`` is accepted and
    computed out of place (the result is the same tensor values)."""
    _check_number(alpha, "elu", "alpha")
    return ELU.apply(x, alpha=alpha)


class SiLU(Function):
    """out = a sigmoid(a) (swish);  dL/da = g s (1 + a (1 - s)), s = sigmoid(a)."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, a):
        # s = 1 / (1 + e^-a) in place; e^-a overflows to inf for a << 0, giving s = 0
        # exactly as it should (and relative accuracy in both tails)
        s = np.negative(a)
        with np.errstate(over="ignore"):
            np.exp(s, out=s)
        s += 1
        np.reciprocal(s, out=s)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved_tensors
        d = 1 - s
        d *= a
        d += 1
        d *= s
        d *= g
        return d


def silu(x: Any, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit x sigmoid(x).  ``inplace`` is accepted and computed out of
    place (the result is the same tensor values)."""
    return SiLU.apply(x)


class FeatureDropout(Function):
    """Channel dropout: out = a m, with one m per (example, channel) broadcast over
    the rest, m = 0 (probability p) or 1 / (1 - p);  dL/da = g m."""

    fresh_grads = True  # backward returns newly allocated arrays only

    @staticmethod
    def forward(ctx, a, p=0.5, batched=True):
        lead = 2 if batched else 1  # (N, C, ...) or one unbatched example (C, ...)
        shape = a.shape[:lead] + (1,) * (a.ndim - lead)
        keep = get_rng().random(shape) >= p
        mask = keep * np.asarray(0.0 if p >= 1 else 1.0 / (1.0 - p), dtype=a.dtype)
        ctx.save_for_backward(mask)
        return a * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


def _feature_dropout(x: Any, p: float, training: bool, op: str, batched: bool) -> Tensor:
    _check_number(p, op, "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return as_tensor(x)
    return FeatureDropout.apply(x, p=p, batched=batched)


def dropout1d(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) (or one example (C, L)) with probability p,
    scaling the rest by 1/(1-p).  ``inplace`` is accepted and computed out of place."""
    ndim = np.ndim(unwrap(x))
    if ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-d (C, L) or 3-d (N, C, L) input, got {ndim}-d")
    return _feature_dropout(x, p, training, "dropout1d", batched=ndim == 3)


def dropout2d(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) with probability p, scaling the rest by
    1/(1-p) (Tompson et al., 2015).  As in PyTorch, a 3-d input is read as (N, C, L)
    with a warning.  ``inplace`` is accepted and computed out of place."""
    ndim = np.ndim(unwrap(x))
    if ndim < 2:
        raise ValueError(f"dropout2d: expected a 4-d (N, C, H, W) input, got {ndim}-d")
    if ndim == 3:
        warnings.warn(
            "dropout2d: a 3-d input is read as (N, C, L) and whole channels of it are dropped "
            "(PyTorch's behaviour); use dropout1d for that, or add the batch axis to an "
            "unbatched (C, H, W) example",
            stacklevel=2,
        )
    elif ndim != 4:
        warnings.warn(
            f"dropout2d: got a {ndim}-d input; whole (example, channel) slices are dropped "
            "(PyTorch warns the same and will make this an error)",
            stacklevel=2,
        )
    return _feature_dropout(x, p, training, "dropout2d", batched=True)


__all__ += ["gelu", "elu", "silu", "dropout1d", "dropout2d"]
