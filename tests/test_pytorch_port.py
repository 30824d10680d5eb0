"""pytorch/examples' mnist/main.py and vae/main.py, ported by changing their imports
(examples/pytorch_port/), run as a user runs them, and checked to be the originals but
for those imports; and ``minigrad.utils.make_grid`` / ``save_image``, the torchvision
helpers the VAE script needs.

The scripts read MNIST from ``../data/MNIST/raw``; the tests make that folder from the
shipped 8x8 digits (each pixel a 3x3 block, padded to 28x28), so they run offline."""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import load_digits, write_idx
from minigrad.utils import make_grid, save_image

mpimg = pytest.importorskip("matplotlib.image")

ROOT = Path(__file__).resolve().parents[1]
PORTS = ROOT / "examples" / "pytorch_port"
# the folder holding the minigrad this suite imported (an installed copy in CI, the
# checkout in an in-place build): the scripts must import that one, never the checkout's
# unbuilt sources
MG_ROOT = Path(mg.__file__).resolve().parents[1]
# a pytorch/examples git repository (bare or not); the comparison skips without one
ORIGINALS = Path(os.environ.get("PYTORCH_EXAMPLES_REPO", "/work/.mirror/pytorch+examples/repo"))
if not PORTS.is_dir():
    pytest.skip("examples/ is not next to the tests (an installed copy)", allow_module_level=True)


# ----------------------------------------------------------------------------- data


def _write_digits_as_mnist(root: Path, n_train: int, n_test: int) -> np.ndarray:
    """root/MNIST/raw with the shipped digits as 28x28 uint8 IDX files (torchvision's
    names, uncompressed as torchvision leaves them); returns the test images."""
    images, labels = load_digits()
    big = np.kron(images / 16.0, np.ones((3, 3), dtype=np.float32))  # (N, 24, 24)
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    pixels = np.round(big * 255).astype(np.uint8)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    split = {"train": slice(0, n_train), "t10k": slice(n_train, n_train + n_test)}
    for prefix, part in split.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels[part], compress=False)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[part].astype(np.uint8), False)
    return pixels[split["t10k"]]


@pytest.fixture
def workdir(tmp_path):
    """A folder to run a script in, whose ../data holds the digits as MNIST; returns
    (folder, test images)."""
    test_images = _write_digits_as_mnist(tmp_path / "data", 300, 100)
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    return run, test_images


