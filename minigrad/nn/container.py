"""Containers and reshaping layers: Sequential, ModuleList, ModuleDict,
ParameterList, ParameterDict, Flatten, Unflatten.

A container registers what it holds under its index ("0", "1", ...) or key, so
the state-dict names are PyTorch's (``layers.0.weight``, ``heads.cls.bias``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from minigrad import functional as F
from minigrad.nn.module import Module, Parameter
from minigrad.ops.shape import _check_dim
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "Flatten",
    "Unflatten",
]


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

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (forward is the user's).

    Entries are named by position ("0", "1", ...), renumbered after ``insert``
    or ``del``, as in PyTorch; a slice gives a ModuleList of the same modules.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        if not isinstance(idx, int) or not -n <= idx < n:
            raise IndexError(f"ModuleList index {idx!r} out of range for {n} modules")
        return idx % n

    def _renumber(self, modules: list) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), _check_module(module, str(len(self._modules))))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, _check_module(module, str(index)))
        self._renumber(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Module | ModuleList:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._index(idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(self._index(idx)), _check_module(module, str(idx)))

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        del mods[idx if isinstance(idx, slice) else self._index(idx)]
        self._renumber(mods)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)


class ModuleDict(Module):
    """An ordered dict of modules, registered under their keys (forward is the user's)."""

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, _check_module(module, repr(key)))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        """Add entries from a mapping, or from an iterable of (key, module) pairs."""
        for key, m in _pairs(modules, "ModuleDict"):
            self[key] = m


class ParameterList(Module):
    """A list of Parameters, registered as "0", "1", ... (a Tensor given is made a
    Parameter, as in PyTorch)."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self._parameters)), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for v in values:
            self.append(v)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __getitem__(self, idx: int | slice) -> Parameter | ParameterList:
        ps = list(self._parameters.values())
        if isinstance(idx, slice):
            return ParameterList(ps[idx])
        if not isinstance(idx, int) or not -len(ps) <= idx < len(ps):
            raise IndexError(f"ParameterList index {idx!r} out of range for {len(ps)} parameters")
        return ps[idx]

    def __setitem__(self, idx: int, value: Any) -> None:
        n = len(self._parameters)
        if not isinstance(idx, int) or not -n <= idx < n:
            raise IndexError(f"ParameterList index {idx!r} out of range for {n} parameters")
        self._parameters[str(idx % n)] = _as_parameter(value)

    def extra_repr(self) -> str:
        return "\n".join(f"({i}): {_describe(p)}" for i, p in enumerate(self))


class ParameterDict(Module):
    """An ordered dict of Parameters, registered under their keys."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable | None = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(
                f"ParameterDict: key must be a non-empty string without '.', got {key!r}"
            )
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def pop(self, key: str) -> Parameter:
        return self._parameters.pop(key)

    def update(self, parameters: Mapping[str, Any] | Iterable) -> None:
        for key, p in _pairs(parameters, "ParameterDict"):
            self[key] = p

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): {_describe(p)}" for k, p in self.items())


def _pairs(entries: Any, owner: str) -> Iterator[tuple]:
    if isinstance(entries, Mapping):
        yield from entries.items()
        return
    for i, pair in enumerate(entries):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(
                f"{owner}.update: entry {i} should be a (key, value) pair, got {pair!r}"
            )
        yield tuple(pair)


def _describe(p: Parameter) -> str:
    return f"Parameter containing: [{p.dtype} of size {'x'.join(map(str, p.shape))}]"


def _as_parameter(value: Any) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"expected a Parameter or a Tensor, got {type(value).__name__}")


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
        return F.flatten(x, self.start_dim, self.end_dim)

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
        return F.reshape(x, *x.shape[:d], *self.unflattened_size, *x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
