"""Data: the shipped digits, IDX files, MNIST / Fashion-MNIST, loaders and transforms."""

from minigrad.data.datasets import load_digits

__all__ = ["load_digits"]
