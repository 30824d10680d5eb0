"""Stochastic gradient descent with momentum (PyTorch's formulation).

For each parameter theta with gradient g, at step t:

    g   <- g + weight_decay * theta                     (L2 weight decay)
    b   <- g  (t = 1),   momentum * b + (1 - dampening) * g  (t > 1)
    g   <- g + momentum * b   (nesterov)   or   b   (classical momentum)
    theta <- theta - lr * g
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer, _grad

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
                "maximize": maximize,
            },
        )

    def _validate_group(self, g: dict) -> None:
        self._check_numbers(
            lr=g["lr"],
            momentum=g["momentum"],
            dampening=g["dampening"],
            weight_decay=g["weight_decay"],
        )
        if g["lr"] < 0:
            raise ValueError(f"SGD: invalid learning rate lr={g['lr']} (must be >= 0)")
        if g["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum {g['momentum']} (must be >= 0)")
        if g["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay {g['weight_decay']} (must be >= 0)")
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def step(self) -> None:
        for group in self.param_groups:
            lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                g = _grad(p, group["maximize"])
                if g is None:
                    continue
                if wd != 0:
                    g = g + wd * p._data
                if mu != 0:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
                    else:
                        buf *= mu
                        buf += (1 - damp) * g
                    g = g + mu * buf if nesterov else buf
                p._data -= (lr * g).astype(p.dtype, copy=False)
