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

from minigrad.optim.optimizer import Optimizer

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
        self._check_nonnegative(
            lr=g["lr"],
            momentum=g["momentum"],
            weight_decay=g["weight_decay"],
        )
        self._check_numbers(dampening=g["dampening"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def _delta(self, param: np.ndarray, g: np.ndarray, state: dict, group: dict) -> np.ndarray:
        mu, wd = group["momentum"], group["weight_decay"]
        if wd != 0:
            g = g + wd * param
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=param.dtype, copy=True)
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        return group["lr"] * g
