"""Datasets: the shipped 8x8 digits, MNIST and Fashion-MNIST."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["load_digits"]

_HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS_PATH = os.path.join(_HERE, "digits.npz")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped UCI optdigits images (see minigrad/data/README.md).

    Returns ``(images, labels)``: float32 images of shape (1797, 8, 8) with values
    0..16, and int64 labels of shape (1797,) with values 0..9.
    """
    with np.load(DIGITS_PATH) as f:
        images = f["images"].astype(np.float32)
        labels = f["labels"].astype(np.int64)
    return images, labels