def _run(script: str, cwd: Path, *flags: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(MG_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(OMP_NUM_THREADS="2", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(PORTS / script), *flags],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout


# ----------------------------------------------------------------------------- the scripts run

_TRAIN = re.compile(r"Train Epoch: (\d+) \[(\d+)/(\d+) \((\d+)%\)\]\tLoss: ([\d.]+)")


def test_mnist_port_trains_and_reports_test_accuracy(workdir):
    run, _ = workdir
    out = _run(
        "mnist_main.py",
        run,
        "--epochs", "2", "--batch-size", "15", "--test-batch-size", "50",
        "--log-interval", "5", "--save-model",
    )  # fmt: skip
    train = [m.groups() for m in _TRAIN.finditer(out)]
    # 300 examples in batches of 15: batches 0, 5, 10, 15 logged in each epoch
    assert [(int(e), int(seen)) for e, seen, *_ in train] == [
        (e, b * 15) for e in (1, 2) for b in (0, 5, 10, 15)
    ]
    assert all(total == "300" for _, _, total, _, _ in train)
    tests = re.findall(r"Test set: Average loss: ([\d.]+), Accuracy: (\d+)/100 \((\d+)%\)", out)
    assert len(tests) == 2, out
    (loss1, correct1, _), (loss2, correct2, pct2) = tests
    assert float(loss2) < float(loss1) < 2.3  # chance is ln 10 = 2.30
    assert int(correct2) >= 60 and int(pct2) == int(correct2)  # chance: 10
    first_loss, last_loss = float(train[0][4]), float(train[-1][4])
    assert first_loss > 2.0 and last_loss < first_loss
    # --save-model: minigrad's checkpoint under the script's name, loadable into a Net
    state = mg.load(run / "mnist_cnn.pt")
    shapes = {k: tuple(np.shape(v)) for k, v in state.items()}
    assert shapes == {
        "conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,),
        "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,),
        "fc1.weight": (128, 9216), "fc1.bias": (128,),
        "fc2.weight": (10, 128), "fc2.bias": (10,),
    }  # fmt: skip


def test_mnist_port_dry_run_is_one_batch_and_seeded(workdir):
    run, _ = workdir
    outs = [_run("mnist_main.py", run, "--epochs", "1", "--dry-run", "--seed", s) for s in "116"]
    assert len(_TRAIN.findall(outs[0])) == 1  # --dry-run stops after the first logged batch
    assert "Test set: Average loss" in outs[0]
    assert outs[0] == outs[1]  # the same seed gives the same run
    assert outs[0] != outs[2]


def test_vae_port_trains_and_writes_torchvision_style_pictures(workdir):
    run, test_images = workdir
    out = _run("vae_main.py", run, "--epochs", "2", "--batch-size", "32", "--log-interval", "5")
    assert out.startswith("Using device: cpu\n")
    train = re.findall(r"====> Epoch: (\d) Average loss: ([\d.]+)", out)
    tests = re.findall(r"====> Test set loss: ([\d.]+)", out)
    assert [e for e, _ in train] == ["1", "2"] and len(tests) == 2, out
    assert float(train[1][1]) < float(train[0][1]) < 560  # 784 * ln 2 = 543 at p = 0.5
    assert float(tests[1]) < float(tests[0])
    files = sorted(p.name for p in (run / "results").iterdir())
    assert files == [f"{k}_{e}.png" for k in ("reconstruction", "sample") for e in (1, 2)]
    # reconstruction: 8 test images over their 8 reconstructions, 28x28 tiles, 2 px apart
    picture = mpimg.imread(run / "results" / "reconstruction_2.png")
    assert picture.shape[:2] == (2 * 30 + 2, 8 * 30 + 2)
    grey = np.round(picture[..., 0] * 255).astype(np.uint8)
    for k in range(8):  # the first row is the test images themselves, byte for byte
        np.testing.assert_array_equal(grey[2:30, 2 + 30 * k : 30 + 30 * k], test_images[k])
    assert mpimg.imread(run / "results" / "sample_2.png").shape[:2] == (8 * 30 + 2,) * 2


# ----------------------------------------------------------------------------- only imports differ

# Each import of the original and what the port has in its place (nothing else differs).
IMPORT_MAP = {
    "mnist/main.py": {
        "import argparse": "import argparse",
        "import torch": "import minigrad as torch",
        "import torch.nn as nn": "import minigrad.nn as nn",
        "import torch.nn.functional as F": "import minigrad.nn.functional as F",
        "import torch.optim as optim": "import minigrad.optim as optim",
        "from torchvision import datasets, transforms": "from minigrad.data import datasets, transforms",  # noqa: E501
        "from torch.optim.lr_scheduler import StepLR": "from minigrad.optim.lr_scheduler import StepLR",  # noqa: E501
    },
    "vae/main.py": {
        "from __future__ import print_function": "from __future__ import print_function",
        "import argparse": "import argparse",
        "import torch": "import minigrad as torch",
        "import torch.utils.data": "import minigrad.utils.data",
        "from torch import nn, optim": "from minigrad import nn, optim",
        "from torch.nn import functional as F": "from minigrad.nn import functional as F",
        "from torchvision import datasets, transforms": "from minigrad.data import datasets, transforms",  # noqa: E501
        "from torchvision.utils import save_image": "from minigrad.utils import save_image",
    },
}
PORT_OF = {"mnist/main.py": "mnist_main.py", "vae/main.py": "vae_main.py"}


def _split(source: str) -> tuple[list[str], list[str]]:
    """(the import statements, every other statement) of a module, as syntax trees
    (formatting and comments do not count); a leading docstring is dropped."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    imports = [ast.unparse(s) for s in body if isinstance(s, (ast.Import, ast.ImportFrom))]
    rest = [ast.dump(s) for s in body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    return imports, rest


@pytest.mark.parametrize("original", sorted(PORT_OF))
def test_port_is_the_original_but_for_its_imports(original):
    if not (ORIGINALS / ".git").exists() and not (ORIGINALS / "HEAD").exists():
        pytest.skip(f"no pytorch/examples repository at {ORIGINALS} (set PYTORCH_EXAMPLES_REPO)")
    source = subprocess.run(
        ["git", "-C", str(ORIGINALS), "show", f"HEAD:{original}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    orig_imports, orig_rest = _split(source)
    port_imports, port_rest = _split((PORTS / PORT_OF[original]).read_text())
    assert sorted(orig_imports) == sorted(IMPORT_MAP[original]), "the original's imports moved"
    assert sorted(port_imports) == sorted(IMPORT_MAP[original].values())
    assert port_rest == orig_rest  # every statement but the imports, unchanged


def test_ports_declare_their_imports():
    """The header of each port lists every changed import as ``original -> port`` (the
    test above checks the code; this keeps the prose in step)."""
    for original, port in PORT_OF.items():
        header = ast.get_docstring(ast.parse((PORTS / port).read_text()))
        assert header and original in header
        declared = {
            tuple(part.strip() for part in line.split("->"))
            for line in header.splitlines()
            if "->" in line and "import" in line
        }
        changed = {(old, new) for old, new in IMPORT_MAP[original].items() if old != new}
        assert declared == changed, port


# ----------------------------------------------------------------------------- make_grid


def test_make_grid_places_images_as_torchvision_does():
    images = np.arange(3 * 1 * 2 * 3, dtype=np.float32).reshape(3, 1, 2, 3) / 20
    grid = make_grid(mg.tensor(images), nrow=2, padding=1, pad_value=0.5).numpy()
    # 2 columns, 2 rows; cells of (2 + 1) x (3 + 1) and 1 px more at the far edges
    assert grid.shape == (3, 2 * 3 + 1, 2 * 4 + 1)
    expected = np.full((2 * 3 + 1, 2 * 4 + 1), 0.5, dtype=np.float32)
    for k, (top, left) in enumerate([(1, 1), (1, 5), (4, 1)]):
        expected[top : top + 2, left : left + 3] = images[k, 0]
    for c in range(3):  # one channel made grey RGB
        np.testing.assert_array_equal(grid[c], expected)


def test_make_grid_accepts_a_list_one_image_and_arrays():
    a, b = np.zeros((3, 4, 4), np.float32), np.ones((3, 4, 4), np.float32)
    assert make_grid([mg.tensor(a), mg.tensor(b)], padding=0).shape == (3, 4, 8)
    single = make_grid(np.full((1, 4, 5), 0.25, np.float32))  # one image: no padding
    assert single.shape == (3, 4, 5) and float(single.numpy().max()) == 0.25
    assert make_grid(np.zeros((4, 5))).shape == (3, 4, 5)
    assert make_grid(np.zeros((10, 3, 2, 2)), nrow=4, padding=0).shape == (3, 6, 8)


def test_make_grid_normalize():
    x = np.array([[[[0.0, 2.0]]], [[[4.0, 8.0]]]], dtype=np.float32)  # two 1x1x2 images
    whole = make_grid(x, normalize=True, padding=0).numpy()[0]
    np.testing.assert_allclose(whole, [[0, 0.25, 0.5, 1]])
    each = make_grid(x, normalize=True, scale_each=True, padding=0).numpy()[0]
    np.testing.assert_allclose(each, [[0, 1, 0, 1]])
    ranged = make_grid(x, normalize=True, value_range=(2.0, 4.0), padding=0).numpy()[0]
    np.testing.assert_allclose(ranged, [[0, 0, 1, 1]])
    assert x[1, 0, 0, 1] == 8.0  # the input is not changed
    with pytest.raises(TypeError, match="value_range"):
        make_grid(x, normalize=True, value_range=[0, 1])


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((2, 2, 1, 3, 3)), ValueError, "B, C, H, W"),
        (np.zeros((0, 1, 3, 3)), ValueError, "empty"),
        ([], ValueError, "non-empty"),
        (np.array([["a"]]), TypeError, "numeric"),
    ],
)
def test_make_grid_refuses(bad, error, match):
    with pytest.raises(error, match=match):
        make_grid(bad)


@pytest.mark.parametrize("nrow, padding", [(0, 2), (2.5, 2), (8, -1)])
def test_make_grid_refuses_bad_layout(nrow, padding):
    with pytest.raises(ValueError, match="nrow" if padding >= 0 else "padding"):
        make_grid(np.zeros((2, 1, 3, 3)), nrow=nrow, padding=padding)


# ----------------------------------------------------------------------------- save_image


def test_save_image_rounds_to_bytes_as_torchvision(tmp_path):
    # torchvision: (x * 255 + 0.5) clamped to [0, 255], then truncated to uint8
    # in float32, as the images are: 0.7 * 255 + 0.5 rounds to 179.0 there (178.99... in
    # float64)
    values = np.array([0.0, 0.3 / 255, 0.6 / 255, 0.5, 1.0, 1.5, -0.2, 254.4 / 255, 0.7])
    img = values.reshape(1, 1, 9).astype(np.float32)
    save_image(mg.tensor(img), tmp_path / "v.png")
    got = np.round(mpimg.imread(tmp_path / "v.png")[..., :3] * 255).astype(int)
    expected = [0, 0, 1, 128, 255, 255, 0, 254, 179]
    for c in range(3):
        np.testing.assert_array_equal(got[0, :, c], expected)


def test_save_image_grid_file_and_formats(tmp_path):
    x = mg.rand(5, 1, 6, 7)
    save_image(x, tmp_path / "grid.png", nrow=3, padding=1)
    assert mpimg.imread(tmp_path / "grid.png").shape[:2] == (2 * 7 + 1, 3 * 8 + 1)
    buffer = io.BytesIO()
    save_image(x, buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="format"):
        save_image(x, io.BytesIO())
    with pytest.raises(ValueError, match="extension"):
        save_image(x, tmp_path / "noext")
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]  # nothing half-written left


def test_save_image_refuses_nan_and_a_missing_folder(tmp_path):
    x = np.zeros((1, 4, 4), np.float32)
    x[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        save_image(x, tmp_path / "nan.png")
    with pytest.raises(FileNotFoundError):
        save_image(np.zeros((1, 4, 4)), tmp_path / "absent" / "x.png")
    assert not os.listdir(tmp_path)


def test_save_image_matches_torchvision(tmp_path):
    torch = pytest.importorskip("torch")
    tv_utils = pytest.importorskip("torchvision.utils")
    x = np.random.default_rng(0).uniform(-0.1, 1.1, size=(11, 1, 5, 6)).astype(np.float32)
    for kwargs in [{}, {"nrow": 4, "padding": 3, "pad_value": 0.7}, {"normalize": True}]:
        ours = make_grid(x, **kwargs).numpy()
        theirs = tv_utils.make_grid(torch.from_numpy(x), **kwargs).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
        save_image(x, tmp_path / "ours.png", **kwargs)
        tv_utils.save_image(torch.from_numpy(x), tmp_path / "theirs.png", **kwargs)
        ours_px = mpimg.imread(tmp_path / "ours.png")[..., :3]
        theirs_px = mpimg.imread(tmp_path / "theirs.png")[..., :3]
        np.testing.assert_array_equal(ours_px, theirs_px)
