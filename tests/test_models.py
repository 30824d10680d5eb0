"""Tests for minigrad.models on the shipped digits: losses fall, corruption statistics,
sparsity, linear autoencoder = PCA subspace, layer-wise pre-training then fine-tuning, and
each model's loss against an independent NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import Digits
from minigrad.models import (
    Autoencoder,
    ConvAutoencoder,
    DeepAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
    fit,
    linear_autoencoder_vs_pca,
    pca,
    pretrain_layerwise,
    principal_angles,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tests check learning, not threading; one kernel thread keeps them fast when
    other processes share the cores (idle OpenMP threads spin and steal them)."""
    before = mg.get_num_threads()
    mg.set_num_threads(1)
    yield
    mg.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    """Shipped digits: images (1797, 1, 8, 8) in [0, 1], labels."""
    ds = Digits()
    x, y = ds[np.arange(len(ds))]
    return x, y


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _train(model, x, steps=300, lr=3e-3, batch_size=32, seed=0):
    mg.manual_seed(seed)
    return fit(
        lambda idx: model.loss(x[idx]),
        model.parameters(),
        len(x),
        epochs=100,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        max_steps=steps,
    )


def _falls(losses, factor):
    first, last = np.mean(losses[:20]), np.mean(losses[-20:])
    return last < factor * first, (first, last)


MODELS = {
    "ae-sigmoid-bce": lambda: Autoencoder(64, 16, decoder="sigmoid"),
    "ae-linear-mse": lambda: Autoencoder(64, 16, decoder="linear"),
    "ae-tied": lambda: Autoencoder(64, 16, tied=True),
    "ae-l2": lambda: Autoencoder(64, 16, weight_decay=1e-4),
    "dae-mask-0.25": lambda: DenoisingAutoencoder(64, 32, noise="mask", noise_level=0.25, seed=0),
    "dae-mask-0.5": lambda: DenoisingAutoencoder(64, 32, noise="mask", noise_level=0.5, seed=0),
    "dae-gaussian": lambda: DenoisingAutoencoder(64, 32, noise="gaussian", noise_level=0.3),
    "sparse": lambda: SparseAutoencoder(64, 32, rho=0.1, beta=0.5),
    "deep": lambda: DeepAutoencoder([64, 48, 24, 8], activation="relu"),
    "conv": lambda: ConvAutoencoder(1, channels=(8, 16)),
    "conv-tied": lambda: ConvAutoencoder(1, channels=(8, 16), tied=True),
}
# a factor each run clears by a margin (measured), but that a broken model would not
FALL = {"ae-linear-mse": 0.4, "sparse": 0.3, "conv": 0.4, "conv-tied": 0.4, "deep": 0.75}


@pytest.mark.parametrize("name", list(MODELS))
def test_loss_falls(digits, name):
    x, _ = digits
    mg.manual_seed(0)
    model = MODELS[name]()
    losses = _train(model, x, steps=200)
    ok, (first, last) = _falls(losses, FALL.get(name, 0.8))
    assert ok, f"{name}: loss {first:.4f} -> {last:.4f}"
    out = model(mg.tensor(x[:5]))
    assert out.shape == x[:5].shape


# ----------------------------------------------------------------------------- references


def test_autoencoder_loss_matches_numpy_reference(digits):
    x = digits[0][:20].reshape(20, -1).astype(np.float64)
    for tied in (False, True):
        mg.manual_seed(1)
        m = Autoencoder(64, 10, tied=tied, weight_decay=0.01)
        we, b = m.encoder.weight.numpy(), m.encoder.bias.numpy()
        wd = we.T if tied else m.decoder.weight.numpy()
        c = m.decoder.bias.numpy()
        h = _sigmoid(x @ we.T + b)  # h = f(W_e x + b)
        xh = _sigmoid(h @ wd.T + c)  # x_hat = g(W_d h + c)
        bce = np.mean(-x * np.log(xh) - (1 - x) * np.log(1 - xh))
        l2 = (we**2).sum() + (0 if tied else (wd**2).sum())
        got = float(m.loss(x.astype(np.float32)).item())
        assert got == pytest.approx(bce + 0.01 * l2, rel=1e-4)
        np.testing.assert_allclose(m(x.astype(np.float32)).numpy(), xh, rtol=1e-4, atol=1e-6)


