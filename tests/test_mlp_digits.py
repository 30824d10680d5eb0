"""End to end: a 2-layer MLP learns the shipped 8x8 digits to > 95% test accuracy,
and a checkpoint of the trained model reproduces its predictions exactly."""

from __future__ import annotations

import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import load_digits
from minigrad.serialization import load, save


def test_mlp_learns_digits(tmp_path):
    start = time.perf_counter()
    images, labels = load_digits()
    x = (images.reshape(len(images), -1) / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1400], order[1400:]

    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.3)
    rng = np.random.default_rng(1)
    losses = []
    for _epoch in range(25):
        perm = rng.permutation(train)
        for i in range(0, len(perm), 50):
            idx = perm[i : i + 50]
            opt.zero_grad()
            loss = F.cross_entropy(model(mg.tensor(x[idx])), labels[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()

    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(x[test])).numpy()
    accuracy = float(np.mean(logits.argmax(1) == labels[test]))
    assert np.mean(losses[-20:]) < 0.25 * np.mean(losses[:20])
    assert accuracy > 0.95, f"test accuracy {accuracy:.3f}"
    print(f"digits MLP test accuracy {accuracy:.4f}")

    save({"model": model.state_dict(), "accuracy": accuracy}, tmp_path / "mlp.ckpt")
    mg.manual_seed(123)  # a different initialisation, overwritten by the checkpoint
    clone = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    ck = load(tmp_path / "mlp.ckpt")
    clone.load_state_dict(ck["model"])
    with mg.no_grad():
        np.testing.assert_array_equal(clone(mg.tensor(x[test])).numpy(), logits)
    assert ck["accuracy"] == accuracy
    assert time.perf_counter() - start < 20
