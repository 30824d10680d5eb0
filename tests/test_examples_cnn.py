"""The chapter-9 examples (lenet, segment, sequence, variable_size) and the pieces they are
built from: the digit-scene generator, the per-pixel loss, IoU, the causal 1-d kernel,
adaptive pooling at two input sizes; then each example run as a user runs it (a subprocess,
tiny settings, the shipped digits)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if not (EXAMPLES / "_scenes.py").exists():
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


S = _load("_scenes")
C = _load("_cnn_common")
segment = _load("segment")
sequence = _load("sequence")
variable_size = _load("variable_size")
lenet = _load("lenet")


def _digits(n=40, seed=0):
    """Small random 'digits' (float images with ink and faint edges) and their classes."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 6, 5)).astype(np.float32) ** 2  # many faint pixels, some ink
    return images, rng.integers(0, 10, size=n)


# ----------------------------------------------------------------------------- scenes


@pytest.mark.parametrize("per_scene", [(1, 1), (2, 4)])
def test_scene_labels_match_the_pixels_drawn(per_scene):
    images, labels = _digits()
    threshold = 0.3
    sc = S.make_scenes(images, labels, 30, 14, per_scene, threshold=threshold, seed=3)
    assert sc.images.shape == (30, 1, 14, 14) and sc.images.dtype == np.float32
    assert sc.labels.shape == (30, 14, 14) and sc.labels.dtype == np.int64
    counts = np.bincount(sc.placements[:, 0], minlength=30)
    assert counts.min() >= per_scene[0] and counts.max() <= per_scene[1]
    # redraw every scene from its placements, independently of the generator's loop
    for s in range(30):
        owner = np.full((14, 14), -1)  # index of the last placement with ink there
        for p, (scene, top, left, src, cls) in enumerate(sc.placements):
            if scene != s:
                continue
            assert cls == labels[src]
            ink = np.zeros((14, 14), bool)
            ink[top : top + 6, left : left + 5] = images[src] > threshold
            owner[ink] = p
        bg = owner < 0
        np.testing.assert_array_equal(sc.labels[s][bg], S.BACKGROUND)
        assert (sc.images[s, 0][bg] <= threshold).all()  # nothing inked a background pixel
        for y, x in zip(*np.nonzero(~bg)):
            _, top, left, src, cls = sc.placements[owner[y, x]]
            assert sc.labels[s, y, x] == cls
            assert sc.images[s, 0, y, x] == images[src][y - top, x - left]  # its own value


def test_scene_noise_changes_pixels_not_labels():
    images, labels = _digits()
    clean = S.make_scenes(images, labels, 8, 12, seed=1)
    noisy = S.make_scenes(images, labels, 8, 12, noise=0.3, seed=1)
    np.testing.assert_array_equal(noisy.labels, clean.labels)
    np.testing.assert_array_equal(noisy.placements, clean.placements)
    assert noisy.images.min() >= 0 and noisy.images.max() <= 1
    assert np.abs(noisy.images - clean.images).mean() > 0.1


def test_scene_generator_refuses_bad_arguments():
    images, labels = _digits()
    with pytest.raises(ValueError, match="canvas"):
        S.make_scenes(images, labels, 4, 5)
    with pytest.raises(ValueError, match="per_scene"):
        S.make_scenes(images, labels, 4, 12, per_scene=(3, 2))
    with pytest.raises(ValueError, match="labels"):
        S.make_scenes(images, labels + 10, 4, 12)
    with pytest.raises(ValueError, match="n"):
        S.make_scenes(images, labels, 0, 12)


# ----------------------------------------------------------------------------- loss, IoU


def _per_pixel_reference(logits, labels):
    """-mean over pixels of log softmax(logits)[label], and its gradient, in NumPy."""
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    n, k, h, w = logits.shape
    onehot = np.moveaxis(np.eye(k)[labels], -1, 1)  # (n, k, h, w)
    loss = -(logp * onehot).sum() / (n * h * w)
    grad = (np.exp(logp) - onehot) / (n * h * w)
    return loss, grad