def test_sparse_penalty_matches_kl_formula(digits):
    x = digits[0][:50].reshape(50, -1)
    mg.manual_seed(2)
    m = SparseAutoencoder(64, 12, rho=0.05, beta=3.0, decoder="linear")
    we, b = m.encoder.weight.numpy(), m.encoder.bias.numpy()
    wd, c = m.decoder.weight.numpy(), m.decoder.bias.numpy()
    h = _sigmoid(x.astype(np.float64) @ we.T + b)
    rho, rho_hat = 0.05, h.mean(axis=0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    mse = np.mean((h @ wd.T + c - x) ** 2)
    assert float(m.loss(x).item()) == pytest.approx(mse + 3.0 * kl, rel=1e-4)


def test_tied_decoder_gradient_is_sum_of_both_uses(digits):
    x = digits[0][:8].reshape(8, -1).astype(np.float64)
    mg.manual_seed(3)
    m = Autoencoder(64, 6, tied=True, decoder="linear").double()
    assert len(list(m.parameters())) == 3  # W, b, c: the decoder owns only its bias

    def loss_of(w):
        m.encoder.weight.data[...] = w
        return float(m.loss(x).item())

    m.zero_grad()
    m.loss(x).backward()
    g = m.encoder.weight.grad.numpy()
    w0 = m.encoder.weight.numpy().copy()
    rng = np.random.default_rng(0)
    for _ in range(5):
        i, j = rng.integers(6), rng.integers(64)
        wp, wm = w0.copy(), w0.copy()
        wp[i, j] += 1e-6
        wm[i, j] -= 1e-6
        fd = (loss_of(wp) - loss_of(wm)) / 2e-6
        assert g[i, j] == pytest.approx(fd, rel=1e-4, abs=1e-9)
    m.encoder.weight.data[...] = w0


def test_models_gradcheck_in_float64(digits):
    x = mg.tensor(digits[0][:3].astype(np.float64), requires_grad=True)
    for make in (
        lambda: Autoencoder(64, 5, tied=True),
        lambda: DeepAutoencoder([64, 8, 4]),
        lambda: ConvAutoencoder(1, channels=(2, 3)),
    ):
        mg.manual_seed(4)
        model = make().double()
        assert mg.gradcheck(lambda t, model=model: model(t), [x])


# ----------------------------------------------------------------------------- corruption


@pytest.mark.parametrize("q", [0.25, 0.5])
def test_denoising_masking_statistics(q):
    m = DenoisingAutoencoder(100, 10, noise="mask", noise_level=q, seed=0)
    x = np.full((400, 100), 0.7, dtype=np.float32)
    m.train()
    xt = m.corrupt(x)
    frac = (xt == 0).mean()
    assert abs(frac - q) < 5 * np.sqrt(q * (1 - q) / x.size)
    assert np.all((xt == 0) | (xt == x))
    m.eval()
    np.testing.assert_array_equal(m.corrupt(x), x)  # no corruption at evaluation
    assert (m.corrupt(x, force=True) == 0).any()


def test_denoising_gaussian_statistics():
    m = DenoisingAutoencoder(100, 10, noise="gaussian", noise_level=0.2, seed=0)
    x = np.zeros((500, 100), dtype=np.float32)
    eps = m.corrupt(x)
    assert abs(eps.mean()) < 5 * 0.2 / np.sqrt(eps.size)
    assert eps.std() == pytest.approx(0.2, rel=0.01)


def test_denoising_reconstructs_clean_input(digits):
    # trained on corrupted inputs, it must beat the identity map at undoing the corruption
    x = digits[0].reshape(len(digits[0]), -1)
    mg.manual_seed(5)
    m = DenoisingAutoencoder(64, 48, noise="mask", noise_level=0.25, seed=1, decoder="sigmoid")
    _train(m, x, steps=600, lr=5e-3)
    m.eval()
    xt = m.corrupt(x, force=True)
    with mg.no_grad():
        rec = m(xt).numpy()
    assert np.mean((rec - x) ** 2) < 0.6 * np.mean((xt - x) ** 2)


def test_sparse_mean_activation_moves_toward_rho(digits):
    x = digits[0].reshape(len(digits[0]), -1)
    rho = 0.05
    mg.manual_seed(6)
    m = SparseAutoencoder(64, 40, rho=rho, beta=1.0)
    with mg.no_grad():
        before = m.encode(x).numpy().mean()
    _train(m, x, steps=400, lr=1e-2)
    with mg.no_grad():
        after = m.encode(x).numpy().mean()
    assert abs(after - rho) < 0.3 * abs(before - rho), (before, after)


# ----------------------------------------------------------------------------- PCA


def test_pca_matches_covariance_eigenvectors(digits):
    x = digits[0].reshape(len(digits[0]), -1).astype(np.float64)
    comps, mean, var = pca(x, 3)
    ev, evec = np.linalg.eigh(np.cov(x.T))
    np.testing.assert_allclose(var, ev[::-1][:3], rtol=1e-8)
    for i in range(3):  # eigenvectors up to sign
        assert abs(abs(comps[i] @ evec[:, -1 - i]) - 1) < 1e-8
    np.testing.assert_allclose(mean, x.mean(axis=0))


def test_principal_angles_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 4))
    for b in (rng.standard_normal((30, 4)), a @ rng.standard_normal((4, 4)) + 1e-7):
        np.testing.assert_allclose(
            principal_angles(a, b), np.sort(linalg.subspace_angles(a, b)), atol=1e-9
        )


