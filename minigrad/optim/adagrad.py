"""Adagrad (Duchi, Hazan & Singer, 2011), PyTorch's formulation.  For each
parameter theta with gradient g, at step t = 1, 2, ...:

    g     <- g + weight_decay * theta                 (L2 penalty in the gradient)
    s     <- s + g^2              (s starts at initial_accumulator_value)
    lr_t  =  lr / (1 + (t - 1) lr_decay)
    theta <- theta - lr_t g / (sqrt(s) + eps)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "lr_decay": lr_decay,
                "weight_decay": weight_decay,
                "initial_accumulator_value": initial_accumulator_value,
                "eps": eps,
                "maximize": maximize,
            },
        )
        # PyTorch fills the accumulators when the optimizer is built, so a state dict
        # taken before the first step already holds them.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state.setdefault(p, {}), p._data, group)

    def _validate_group(self, g: dict) -> None:
        self._check_nonnegative(
            lr=g["lr"],
            lr_decay=g["lr_decay"],
            weight_decay=g["weight_decay"],
            initial_accumulator_value=g["initial_accumulator_value"],
            eps=g["eps"],
        )

    @staticmethod
    def _init_state(state: dict, param: np.ndarray, group: dict) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param, group["initial_accumulator_value"])

    def _delta(self, param: np.ndarray, g: np.ndarray, state: dict, group: dict) -> np.ndarray:
        self._init_state(state, param, group)  # a group added after construction
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * param
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        return clr * (g / (np.sqrt(s) + group["eps"]))
