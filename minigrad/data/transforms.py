"""Transforms on image arrays, vectorised over any leading (batch) dimensions.

The two corruptions are those of the denoising autoencoder (Vincent et al., 2008/2010):

- masking noise: each input component is set to 0 with probability q, independently;
  the rest are kept unchanged.
- additive isotropic Gaussian noise: x~ = x + eps, eps ~ N(0, sigma^2 I).

Each random transform owns a NumPy Generator (seeded) so that a run can be repeated, and
draws fresh noise on every call, so every epoch sees a different corruption.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

__all__ = [
    "Compose",
    "ScaleToUnit",
    "Binarize",
    "Flatten",
    "MaskingNoise",
    "GaussianNoise",
    "scale_to_unit",
    "binarize",
    "masking_noise",
    "gaussian_noise",
]


def scale_to_unit(x: np.ndarray, max_value: float = 255.0) -> np.ndarray:
    """x / max_value as float32: maps pixel values 0..max_value onto [0, 1]."""
    return (np.asarray(x, dtype=np.float32) / np.float32(max_value)).astype(np.float32)


def binarize(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """1.0 where x > threshold, else 0.0 (float32): inputs for the cross-entropy decoder."""
    return (np.asarray(x) > threshold).astype(np.float32)


def masking_noise(x: np.ndarray, q: float, rng: np.random.Generator) -> np.ndarray:
    """Set each component of x to 0 with probability q (independently); keep the others."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: expected a probability in [0, 1], got {q}")
    x = np.asarray(x, dtype=np.float32)
    keep = rng.random(x.shape) >= q  # P(keep) = 1 - q
    return x * keep


def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """x + eps with eps ~ N(0, sigma^2) independently per component."""
    if sigma < 0:
        raise ValueError(f"sigma: expected a standard deviation >= 0, got {sigma}")
    x = np.asarray(x, dtype=np.float32)
    return (x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)).astype(
        np.float32
    )


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]):
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class ScaleToUnit:
    """Divide by max_value: 0..max_value -> [0, 1]."""

    def __init__(self, max_value: float = 255.0):
        if max_value <= 0:
            raise ValueError(f"max_value: expected > 0, got {max_value}")
        self.max_value = max_value

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return scale_to_unit(x, self.max_value)

    def __repr__(self) -> str:
        return f"ScaleToUnit({self.max_value})"


class Binarize:
    """1 where x > threshold else 0."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return binarize(x, self.threshold)

    def __repr__(self) -> str:
        return f"Binarize({self.threshold})"


class Flatten:
    """Flatten the trailing ``ndim`` dimensions into one (e.g. (1, 28, 28) -> (784,))."""

    def __init__(self, ndim: int = 3):
        self.ndim = ndim

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return x.reshape(x.shape[: x.ndim - self.ndim] + (-1,))

    def __repr__(self) -> str:
        return f"Flatten({self.ndim})"


class MaskingNoise:
    """Masking noise with probability q, fresh on every call (seeded Generator)."""

    def __init__(self, q: float, seed: int | None = None):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q: expected a probability in [0, 1], got {q}")
        self.q = q
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return masking_noise(x, self.q, self.rng)

    def __repr__(self) -> str:
        return f"MaskingNoise(q={self.q})"


class GaussianNoise:
    """Additive Gaussian noise with standard deviation sigma, fresh on every call."""

    def __init__(self, sigma: float, seed: int | None = None):
        if sigma < 0:
            raise ValueError(f"sigma: expected a standard deviation >= 0, got {sigma}")
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return gaussian_noise(x, self.sigma, self.rng)

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma})"
