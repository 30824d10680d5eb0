"""A small mini-batch training loop for the models (tests, pre-training, fine-tuning)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import numpy as np

import minigrad as mg

__all__ = ["fit", "minibatches"]


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of a shuffled epoch (the last, smaller batch included)."""
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def fit(
    loss_fn: Callable[[np.ndarray], mg.Tensor],
    params: Sequence,
    n: int,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int | None = 0,
    optimizer: str = "adam",
    max_steps: int | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
) -> list:
    """Minimise ``loss_fn(batch_indices)`` over ``params`` with Adam (or SGD).

    ``on_step(step, total_steps, loss)`` is called after every step (progress bars).
    Returns the loss of every step, so callers can check that it falls.
    """
    from minigrad import optim

    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {optimizer!r}")
    params = list(params)
    opt = optim.Adam(params, lr=lr) if optimizer == "adam" else optim.SGD(params, lr=lr)
    rng = np.random.default_rng(seed)
    total = epochs * -(-n // batch_size)
    if max_steps is not None:
        total = min(total, max_steps)
    losses = []
    for _ in range(epochs):
        for idx in minibatches(n, batch_size, rng):
            loss = loss_fn(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
            if on_step is not None:
                on_step(len(losses), total, losses[-1])
            if max_steps is not None and len(losses) >= max_steps:
                return losses
    return losses
