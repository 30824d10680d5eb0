"""Data: the shipped digits, IDX files, MNIST / Fashion-MNIST, loaders and transforms."""

from minigrad.data import transforms
from minigrad.data.datasets import (
    MNIST,
    ArrayDataset,
    Digits,
    FashionMNIST,
    download_url,
    load_digits,
)
from minigrad.data.idx import IDXError, read_idx, write_idx
from minigrad.data.loader import DataLoader, Subset, random_split
from minigrad.data.transforms import (
    Binarize,
    Compose,
    Flatten,
    GaussianNoise,
    MaskingNoise,
    ScaleToUnit,
)

__all__ = [
    "load_digits",
    "ArrayDataset",
    "Digits",
    "MNIST",
    "FashionMNIST",
    "download_url",
    "IDXError",
    "read_idx",
    "write_idx",
    "DataLoader",
    "Subset",
    "random_split",
    "transforms",
    "Binarize",
    "Compose",
    "Flatten",
    "GaussianNoise",
    "MaskingNoise",
    "ScaleToUnit",
]