@pytest.mark.parametrize("steps", [1, 3])
def test_per_pixel_loss_matches_numpy(steps):
    rng = np.random.default_rng(0)
    raw = [rng.normal(size=(2, 11, 5, 7)) * 3 for _ in range(steps)]
    labels = rng.integers(0, 11, size=(2, 5, 7))
    logits = [mg.tensor(r, requires_grad=True) for r in raw]  # float64
    loss = segment.per_pixel_loss(logits, labels)
    loss.backward()
    refs = [_per_pixel_reference(r, labels) for r in raw]
    np.testing.assert_allclose(loss.item(), np.mean([r[0] for r in refs]), rtol=1e-12)
    for t, (_, g) in zip(logits, refs):
        np.testing.assert_allclose(t.grad.numpy(), g / steps, rtol=1e-10, atol=1e-15)


def test_iou_on_hand_made_cases():
    truth = np.array([[0, 0, 1], [1, 2, 2]])
    assert C.mean_iou(C.confusion_matrix(truth, truth, 4)) == 1.0  # class 3 absent: left out
    pred = np.array([[0, 1, 1], [1, 2, 3]])
    cm = C.confusion_matrix(truth, pred, 4)
    # class 0: inter 1, union {(0,0),(0,1)} = 2; class 1: inter 2, union 3;
    # class 2: inter 1, union 2; class 3: predicted once, never true: 0
    np.testing.assert_allclose(C.iou_per_class(cm), [1 / 2, 2 / 3, 1 / 2, 0.0])
    assert C.mean_iou(cm) == pytest.approx((1 / 2 + 2 / 3 + 1 / 2 + 0) / 4)
    assert C.accuracy(cm) == pytest.approx(4 / 6)  # pixel accuracy
    everything_wrong = C.confusion_matrix(np.zeros(5, int), np.ones(5, int), 2)
    assert C.mean_iou(everything_wrong) == 0.0
    with pytest.raises(ValueError, match="pred"):
        C.confusion_matrix(truth, pred + 1, 4)


def test_segnet_unpools_into_the_encoder_positions_and_runs_the_refinement_steps():
    mg.manual_seed(0)
    net = segment.SegNet(1, 11, (4, 6), refine=3)
    x = mg.tensor(np.random.default_rng(0).random((2, 1, 8, 12)).astype(np.float32))
    steps = net.forward_steps(x)
    assert len(steps) == 3 and all(s.shape == (2, 11, 8, 12) for s in steps)
    assert net.down[0].weight.shape == (4, 1 + 11, 3, 3)  # the image and the label map
    one = segment.SegNet(1, 11, (4, 6))
    assert len(one.forward_steps(x)) == 1 and one.down[0].weight.shape == (4, 1, 3, 3)


