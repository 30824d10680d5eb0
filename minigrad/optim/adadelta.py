"""Adadelta (Zeiler, 2012), PyTorch's formulation (with a learning rate that
scales the step; lr = 1 is the paper's method).  For each parameter theta with
gradient g:

    g     <- g + weight_decay * theta                 (L2 penalty in the gradient)
    v     <- rho v + (1 - rho) g^2                    (running mean of squared gradients)
    d     =  sqrt(u + eps) / sqrt(v + eps) * g        (the step, in the units of theta)
    u     <- rho u + (1 - rho) d^2                    (running mean of squared steps)
    theta <- theta - lr d
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize},
        )

    def _validate_group(self, g: dict) -> None:
        self._check_nonnegative(lr=g["lr"], eps=g["eps"], weight_decay=g["weight_decay"])
        self._check_numbers(rho=g["rho"])
        if not 0 <= g["rho"] <= 1:
            raise ValueError(f"Adadelta: invalid rho={g['rho']} (must be in [0, 1])")

    def _delta(self, param: np.ndarray, g: np.ndarray, state: dict, group: dict) -> np.ndarray:
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            state["acc_delta"] = np.zeros_like(param)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * param
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * (g * g)
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u *= rho
        u += (1 - rho) * (d * d)
        return group["lr"] * d
