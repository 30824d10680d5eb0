"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

Each optimizer keeps ``param_groups``, a list of dicts holding a ``'params'``
list and that group's options (lr, momentum, ...), and ``state``, a dict from
Parameter to its buffers (momentum, Adam's moments), as in PyTorch.

``step()`` is written once, here: for every parameter with a gradient it asks the
subclass for the update (``_delta``: the amount to subtract, computed from the
parameter, its gradient, its state and its group's options) and subtracts it in
place with ``_apply_update``, the one function that writes a parameter.  It never
writes into ``param.grad``, which may be shared with other code.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from minigrad.autograd import enable_grad, no_grad
from minigrad.memory import CACHING, use_handler
from minigrad.nn.module import zero_grads
from minigrad.tensor import Tensor

__all__ = ["Optimizer"]

_required = object()  # marks an option with no default (SGD's lr in old PyTorch)


class Optimizer:
    def __init__(self, params: Iterable[Any], defaults: dict) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}  # Parameter -> dict of buffers (keyed by the object, as PyTorch)
        if isinstance(params, Tensor):
            raise TypeError(
                "optimizer params must be an iterable of Tensors or of dicts (parameter "
                "groups), got a single Tensor; wrap it in a list"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own options (the others default)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("optimizer can't optimize a non-leaf Tensor (detach it first)")
            if not np.issubdtype(p.dtype, np.floating):
                raise TypeError(
                    f"optimizer can only optimize floating-point Tensors, got {p.dtype}"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group (or twice)")
        new = {k: v for k, v in group.items() if k != "params"}
        for k, v in self.defaults.items():
            if v is _required and k not in new:
                raise ValueError(f"parameter group didn't specify a value of required option {k!r}")
            new.setdefault(k, v)
        self._validate_group(new)
        new["params"] = params
        self.param_groups.append(new)

    def _validate_group(self, group: dict) -> None:
        """Subclasses check their options' ranges here."""

    def _check_numbers(self, **options: Any) -> None:
        """TypeError naming the first option whose value is not a real number."""
        for k, v in options.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{type(self).__name__}: {k} must be a number, got {v!r}")

    def _check_nonnegative(self, **options: Any) -> None:
        """Each option a real number >= 0 (TypeError / ValueError naming it)."""
        self._check_numbers(**options)
        for k, v in options.items():
            if v < 0:
                what = "learning rate lr" if k == "lr" else k
                raise ValueError(f"{type(self).__name__}: invalid {what}={v} (must be >= 0)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget gradients: ``grad = None`` (or a fresh zero array; never zeroed in place)."""
        zero_grads((p for g in self.param_groups for p in g["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, once.

        ``closure``, if given, re-evaluates the model (zero_grad, forward, backward)
        and returns the loss; it is called first, with grad enabled, and its loss is
        returned (PyTorch's protocol, which L-BFGS-style optimizers need and the
        others accept)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        prev = use_handler(CACHING)  # the update's temporaries come from the array cache
        try:
            for group in self.param_groups:
                maximize = group.get("maximize", False)
                for p in group["params"]:
                    g = _grad(p, maximize)
                    if g is None:
                        continue
                    state = self.state.setdefault(p, {})
                    _apply_update(p, self._delta(p._data, g, state, group))
        finally:
            use_handler(prev)
        return loss

    def _delta(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> Any:
        """The optimizer's update equations: how much to subtract from ``param``
        (arrays; ``grad`` must not be modified; ``state`` is updated in place)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _delta()")

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """``{'state': {index: {name: array or number}}, 'param_groups': [...]}`` with
        parameters replaced by their position across groups (as in PyTorch), so the
        dict can be saved and loaded into an optimizer over a fresh model."""
        index: dict = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(p, len(index))
                ids.append(index[p])
            groups.append(
                {**{k: copy.deepcopy(v) for k, v in g.items() if k != "params"}, "params": ids}
            )
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self.state.get(p)
                if s:
                    state[index[p]] = {
                        k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                        for k, v in s.items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and buffers saved by ``state_dict`` (checked first: same group
        sizes, buffer shapes matching their parameters)."""
        try:
            groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(
                "optimizer load_state_dict: expected a dict with 'state' and 'param_groups'"
            ) from None
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"optimizer load_state_dict: the state dict has {len(groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError(
                    f"optimizer load_state_dict: a parameter group has {len(theirs['params'])} "
                    f"parameters in the state dict but {len(mine['params'])} here"
                )
            for p, i in zip(mine["params"], theirs["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, s in saved_state.items():
            i = int(i)
            if i not in by_index:
                raise ValueError(
                    f"optimizer load_state_dict: state for unknown parameter index {i}"
                )
            p = by_index[i]
            entry = {}
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.shape:
                        raise ValueError(
                            f"optimizer load_state_dict: buffer {k!r} of parameter {i} has shape "
                            f"{v.shape}, the parameter has shape {p.shape}"
                        )
                    v = v.astype(p.dtype, copy=True)
                elif isinstance(v, np.ndarray):
                    v = v.item()
                entry[k] = v
            new_state[p] = entry
        for mine, theirs in zip(self.param_groups, groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = tuple(v) if isinstance(v, list) else v
        self.state = new_state

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


def _apply_update(p: Tensor, delta: Any) -> None:
    """``p <- p - delta`` in place: the one place where optimizers write parameters
    (the Parameter object, and so ties and references, stay the same)."""
    with no_grad():  # an in-place op: bumps p's version counter, so a stale saved p is caught
        p.sub_(np.asarray(delta).astype(p.dtype, copy=False))


def _grad(p: Tensor, maximize: bool) -> np.ndarray | None:
    """The gradient array to use (never modified), or None when p has no gradient."""
    if p.grad is None:
        return None
    g = p.grad._data
    return -g if maximize else g
