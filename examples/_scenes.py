"""Scenes of several digits on a larger canvas, labelled pixel by pixel (examples/segment.py).

The book's structured output (sec. 9.6) is a tensor S with S[i, j, k] the probability that
pixel (j, k) belongs to class i. To train one we need images whose every pixel carries a
class: here several digits are pasted at random positions on an empty canvas (overlaps
allowed), each pixel labelled with the class of the digit whose ink covers it, or
``BACKGROUND``.

Drawing rule (what the labels mean). Digits are pasted one after another; a digit's *ink*
is its pixels brighter than ``threshold``. Where a digit has ink it covers whatever was drawn
before (its pixel values replace the canvas' and the pixel takes its class); elsewhere its
faint edge is blended in with ``max``. So a labelled pixel shows exactly the value of the
last digit with ink there, and a background pixel is one no digit inked. Noise, if asked
for, is added to the image afterwards and leaves the labels alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKGROUND = 10  # the label of pixels no digit covers; digits keep their own class 0..9
NUM_CLASSES = 11
CLASS_NAMES = [str(d) for d in range(10)] + ["bg"]


@dataclass
class Scenes:
    """``images`` float32 (N, 1, H, W) in [0, 1]; ``labels`` int64 (N, H, W) in 0..10;
    ``placements`` int64 (P, 5): one row per pasted digit, in drawing order, holding
    (scene, top, left, index of the source image, class)."""

    images: np.ndarray
    labels: np.ndarray
    placements: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        """(images, labels) at ``index`` (an int or an index array), as the DataLoader wants."""
        return self.images[index], self.labels[index]


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"images: expected (N, H, W) or (N, 1, H, W), got {images.shape}")
    if images.dtype.kind != "f" or images.size == 0:
        raise ValueError(f"images: expected a non-empty float array in [0, 1], got {images.dtype}")
    return images


def make_scenes(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    canvas: int,
    per_scene: tuple[int, int] = (2, 3),
    noise: float = 0.0,
    threshold: float = 0.3,
    seed: int | None = 0,
) -> Scenes:
    """``n`` scenes of ``canvas`` x ``canvas`` pixels, each with between ``per_scene[0]``
    and ``per_scene[1]`` digits (inclusive) drawn from ``images`` (N, H, W) / ``labels`` (N,),
    at uniformly random positions inside the canvas. ``noise`` is the standard deviation of
    Gaussian noise added to the image (clipped back to [0, 1])."""
    images = _as_images(images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels: expected integer labels of shape ({len(images)},)")
    if labels.min() < 0 or labels.max() >= BACKGROUND:
        raise ValueError(f"labels: expected digit classes 0..{BACKGROUND - 1}")
    h, w = images.shape[1:]
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive number of scenes, got {n!r}")
    if canvas < max(h, w):
        raise ValueError(f"canvas: {canvas} is smaller than the {h}x{w} digits")
    lo, hi = per_scene
    if not 1 <= lo <= hi:
        raise ValueError(f"per_scene: expected 1 <= min <= max, got {per_scene}")
    if noise < 0 or not 0 <= threshold < 1:
        raise ValueError(f"noise must be >= 0 and threshold in [0, 1), got {noise}, {threshold}")

    rng = np.random.default_rng(seed)
    x = np.zeros((n, canvas, canvas), np.float32)
    y = np.full((n, canvas, canvas), BACKGROUND, np.int64)
    counts = rng.integers(lo, hi + 1, size=n)
    scene = np.repeat(np.arange(n), counts)
    p = len(scene)
    top = rng.integers(0, canvas - h + 1, size=p)
    left = rng.integers(0, canvas - w + 1, size=p)
    source = rng.integers(0, len(images), size=p)
    for s, t, le, i in zip(scene, top, left, source):
        digit = images[i]
        ink = digit > threshold
        xs = x[s, t : t + h, le : le + w]  # views into the scene
        ys = y[s, t : t + h, le : le + w]
        np.copyto(xs, np.where(ink, digit, np.maximum(xs, digit)))
        ys[ink] = labels[i]
    if noise > 0:
        x = np.clip(x + rng.normal(0.0, noise, x.shape).astype(np.float32), 0.0, 1.0)
    placements = np.stack([scene, top, left, source, labels[source]], axis=1).astype(np.int64)
    return Scenes(x[:, None], y, placements)


# A colour per class for the label maps: ten distinct hues for the digits, black background.
PALETTE = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 190],
        [0, 0, 0],
    ],
    dtype=np.uint8,
)


def colorize(labels: np.ndarray) -> np.ndarray:
    """Label maps (..., H, W) in 0..10 -> RGB images (..., H, W, 3) uint8."""
    return PALETTE[np.asarray(labels)]