def test_linear_autoencoder_finds_pca_subspace(digits):
    x = digits[0].reshape(len(digits[0]), -1)
    r = linear_autoencoder_vs_pca(x, 4, steps=600, lr=0.1, seed=0)
    assert r["angles"].max() < 1e-2, r["angles"]
    assert r["ae_error"] == pytest.approx(r["pca_error"], rel=1e-4)


# ----------------------------------------------------------------------------- pre-training


def test_unsupervised_pretraining_then_finetuning(digits):
    x = digits[0].reshape(len(digits[0]), -1)
    mg.manual_seed(7)
    model = DeepAutoencoder([64, 32, 16, 6], activation="sigmoid")
    losses = model.pretrain(x, epochs=100, batch_size=32, lr=1e-2, max_steps=150)
    assert len(losses) == 3
    for i, ls in enumerate(losses):
        ok, fl = _falls(ls, 0.9)
        assert ok, f"layer {i}: {fl}"
    with mg.no_grad():
        after_pretrain = float(model.loss(x).item())
    finetune = _train(model, x, steps=200, lr=3e-3)
    with mg.no_grad():
        after_finetune = float(model.loss(x).item())
    assert after_finetune < after_pretrain
    assert np.isfinite(finetune).all()


def test_supervised_pretraining_then_finetuning(digits):
    from minigrad import nn

    x, y = digits
    x = x.reshape(len(x), -1)
    mg.manual_seed(8)
    layers = [nn.Linear(64, 32), nn.Linear(32, 16)]
    r = pretrain_layerwise(
        layers, x, mode="supervised", targets=y, epochs=100, lr=1e-2, max_steps=150
    )
    assert len(r["heads"]) == 2 and r["codes"].shape == (len(x), 16)
    for ls in r["losses"]:
        assert _falls(ls, 0.7)[0]
    # the stack plus the top layer's classifier head, fine-tuned together
    net = nn.Sequential(layers[0], nn.Sigmoid(), layers[1], nn.Sigmoid(), r["heads"][-1])
    import minigrad.functional as F

    fit(
        lambda idx: F.cross_entropy(net(mg.tensor(x[idx])), mg.tensor(y[idx])),
        net.parameters(),
        len(x),
        epochs=100,
        lr=5e-3,
        max_steps=200,
    )
    with mg.no_grad():
        acc = (net(mg.tensor(x)).numpy().argmax(axis=1) == y).mean()
    assert acc > 0.85


def test_pretrain_argument_checks(digits):
    from minigrad import nn

    x = digits[0].reshape(len(digits[0]), -1)
    with pytest.raises(ValueError, match="mode"):
        pretrain_layerwise([nn.Linear(64, 8)], x, mode="greedy")
    with pytest.raises(ValueError, match="targets"):
        pretrain_layerwise([nn.Linear(64, 8)], x, mode="supervised")
    with pytest.raises(ValueError, match="layers"):
        pretrain_layerwise([nn.Linear(10, 8)], x)


def test_model_argument_checks():
    with pytest.raises(ValueError, match="noise"):
        Autoencoder(4, 2, noise="salt")
    with pytest.raises(ValueError, match="rho"):
        SparseAutoencoder(4, 2, rho=1.5)
    with pytest.raises(ValueError, match="activation"):
        Autoencoder(4, 2, activation="swish")
    with pytest.raises(ValueError, match="loss"):
        Autoencoder(4, 2, decoder="linear", loss="bce")
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvAutoencoder(1, channels=(2, 2))(np.zeros((1, 1, 6, 6), np.float32))
    # refused when built, naming the argument, rather than failing at the first loss
    with pytest.raises(ValueError, match="decoder"):
        DeepAutoencoder([64, 8], decoder="softplus")
    with pytest.raises(ValueError, match="decoder"):
        ConvAutoencoder(1, decoder="softplus")
    with pytest.raises(ValueError, match="channels"):
        ConvAutoencoder(1, channels=[])
    with pytest.raises(ValueError, match="kernel_size"):  # an even kernel gives 9x9 from 8x8
        ConvAutoencoder(1, kernel_size=4)


