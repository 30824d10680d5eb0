"""The examples' shared helpers (examples/_common.py: pictures with matplotlib, progress
with tqdm, checkpoints) and the examples themselves, run as a user runs them (subprocesses
with tiny settings on the shipped digits), checking what they write and what they say."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
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
    top = 50  # _save_picture's title band: one line of title
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


# ----------------------------------------------------------------------------- the examples


def _run(name, *flags, env=None, cwd=None):
    """Run examples/<name>.py as a user would (stderr is a pipe, not a terminal)."""
    full_env = {**os.environ, "MINIGRAD_PROGRESS_SECONDS": "0", **(env or {})}
    full_env.pop("MINIGRAD_DATA", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *map(str, flags)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=600,
    )
    return proc


def _ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, proc.stderr


DEEP = [
    "--dataset",
    "digits",
    "--sizes",
    "32",
    "16",
    "4",
    "--batch-size",
    "50",
    "--pretrain-epochs",
    "1",
]


def test_deep_autoencoder_default_flags_beat_pca_on_the_digits(tmp_path):
    """What a user without MNIST sees first: the defaults on the shipped digits (an 8-d
    code, 10 RBM epochs per layer, 100 fine-tuning epochs) beat PCA with 8 components, and
    the report says so with both numbers."""
    out, _ = _ok(_run("deep_autoencoder", "--dataset", "digits", "--out", tmp_path))
    assert "64-256-128-64-8" in out and "10 epoch(s) per layer" in out
    ours = float(re.search(r"100 fine-tuning epochs \(\d+ s\): ([\d.]+)", out).group(1))
    pca = float(re.search(r"PCA with 8 components: ([\d.]+)", out).group(1))
    assert ours < pca and f"the autoencoder beats PCA ({ours:.2f} vs {pca:.2f})" in out


def test_deep_autoencoder_short_run_says_it_is_not_converged(tmp_path):
    out, err = _ok(_run("deep_autoencoder", *DEEP, "--epochs", "1", "--out", tmp_path))
    assert "NOT CONVERGED" in out and "1 fine-tuning epoch(s) is a short run" in out
    assert "PCA with 4 components" in out and "RBM 4" not in out  # three RBMs for 64-32-16-4
    assert "RBM 3 epoch 1: reconstruction error" in out
    # progress of every phase shows as plain lines on a pipe: pre-training and fine-tuning
    assert "RBM 1 (64-32 binary) epoch 1/1:" in err and "RBM 3 (16-4 linear)" in err
    assert "fine-tuning epoch 1/1: 100%" in err and "\r" not in err
    for f in (
        "reconstructions.png",
        "pca_reconstructions.png",
        "test_error.png",
        "loss.png",
        "pretraining.png",
        "filters.png",
        "model.npz",
        "checkpoint.npz",
    ):
        assert (tmp_path / f).is_file(), f
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["test_sq_err"]) == 1


def test_deep_autoencoder_autoencoder_pretraining_shows_progress(tmp_path):
    out, err = _ok(
        _run(
            "deep_autoencoder",
            *DEEP,
            "--pretrain",
            "autoencoder",
            "--epochs",
            "1",
            "--out",
            tmp_path,
        )
    )
    assert "autoencoder 1 (64-32), 1 epoch(s):" in err and "autoencoder 3 (16-4)" in err
    assert "layer 3: loss" in out and "pre-training took" in out


def _weights(path):
    import minigrad as mg

    return mg.load(str(path))


@pytest.mark.parametrize("pretrain", ["rbm", "autoencoder"])
def test_deep_autoencoder_resume_continues_where_it_stopped(tmp_path, pretrain):
    flags = [*DEEP, "--pretrain", pretrain, "--pretrain-epochs", "2"]
    _ok(_run("deep_autoencoder", *flags, "--epochs", "3", "--out", tmp_path / "straight"))
    # stopped after one fine-tuning epoch, resumed for two more
    _ok(_run("deep_autoencoder", *flags, "--epochs", "1", "--out", tmp_path / "resumed"))
    out, _ = _ok(
        _run("deep_autoencoder", *flags, "--epochs", "3", "--resume", "--out", tmp_path / "resumed")
    )
    assert "resuming fine-tuning after epoch 1" in out and "pre-training took" not in out
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
    assert len(resumed["test_sq_err"]) == 3
    assert resumed["test_sq_err"] == straight["test_sq_err"]
    a, b = (
        _weights(tmp_path / "straight" / "model.npz"),
        _weights(tmp_path / "resumed" / "model.npz"),
    )
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_deep_autoencoder_resume_in_the_middle_of_pretraining(tmp_path, monkeypatch, capsys):
    """Interrupted after its third checkpoint (RBM 2, epoch 1 of 2), then resumed: the
    same weights and test errors as a run that never stopped."""
    ex = _load("deep_autoencoder")
    flags = [*DEEP, "--pretrain-epochs", "2", "--epochs", "2"]
    straight = ex.main([*flags, "--out", str(tmp_path / "straight")])
    calls = []
    real = ex._common.save_checkpoint

    def interrupted(*a, **kw):
        real(*a, **kw)
        calls.append(kw.get("rbm_state"))
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ex._common, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.main([*flags, "--out", str(tmp_path / "resumed")])
    assert (calls[-1]["layer"], calls[-1]["epoch"]) == (1, 1)
    monkeypatch.setattr(ex._common, "save_checkpoint", real)
    capsys.readouterr()
    resumed = ex.main([*flags, "--resume", "--out", str(tmp_path / "resumed")])
    assert "resuming pre-training" in capsys.readouterr().out
    assert resumed["test_sq_err"] == straight["test_sq_err"]
    for (k, p), q in zip(
        straight["model"].state_dict().items(), resumed["model"].state_dict().values()
    ):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q), err_msg=k)


def test_resume_refuses_other_flags_and_a_missing_checkpoint(tmp_path):
    proc = _run("deep_autoencoder", *DEEP, "--epochs", "1", "--resume", "--out", tmp_path)
    assert proc.returncode != 0 and "no checkpoint" in proc.stderr
    _ok(_run("deep_autoencoder", *DEEP, "--epochs", "1", "--out", tmp_path))
    other = ["--dataset", "digits", "--sizes", "32", "8", "--batch-size", "50"]
    proc = _run("deep_autoencoder", *other, "--epochs", "2", "--resume", "--out", tmp_path)
    assert proc.returncode != 0 and "--sizes [32, 16, 4] -> [32, 8]" in proc.stderr


def _write_idx(path, array, magic):
    import gzip
    import struct

    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    """A folder of MNIST-format IDX files: 120 / 40 random 28x28 images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    for prefix, n in (("train", 120), ("t10k", 40)):
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), 2051)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n), 2049)
    return tmp_path / "data"


