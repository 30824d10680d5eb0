"""Data: the shipped digits, IDX files, MNIST / Fashion-MNIST and transforms.

Datasets and transforms are here (``minigrad.data.datasets`` / ``.transforms``, where a
torchvision user has them); the DataLoader, samplers and generic datasets live in
``minigrad.utils.data`` (where a PyTorch user has them) and are re-exported here.
"""

from minigrad.data import datasets, transforms
from minigrad.data.datasets import (
    MNIST,
    ArrayDataset,
    Digits,
    FashionMNIST,
    download_url,
    load_digits,
)
from minigrad.data.idx import IDXError, read_idx, write_idx
from minigrad.data.transforms import (
    Binarize,
    Compose,
    Flatten,
    GaussianNoise,
    Lambda,
    MaskingNoise,
    Normalize,
    ScaleToUnit,
    ToTensor,
)
from minigrad.utils.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    random_split,
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
    "Dataset",
    "TensorDataset",
    "ConcatDataset",
    "DataLoader",
    "Subset",
    "random_split",
    "datasets",
    "transforms",
    "Binarize",
    "Compose",
    "Flatten",
    "GaussianNoise",
    "Lambda",
    "MaskingNoise",
    "Normalize",
    "ScaleToUnit",
    "ToTensor",
]
