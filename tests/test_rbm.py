"""Restricted Boltzmann machines: the free energy against a brute-force sum / integral over
the hidden units, the CD-1 gradient against a hand computation, learning (the free energy
of the data falls), the greedy stack (resumed = uninterrupted) and its unrolling into a
deep autoencoder."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import Digits
from minigrad.models import RBM, DeepAutoencoder, pretrain_rbm_stack, rbm_optimizer, train_rbm_epoch


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class _FixedDraws:
    """Stands in for the RBM's generator: hands out given uniforms / normals in order."""

    def __init__(self, uniforms=(), normals=()):
        self.uniforms, self.normals = list(uniforms), list(normals)

    def random(self, shape):
        return np.asarray(self.uniforms.pop(0), dtype=np.float64).reshape(shape)

    def standard_normal(self, shape):
        return np.asarray(self.normals.pop(0), dtype=np.float64).reshape(shape)


def _rbm(w, b, c, **kw) -> RBM:
    w = np.asarray(w, dtype=np.float64)
    rbm = RBM(w.shape[1], w.shape[0], **kw).double()
    rbm.weight.data.copy_(mg.tensor(w))
    rbm.visible_bias.data.copy_(mg.tensor(np.asarray(b, dtype=np.float64)))
    rbm.hidden_bias.data.copy_(mg.tensor(np.asarray(c, dtype=np.float64)))
    return rbm


@pytest.fixture(scope="module")
def digits():
    x = Digits()[np.arange(1797)][0]
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1)


# ----------------------------------------------------------------------------- free energy


def test_free_energy_is_minus_log_sum_over_binary_hidden_states(rng):
    w, b, c = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    rbm = _rbm(w, b, c)
    v = rng.integers(0, 2, size=(5, 4)).astype(np.float64)
    expected = []
    for row in v:  # F(v) = -log sum_h exp(-E(v, h)), E = -b.v - c.h - h.W v
        energies = [
            -(b @ row) - (c @ h) - h @ w @ row
            for h in map(np.array, itertools.product([0, 1], repeat=3))
        ]
        expected.append(-np.log(np.sum(np.exp(-np.array(energies)))))
    np.testing.assert_allclose(rbm.free_energy(v).numpy(), expected, rtol=1e-10)


