"""Utilities, laid out where a PyTorch user looks for them: ``minigrad.utils.data``
(datasets, samplers, the DataLoader) and ``minigrad.utils.files`` (atomic writes)."""

from minigrad.utils import data, files

__all__ = ["data", "files"]
