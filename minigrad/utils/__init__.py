"""Utilities, laid out where a PyTorch user looks for them: ``minigrad.utils.data``
(datasets, samplers, the DataLoader), ``minigrad.utils.files`` (atomic writes) and
``minigrad.utils.image`` (``make_grid``, ``save_image``: torchvision.utils' two)."""

from minigrad.utils import data, files, image
from minigrad.utils.image import make_grid, save_image

__all__ = ["data", "files", "image", "make_grid", "save_image"]