def test_training_helpers_argument_checks(digits):
    from minigrad import nn
    from minigrad.models import train_linear_autoencoder

    x = digits[0].reshape(len(digits[0]), -1)
    with pytest.raises(ValueError, match=r"activations\[1\]"):  # was a bare KeyError
        pretrain_layerwise([nn.Linear(64, 8), nn.Linear(8, 4)], x, activations=["relu", "swish"])
    layer = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="optimizer"):  # was silently plain SGD
        fit(
            lambda idx: layer(mg.tensor(x[idx, :4])).sum(), layer.parameters(), 8, optimizer="adamw"
        )
    with pytest.raises(ValueError, match="k"):
        train_linear_autoencoder(x, 0, steps=1)


# ----------------------------------------------------------------------------- examples


def _example(name):
    import importlib.util
    import pathlib
    import sys

    folder = pathlib.Path(__file__).resolve().parents[1] / "examples"
    if not (folder / f"{name}.py").exists():
        pytest.skip("examples/ is not next to the tests (running from an installed copy)")
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def _read_png(path):
    mpimg = pytest.importorskip("matplotlib.image")
    return mpimg.imread(str(path))


def test_conv_example_falls_back_to_digits_and_writes_pictures(tmp_path, monkeypatch, capsys):
    read_png = _read_png
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    ex = _example("conv_autoencoder")
    monkeypatch.setattr(ex._common, "find_data_root", lambda explicit: None)
    history = ex.main(["--epochs", "2", "--limit", "640", "--out", str(tmp_path)])
    said = capsys.readouterr()
    assert "Falling back to the 8x8 digits" in said.out and "epoch 2: test loss" in said.out
    assert history["train"][1] < history["train"][0]
    for name in ("inputs.png", "reconstructions.png", "filters.png", "loss.png", "test_error.png"):
        assert read_png(tmp_path / name).size > 0
    # the checkpoint restores a model that reconstructs exactly like the trained one
    model = ConvAutoencoder(1, channels=(16, 8))
    model.load_state_dict(mg.load(str(tmp_path / "model.npz")))
    model.eval()
    x = Digits()[np.arange(4)][0]
    with mg.no_grad():
        np.testing.assert_array_equal(
            model(mg.tensor(x)).numpy(), history["model"](mg.tensor(x)).numpy()
        )


def test_cnn_classifier_example_trains_conv_tiled_and_local_first_layers(tmp_path):
    read_png = _read_png
    ex = _example("cnn_classifier")
    flags = ["--dataset", "digits", "--epochs", "3", "--limit", "640", "--out", str(tmp_path)]
    results = ex.main(flags)
    assert set(results) == {"conv", "tiled", "local"}
    # first-layer parameters: shared 16 x 3 x 3 (+16), 2 x 2 tiles of them, one per location
    firsts = {k: h["first_layer_parameters"] for k, h in results.items()}
    assert firsts == {"conv": 16 * 9 + 16, "tiled": 4 * (16 * 9 + 16), "local": 64 * (16 * 9 + 16)}
    for layer, h in results.items():
        assert h["test_accuracy"][-1] > 0.4  # ten classes: chance is 0.1
        assert h["train_loss"][-1] < h["train_loss"][0]
        assert read_png(tmp_path / f"filters_{layer}.png").size > 0
        model = ex.build(layer, (1, 8, 8))
        model.load_state_dict(mg.load(str(tmp_path / f"model_{layer}.npz")))
        x = Digits()[np.arange(5)][0]
        model.eval()
        with mg.no_grad():
            np.testing.assert_array_equal(
                model(mg.tensor(x)).numpy(), h["model"](mg.tensor(x)).numpy()
            )
    assert read_png(tmp_path / "accuracy.png").size > 0
    with pytest.raises(SystemExit):
        ex.main(["--layers", "dense", "--out", str(tmp_path)])


def test_denoising_example_writes_corrupted_inputs(tmp_path):
    ex = _example("denoising_autoencoder")
    ex.main(["--dataset", "digits", "--epochs", "1", "--hidden", "16", "--out", str(tmp_path)])
    assert (tmp_path / "corrupted.png").is_file() and (tmp_path / "filters.png").is_file()


def test_examples_refuse_bad_flags_with_a_message(tmp_path, capsys):
    ex = _example("autoencoder")
    # a mistyped --data folder used to be ignored silently ($MINIGRAD_DATA was used instead)
    with pytest.raises(SystemExit, match="--data .*no such folder"):
        ex.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path)])
    for flags in (["--epochs", "0"], ["--batch-size", "-1"], ["--limit", "x"]):
        with pytest.raises(SystemExit):  # argparse: usage error, not a traceback later
            ex.main(["--dataset", "digits", *flags, "--out", str(tmp_path)])
        assert "expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="batch-size"):  # no full batch: no step would run
        ex.main(["--dataset", "digits", "--limit", "10", "--out", str(tmp_path)])
