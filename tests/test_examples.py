"""The examples' shared helpers (examples/_common.py: pictures with matplotlib, progress
with tqdm, checkpoints) and the examples themselves, run as a user runs them (subprocesses
with tiny settings on the shipped digits), checking what they write and what they say."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

import matplotlib.image as mpimg  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if not (EXAMPLES / "_common.py").exists():
    pytest.skip("examples/ is not next to the tests (an installed copy)", allow_module_level=True)


def _load(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


common = _load("_common")


def _png(path) -> np.ndarray:
    """The picture as (H, W, 4) floats, decoded by matplotlib."""
    assert Path(path).is_file(), f"{path} was not written"
    return mpimg.imread(str(path))


# ----------------------------------------------------------------------------- pictures


def test_tile_places_each_image_row_by_row():
    imgs = np.arange(5 * 2 * 3, dtype=np.float64).reshape(5, 2, 3) / 29
    grid = common.tile(imgs, ncol=3, pad=1, pad_value=-1)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2)
    np.testing.assert_array_equal(grid[3:5, 4:7], imgs[4])  # image 4: row 1, column 1
    np.testing.assert_array_equal(grid[0:2, 8:11], imgs[2])  # image 2: row 0, column 2
    assert (grid[2] == -1).all()  # the padding row
    assert (grid[3:5, 8:11] == -1).all()  # the empty sixth cell
    with pytest.raises(ValueError, match="ncol"):
        common.tile(imgs, ncol=-1)
    with pytest.raises(ValueError, match="images"):
        common.tile(np.zeros((0, 2, 2)))


def test_as_images_accepts_rows_channels_and_stacks():
    rows = np.arange(2 * 12.0).reshape(2, 12)
    np.testing.assert_array_equal(common.as_images(rows, (3, 4))[1], rows[1].reshape(3, 4))
    assert common.as_images(np.zeros((4, 1, 5, 5))).shape == (4, 5, 5)
    assert common.as_images(np.zeros((4, 16))).shape == (4, 4, 4)
    with pytest.raises(ValueError, match="square"):
        common.as_images(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="shape"):
        common.as_images(np.zeros((3, 10)), (3, 3))


def test_stretch_maps_each_filter_to_its_own_range():
    w = np.stack([np.linspace(0, 1, 16), np.linspace(-100, 300, 16)]).reshape(2, 4, 4)
    s = common.stretch(w, clip_percent=0)
    np.testing.assert_allclose(s[0], s[1])  # same pattern, other scale: same picture
    assert s.min() == 0 and s.max() == 1
    # one extreme weight is clipped instead of turning every other pixel grey
    spiky = np.linspace(0, 1, 400)
    spiky[0] = -1000
    t = common.stretch(spiky.reshape(1, 20, 20), clip_percent=1.0)[0]
    assert t[0, 0] == 0 and t.max() == 1 and np.median(t) > 0.3


@pytest.mark.parametrize("side", [3, 8, 28])
def test_pictures_are_upscaled_with_square_pixels(tmp_path, side):
    rng = np.random.default_rng(0)
    images = rng.random((16, side, side))
    common.save_image_grid(tmp_path / "g.png", images, "sixteen images", ncol=4)
    common.save_filters(tmp_path / "f.png", rng.standard_normal((16, side * side)), "filters")
    for name in ("g.png", "f.png"):
        img = _png(tmp_path / name)
        # at least 2 screen pixels per image pixel, and a readable size overall
        assert img.shape[1] >= 2 * (4 * side + 3) and img.shape[1] >= 560, img.shape


def test_grid_pixels_are_the_image_values(tmp_path):
    # a 2x2 image grid with known greys; every image pixel becomes a uniform block
    images = np.array([[[0.0, 0.5], [1.0, 0.25]]] * 2)
    common.save_image_grid(tmp_path / "g.png", images, "t", ncol=2)
    img = _png(tmp_path / "g.png")[..., 0]
    tiled = common.tile(images, 2)  # (2, 5) with the white separator column
    scale = max(2, round(720 / tiled.shape[1]))
    h, w = tiled.shape[0] * scale, tiled.shape[1] * scale
    top = 50  # _save_picture's title band
    x0 = (img.shape[1] - w) // 2
    block = img[top : top + h, x0 : x0 + w]
    expected = np.kron(tiled, np.ones((scale, scale)))
    # matplotlib places the image to within a pixel: compare the block centres
    centres = block[scale // 2 :: scale, scale // 2 :: scale]
    np.testing.assert_allclose(
        centres, expected[scale // 2 :: scale, scale // 2 :: scale], atol=0.01
    )


def test_curves_and_histogram_are_written_with_reference_lines(tmp_path):
    common.save_curves(
        tmp_path / "c.png",
        {"train": [3, 2, 1.5, 1], "test": ([1, 2, 3, 4], [3.5, 2.5, 2, 2])},
        "a title",
        ylabel="squared error per image",
        refs={"PCA": 2.2},
        log_y=True,
    )
    assert _png(tmp_path / "c.png").shape[1] >= 600
    common.save_histogram(
        tmp_path / "h.png",
        np.random.default_rng(0).random(500),
        "h",
        "activation",
        marks={"rho": 0.05},
    )
    assert _png(tmp_path / "h.png").size > 0
    with pytest.raises(ValueError, match="curve 'a'"):
        common.save_curves(tmp_path / "x.png", {"a": ([1, 2], [1])}, "t")


# ----------------------------------------------------------------------------- progress


def test_progress_prints_lines_when_output_is_not_a_terminal(monkeypatch):
    err = io.StringIO()  # not a tty
    monkeypatch.setattr(sys, "stderr", err)
    bar = common.progress(100, "phase", mininterval=0, delay=0)
    for _ in range(4):
        bar.update(25)
        bar.set_postfix(loss="0.5", refresh=False)
    bar.close()
    lines = err.getvalue().splitlines()
    assert len(lines) >= 2 and "\r" not in err.getvalue()
    assert lines[-1].startswith("phase: 100%") and "loss=0.5" in lines[-1]


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_with_optimizer(tmp_path):
    import minigrad as mg
    from minigrad import nn, optim

    mg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(mg.tensor(np.ones((4, 3), np.float32))).sum().backward()
    opt.step()
    common.save_checkpoint(tmp_path / "c.npz", model, opt, epoch=3, history={"a": [1.0]})
    mg.manual_seed(1)
    other = nn.Linear(3, 2)
    other_opt = optim.Adam(other.parameters(), lr=0.1)
    state = common.load_checkpoint(tmp_path / "c.npz", other, other_opt)
    assert state["epoch"] == 3 and state["history"] == {"a": [1.0]}
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    assert other_opt.state_dict()["state"][0]["exp_avg"].shape == (2, 3)
    with pytest.raises(SystemExit, match="no checkpoint"):
        common.load_checkpoint(tmp_path / "missing.npz", other)
