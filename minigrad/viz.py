"""Pictures without plotting libraries: PNG files written with zlib + struct.

- ``write_png`` / ``read_png``: 8-bit grayscale or RGB PNG files.
- ``image_grid``: many small images tiled into one (inputs, corrupted inputs, reconstructions).
- ``filter_mosaic``: learned first-layer filters as images, each contrast-stretched on its
  own, so the weak and the strong detectors are both visible.
- ``plot_curves``: loss curves drawn into pixels (axes, ticks, a tiny digit font for the
  range, a legend of coloured swatches).

A PNG file is the 8-byte signature and a list of chunks (length, type, data, CRC-32):
IHDR (size, bit depth, colour type), IDAT (the zlib-compressed scanlines, each prefixed by a
filter-type byte; we write filter 0, "none"), IEND.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np

__all__ = [
    "write_png",
    "read_png",
    "to_uint8",
    "image_grid",
    "save_image_grid",
    "filter_mosaic",
    "save_filters",
    "plot_curves",
    "save_curves",
]

PathLike = Union[str, "os.PathLike[str]"]
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def to_uint8(image: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map an image to uint8. Floats: [lo, hi] -> [0, 255] (default [0, 1]), clipped."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    lo = 0.0 if lo is None else lo
    hi = 1.0 if hi is None else hi
    scaled = (image.astype(np.float64) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)


def write_png(path: PathLike, image: np.ndarray) -> None:
    """Write (H, W) grayscale or (H, W, 3) RGB; uint8 as is, floats taken to lie in [0, 1]."""
    img = to_uint8(image)
    if img.ndim == 2:
        color_type = 0
    elif img.ndim == 3 and img.shape[2] == 3:
        color_type = 2
    else:
        raise ValueError(f"image: expected shape (H, W) or (H, W, 3), got {img.shape}")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image: expected a non-empty image, got shape {img.shape}")
    rows = np.ascontiguousarray(img).reshape(h, -1)
    # each scanline: filter byte 0 ("none"), then the row's bytes
    scanlines = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    data = (
        _SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(scanlines, 6))
        + _chunk(b"IEND", b"")
    )
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: PathLike) -> np.ndarray:
    """Decode an 8-bit grayscale / RGB / RGBA non-interlaced PNG (enough to check ours)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] != _SIGNATURE:
        raise ValueError(f"{os.fspath(path)}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind, data = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
            raise ValueError(f"{os.fspath(path)}: bad CRC in chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    w, h, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    if depth != 8 or interlace != 0:
        raise ValueError("read_png: only 8-bit non-interlaced images are supported")
    stream = zlib.decompress(idat)
    stride = w * channels
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        ftype = stream[y * (stride + 1)]
        line = np.frombuffer(stream, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        if ftype == 0:
            cur = line
        elif ftype == 2:  # up
            cur = (line + prev) % 256
        else:  # sub, average, paeth depend on the already decoded left neighbour
            cur = np.zeros(stride, np.int64)
            for x in range(stride):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                pred = {1: a, 3: (a + b) // 2, 4: _paeth(a, b, c)}[ftype]
                cur[x] = (line[x] + pred) % 256
        out[y] = cur
        prev = cur
    return out.reshape(h, w, channels)[..., 0] if channels == 1 else out.reshape(h, w, channels)


def image_grid(
    images: np.ndarray,
    ncol: int | None = None,
    pad: int = 1,
    scale: int = 1,
    lo: float | None = 0.0,
    hi: float | None = 1.0,
    pad_value: float = 0.5,
) -> np.ndarray:
    """Tile N images (N, H, W) or (N, 1, H, W) into one float image in [0, 1].

    Values [lo, hi] map to black..white; lo=hi=None uses the images' min and max.
    ``scale`` enlarges each pixel to scale x scale (8x8 digits are tiny otherwise).
    """
    if ncol is not None and ncol < 1:
        raise ValueError(f"ncol: expected a positive number of columns or None, got {ncol}")
    if scale < 1 or pad < 0:
        raise ValueError(f"scale, pad: expected scale >= 1 and pad >= 0, got {scale}, {pad}")
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.ndim == 4 and imgs.shape[1] == 1:
        imgs = imgs[:, 0]
    if imgs.ndim == 2:  # flat vectors that are square images: (N, H*W)
        side = int(round(np.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise ValueError(f"images: cannot view rows of {imgs.shape[1]} values as squares")
        imgs = imgs.reshape(-1, side, side)
    if imgs.ndim != 3 or imgs.shape[0] == 0:
        raise ValueError(f"images: expected (N, H, W) or (N, 1, H, W), got {np.shape(images)}")
    if lo is None or hi is None:
        lo, hi = float(imgs.min()), float(imgs.max())
    imgs = np.clip((imgs - lo) / max(hi - lo, 1e-12), 0, 1)
    if scale > 1:
        imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w = imgs.shape
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = -(-n // ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(n):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = imgs[i]
    return grid


def save_image_grid(path: PathLike, images: np.ndarray, **kwargs) -> np.ndarray:
    """image_grid, written to ``path`` as PNG; returns the grid."""
    grid = image_grid(images, **kwargs)
    write_png(path, grid)
    return grid


def filter_mosaic(
    weights: np.ndarray,
    shape: Sequence[int] | None = None,
    ncol: int | None = None,
    scale: int = 2,
    clip_percent: float = 1.0,
) -> np.ndarray:
    """Filters as images, each contrast-stretched on its own: its ``clip_percent`` and
    ``100 - clip_percent`` percentiles map to black and white (a few extreme weights, e.g.
    on MNIST's never-inked border pixels, would otherwise wash out the rest).

    ``weights``: (n_filters, H*W) rows of a Linear encoder's weight (give ``shape``=(H, W)
    or square sizes are assumed), or conv weights (C_out, 1, kH, kW) / (C_out, kH, kW)
    (several input channels are averaged).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 4:
        w = w[:, 0] if w.shape[1] == 1 else w.mean(axis=1)
    if w.ndim == 2:
        if shape is None:
            side = int(round(np.sqrt(w.shape[1])))
            shape = (side, w.shape[1] // side)
        if len(shape) != 2 or shape[0] * shape[1] != w.shape[1]:
            raise ValueError(
                f"shape: filters of {w.shape[1]} values cannot be shown as {tuple(shape)} "
                "images (pass shape=(H, W) with H * W equal to it)"
            )
        w = w.reshape((w.shape[0],) + tuple(shape))
    if w.ndim != 3 or w.shape[0] == 0:
        raise ValueError(
            "weights: expected (n_filters, H*W), (C_out, kH, kW) or (C_out, C_in, kH, kW), "
            f"got shape {np.shape(weights)}"
        )
    lo = np.percentile(w, clip_percent, axis=(1, 2), keepdims=True)
    hi = np.percentile(w, 100 - clip_percent, axis=(1, 2), keepdims=True)
    w = np.clip((w - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    return image_grid(w, ncol=ncol, scale=scale, lo=0.0, hi=1.0, pad_value=1.0)


def save_filters(path: PathLike, weights: np.ndarray, **kwargs) -> np.ndarray:
    mosaic = filter_mosaic(weights, **kwargs)
    write_png(path, mosaic)
    return mosaic


# ----------------------------------------------------------------------------- line plots

# a 3x5 bitmap font for axis numbers and short legend names: 5 rows of 3 bits per glyph
_GLYPHS = {
    "0": ["111", "101", "101", "101", "111"],
    "1": ["010", "110", "010", "010", "111"],
    "2": ["111", "001", "111", "100", "111"],
    "3": ["111", "001", "111", "001", "111"],
    "4": ["101", "101", "111", "001", "001"],
    "5": ["111", "100", "111", "001", "111"],
    "6": ["111", "100", "111", "101", "111"],
    "7": ["111", "001", "010", "010", "010"],
    "8": ["111", "101", "111", "101", "111"],
    "9": ["111", "101", "111", "001", "111"],
    ".": ["000", "000", "000", "000", "010"],
    "-": ["000", "000", "111", "000", "000"],
    "e": ["000", "111", "111", "100", "111"],
    " ": ["000", "000", "000", "000", "000"],
    "a": ["000", "011", "101", "101", "011"],
    "i": ["010", "000", "010", "010", "010"],
    "n": ["000", "110", "101", "101", "101"],
    "r": ["000", "101", "110", "100", "100"],
    "s": ["000", "011", "110", "011", "110"],
    "t": ["010", "111", "010", "010", "011"],
    "p": ["000", "110", "101", "110", "100"],
    "o": ["000", "010", "101", "101", "010"],
    "c": ["000", "011", "100", "100", "011"],
    "h": ["100", "100", "110", "101", "101"],
    "l": ["010", "010", "010", "010", "011"],
    "_": ["000", "000", "000", "000", "111"],
    "b": ["100", "100", "110", "101", "110"],
    "d": ["001", "001", "011", "101", "011"],
    "f": ["011", "100", "110", "100", "100"],
    "g": ["000", "011", "101", "011", "110"],
    "j": ["001", "000", "001", "101", "010"],
    "k": ["100", "101", "110", "110", "101"],
    "m": ["000", "111", "111", "101", "101"],
    "q": ["000", "011", "101", "011", "001"],
    "u": ["000", "101", "101", "101", "011"],
    "v": ["000", "101", "101", "101", "010"],
    "w": ["000", "101", "101", "111", "111"],
    "x": ["000", "101", "010", "010", "101"],
    "y": ["000", "101", "011", "001", "110"],
    "z": ["000", "111", "010", "100", "111"],
    "=": ["000", "111", "000", "111", "000"],
    "+": ["000", "010", "111", "010", "000"],
    "/": ["001", "001", "010", "100", "100"],
    "(": ["010", "100", "100", "100", "010"],
    ")": ["010", "001", "001", "001", "010"],
}
_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def _draw_text(img: np.ndarray, text: str, y: int, x: int, scale: int = 2) -> None:
    for ch in text:
        glyph = _GLYPHS.get(ch) or _GLYPHS.get(ch.lower(), _GLYPHS[" "])  # lower case only
        for gy, row in enumerate(glyph):
            for gx, bit in enumerate(row):
                if bit == "1":
                    ys, xs = y + gy * scale, x + gx * scale
                    img[ys : ys + scale, xs : xs + scale] = 0
        x += 4 * scale


def _draw_line(img: np.ndarray, y0: float, x0: float, y1: float, x1: float, color) -> None:
    steps = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    ys = np.round(np.linspace(y0, y1, steps + 1)).astype(int)
    xs = np.round(np.linspace(x0, x1, steps + 1)).astype(int)
    ok = (ys >= 0) & (ys < img.shape[0]) & (xs >= 0) & (xs < img.shape[1])
    img[ys[ok], xs[ok]] = color
    # two pixels thick, so the curve is visible on a small picture
    ok2 = ok & (ys + 1 < img.shape[0])
    img[ys[ok2] + 1, xs[ok2]] = color


def _fmt(v: float) -> str:
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.1e}"


def _xy(values) -> tuple[np.ndarray, np.ndarray | None]:
    """A curve given as ys, or as a pair (xs, ys)."""
    if isinstance(values, tuple) and len(values) == 2:
        xs, ys = (np.asarray(v, dtype=np.float64) for v in values)
        if xs.shape != ys.shape:
            raise ValueError(f"curves: x and y lengths differ ({xs.shape} vs {ys.shape})")
        return ys, xs
    return np.asarray(values, dtype=np.float64), None


def plot_curves(
    curves: Mapping[str, Sequence[float] | tuple],
    width: int = 480,
    height: int = 320,
    log_y: bool = False,
) -> np.ndarray:
    """Draw named curves (e.g. {'train': [...], 'test': [...]}) into an RGB uint8 image.

    A curve is a sequence of y values (x = 0, 1, ...) or a pair (xs, ys), so curves sampled
    differently (per step, per epoch) share one x axis. The y range is printed at the left
    axis (top and bottom) and the x range under the axis; each curve's colour is shown as a
    swatch with its name in the top right, in the order given.
    """
    if width < 160 or height < 80:  # the margins and labels take 80 x 50 pixels
        raise ValueError(f"width, height: expected at least 160 x 80, got {width} x {height}")
    img = np.full((height, width, 3), 255, np.uint8)
    series = {}
    for name, values in curves.items():
        ys, xs = _xy(values)
        if len(ys):
            series[name] = (np.arange(len(ys), dtype=np.float64) if xs is None else xs, ys)
    left, right, top, bottom = 60, 20, 20, 30
    pw, ph = width - left - right, height - top - bottom
    img[top : top + ph, left] = 0
    img[top + ph, left : left + pw] = 0
    if not series:
        return img
    allv = np.concatenate([ys for _, ys in series.values()])
    allv = allv[np.isfinite(allv)]
    if log_y:
        allv = allv[allv > 0]
    if allv.size == 0:
        return img
    tr = np.log10 if log_y else (lambda v: v)
    lo, hi = float(tr(allv.min())), float(tr(allv.max()))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    # axes start at 0 unless a curve goes below it (epochs, steps)
    x_lo = min(0.0, min(float(xs.min()) for xs, _ in series.values()))
    x_hi = max(float(xs.max()) for xs, _ in series.values())
    x_span = max(x_hi - x_lo, 1e-12)
    for k, (name, (xv, v)) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        xs = left + (xv - x_lo) / x_span * (pw - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ys = top + (1 - (tr(v) - lo) / (hi - lo)) * (ph - 1)
        if len(v) == 1:
            _draw_line(img, ys[0], xs[0] - 2, ys[0], xs[0] + 2, color)
        for i in range(len(v) - 1):
            if np.isfinite(ys[i]) and np.isfinite(ys[i + 1]):
                _draw_line(img, ys[i], xs[i], ys[i + 1], xs[i + 1], color)
        sy, sx = top + 4 + 14 * k, width - right - 24 - 8 * len(name)
        img[sy : sy + 6, sx : sx + 18] = color
        _draw_text(img, name, sy - 2, sx + 22)
    # tick labels: y range and x range
    ylab = (lambda t: _fmt(10**t)) if log_y else _fmt
    _draw_text(img, ylab(hi), top - 4, 2)
    _draw_text(img, ylab(lo), top + ph - 8, 2)
    _draw_text(img, _fmt(x_lo), top + ph + 6, left - 2)
    x_text = _fmt(x_hi)
    _draw_text(img, x_text, top + ph + 6, left + pw - 8 * len(x_text))
    return img


def save_curves(
    path: PathLike, curves: Mapping[str, Sequence[float] | tuple], **kwargs
) -> np.ndarray:
    img = plot_curves(curves, **kwargs)
    write_png(path, img)
    return img