@pytest.mark.parametrize("refine", [0, 3])
def test_segnet_loss_and_gradients_match_pytorch(refine):
    """The whole SegNet (pool indices, unpooling to the encoder's sizes, the label map fed
    back through softmax and cat) against the same network written in PyTorch."""
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    mg.manual_seed(1)
    net = segment.SegNet(1, 11, (6, 8), refine=refine).to(np.float64)
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, 8, 12))
    y = rng.integers(0, 11, size=(2, 8, 12))
    loss = segment.per_pixel_loss(net.forward_steps(mg.tensor(x)), y)
    loss.backward()
    P = {n: torch.tensor(p.numpy(), requires_grad=True) for n, p in net.named_parameters()}

    def scores(t):
        idx, sizes = [], []
        for i in range(2):
            t = tF.relu(tF.conv2d(t, P[f"down.{i}.weight"], P[f"down.{i}.bias"], padding=1))
            sizes.append(t.shape[-2:])
            t, ix = tF.max_pool2d(t, 2, return_indices=True)
            idx.append(ix)
        t = tF.relu(tF.conv2d(t, P["middle.weight"], P["middle.bias"], padding=1))
        for i in reversed(range(2)):
            t = tF.max_unpool2d(t, idx[i], 2, output_size=sizes[i])
            t = tF.relu(tF.conv2d(t, P[f"up.{i}.weight"], P[f"up.{i}.bias"], padding=1))
        return tF.conv2d(t, P["head.weight"], P["head.bias"])

    tx, ty = torch.tensor(x), torch.tensor(y)
    if refine:
        label_map, steps = torch.full((2, 11, 8, 12), 1 / 11, dtype=torch.float64), []
        for _ in range(refine):
            steps.append(scores(torch.cat([tx, label_map], 1)))
            label_map = torch.softmax(steps[-1], 1)
    else:
        steps = [scores(tx)]
    ref = sum(tF.cross_entropy(s, ty) for s in steps) / len(steps)
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    for n, p in net.named_parameters():
        assert np.abs(P[n].grad.numpy()).max() > 0, n  # a live network, not a dead one
        np.testing.assert_allclose(p.grad.numpy(), P[n].grad.numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("k", [1, 5])
def test_causal_output_ignores_the_future(k):
    mg.manual_seed(0)
    model = sequence.Smoother(k, causal=True)
    with mg.no_grad():
        model.conv.weight.copy_(mg.randn(1, 1, k))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1, 30)).astype(np.float32)
    base = model(mg.tensor(x)).numpy()
    for t in (0, 7, 29):
        changed = x.copy()
        changed[..., t + 1 :] = rng.normal(size=changed[..., t + 1 :].shape) * 10
        out = model(mg.tensor(changed)).numpy()
        np.testing.assert_array_equal(out[..., : t + 1], base[..., : t + 1])
    if k > 1:  # the centred kernel does look ahead: the check above can fail
        centred = sequence.Smoother(k, causal=False)
        changed = x.copy()
        changed[..., 8:] += 1.0
        assert not np.allclose(
            centred(mg.tensor(changed)).numpy()[..., 7], centred(mg.tensor(x)).numpy()[..., 7]
        )


@pytest.mark.parametrize("causal", [True, False])
def test_kernel_lags_and_least_squares_taps_agree_with_the_convolution(causal):
    k = 5
    model = sequence.Smoother(k, causal)
    lags, _ = model.weights_by_lag()
    for j, a in enumerate(lags):  # weight on tap j alone: the output is the input a steps back
        w = np.zeros((1, 1, k), np.float32)
        w[0, 0, j] = 1.0
        with mg.no_grad():
            model.conv.weight.copy_(mg.tensor(w))
        x = np.arange(20, dtype=np.float32)[None, None] ** 2
        y = model(mg.tensor(x)).numpy()[0, 0]
        t = np.arange(k, 15)  # away from the padded ends
        np.testing.assert_array_equal(y[t], x[0, 0, t - a])
    # the closed-form kernel, put in the conv, reproduces the data it was solved for
    rng = np.random.default_rng(1)
    readings = rng.normal(size=(4, 40))
    true_w = rng.normal(size=k)
    left = k - 1 if causal else (k - 1) // 2
    padded = np.pad(readings, ((0, 0), (left, k - 1 - left)), mode="edge")
    target = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1) @ true_w
    w = sequence.least_squares_kernel(readings, target, k, causal)
    np.testing.assert_allclose(w, true_w, atol=1e-10)
    model64 = sequence.Smoother(k, causal).to(np.float64)
    with mg.no_grad():
        model64.conv.weight.copy_(mg.tensor(w.reshape(1, 1, k)))
    np.testing.assert_allclose(
        model64(mg.tensor(readings[:, None])).numpy()[:, 0], target, atol=1e-10
    )


# ----------------------------------------------------------------------------- adaptive pooling


