"""What the MPI test scripts and tests/test_distributed.py share: the models, the data
and one training step, so that the single-process reference in the test builds exactly
what every rank built."""

from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.models import ConvAutoencoder

N_EXAMPLES = 50  # not a multiple of 2 * batch: the sampler pads
INIT_SEED = 100  # rank 0's initial weights; the other ranks start elsewhere


class ConvNet(nn.Module):
    """conv -> relu -> max pool -> linear, a cross-entropy classifier of 8x8 images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = self.pool(F.relu(self.conv(x)))
        return self.fc(h.reshape(h.shape[0], -1))

    def loss(self, x, y):
        return F.cross_entropy(self(x), y)


class EarlyUse(ConvNet):
    """Uses fc's weight (in a term scaled by the data) before fc is called: the bucket
    holding it must not be sent at fc's marker."""

    def loss(self, x, y):
        early = (self.fc.weight * x.mean()).sum() * 0.1
        return F.cross_entropy(self(x), y) + early


def build(kind: str, dtype: str, seed: int):
    mg.manual_seed(seed)
    if kind == "convnet":
        model = ConvNet()
    elif kind == "early_use":
        model = EarlyUse()
    elif kind == "conv_ae":
        model = ConvAutoencoder(1, channels=[4, 2])
    elif kind == "conv_ae_tied":
        model = ConvAutoencoder(1, channels=[4, 2], tied=True)
    else:
        raise ValueError(kind)
    return model.to(np.dtype(dtype))


def make_optimizer(name: str, model):
    if name == "sgd":
        return optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return optim.Adam(model.parameters(), lr=0.01)


def data(dtype: str):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(N_EXAMPLES, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 3, size=N_EXAMPLES)
    return x, y


def loss_of(kind: str, caller, x: np.ndarray, y: np.ndarray):
    """The training loss of one batch; ``caller`` is the model or its DDP wrapper."""
    if kind.startswith("conv_ae"):
        return caller.loss(mg.tensor(x))
    return caller.loss(mg.tensor(x), mg.tensor(y))


def named_arrays(model) -> dict:
    return {name: p.numpy().copy() for name, p in model.named_parameters()}
