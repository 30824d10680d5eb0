"""Restricted Boltzmann machines trained by contrastive divergence, and their greedy stack
(Hinton and Salakhutdinov, Science 2006; Hinton, "A practical guide to training RBMs", 2010).

An RBM has visible units v and hidden units h, connected by W (n_hidden, n_visible, the
layout of ``nn.Linear(n_visible, n_hidden).weight``) and no connections within a layer:

    binary v, binary h:    E(v, h) = -b.v - c.h - h.W v
    Gaussian v (unit var): E(v, h) = |v - b|^2 / 2 - c.h - h.W v
    Gaussian h (unit var): E(v, h) = -b.v + |h - c|^2 / 2 - h.W v   ("linear hidden units")

so that the conditionals are independent units: p(h | v) has mean sigmoid(W v + c) (binary)
or W v + c (Gaussian, unit variance), and p(v | h) has mean sigmoid(W^T h + b) or W^T h + b.
Summing out h gives the free energy F(v), with p(v) = exp(-F(v)) / Z:

    binary h:   F(v) = visible term - sum_j softplus(c_j + W_j v)
    Gaussian h: F(v) = visible term - |c + W v|^2 / 2 + |c|^2 / 2   (dropping (n_h/2) log 2 pi)
    visible term: -b.v (binary v) or |v - b|^2 / 2 (Gaussian v)

The log-likelihood gradient is -dF(v)/dtheta at the data minus the same at samples of the
model. Contrastive divergence (CD-k) replaces the model's samples by v_k, k steps of Gibbs
sampling started at the data. So ``loss = mean F(v_0) - mean F(v_k)`` (v_k held fixed) has
for its gradient exactly the negated CD-k update: for W, -(<h v^T>_0 - <h v^T>_k) with
<h v^T> = E[h | v] v^T averaged over the batch. Training is then ordinary back-propagation
of that loss and an optimizer step (SGD with momentum and weight decay, as in the paper).

As in Hinton's code the chain samples the hidden states but uses the visible means as the
"reconstruction" v_k (less sampling noise), and the statistics use the hidden means.
A Gaussian hidden and a Gaussian visible layer together have no normalisable p(v), so
that combination is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn

__all__ = ["RBM", "rbm_optimizer", "train_rbm_epoch", "pretrain_rbm_stack"]

_KINDS = ("binary", "gaussian")


class RBM(nn.Module):
    """A restricted Boltzmann machine with ``visible`` and ``hidden`` units each
    'binary' or 'gaussian' (unit variance; Gaussian hidden = the paper's linear units).

    Parameters: ``weight`` (n_hidden, n_visible), drawn from N(0, ``init_std``^2) (0.1 in
    the paper's code), ``visible_bias`` (n_visible,) and ``hidden_bias`` (n_hidden,), zero.
    ``seed`` seeds the generator of the Gibbs chain's samples (``self.rng``).
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        visible: str = "binary",
        hidden: str = "binary",
        init_std: float = 0.1,
        seed: int | None = None,
    ):
        super().__init__()
        for name, value in (("n_visible", n_visible), ("n_hidden", n_hidden)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"RBM: {name} must be a positive int, got {value!r}")
        for name, kind in (("visible", visible), ("hidden", hidden)):
            if kind not in _KINDS:
                raise ValueError(f"RBM: {name} must be one of {_KINDS}, got {kind!r}")
        if visible == hidden == "gaussian":
            raise ValueError(
                "RBM: visible='gaussian' with hidden='gaussian' has no normalisable "
                "distribution (its free energy is unbounded below); make one side binary"
            )
        if not init_std >= 0:
            raise ValueError(f"RBM: init_std must be >= 0, got {init_std!r}")
        self.n_visible, self.n_hidden = int(n_visible), int(n_hidden)
        self.visible, self.hidden = visible, hidden
        self.rng = np.random.default_rng(seed)
        w = self.rng.standard_normal((n_hidden, n_visible)) * init_std
        self.weight = nn.Parameter(w.astype(np.float32))
        self.visible_bias = nn.Parameter(np.zeros(n_visible, np.float32))
        self.hidden_bias = nn.Parameter(np.zeros(n_hidden, np.float32))

    def extra_repr(self) -> str:
        return f"{self.n_visible} {self.visible} -> {self.n_hidden} {self.hidden}"

    # ------------------------------------------------------------------ conditionals

    def _check(self, v) -> mg.Tensor:
        v = v if isinstance(v, mg.Tensor) else mg.tensor(np.asarray(v, dtype=self.weight.dtype))
        if v.ndim != 2 or v.shape[1] != self.n_visible:
            raise ValueError(
                f"RBM: v must be (batch, {self.n_visible}), got shape {tuple(v.shape)}"
            )
        return v

    def hidden_preactivation(self, v) -> mg.Tensor:
        """W v + c for each row v of the batch."""
        return F.linear(self._check(v), self.weight, self.hidden_bias)

    def hidden_mean(self, v) -> mg.Tensor:
        """E[h | v]: sigmoid(W v + c) for binary units, W v + c for Gaussian ones."""
        pre = self.hidden_preactivation(v)
        return F.sigmoid(pre) if self.hidden == "binary" else pre

    def visible_mean(self, h) -> mg.Tensor:
        """E[v | h]: sigmoid(W^T h + b) for binary units, W^T h + b for Gaussian ones."""
        h = h if isinstance(h, mg.Tensor) else mg.tensor(np.asarray(h, dtype=self.weight.dtype))
        pre = h @ self.weight + self.visible_bias
        return F.sigmoid(pre) if self.visible == "binary" else pre

    def _sample(self, mean: np.ndarray, kind: str) -> np.ndarray:
        if kind == "binary":  # h = 1 with probability mean
            return (self.rng.random(mean.shape) < mean).astype(mean.dtype)
        return (mean + self.rng.standard_normal(mean.shape)).astype(mean.dtype)

    def sample_hidden(self, v) -> np.ndarray:
        """A sample of h ~ p(h | v) (Bernoulli, or mean plus N(0, 1) noise)."""
        with mg.no_grad():
            return self._sample(self.hidden_mean(v).numpy(), self.hidden)

    def sample_visible(self, h) -> np.ndarray:
        """A sample of v ~ p(v | h)."""
        with mg.no_grad():
            return self._sample(self.visible_mean(h).numpy(), self.visible)

    # ------------------------------------------------------------------ energy

    def _free_energy(self, v: mg.Tensor, pre: mg.Tensor) -> mg.Tensor:
        if self.visible == "binary":
            visible_term = -(v @ self.visible_bias)
        else:
            visible_term = 0.5 * ((v - self.visible_bias) ** 2).sum(dim=1)
        if self.hidden == "binary":
            hidden_term = -F.softplus(pre).sum(dim=1)
        else:
            hidden_term = 0.5 * (self.hidden_bias**2).sum() - 0.5 * (pre**2).sum(dim=1)
        return visible_term + hidden_term

    def free_energy(self, v) -> mg.Tensor:
        """F(v) of each row of the batch, (batch,): p(v) is proportional to exp(-F(v))."""
        v = self._check(v)
        return self._free_energy(v, self.hidden_preactivation(v))

    # ------------------------------------------------------------------ learning

    def contrastive_divergence(self, v0, k: int = 1) -> tuple[mg.Tensor, np.ndarray]:
        """One CD-k estimate on the batch ``v0``: returns ``(loss, v_k)``.

        ``loss = mean F(v_0) - mean F(v_k)``, with v_k the end of a k-step Gibbs chain
        started at the data (held constant); ``loss.backward()`` puts the negated CD-k
        update in the parameters' ``.grad``, so any optimizer's step follows it.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"RBM.contrastive_divergence: k must be a positive int, got {k!r}")
        v0 = self._check(v0)
        pre0 = self.hidden_preactivation(v0)  # on the tape: reused by F(v_0)
        with mg.no_grad():
            mean0 = F.sigmoid(pre0) if self.hidden == "binary" else pre0
            h = self._sample(mean0.numpy(), self.hidden)
            for step in range(k):
                vk = self.visible_mean(h).numpy()
                if step < k - 1:
                    h = self.sample_hidden(vk)
        vk_t = mg.tensor(vk)
        loss = self._free_energy(v0, pre0).mean() - self.free_energy(vk_t).mean()
        return loss, vk

    def reconstruct(self, v) -> np.ndarray:
        """E[v | h = E[h | v]]: the deterministic up-down pass (for monitoring)."""
        with mg.no_grad():
            return self.visible_mean(self.hidden_mean(v)).numpy()


def rbm_optimizer(rbm: RBM, lr: float, momentum: float = 0.5, weight_decay: float = 2e-4):
    """SGD with momentum, the weight decay on the weights only (not the biases), as in the
    paper's code: inc = momentum * inc + lr * (CD update - weight_decay * W)."""
    from minigrad import optim

    return optim.SGD(
        [
            {"params": [rbm.weight], "weight_decay": weight_decay},
            {"params": [rbm.visible_bias, rbm.hidden_bias], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=momentum,
    )


def train_rbm_epoch(
    rbm: RBM,
    optimizer,
    data: np.ndarray,
    batch_size: int = 100,
    k: int = 1,
    order: np.ndarray | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """One pass of CD-k over ``data`` (N, n_visible) in mini-batches taken in ``order``
    (default: as stored). ``on_batch(done, total)`` after each (progress bars).

    Returns {'reconstruction_error': the squared distance between each batch and its
    chain's v_k, per example, averaged over the epoch; 'free_energy': mean F(v) of (up to
    1,000 of) the data after the epoch}.
    """
    data = np.asarray(data, dtype=np.float32)
    n = len(data)
    if data.ndim != 2 or data.shape[1] != rbm.n_visible or n == 0:
        raise ValueError(
            f"train_rbm_epoch: data must be (N > 0, {rbm.n_visible}), got {data.shape}"
        )
    order = np.arange(n) if order is None else np.asarray(order)
    n_batches = max(1, n // batch_size)
    sq = 0.0
    for i in range(n_batches):
        v0 = data[order[i * batch_size : (i + 1) * batch_size]]
        loss, vk = rbm.contrastive_divergence(v0, k)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sq += float(((vk - v0) ** 2).sum())
        if on_batch is not None:
            on_batch(i + 1, n_batches)
    seen = n_batches * min(batch_size, n)
    with mg.no_grad():
        free = float(rbm.free_energy(data[order[: min(n, 1000)]]).mean().item())
    return {"reconstruction_error": sq / seen, "free_energy": free}


def pretrain_rbm_stack(
    sizes: Sequence[int],
    data: np.ndarray,
    epochs: int = 10,
    batch_size: int = 100,
    lr: float = 0.1,
    lr_gaussian: float = 0.001,
    momentum: tuple[float, float] = (0.5, 0.9),
    momentum_epochs: int = 5,
    weight_decay: float = 2e-4,
    k: int = 1,
    visible: str = "binary",
    code: str = "gaussian",
    seed: int = 0,
    state: dict | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[RBM]:
    """Greedy layer-wise training of a stack of RBMs, sizes[i] -> sizes[i + 1], each on
    the hidden means of the ones below it (already trained, now fixed), as in Hinton and
    Salakhutdinov (2006): binary RBMs, the top one with Gaussian ('linear') hidden units
    when ``code='gaussian'``; CD-``k``, mini-batches of ``batch_size``, SGD with momentum
    ``momentum[0]`` for the first ``momentum_epochs`` epochs and ``momentum[1]`` after,
    weight decay on the weights; learning rate ``lr``, or ``lr_gaussian`` for an RBM with
    Gaussian units (the paper's code: 0.1 and 0.001; 50 epochs per layer in the paper,
    10 in its code).

    Resumable: after every epoch ``on_epoch(info)`` gets ``info = {'layer', 'epoch',
    'stats', 'state'}``; pass that ``state`` back as ``state=`` to continue from there.
    Returns the trained RBMs, bottom first.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"pretrain_rbm_stack: sizes needs at least 2 entries, got {sizes}")
    if code not in _KINDS:
        raise ValueError(f"pretrain_rbm_stack: code must be one of {_KINDS}, got {code!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"pretrain_rbm_stack: epochs must be a positive int, got {epochs!r}")
    x = np.asarray(data, dtype=np.float32).reshape(len(data), -1)
    if x.shape[1] != sizes[0]:
        raise ValueError(
            f"pretrain_rbm_stack: data has {x.shape[1]} values per example, sizes[0] is {sizes[0]}"
        )
    n_layers = len(sizes) - 1

    def make(i: int) -> RBM:
        return RBM(
            sizes[i],
            sizes[i + 1],
            visible=visible if i == 0 else "binary",
            hidden=code if i == n_layers - 1 else "binary",
            seed=None if seed is None else seed + 1000 * i,
        )

    state = dict(state or {"layer": 0, "epoch": 0, "rbms": [], "log": []})
    rbms = []
    for i, sd in enumerate(state["rbms"]):  # the finished layers (and the current one)
        rbm = make(i)
        rbm.load_state_dict(sd)
        rbms.append(rbm)
    for i in range(state["layer"]):  # the data for the current layer
        x = _up(rbms[i], x)
    for i in range(state["layer"], n_layers):
        if i < len(rbms):
            rbm = rbms[i]
        else:
            rbm = make(i)
            rbms.append(rbm)
        gaussian = "gaussian" in (rbm.visible, rbm.hidden)
        opt = rbm_optimizer(rbm, lr_gaussian if gaussian else lr, momentum[0], weight_decay)
        first = 1
        if i == state["layer"] and state["epoch"]:
            opt.load_state_dict(state["optimizer"])
            rbm.rng.bit_generator.state = state["rng"]
            first = state["epoch"] + 1
        for epoch in range(first, epochs + 1):
            for group in opt.param_groups:
                group["momentum"] = momentum[0] if epoch <= momentum_epochs else momentum[1]
            order = np.random.default_rng([seed or 0, i, epoch]).permutation(len(x))
            stats = train_rbm_epoch(rbm, opt, x, batch_size, k, order, on_batch)
            state = {
                "layer": i,
                "epoch": epoch,
                "rbms": [r.state_dict() for r in rbms],
                "optimizer": opt.state_dict(),
                "rng": rbm.rng.bit_generator.state,
                "log": state["log"] + [{"layer": i, "epoch": epoch, **stats}],
            }
            if epoch == epochs:  # the layer is done: the next one starts from scratch
                state.update(layer=i + 1, epoch=0)
                state.pop("optimizer"), state.pop("rng")
            if on_epoch is not None:
                on_epoch({"layer": i, "epoch": epoch, "stats": stats, "state": state})
        x = _up(rbm, x)
    return rbms


def _up(rbm: RBM, x: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """E[h | v] for every row of x: the data the next RBM of a stack trains on."""
    with mg.no_grad():
        return np.concatenate(
            [rbm.hidden_mean(x[j : j + chunk]).numpy() for j in range(0, len(x), chunk)]
        ).astype(np.float32)