def _adaptive_reference(x, out_hw, reduce):
    """PyTorch's bins: output i covers input rows floor(i H / oh) .. ceil((i + 1) H / oh)."""
    n, c, h, w = x.shape
    oh, ow = out_hw
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, :, i, j] = reduce(x[:, :, r0:r1, c0:c1], axis=(2, 3))
    return out


@pytest.mark.parametrize("size", [(28, 28), (48, 48), (9, 7)])
@pytest.mark.parametrize("out_hw", [(1, 1), (3, 2)])
def test_adaptive_pooling_on_two_sizes_matches_numpy(size, out_hw):
    x = np.random.default_rng(0).normal(size=(2, 3, *size))
    got_max = F.adaptive_max_pool2d(mg.tensor(x), out_hw).numpy()
    got_avg = F.adaptive_avg_pool2d(mg.tensor(x), out_hw).numpy()
    np.testing.assert_allclose(got_max, _adaptive_reference(x, out_hw, np.max), rtol=1e-12)
    np.testing.assert_allclose(got_avg, _adaptive_reference(x, out_hw, np.mean), rtol=1e-12)


@pytest.mark.parametrize("head", ["max", "avg"])
def test_adaptive_head_scores_two_input_sizes_and_a_flat_head_refuses(head):
    mg.manual_seed(0)
    model = variable_size.build(1, head)
    for side in (28, 48):
        x = mg.tensor(np.random.default_rng(side).random((3, 1, side, side)).astype(np.float32))
        out = model(x)
        assert out.shape == (3, 10)
        out.sum().backward()  # and it trains at that size
        assert model[0].weight.grad is not None
        model.zero_grad()
    flat = lenet.build((1, 28, 28))
    with pytest.raises(ValueError, match="in_features"):
        flat(mg.zeros(1, 1, 48, 48))


def test_random_shift_moves_each_image_and_fills_with_zeros():
    x = np.random.default_rng(0).random((6, 1, 7, 5)).astype(np.float32) + 1
    rng = np.random.default_rng(3)
    y = variable_size.random_shift(2)(x, np.random.default_rng(3))
    dy, dx = rng.integers(0, 5, size=(2, 6))
    for i in range(6):
        ref = np.zeros((11, 9), np.float32)
        ref[2:9, 2:7] = x[i, 0]
        np.testing.assert_array_equal(y[i, 0], ref[dy[i] : dy[i] + 7, dx[i] : dx[i] + 5])


def test_place_puts_each_image_whole_on_the_canvas():
    x = np.random.default_rng(0).random((5, 1, 4, 4)).astype(np.float32) + 1
    big = variable_size.place(x, 9, seed=0)
    assert big.shape == (5, 1, 9, 9)
    for i in range(5):
        ys, xs = np.nonzero(big[i, 0])
        np.testing.assert_array_equal(
            big[i, 0, ys.min() : ys.min() + 4, xs.min() : xs.min() + 4], x[i, 0]
        )


# ----------------------------------------------------------------------------- the examples


def _run(name, *flags, env=None, cwd=None):
    """examples/<name>.py as a user runs it (stderr a pipe, progress lines every step)."""
    full_env = {**os.environ, "MINIGRAD_PROGRESS_SECONDS": "0", **(env or {})}
    if "MINIGRAD_DATA" not in (env or {}):
        full_env.pop("MINIGRAD_DATA", None)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *map(str, flags)],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_lenet_runs_on_the_digits_and_resumes_like_an_unbroken_run(tmp_path):
    tiny = ["--dataset", "digits", "--limit", "256", "--batch-size", "32", "--channels", "4", "8"]
    tiny += ["--hidden", "16"]
    a = _run("lenet", *tiny, "--epochs", "2", "--out", tmp_path / "a")
    assert a.stdout.count("test accuracy") >= 3  # each epoch and the summary
    for f in ("confusion.png", "misclassified.png", "filters.png", "accuracy.png", "model.npz"):
        assert (tmp_path / "a" / f).is_file(), f
    _run("lenet", *tiny, "--epochs", "1", "--out", tmp_path / "b")
    b = _run("lenet", *tiny, "--epochs", "2", "--resume", "--out", tmp_path / "b")
    assert "resuming" in b.stdout
    ha = json.loads((tmp_path / "a" / "history.json").read_text())
    hb = json.loads((tmp_path / "b" / "history.json").read_text())
    assert ha["test_accuracy"] == hb["test_accuracy"]
    np.testing.assert_allclose(ha["train_loss"], hb["train_loss"], rtol=1e-6)


