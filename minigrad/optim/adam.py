"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), PyTorch's
formulation.  For each parameter theta with gradient g, at step t:

    g      <- g + weight_decay * theta        (Adam: L2 penalty in the gradient)
    theta  <- theta (1 - lr * weight_decay)   (AdamW: decoupled weight decay instead)
    m      <- beta1 m + (1 - beta1) g
    v      <- beta2 v + (1 - beta2) g^2
    v_max  <- max(v_max, v)                   (amsgrad; then v_max replaces v below)
    theta  <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": betas,
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": amsgrad,
                "maximize": maximize,
            },
        )

    def _validate_group(self, g: dict) -> None:
        name = type(self).__name__
        self._check_nonnegative(lr=g["lr"], eps=g["eps"], weight_decay=g["weight_decay"])
        if not isinstance(g["betas"], (tuple, list)) or len(g["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {g['betas']!r}")
        g["betas"] = tuple(g["betas"])
        b1, b2 = g["betas"]
        self._check_numbers(beta1=b1, beta2=b2)
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"{name}: betas must be in [0, 1), got {g['betas']}")

    def _delta(self, param: np.ndarray, g: np.ndarray, state: dict, group: dict) -> np.ndarray:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        if wd != 0 and not self._decoupled:
            g = g + wd * param
        # one scratch array, reused for each term (fresh temporaries cost page faults)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = np.multiply(g, g, dtype=param.dtype)
        tmp *= 1 - b2
        v *= b2
        v += tmp
        np.multiply(g, 1 - b1, out=tmp)
        m *= b1
        m += tmp
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        np.sqrt(v, out=tmp)  # the denominator sqrt(v) / sqrt(1 - beta2^t) + eps
        tmp /= math.sqrt(1 - b2**t)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - b1**t)  # the Adam step
        if wd != 0 and self._decoupled:  # theta (1 - lr wd) - step = theta - (step + lr wd theta)
            tmp += (lr * wd) * param
        return tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01): the decay shrinks the
    parameters directly instead of entering the moment estimates."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
