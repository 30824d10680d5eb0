"""Tests for minigrad.viz: PNG files decoded back (by hand with zlib) and pixel checks."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from minigrad import viz


def _decode_by_hand(raw: bytes):
    """Independent minimal decoder: signature, chunks with CRC, filter-0 scanlines."""
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(raw):
        (n,) = struct.unpack(">I", raw[pos : pos + 4])
        kind, data = raw[pos + 4 : pos + 8], raw[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", raw[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + data)
        chunks.append((kind, data))
        pos += 12 + n
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[0][1][:10])
    ch = {0: 1, 2: 3}[ctype]
    stream = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    assert len(stream) == h * (1 + w * ch)
    rows = np.frombuffer(stream, np.uint8).reshape(h, 1 + w * ch)
    assert np.all(rows[:, 0] == 0)  # filter type "none"
    return depth, rows[:, 1:].reshape(h, w, ch).squeeze(-1) if ch == 1 else rows[:, 1:].reshape(
        h, w, ch
    )


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (5, 4, 3)])
def test_png_round_trip_uint8(tmp_path, shape):
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "a.png"
    viz.write_png(path, img)
    depth, pixels = _decode_by_hand(path.read_bytes())
    assert depth == 8
    np.testing.assert_array_equal(pixels, img)
    np.testing.assert_array_equal(viz.read_png(path), img)


def test_png_float_images_map_zero_one_to_black_white(tmp_path):
    img = np.array([[0.0, 0.5, 1.0, 2.0, -1.0]])
    viz.write_png(tmp_path / "f.png", img)
    np.testing.assert_array_equal(viz.read_png(tmp_path / "f.png"), [[0, 128, 255, 255, 0]])


def test_png_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="image"):
        viz.write_png(tmp_path / "x.png", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="image"):
        viz.write_png(tmp_path / "x.png", np.zeros((0, 3)))


def test_read_png_undoes_all_filters(tmp_path):
    # encode rows with the sub, up, average and paeth filters by hand
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(5, 6), dtype=np.int64)
    lines, prev = [], np.zeros(6, np.int64)
    for y, ftype in enumerate([1, 2, 3, 4, 0]):
        cur = img[y]
        left = np.concatenate([[0], cur[:-1]])
        upleft = np.concatenate([[0], prev[:-1]])
        if ftype == 0:
            pred = np.zeros(6, np.int64)
        elif ftype == 1:
            pred = left
        elif ftype == 2:
            pred = prev
        elif ftype == 3:
            pred = (left + prev) // 2
        else:
            pred = np.array([viz._paeth(a, b, c) for a, b, c in zip(left, prev, upleft)])
        lines.append(bytes([ftype]) + bytes(((cur - pred) % 256).astype(np.uint8)))
        prev = cur
    ihdr = struct.pack(">IIBBBBB", 6, 5, 8, 0, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + viz._chunk(b"IHDR", ihdr)
        + viz._chunk(b"IDAT", zlib.compress(b"".join(lines)))
        + viz._chunk(b"IEND", b"")
    )
    (tmp_path / "f.png").write_bytes(raw)
    np.testing.assert_array_equal(viz.read_png(tmp_path / "f.png"), img)


def test_image_grid_places_each_image():
    imgs = np.arange(5 * 2 * 3, dtype=np.float64).reshape(5, 1, 2, 3) / 29
    grid = viz.image_grid(imgs, ncol=3, pad=1, scale=2)
    assert grid.shape == (2 * (4 + 1) + 1, 3 * (6 + 1) + 1)
    # image 4 sits in row 1, column 1; pixel (1, 2) is enlarged to a 2x2 block
    y, x = 1 + 1 * 5 + 2, 1 + 1 * 7 + 4
    np.testing.assert_allclose(grid[y : y + 2, x : x + 2], imgs[4, 0, 1, 2])
    assert grid[0, 0] == 0.5  # padding
    assert grid[-3, -3] == 0.5  # the empty sixth cell is padding too


def test_filter_mosaic_stretches_each_filter():
    w = np.stack([np.linspace(0, 1, 16), np.linspace(-100, 300, 16)])
    m = viz.filter_mosaic(w, scale=1, ncol=2, clip_percent=0)
    a, b = m[1:5, 1:5], m[1:5, 6:10]
    np.testing.assert_allclose(a, b)  # same pattern, different scale: same picture
    assert a.min() == 0 and a.max() == 1
    # one extreme weight is clipped instead of turning every other pixel gray
    spiky = np.linspace(0, 1, 400)
    spiky[0] = -1000
    tile = viz.filter_mosaic(spiky[None], scale=1, clip_percent=1.0)[1:21, 1:21]
    assert tile[0, 0] == 0 and tile.max() == 1 and np.median(tile) > 0.3


def test_plot_curves_draws_each_curve_in_its_colour(tmp_path):
    img = viz.save_curves(tmp_path / "c.png", {"train": [3, 2, 1.5, 1], "test": [3.5, 2.5, 2, 2]})
    assert img.shape == (320, 480, 3)
    for color in viz._COLORS[:2]:
        assert np.all(img == color, axis=-1).sum() > 50
    np.testing.assert_array_equal(viz.read_png(tmp_path / "c.png"), img)
    # the first point of "test" (the maximum) lies at the top-left of the plot area
    assert np.all(img[20, 60:63] == viz._COLORS[1], axis=-1).any()


def test_plot_curves_with_x_values_share_one_axis():
    img = viz.plot_curves(
        {"train": (np.linspace(0.1, 2, 20), np.linspace(2, 1, 20)), "test": ([1, 2], [1.5, 1.0])},
        log_y=True,
    )
    # both curves end at x = 2, y = 1: the bottom-right corner of the plot area
    corner = img[320 - 30 - 3 : 320 - 30 + 1, 480 - 20 - 3 : 480 - 20]
    assert np.any(np.all(corner == viz._COLORS[1], axis=-1))
    with pytest.raises(ValueError, match="lengths"):
        viz.plot_curves({"a": ([1, 2], [1])})


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="ncol"):
        viz.image_grid(np.zeros((3, 4, 4)), ncol=-1)
    with pytest.raises(ValueError, match="scale"):
        viz.image_grid(np.zeros((3, 4, 4)), scale=0)
    with pytest.raises(ValueError, match="weights"):
        viz.filter_mosaic(np.zeros(5))
    with pytest.raises(ValueError, match="shape"):  # 10 values are no 3 x 3 image
        viz.filter_mosaic(np.zeros((3, 10)), shape=(3, 3))
    with pytest.raises(ValueError, match="shape"):  # nor a square one
        viz.filter_mosaic(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="width"):  # was an IndexError inside the drawing
        viz.plot_curves({"a": [1, 2]}, width=50, height=20)


def test_legend_font_has_every_lower_case_letter_and_digit():
    # Legend names used to lose letters the font lacked ("conv" drew as "con ").
    import string

    from minigrad.viz import _GLYPHS

    chars = string.ascii_lowercase + string.digits
    assert set(chars) <= set(_GLYPHS)
    drawn = {c: tuple(_GLYPHS[c]) for c in chars}
    assert all("1" in "".join(g) for g in drawn.values())
    assert len(set(drawn.values())) == len(chars)  # no two glyphs alike
