"""Utilities, laid out where a PyTorch user looks for them: ``minigrad.utils.files``
(atomic writes)."""

from minigrad.utils import files

__all__ = ["files"]
