"""The functional ops that pytorch/examples' mnist/main.py and vae/main.py call through
``F.``, used exactly as those scripts use them, against PyTorch: the classifier's
forward pass and NLL loss (mean for training, sum for the test loss), and the VAE's
summed binary cross-entropy plus KL term.  Same weights in both libraries; losses and
every parameter gradient compared in float64."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

RNG = np.random.default_rng(11)


def _mnist_params():
    p = {
        "conv1.w": RNG.standard_normal((8, 1, 3, 3)) * 0.3,
        "conv1.b": RNG.standard_normal(8) * 0.1,
        "conv2.w": RNG.standard_normal((16, 8, 3, 3)) * 0.1,
        "conv2.b": RNG.standard_normal(16) * 0.1,
        "fc1.w": RNG.standard_normal((32, 16 * 6 * 6)) * 0.05,
        "fc1.b": RNG.standard_normal(32) * 0.1,
        "fc2.w": RNG.standard_normal((10, 32)) * 0.2,
        "fc2.b": RNG.standard_normal(10) * 0.1,
    }
    return p


def _mnist_forward(lib_F, flatten, p, x):
    """mnist/main.py's Net.forward (dropout off, as in eval), smaller channels."""
    x = lib_F.conv2d(x, p["conv1.w"], p["conv1.b"], 1)
    x = lib_F.relu(x)
    x = lib_F.conv2d(x, p["conv2.w"], p["conv2.b"], 1)
    x = lib_F.relu(x)
    x = lib_F.max_pool2d(x, 2)
    x = flatten(x, 1)
    x = lib_F.linear(x, p["fc1.w"], p["fc1.b"])
    x = lib_F.relu(x)
    x = lib_F.linear(x, p["fc2.w"], p["fc2.b"])
    return lib_F.log_softmax(x, dim=1)


def test_mnist_classifier_ops_match_pytorch():
    torch = pytest.importorskip("torch")
    params = _mnist_params()
    data = RNG.standard_normal((5, 1, 16, 16))
    target = RNG.integers(0, 10, 5)

    mp = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    out = _mnist_forward(F, mg.flatten, mp, mg.tensor(data))
    loss = F.nll_loss(out, mg.tensor(target))
    loss.backward()
    test_loss = F.nll_loss(out, mg.tensor(target), reduction="sum").item()
    pred = out.numpy().argmax(1)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tout = _mnist_forward(torch.nn.functional, torch.flatten, tp, torch.tensor(data))
    tloss = torch.nn.functional.nll_loss(tout, torch.tensor(target))
    tloss.backward()

    assert abs(loss.item() - tloss.item()) < 1e-12
    ref_sum = torch.nn.functional.nll_loss(tout, torch.tensor(target), reduction="sum").item()
    assert abs(test_loss - ref_sum) < 1e-11
    np.testing.assert_array_equal(pred, tout.detach().numpy().argmax(1))
    for k in params:
        np.testing.assert_allclose(mp[k].grad.numpy(), tp[k].grad.numpy(), rtol=1e-9, atol=1e-12)


def test_vae_loss_ops_match_pytorch():
    torch = pytest.importorskip("torch")
    logits = RNG.standard_normal((4, 784))
    data = RNG.uniform(size=(4, 1, 28, 28))  # not binarized, as the script's ToTensor data
    mu, logvar = RNG.standard_normal((4, 20)), RNG.standard_normal((4, 20)) * 0.5

    def loss_function(lib_F, recon_x, x, mu, logvar):
        bce = lib_F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
        return bce + kld

    ml, mm, mv = (mg.tensor(a, requires_grad=True) for a in (logits, mu, logvar))
    loss = loss_function(F, F.sigmoid(ml), mg.tensor(data), mm, mv)
    loss.backward()
    tl, tm, tv = (torch.tensor(a, requires_grad=True) for a in (logits, mu, logvar))
    tloss = loss_function(torch.nn.functional, torch.sigmoid(tl), torch.tensor(data), tm, tv)
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-9 * abs(tloss.item())
    for ours, theirs in ((ml, tl), (mm, tm), (mv, tv)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
