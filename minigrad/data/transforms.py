"""Transforms: torchvision's ``ToTensor``, ``Normalize``, ``Compose`` and ``Lambda``, and
the corruptions of the denoising autoencoder.

``ToTensor`` and ``Normalize`` follow torchvision: ``ToTensor`` takes an image array
(H, W) or (H, W, C) (what the datasets here hand a transform, in place of a PIL image)
and gives a Tensor (C, H, W), uint8 scaled to [0, 1]; ``Normalize`` takes a float Tensor
(..., C, H, W). The other transforms work on arrays or Tensors of any shape (a Tensor in,
a Tensor out), vectorised over any leading (batch) dimensions.

The two corruptions are those of the denoising autoencoder (Vincent et al., 2008/2010):

- masking noise: each input component is set to 0 with probability q, independently;
  the rest are kept unchanged.
- additive isotropic Gaussian noise: x~ = x + eps, eps ~ N(0, sigma^2 I).

Each random transform owns a NumPy Generator (seeded) so that a run can be repeated, and
draws fresh noise on every call, so every epoch sees a different corruption.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from minigrad.tensor import Tensor

__all__ = [
    "Compose",
    "ToTensor",
    "Normalize",
    "Lambda",
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

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]):
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


def _on_array(x: Any, fn: Callable[[np.ndarray], np.ndarray]) -> Any:
    """fn on an array, or on a Tensor's array giving a Tensor back."""
    if isinstance(x, Tensor):
        return Tensor._wrap(fn(x._data))
    return fn(x)


class ToTensor:
    """torchvision's ToTensor: an image array (H, W) or (H, W, C) -> a Tensor (C, H, W).

    uint8 images are scaled to float32 in [0, 1] (x / 255); other dtypes keep their
    values and dtype (as torchvision does for arrays).
    """

    def __call__(self, pic: np.ndarray) -> Tensor:
        if not isinstance(pic, np.ndarray):
            raise TypeError(f"ToTensor: pic should be an image array (H, W[, C]), got {type(pic)}")
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional, got {pic.ndim} dimensions")
        image = pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1)
        if image.dtype == np.uint8:
            out = image.astype(np.float32)  # a contiguous copy
            out /= np.float32(255)
            return Tensor._wrap(out)
        return Tensor._wrap(np.ascontiguousarray(image))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """torchvision's Normalize: ``(x - mean[c]) / std[c]`` for each channel c of a float
    Tensor (..., C, H, W); ``mean`` and ``std`` hold one value or one per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
        self.mean = [float(m) for m in np.ravel(mean)]
        self.std = [float(s) for s in np.ravel(std)]
        self.inplace = inplace
        self._cache: dict = {}  # (dtype, channels) -> checked (mean, std) arrays (C, 1, 1)

    def _stats(self, dtype: np.dtype, channels: int) -> tuple:
        key = (dtype, channels)
        if key not in self._cache:  # checked once per dtype and channel count
            mean = np.asarray(self.mean, dtype=dtype)
            std = np.asarray(self.std, dtype=dtype)
            if np.any(std == 0):
                raise ValueError(f"Normalize: std evaluated to zero after conversion to {dtype}")
            if mean.size not in (1, channels) or std.size not in (1, channels):
                raise ValueError(
                    f"Normalize: mean and std need 1 or {channels} values (the channels), got "
                    f"{mean.size} and {std.size}"
                )
            self._cache[key] = (mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1))
        return self._cache[key]

    def __call__(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: expected a Tensor image, got {type(tensor)}")
        x = tensor._data
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: input tensor should be a float tensor, got {x.dtype}")
        if x.ndim < 3:
            raise ValueError(
                f"Normalize: expected a tensor image of size (..., C, H, W), got {x.shape}"
            )
        mean, std = self._stats(x.dtype, x.shape[-3])
        if self.inplace:
            if hasattr(tensor, "sub_"):  # in-place ops move the version counter, as in PyTorch
                return tensor.sub_(Tensor._wrap(mean)).div_(Tensor._wrap(std))
            np.subtract(x, mean, out=x)  # (before in-place ops existed)
            np.divide(x, std, out=x)
            return tensor
        out = x - mean
        out /= std
        return Tensor._wrap(out)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """A user function as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]):
        if not callable(lambd):
            raise TypeError(f"Lambda: argument lambd should be callable, got {type(lambd)}")
        self.lambd = lambd

    def __call__(self, x: Any) -> Any:
        return self.lambd(x)

    def __repr__(self) -> str:
        return "Lambda()"


class ScaleToUnit:
    """Divide by max_value: 0..max_value -> [0, 1]."""

    def __init__(self, max_value: float = 255.0):
        if max_value <= 0:
            raise ValueError(f"max_value: expected > 0, got {max_value}")
        self.max_value = max_value

    def __call__(self, x: Any) -> Any:
        return _on_array(x, lambda a: scale_to_unit(a, self.max_value))

    def __repr__(self) -> str:
        return f"ScaleToUnit({self.max_value})"


class Binarize:
    """1 where x > threshold else 0."""

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def __call__(self, x: Any) -> Any:
        return _on_array(x, lambda a: binarize(a, self.threshold))

    def __repr__(self) -> str:
        return f"Binarize({self.threshold})"


class Flatten:
    """Flatten the trailing ``ndim`` dimensions into one (e.g. (1, 28, 28) -> (784,))."""

    def __init__(self, ndim: int = 3):
        self.ndim = ndim

    def __call__(self, x: Any) -> Any:
        return _on_array(x, lambda a: a.reshape(a.shape[: a.ndim - self.ndim] + (-1,)))

    def __repr__(self) -> str:
        return f"Flatten({self.ndim})"


class MaskingNoise:
    """Masking noise with probability q, fresh on every call (seeded Generator)."""

    def __init__(self, q: float, seed: int | None = None):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q: expected a probability in [0, 1], got {q}")
        self.q = q
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: Any) -> Any:
        return _on_array(x, lambda a: masking_noise(a, self.q, self.rng))

    def __repr__(self) -> str:
        return f"MaskingNoise(q={self.q})"


class GaussianNoise:
    """Additive Gaussian noise with standard deviation sigma, fresh on every call."""

    def __init__(self, sigma: float, seed: int | None = None):
        if sigma < 0:
            raise ValueError(f"sigma: expected a standard deviation >= 0, got {sigma}")
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: Any) -> Any:
        return _on_array(x, lambda a: gaussian_noise(a, self.sigma, self.rng))

    def __repr__(self) -> str:
        return f"GaussianNoise(sigma={self.sigma})"