def test_linear_autoencoder_pca_uses_the_data_it_is_given(tmp_path, tiny_mnist):
    out, _ = _ok(
        _run(
            "linear_autoencoder_pca", "--data", tiny_mnist, "--steps", "50", "--out", tmp_path / "o"
        )
    )
    # it used to train on the shipped digits (64 pixels) whatever --data said
    assert "mnist: 120 training images of 784 pixels" in out and "Falling back" not in out
    for f in ("pca_components.png", "ae_decoder_columns.png", "loss.png"):
        assert _png(tmp_path / "o" / f).shape[1] >= 560
    proc = _run("linear_autoencoder_pca", "--dataset", "digits", "--data", tiny_mnist)
    assert proc.returncode != 0 and "--data" in proc.stderr
    proc = _run("linear_autoencoder_pca", "--data", tmp_path / "o")  # no IDX files there
    assert proc.returncode != 0 and "not found" in proc.stderr


def test_linear_autoencoder_pca_on_the_digits_finds_the_subspace(tmp_path):
    out, _ = _ok(_run("linear_autoencoder_pca", "--dataset", "digits", "--out", tmp_path))
    angles = out.split("(radians): [")[1].split("]")[0].split()
    assert len(angles) == 4 and max(float(a) for a in angles) < 1e-3, out


def test_sparse_autoencoder_reports_unit_activations_near_rho(tmp_path):
    out, _ = _ok(
        _run(
            "sparse_autoencoder",
            "--dataset",
            "digits",
            "--epochs",
            "30",
            "--hidden",
            "40",
            "--out",
            tmp_path,
        )
    )
    line = next(s for s in out.splitlines() if s.startswith("mean activation of each"))
    assert "(target rho = 0.05)" in line
    near = int(line.split("; ")[1].split(" of ")[0])
    assert near >= 36, line  # nearly every unit's mean activation within a factor 2 of rho
    for f in ("unit_mean_activation.png", "activations.png", "filters.png"):
        assert _png(tmp_path / f).size > 0


def test_denoising_autoencoder_writes_corrupted_inputs_and_filters(tmp_path):
    out, _ = _ok(
        _run(
            "denoising_autoencoder",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--noise-level",
            "0.5",
            "--out",
            tmp_path,
        )
    )
    assert "epoch 1: test loss" in out
    for f in ("corrupted.png", "filters.png", "reconstructions.png", "inputs.png"):
        assert _png(tmp_path / f).shape[1] >= 560


def test_compare_runs_tables_and_plots_histories(tmp_path):
    for name, errors in (("a", [9.0, 5.0, 4.0]), ("b", [12.0, 8.0])):
        (tmp_path / name).mkdir()
        history = {"test_sq_err": errors, "epoch_seconds": [1.0] * len(errors)}
        (tmp_path / name / "history.json").write_text(json.dumps(history))
    out, _ = _ok(
        _run(
            "compare_runs",
            tmp_path / "a",
            tmp_path / "b",
            "--labels",
            "first",
            "second",
            "--ref",
            "PCA",
            "10",
            "--epochs",
            "1",
            "3",
            "--out",
            tmp_path / "c.png",
        )
    )
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:3]}
    assert rows == {"first": ["9.00", "4.00", "1.0"], "second": ["12.00", "-", "1.0"]}
    assert _png(tmp_path / "c.png").shape[1] >= 600
    proc = _run("compare_runs", tmp_path / "missing")
    assert proc.returncode != 0 and "no history.json" in proc.stderr
