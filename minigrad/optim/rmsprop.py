"""RMSprop (Hinton's lecture 6e; Graves 2013 for the centered form), PyTorch's
formulation.  For each parameter theta with gradient g:

    g     <- g + weight_decay * theta                 (L2 penalty in the gradient)
    v     <- alpha v + (1 - alpha) g^2                (running mean of squares)
    m     <- alpha m + (1 - alpha) g                  (centered: running mean)
    d     <- sqrt(v - m^2) + eps   (centered)   or   sqrt(v) + eps
    b     <- momentum b + g / d                       (momentum > 0)
    theta <- theta - lr b   (momentum > 0)   or   theta - lr g / d

eps is added outside the square root, as PyTorch does (Adadelta adds it inside).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "alpha": alpha,
                "eps": eps,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "centered": centered,
                "maximize": maximize,
            },
        )

    def _validate_group(self, g: dict) -> None:
        self._check_nonnegative(
            lr=g["lr"],
            alpha=g["alpha"],
            eps=g["eps"],
            weight_decay=g["weight_decay"],
            momentum=g["momentum"],
        )

    def _delta(self, param: np.ndarray, g: np.ndarray, state: dict, group: dict) -> np.ndarray:
        alpha, eps, wd, mu = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            if mu > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        if wd != 0:
            g = g + wd * param
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * (g * g)
        if group["centered"]:
            m = state["grad_avg"]
            m *= alpha
            m += (1 - alpha) * g
            denom = np.sqrt(v - m * m) + eps
        else:
            denom = np.sqrt(v) + eps
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += g / denom
            return group["lr"] * buf
        return group["lr"] * (g / denom)
