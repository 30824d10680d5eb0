"""``Module`` and ``Parameter``: the PyTorch way of building models.

A ``Module`` registers every ``Parameter`` and sub-``Module`` assigned to one of
its attributes, so that ``parameters()`` can walk the whole model and
``state_dict()`` can name every array in it by its attribute path
(``"encoder.0.weight"``).  A Parameter shared by two modules (tied weights) is
the same object in both places: ``parameters()`` yields it once, and the tape
sums the gradients of its two uses into its one ``.grad``.

Buffers (``register_buffer``: BatchNorm's running statistics) are Tensors that
are state but not learned: in ``state_dict()``, never in ``parameters()``.

Calling a module runs its forward pre-hooks, ``forward``, then its forward hooks
(``register_forward_pre_hook`` / ``register_forward_hook``, each returning a
handle whose ``remove()`` takes the hook off), as PyTorch does.
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Iterable, Iterator
from typing import Any, Callable

import numpy as np

from minigrad.device import as_device
from minigrad.tape import no_grad
from minigrad.tensor import Tensor, _parse_to, unwrap

__all__ = ["Parameter", "Module", "RemovableHandle"]


class Parameter(Tensor):
    """A Tensor that is a model's learnable state: ``requires_grad=True`` by default,
    and registered by a Module when assigned to one of its attributes."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(Tensor._wrap(self._data))

    def __reduce_ex__(self, protocol: int):  # pragma: no cover - pickling is not our format
        return (Parameter, (self._data, self.requires_grad))


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """What ``register_forward_hook`` (and the pre-hook) return: ``handle.remove()``
    takes the hook off (a second call does nothing); also a context manager that
    removes the hook on exit."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict) -> None:
        self.id = next(RemovableHandle._ids)
        self._hooks = weakref.ref(hooks)  # the handle does not keep the module alive

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Module:
    """Base class of layers and models.

    Subclasses call ``super().__init__()`` first, assign Parameters and Modules as
    attributes, and define ``forward``; calling the module calls ``forward``.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() was called "
                f"(call super().__init__() first in {type(self).__name__}.__init__)"
            )
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self._forget(name, keep=params)  # a re-assigned name keeps its place
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    f"(a Parameter or None expected)"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} "
                    f"(a Module or None expected)"
                )
            modules[name] = None
        elif name in buffers:
            buffers[name] = None if value is None else _as_buffer(value, name)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: Any = None) -> None:
        for d in (self._parameters, self._modules, self._buffers):
            if d is not keep:
                d.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg in d and name in d[reg]:
                return d[reg][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for reg in (self._parameters, self._buffers, self._modules):
            if name in reg:
                del reg[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: {name!r} must be a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """A non-learnable Tensor that belongs in the state dict (e.g. running statistics);
        a Tensor is kept as is, an array is wrapped without a copy.  ``persistent=False``
        keeps it out of the state dict."""
        self._forget(name)
        self._buffers[name] = None if value is None else _as_buffer(value, name)
        non_persistent = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            non_persistent.discard(name)  # re-registered as persistent (as in PyTorch)
        else:
            non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(
                f"add_module: module name must be a non-empty string without '.', got {name!r}"
            )
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path ``target`` ("encoder.0"); "" is self."""
        m = self
        for part in target.split(".") if target else ():
            child = m._modules.get(part)
            if child is None:
                raise AttributeError(
                    f"get_submodule: {type(m).__name__} has no submodule {part!r} (in {target!r})"
                )
            m = child
        return m

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at the dotted path ``target`` ("encoder.0.weight")."""
        mod, _, name = target.rpartition(".")
        owner = self.get_submodule(mod)
        p = owner._parameters.get(name)
        if p is None:
            raise AttributeError(f"get_parameter: {type(owner).__name__} has no parameter {name!r}")
        return p

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a value it returns replaces
        the positional arguments (a non-tuple becomes a 1-tuple).  With
        ``with_kwargs=True``: ``hook(module, args, kwargs)``, returning None or a pair
        ``(args, kwargs)``.  ``prepend``: run before the hooks already registered."""
        return _add_hook(self._forward_pre_hooks, (hook, with_kwargs, False), prepend)

    def register_forward_hook(
        self,
        hook: Callable,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a value it returns
        replaces the output.  With ``with_kwargs=True``: ``hook(module, args, kwargs,
        output)``.  ``always_call``: run it even when forward raised (then re-raise)."""
        return _add_hook(self._forward_hooks, (hook, with_kwargs, always_call), prepend)

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook, with_kwargs, _ in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            f"forward pre-hook {hook!r} registered with_kwargs=True must return "
                            f"None or a tuple (args, kwargs), got {type(res).__name__}"
                        )
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        hooks = list(self._forward_hooks.values())
        try:
            out = self.forward(*args, **kwargs)
        except BaseException:
            for hook, with_kwargs, always in hooks:
                if always:
                    hook(self, args, kwargs, None) if with_kwargs else hook(self, args, None)
            raise
        for hook, with_kwargs, _ in hooks:
            res = hook(self, args, kwargs, out) if with_kwargs else hook(self, args, out)
            if res is not None:
                out = res
        return out

    # ------------------------------------------------------------------ traversal
    def named_modules(
        self, prefix: str = "", memo: set | None = None
    ) -> Iterator[tuple[str, Module]]:
        """Every module of the tree (self first), each once even if shared."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, Parameter) pairs; a shared Parameter is reported once, under the first
        name it is reached by (so an optimizer never updates it twice)."""
        seen: set = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for mod_prefix, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalars in the (deduplicated) parameters."""
        return sum(p._data.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) or, with ``mode=False``, evaluation mode."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the accumulated gradients (replaced by new zeros with
        ``set_to_none=False``; a gradient array is never zeroed in place, since it
        may be shared)."""
        zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """PyTorch's ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``:
        convert every floating-point parameter and buffer to the dtype, in place (the
        Parameter objects stay the same, so ties and optimizers still hold).  The only
        device is the CPU: a GPU raises."""
        dtype, device, _ = _parse_to(args, kwargs, "Module.to")
        as_device(device, "Module.to")
        if dtype is None:
            return self
        for p in self.parameters():
            if np.issubdtype(p.dtype, np.floating):
                p._data = p._data.astype(dtype)
                p.grad = None
        for m in self.modules():
            for k, b in m._buffers.items():
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m._buffers[k] = b.astype(dtype)
        return self

    def cpu(self) -> Module:
        """Self: every module lives on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises: minigrad has no GPU backend."""
        as_device("cuda", "Module.cuda()")
        return self  # pragma: no cover - as_device raised

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ------------------------------------------------------------------ state
    def _state_entries(self, prefix: str = "") -> OrderedDict:
        """name -> (owner registry, key) for every parameter and persistent buffer,
        tied ones under each of their names (as PyTorch does)."""
        out: OrderedDict = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = (self._parameters, name)
        skip = self.__dict__.get("_non_persistent", set())
        for name, b in self._buffers.items():
            if b is not None and name not in skip:
                out[prefix + name] = (self._buffers, name)
        for name, m in self._modules.items():
            if m is not None:
                out.update(m._state_entries(prefix + name + "."))
        return out

    def state_dict(self) -> OrderedDict:
        """An ordered ``name -> np.ndarray`` copy of every parameter and buffer."""
        out: OrderedDict = OrderedDict()
        for name, (reg, key) in self._state_entries().items():
            v = reg[key]
            out[name] = np.array(unwrap(v), copy=True)
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this model's parameters and buffers.

        Values are copied into the existing arrays, so Parameter identity (ties,
        optimizer references) is kept.  Every key is checked before anything is
        copied: with ``strict=True`` missing or unexpected keys raise ``KeyError``; a
        shape mismatch always raises ``ValueError``.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        entries = self._state_entries()
        given = {str(k): v for k, v in state_dict.items()}
        missing = [k for k in entries if k not in given]
        unexpected = [k for k in given if k not in entries]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing key(s): " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        staged = []
        for name, (reg, key) in entries.items():
            if name not in given:
                continue
            v = given[name]
            arr = np.asarray(unwrap(v))
            cur = reg[key]
            cur_arr = unwrap(cur)
            if arr.shape != cur_arr.shape:
                raise ValueError(
                    f"load_state_dict for {type(self).__name__}: {name!r} has shape "
                    f"{arr.shape} in the state dict but {cur_arr.shape} in the model"
                )
            if not np.can_cast(arr.dtype, cur_arr.dtype, casting="same_kind"):
                raise TypeError(
                    f"load_state_dict for {type(self).__name__}: {name!r} has dtype "
                    f"{arr.dtype} in the state dict, which cannot be stored as {cur_arr.dtype}"
                )
            staged.append((cur, arr))
        for cur, arr in staged:  # in place (so ties and references stay), bumping versions
            if isinstance(cur, Tensor):
                with no_grad():
                    cur.copy_(arr)
            else:
                cur[...] = arr
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The layer's options, shown inside its parentheses in ``repr``."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        head = type(self).__name__ + "("
        if not self._modules:
            return head + extra + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list:
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers)
        )


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """``grad = None`` for each of ``params``, or with ``set_to_none=False`` a fresh
    zero array where there was a gradient (never zeroed in place: it may be shared).
    What ``Module.zero_grad`` and ``Optimizer.zero_grad`` do."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad = Tensor._wrap(np.zeros_like(p._data))


def _as_buffer(value: Any, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor._wrap(value)
    raise TypeError(
        f"buffer {name!r} must be a Tensor, an ndarray or None, got {type(value).__name__}"
    )


def _add_hook(hooks: OrderedDict, entry: tuple, prepend: bool) -> RemovableHandle:
    if not callable(entry[0]):
        raise TypeError(f"a hook must be callable, got {entry[0]!r}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