def test_free_energy_with_gaussian_units_matches_an_integral(rng):
    # linear (Gaussian) hidden units: F(v) = -log int exp(-E(v, h)) dh + (n_h / 2) log 2 pi
    w, b, c = rng.normal(size=(1, 3)), rng.normal(size=3), rng.normal(size=1)
    rbm = _rbm(w, b, c, hidden="gaussian")
    v = rng.integers(0, 2, size=(4, 3)).astype(np.float64)
    h = np.linspace(-30, 30, 200001)
    dh = h[1] - h[0]
    expected = []
    for row in v:
        energy = -(b @ row) + 0.5 * (h - c[0]) ** 2 - h * (w[0] @ row)
        expected.append(-np.log(np.exp(-energy).sum() * dh) + 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(rbm.free_energy(v).numpy(), expected, rtol=1e-8)
    # Gaussian visible units, binary hidden: sum over h of int over nothing; closed form
    rbm = _rbm(w, b, c, visible="gaussian")
    x = rng.normal(size=(4, 3))
    e0 = 0.5 * ((x - b) ** 2).sum(1)
    e1 = e0 - c[0] - x @ w[0]  # the two hidden states h = 0, 1
    np.testing.assert_allclose(
        rbm.free_energy(x).numpy(), -np.log(np.exp(-e0) + np.exp(-e1)), rtol=1e-10
    )


@pytest.mark.parametrize(
    "visible,hidden", [("binary", "binary"), ("gaussian", "binary"), ("binary", "gaussian")]
)
def test_free_energy_gradcheck(rng, visible, hidden):
    rbm = _rbm(
        rng.normal(size=(3, 4)) * 0.5,
        rng.normal(size=4),
        rng.normal(size=3),
        visible=visible,
        hidden=hidden,
    )
    v = mg.tensor(rng.random((2, 4)), requires_grad=True)
    assert mg.gradcheck(lambda t: rbm.free_energy(t), [v])


# ----------------------------------------------------------------------------- CD-1


def test_cd1_gradient_by_hand_on_a_one_by_one_rbm():
    # One visible unit, one hidden unit: W = 2, b = 0, c = -1, data v0 = 1, uniform draw 0.5.
    #   p(h=1 | v0) = sigmoid(2 - 1) = 0.731059;  0.5 < 0.731059, so h0 = 1
    #   v1 = p(v=1 | h0) = sigmoid(2 + 0) = 0.880797       (the mean, as in the paper's code)
    #   p(h=1 | v1) = sigmoid(2 * 0.880797 - 1) = sigmoid(0.761594) = 0.681700
    # CD-1 update: dW = p0 v0 - p1 v1 = 0.731059 - 0.681700 * 0.880797 = 0.130619
    #              db = v0 - v1 = 0.119203,   dc = p0 - p1 = 0.049359
    # and loss.backward() leaves the negated update in .grad.
    rbm = _rbm([[2.0]], [0.0], [-1.0])
    rbm.rng = _FixedDraws(uniforms=[[[0.5]]])
    loss, v1 = rbm.contrastive_divergence(np.array([[1.0]]), k=1)
    loss.backward()
    np.testing.assert_allclose(v1, [[0.880797]], atol=1e-6)
    np.testing.assert_allclose(rbm.weight.grad.numpy(), [[-0.130619]], atol=1e-6)
    np.testing.assert_allclose(rbm.visible_bias.grad.numpy(), [-0.119203], atol=1e-6)
    np.testing.assert_allclose(rbm.hidden_bias.grad.numpy(), [-0.049359], atol=1e-6)


def _cd1_by_hand(w, b, c, v0, u=None, noise=None, hidden="binary", visible="binary"):
    """The CD-1 update <h v^T>_0 - <h v^T>_1 (and the biases) written out with NumPy."""
    pre0 = v0 @ w.T + c
    m0 = _sigmoid(pre0) if hidden == "binary" else pre0
    h0 = (u < m0).astype(float) if hidden == "binary" else m0 + noise
    pre_v = h0 @ w + b
    v1 = _sigmoid(pre_v) if visible == "binary" else pre_v
    pre1 = v1 @ w.T + c
    m1 = _sigmoid(pre1) if hidden == "binary" else pre1
    n = len(v0)
    return (m0.T @ v0 - m1.T @ v1) / n, (v0 - v1).mean(0), (m0 - m1).mean(0), v1


@pytest.mark.parametrize(
    "visible,hidden", [("binary", "binary"), ("binary", "gaussian"), ("gaussian", "binary")]
)
def test_cd1_gradient_matches_the_update_written_out(rng, visible, hidden):
    w, b, c = rng.normal(size=(3, 5)), rng.normal(size=5), rng.normal(size=3)
    v0 = rng.random((4, 5)) if visible == "binary" else rng.normal(size=(4, 5))
    u, noise = rng.random((4, 3)), rng.normal(size=(4, 3))
    rbm = _rbm(w, b, c, visible=visible, hidden=hidden)
    rbm.rng = _FixedDraws(uniforms=[u], normals=[noise])
    loss, v1 = rbm.contrastive_divergence(v0, k=1)
    loss.backward()
    dw, db, dc, v1_ref = _cd1_by_hand(w, b, c, v0, u, noise, hidden, visible)
    np.testing.assert_allclose(v1, v1_ref, rtol=1e-12)
    np.testing.assert_allclose(-rbm.weight.grad.numpy(), dw, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(-rbm.visible_bias.grad.numpy(), db, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(-rbm.hidden_bias.grad.numpy(), dc, rtol=1e-9, atol=1e-12)


def test_cd_k_runs_k_gibbs_steps():
    rbm = RBM(6, 4, seed=0)
    draws = []
    real = rbm.rng

    class Counting:
        def random(self, shape):
            draws.append(shape)
            return real.random(shape)

    rbm.rng = Counting()
    rbm.contrastive_divergence(np.full((2, 6), 0.5, np.float32), k=3)
    assert draws == [(2, 4)] * 3  # h0, h1, h2; v3 is the mean of p(v | h2)


def test_sgd_step_is_the_papers_momentum_and_weight_decay_update(rng):
    # inc = momentum * inc + lr * (CD update - weight_decay * W); W += inc (biases: no decay)
    w, b, c = rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2)
    v0 = rng.random((5, 3))
    rbm = _rbm(w, b, c)
    opt = rbm_optimizer(rbm, lr=0.1, momentum=0.9, weight_decay=0.01)
    inc_w, inc_b = np.zeros_like(w), np.zeros_like(b)
    for _ in range(2):
        u = rng.random((5, 2))
        rbm.rng = _FixedDraws(uniforms=[u])
        w_now, b_now, c_now = (
            p.numpy().copy() for p in (rbm.weight, rbm.visible_bias, rbm.hidden_bias)
        )
        dw, db, _, _ = _cd1_by_hand(w_now, b_now, c_now, v0, u)
        inc_w = 0.9 * inc_w + 0.1 * (dw - 0.01 * w_now)
        inc_b = 0.9 * inc_b + 0.1 * db
        loss, _ = rbm.contrastive_divergence(v0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        np.testing.assert_allclose(rbm.weight.numpy(), w_now + inc_w, rtol=1e-12)
        np.testing.assert_allclose(rbm.visible_bias.numpy(), b_now + inc_b, rtol=1e-12)


# ----------------------------------------------------------------------------- learning


def test_free_energy_of_the_data_falls_with_training(digits):
    rbm = RBM(64, 32, seed=0)
    opt = rbm_optimizer(rbm, lr=0.05, momentum=0.5)
    noise = np.random.default_rng(1).permuted(digits, axis=1)  # same pixels, scrambled

    def gap():
        with mg.no_grad():
            return float(
                rbm.free_energy(noise).mean().item() - rbm.free_energy(digits).mean().item()
            )

    with mg.no_grad():
        before = float(rbm.free_energy(digits).mean().item())
    gap_before = gap()
    errors = []
    for epoch in range(10):
        order = np.random.default_rng(epoch).permutation(len(digits))
        errors.append(train_rbm_epoch(rbm, opt, digits, 50, order=order)["reconstruction_error"])
    with mg.no_grad():
        after = float(rbm.free_energy(digits).mean().item())
    assert after < before - 5, (before, after)
    # the data's free energy fell relative to images the model was not trained on, too
    # (a lower F everywhere would only mean larger weights)
    assert gap() > gap_before + 5, (gap_before, gap())
    assert errors[-1] < 0.6 * errors[0], errors


def test_stack_resumed_from_its_state_equals_the_uninterrupted_one(digits):
    kw = dict(epochs=2, batch_size=100, seed=3)
    straight = pretrain_rbm_stack([64, 16, 4], digits, **kw)
    saved = []
    pretrain_rbm_stack([64, 16, 4], digits, on_epoch=lambda info: saved.append(info["state"]), **kw)
    assert [(s["layer"], s["epoch"]) for s in saved] == [(0, 1), (1, 0), (1, 1), (2, 0)]
    for cut in (0, 1, 2):  # mid-layer (with momentum buffers), between layers, mid-layer
        resumed = pretrain_rbm_stack([64, 16, 4], digits, state=saved[cut], **kw)
        for a, b in zip(straight, resumed):
            for name in ("weight", "visible_bias", "hidden_bias"):
                np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy())


def test_stack_layers_and_unrolled_autoencoder(digits):
    rbms = pretrain_rbm_stack([64, 16, 8, 3], digits, epochs=1, seed=0)
    assert [(r.visible, r.hidden) for r in rbms] == [("binary", "binary")] * 2 + [
        ("binary", "gaussian")
    ]
    model = DeepAutoencoder([64, 16, 8, 3])
    model.init_from_rbms(rbms)
    x = digits[:10]
    with mg.no_grad():
        up = x
        for r in rbms:
            up = r.hidden_mean(up)
        np.testing.assert_allclose(model.encode(x).numpy(), up.numpy(), rtol=1e-5, atol=1e-6)
        down = up
        for r in reversed(rbms):
            down = r.visible_mean(down)
        np.testing.assert_allclose(model(x).numpy(), down.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="rbms"):
        model.init_from_rbms(rbms[:2])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="normalisable"):
        RBM(4, 3, visible="gaussian", hidden="gaussian")
    with pytest.raises(ValueError, match="hidden"):
        RBM(4, 3, hidden="relu")
    with pytest.raises(ValueError, match="n_hidden"):
        RBM(4, 0)
    rbm = RBM(4, 3)
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        rbm.free_energy(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="k must"):
        rbm.contrastive_divergence(np.zeros((2, 4), np.float32), k=0)
    with pytest.raises(ValueError, match="sizes"):
        pretrain_rbm_stack([4], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="sizes\\[0\\]"):
        pretrain_rbm_stack([5, 2], np.zeros((3, 4)))
