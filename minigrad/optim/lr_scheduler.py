"""Learning-rate schedules, PyTorch's ``torch.optim.lr_scheduler``.

Call ``scheduler.step()`` after ``optimizer.step()``: once per epoch for the
epoch schedules, once per batch for ``OneCycleLR``, and with the monitored
metric (``scheduler.step(val_loss)``) for ``ReduceLROnPlateau``.  Building a
scheduler sets the epoch-0 learning rate, as in PyTorch.

The epoch schedules are written in closed form, ``lr_at(initial_lr, epoch)``,
so that each reads as its formula; they give PyTorch's values (PyTorch updates
``lr`` recursively, which agrees to rounding unless the user also changes
``lr`` by hand between steps).  ``OneCycleLR`` and ``ReduceLROnPlateau`` keep
their own state.  ``state_dict()`` is every attribute but the optimizer (and,
for ``LambdaLR``, only the state of callable objects, never functions).
"""

from __future__ import annotations

import bisect
import math
import types
from collections.abc import Sequence
from typing import Any, Callable, Union

from minigrad.optim.optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
    "OneCycleLR",
]


def _check_optimizer(sched: Any, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{type(sched).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
        )


def _per_group(name: str, optimizer: Optimizer, value: Any, what: str) -> list:
    """One value per parameter group: a scalar is repeated, a list must match."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} values for {what}, got {len(value)}")
        return list(value)
    return [value] * n


class LRScheduler:
    """Base class: sets every group's ``lr`` from ``get_lr()`` at each ``step()``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise KeyError(
                    f"{type(self).__name__}: param 'initial_lr' is not specified in "
                    f"param_groups when resuming (last_epoch={last_epoch})"
                )
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The closed-form schedule: a group's lr at ``epoch`` from its initial lr."""
        raise NotImplementedError(f"{type(self).__name__} does not define lr_at()")

    def get_lr(self) -> list:
        """Each group's learning rate at epoch ``last_epoch``."""
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch (one batch for ``OneCycleLR``) and set the groups' lr."""
        self.last_epoch += 1
        for g, lr in zip(self.optimizer.param_groups, self.get_lr()):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in state_dict.items()}
        )


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); ``lr_lambda`` is one function or a list
    with one function per parameter group."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas, got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {fn!r}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict:
        """As the base, but a function cannot be saved: ``lr_lambdas`` holds, per
        group, the attributes of a callable object, or None for a function."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ^ floor(epoch / step_size)."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if step_size <= 0:
            raise ValueError(f"StepLR: step_size must be positive, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = initial_lr * gamma ^ (number of milestones <= epoch); a milestone given
    twice counts twice, as in PyTorch."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = initial_lr * gamma ^ epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2
    (SGDR's schedule without restarts; periodic beyond T_max)."""

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return (
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        )


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's lr by ``factor`` (not below ``min_lr``) when the metric
    given to ``step(metric)`` has not improved for more than ``patience`` epochs.

    Improvement over the best value so far, in ``mode='min'``: metric < best (1 -
    threshold) (``threshold_mode='rel'``) or metric < best - threshold (``'abs'``);
    ``'max'`` mirrors it.  After a reduction, ``cooldown`` epochs pass before bad
    epochs count again.  A reduction smaller than ``eps`` is skipped.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: Union[float, Sequence[float]] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(self, optimizer)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps = int(cooldown), float(eps)
        self.min_lrs = _per_group("ReduceLROnPlateau", optimizer, min_lr, "min_lr")
        # a scalar min_lr also covers parameter groups added later
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def is_better(self, a: float, best: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if rel else best - self.threshold)
        return a > (best * (1 + self.threshold) if rel else best + self.threshold)

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs in cooldown do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            if len(self.min_lrs) != len(self.optimizer.param_groups):
                if self.default_min_lr is not None:
                    self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
            if len(self.min_lrs) != len(self.optimizer.param_groups):
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} "
                    f"parameter groups but min_lrs has {len(self.min_lrs)} entries"
                )
            for g, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(g["lr"] * self.factor, min_lr)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018), stepped once per batch.

    The lr rises from max_lr / div_factor to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then falls
    to initial_lr / final_div_factor; ``three_phase`` goes back down to the initial
    lr first and then to the minimum.  Each phase is annealed by cosine
    (``anneal_strategy='cos'``: end + (start - end) (1 + cos(pi t)) / 2) or
    linearly, t in [0, 1] the fraction of the phase done.  With ``cycle_momentum``
    the momentum (SGD's ``momentum``, Adam's beta1) moves the opposite way,
    between ``max_momentum`` and ``base_momentum``.  Stepping past total_steps is
    an error.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: Union[float, Sequence[float]],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: Union[float, Sequence[float]] = 0.85,
        max_momentum: Union[float, Sequence[float]] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(self, optimizer)
        name = "OneCycleLR"

        def positive_int(what: str, v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
            return v

        if total_steps is not None:
            self.total_steps = positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = positive_int("epochs", epochs) * positive_int(
                "steps_per_epoch", steps_per_epoch
            )
        else:
            raise ValueError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        if (
            isinstance(pct_start, bool)
            or not isinstance(pct_start, float)
            or not 0 <= pct_start <= 1
        ):
            raise ValueError(f"{name}: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        T = self.total_steps
        # (last step of the phase, group key of its start lr, of its end lr,
        #  of its start momentum, of its end momentum); steps count from 0
        if three_phase:
            self.phases = [
                (float(pct_start * T) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (
                    float(2 * pct_start * T) - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                (T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (float(pct_start * T) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        ends = [0.0] + [p[0] for p in self.phases]
        if any(b == a for a, b in zip(ends, ends[1:])):
            # PyTorch divides by the phase's length and fails with ZeroDivisionError there
            raise ValueError(
                f"{name}: pct_start={pct_start} with total_steps={T} gives a phase of length "
                f"0 (phase ends at steps {ends[1:]})"
            )
        max_lrs = _per_group(name, optimizer, max_lr, "max_lr")
        if last_epoch == -1:
            for g, m in zip(optimizer.param_groups, max_lrs):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{name}: cycle_momentum needs an optimizer with momentum or betas "
                    f"({type(optimizer).__name__} has neither); pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            tops = _per_group(name, optimizer, max_momentum, "max_momentum")
            bottoms = _per_group(name, optimizer, base_momentum, "base_momentum")
            if last_epoch == -1:
                for g, top, bottom in zip(optimizer.param_groups, tops, bottoms):
                    self._set_momentum(g, top)
                    g["max_momentum"], g["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, t: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * t) + 1)
        return (end - start) * t + start

    def get_lr(self) -> list:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times, but total_steps is {self.total_steps}"
            )
        lrs = []
        for g in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
                if step <= end or i == len(self.phases) - 1:
                    t = (step - start) / (end - start)
                    lrs.append(self._anneal(g[lr0], g[lr1], t))
                    if self.cycle_momentum:
                        self._set_momentum(g, self._anneal(g[m0], g[m1], t))
                    break
                start = end
        return lrs
