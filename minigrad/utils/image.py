"""Image grids and image files, as ``torchvision.utils`` has them: ``make_grid`` and
``save_image``.

``make_grid`` tiles a batch (B, C, H, W) into one picture (C, H', W'): ``nrow`` images
a row, ``padding`` pixels of ``pad_value`` around and between them; one-channel images
become three (grey RGB), and ``normalize=True`` maps ``value_range`` (by default the
batch's min and max, or each image's with ``scale_each``) onto [0, 1]. ``save_image``
writes that grid scaled to bytes as torchvision does (``x * 255 + 0.5``, clamped to
0..255, truncated), in the format the file name's extension asks for (``format=`` for
a file object). The pixels are those torchvision writes; the file is written by
matplotlib (the ``examples`` extra), atomically when given a path.
"""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO, Union

import numpy as np

from minigrad.utils.files import atomic_write

__all__ = ["make_grid", "save_image"]

PathLike = Union[str, "os.PathLike[str]"]


def _as_batch(tensor: Any) -> np.ndarray:
    """Tensor, array or list of (C, H, W) images -> float array (B, C, H, W)."""
    if isinstance(tensor, (list, tuple)):
        if not tensor:
            raise ValueError("make_grid: expected a tensor or a non-empty list of tensors")
        array = np.stack([np.asarray(t) for t in tensor])
    else:
        array = np.asarray(tensor)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"make_grid: expected numeric images, got dtype {array.dtype}")
    if array.ndim == 2:  # one image H x W
        array = array[None]
    if array.ndim == 3:  # one image C x H x W
        array = array[None]
    if array.ndim != 4:
        raise ValueError(
            f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError("make_grid: expected at least one image, got an empty batch")
    if array.shape[1] == 1:  # one channel: grey RGB
        array = np.concatenate([array] * 3, axis=1)
    return array


def _normalize(images: np.ndarray, value_range: tuple | None, scale_each: bool) -> np.ndarray:
    """Clamp to (low, high) and map it onto [0, 1]: the whole batch, or each image."""
    if value_range is not None and not isinstance(value_range, tuple):
        raise TypeError("make_grid: value_range must be a tuple (min, max) or None")
    images = images.astype(np.result_type(images.dtype, np.float32))  # a copy

    def scale(x: np.ndarray) -> None:
        low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
        np.clip(x, low, high, out=x)
        x -= low
        x /= max(high - low, 1e-5)

    for x in images if scale_each else [images]:
        scale(x)
    return images


def make_grid(
    tensor: Any,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
):
    """The images of ``tensor`` (B, C, H, W), a list of (C, H, W), or one image, tiled
    ``nrow`` to a row into one Tensor (C, H', W'), as ``torchvision.utils.make_grid``.
    One image comes back as it is (three channels if it had one), without padding."""
    from minigrad.tensor import Tensor  # minigrad.utils loads before the tensor module

    if not isinstance(nrow, int) or isinstance(nrow, bool) or nrow < 1:
        raise ValueError(f"make_grid: nrow must be a positive int, got {nrow!r}")
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"make_grid: padding must be an int >= 0, got {padding!r}")
    images = _as_batch(tensor)
    if normalize:
        images = _normalize(images, value_range, scale_each)
    if images.shape[0] == 1:
        return Tensor(images[0].copy())
    count, channels, height, width = images.shape
    columns = min(nrow, count)
    rows = int(math.ceil(count / columns))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full(
        (channels, rows * cell_h + padding, columns * cell_w + padding),
        pad_value,
        dtype=images.dtype,
    )
    for k in range(count):
        top = (k // columns) * cell_h + padding
        left = (k % columns) * cell_w + padding
        grid[:, top : top + height, left : left + width] = images[k]
    return Tensor(grid)


def save_image(tensor: Any, fp: Union[PathLike, BinaryIO], format: str | None = None, **kwargs):
    """Write ``tensor`` (one image or a batch, tiled by ``make_grid(tensor, **kwargs)``)
    to ``fp`` as ``torchvision.utils.save_image`` does: values in [0, 1] scaled to bytes
    (``x * 255 + 0.5`` clamped to 0..255). The format follows the file name's extension
    (png, jpg, ...) unless ``format`` is given; a file object needs ``format``."""
    try:
        import matplotlib.image as mpimg
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "save_image writes files with matplotlib: pip install matplotlib "
            "(or minigrad's 'examples' extra)"
        ) from e
    grid = np.asarray(make_grid(tensor, **kwargs))
    if not np.issubdtype(grid.dtype, np.floating):
        grid = grid.astype(np.float32)
    if np.isnan(grid).any():
        raise ValueError("save_image: the images hold NaN, which has no pixel value")
    # in the images' own precision, as torchvision: 0.7 * 255 + 0.5 is 179 in float32
    scaled = grid * grid.dtype.type(255) + grid.dtype.type(0.5)
    pixels = np.clip(scaled, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    pixels = np.ascontiguousarray(pixels)
    if hasattr(fp, "write"):
        if format is None:
            raise ValueError("save_image: writing to a file object needs format= (e.g. 'png')")
        mpimg.imsave(fp, pixels, format=format)
        return
    path = os.fspath(fp)
    if format is None:
        format = os.path.splitext(path)[1][1:].lower()
        if not format:
            raise ValueError(
                f"save_image: {path!r} has no extension to tell the format; pass format="
            )
    with atomic_write(path) as out:
        mpimg.imsave(out, pixels, format=format)