def test_lenet_falls_back_to_the_digits_offline_and_says_so(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    flags = ["--limit", "64", "--batch-size", "32", "--epochs", "1", "--channels", "2", "2"]
    proc = _run("lenet", *flags, "--out", tmp_path / "o", env={"MINIGRAD_DATA": str(empty)})
    assert "Falling back to the 8x8 digits" in proc.stdout
    assert "lenet: digits" in proc.stdout


def test_segment_runs_with_refinement(tmp_path):
    proc = _run(
        "segment", "--dataset", "digits", "--epochs", "1", "--scenes", "64", "--test-scenes",
        "16", "--batch-size", "16", "--channels", "4", "4", "--refine", "2", "--noise", "0.1",
        "--out", tmp_path,
    )  # fmt: skip
    assert "pixel accuracy" in proc.stdout and "mean IoU" in proc.stdout
    assert "refine x2" in proc.stdout
    hist = json.loads((tmp_path / "history.json").read_text())
    assert len(hist["refine x2"]["steps"]) == 2 and len(hist["one pass"]["steps"]) == 1
    for f in ("segmentation.png", "iou.png", "model.npz", "model_refine.npz"):
        assert (tmp_path / f).is_file(), f
    # a run stopped after the one-pass network, before the refining one wrote a checkpoint:
    # --resume keeps the first (no epoch retrained) and trains the second from the start
    (tmp_path / "checkpoint_refine.npz").unlink()
    again = _run(
        "segment", "--dataset", "digits", "--epochs", "1", "--scenes", "64", "--test-scenes",
        "16", "--batch-size", "16", "--channels", "4", "4", "--refine", "2", "--noise", "0.1",
        "--out", tmp_path, "--resume",
    )  # fmt: skip
    assert again.stdout.count("resuming") == 1 and again.stdout.count("  epoch 1:") == 1
    redone = json.loads((tmp_path / "history.json").read_text())["refine x2"]
    for key in ("train_loss", "mean_iou", "pixel_accuracy", "steps"):  # the same training
        assert redone[key] == hist["refine x2"][key], key


def test_sequence_runs_and_learns_the_least_squares_kernel(tmp_path):
    proc = _run(
        "sequence", "--noise", "0.5", "--epochs", "40", "--sequences", "64", "--length", "60",
        "--kernel-size", "5", "--out", tmp_path,
    )  # fmt: skip
    assert "causal kernel" in proc.stdout
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["centred"][0] < 0.8 * hist["readings"][0]  # smoothing helps
    assert hist["causal"][0] == pytest.approx(hist["causal_least_squares"][0], rel=0.05)
    for f in ("kernels.png", "trajectory.png", "error.png"):
        assert (tmp_path / f).is_file(), f


def test_variable_size_runs_on_three_canvas_sizes(tmp_path):
    proc = _run(
        "variable_size", "--dataset", "digits", "--epochs", "1", "--limit", "256",
        "--batch-size", "32", "--out", tmp_path,
    )  # fmt: skip
    assert "in_features" in proc.stdout  # the flat head's error, shown
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["sizes"] == [8, 12, 16]
    assert set(hist["max"]["accuracy_by_size"]) == {"8", "12", "16"}
    for f in ("accuracy.png", "examples.png", "model_max.npz", "model_avg.npz"):
        assert (tmp_path / f).is_file(), f
