"""Containers and reshaping layers: Sequential, ModuleList, Flatten, Unflatten."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from minigrad.nn.module import Module
from minigrad.ops.shape import _check_dim
from minigrad.tensor import Tensor, as_tensor

__all__ = ["Sequential", "ModuleList", "Flatten", "Unflatten"]


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Indexable (``seq[0]``, ``seq[-1]``, ``seq[1:]`` gives a Sequential), iterable,
    and sized; also built from an ``OrderedDict`` of named modules.
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, _check_module(m, name))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check_module(m, str(i)))

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Module | Sequential:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        if not -len(items) <= idx < len(items):
            raise IndexError(f"Sequential index {idx} out of range for {len(items)} modules")
        return items[idx][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), _check_module(module, str(len(self._modules))))
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (forward is the user's)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _check_module(module, str(len(self._modules))))
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int) -> Module:
        return list(self._modules.values())[idx]


def _check_module(m: Any, name: str) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"container entry {name} must be a Module, got {type(m).__name__}")
    return m


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (by default all but the batch)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        return as_tensor(x).flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (e.g. (N, 784) -> (N, 1, 28, 28))."""

    def __init__(self, dim: int, unflattened_size: tuple) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(int(s) for s in unflattened_size)

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        d = _check_dim(self.dim, x.ndim, "Unflatten")
        n = 1
        for s in self.unflattened_size:
            n *= s
        if x.shape[d] != n and -1 not in self.unflattened_size:
            raise ValueError(
                f"Unflatten: dim {self.dim} has size {x.shape[d]}, which cannot be viewed as "
                f"{self.unflattened_size}"
            )
        return x.reshape(*x.shape[:d], *self.unflattened_size, *x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
