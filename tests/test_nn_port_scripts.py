"""The nn/optim surface that pytorch/examples' mnist/main.py and vae/main.py use,
written as those scripts write it (their Net and VAE shrunk to the shipped 8x8
digits): Module subclasses with ``super(Net, self).__init__()``, Dropout,
``model.train()/eval()``, ``optim.Adadelta(model.parameters(), lr=...)`` with
``StepLR(step_size=1, gamma=...)``, ``optim.Adam`` - and they learn."""

from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import load_digits
from minigrad.optim.lr_scheduler import StepLR


def _digits():
    images, labels = load_digits()
    x = ((images / 16.0 - 0.5) / 0.5).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    return x, labels, order[:1400], order[1400:]


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 - written as the script writes it
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = mg.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def test_mnist_script_net_with_adadelta_and_steplr_learns_digits():
    x, y, train_idx, test_idx = _digits()
    mg.manual_seed(1)
    model = Net()
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    rng = np.random.default_rng(0)
    for epoch in range(1, 9):
        model.train()
        for batch in np.array_split(rng.permutation(train_idx), len(train_idx) // 16):
            optimizer.zero_grad()
            output = model(mg.tensor(x[batch]))
            loss = F.nll_loss(output, mg.tensor(y[batch]))
            loss.backward()
            optimizer.step()
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == 0.7**epoch
    model.eval()
    with mg.no_grad():
        output = model(mg.tensor(x[test_idx]))
        test_loss = F.nll_loss(output, mg.tensor(y[test_idx]), reduction="sum").item()
        pred = output.argmax(dim=1, keepdim=True)
    correct = int((pred.numpy()[:, 0] == y[test_idx]).sum())
    print(f"mnist-script Net on digits: test accuracy {correct / len(test_idx):.3f}")
    assert correct / len(test_idx) > 0.88, (correct, test_loss)  # 0.922 here


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()  # noqa: UP008
        self.fc1 = nn.Linear(64, 40)
        self.fc21 = nn.Linear(40, 4)
        self.fc22 = nn.Linear(40, 4)
        self.fc3 = nn.Linear(4, 40)
        self.fc4 = nn.Linear(40, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = mg.exp(0.5 * logvar)
        eps = mg.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return mg.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.reshape(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def test_vae_script_model_with_adam_learns_digits():
    x, _, train_idx, test_idx = _digits()
    x = (x + 1) / 2  # pixels in [0, 1] for the Bernoulli likelihood
    mg.manual_seed(0)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.reshape(-1, 64), reduction="sum")
        kld = -0.5 * mg.sum(1 + logvar - mu * mu - logvar.exp())
        return bce + kld

    def test_loss():
        model.eval()
        with mg.no_grad():
            data = mg.tensor(x[test_idx])
            return loss_function(*model(data)[:1], data, *model(data)[1:]).item() / len(test_idx)

    before = test_loss()
    rng = np.random.default_rng(0)
    for _epoch in range(10):
        model.train()
        for batch in np.array_split(rng.permutation(train_idx), len(train_idx) // 128):
            data = mg.tensor(x[batch])
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            optimizer.step()
    after = test_loss()
    assert after < 0.8 * before, (before, after)
