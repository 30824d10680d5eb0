"""``DistributedDataParallel``: average the gradients over the ranks during ``backward()``.

How the averaging is attached to the tape. The tape runs backward nodes in decreasing
recording order (DESIGN.md: "reverse recording order"), so a node recorded *before* some
ops runs *after* all of their backward functions. Two identity ops use that:

- ``_Final``, recorded when the model is called through the wrapper, before any of the
  model's ops, and tied to what the call returns (``_Link``). Its backward runs after
  every gradient of the call is in ``.grad``: it launches the buckets not sent yet,
  waits for all of them and writes the averages back.
- ``_Mark``, put on the input of each module that holds parameters, at the module's first
  call. Its backward runs once every op recorded after it is done; the parameters of the
  modules first called at or after it have then got all their gradient (unless the model
  uses one before calling its module, which the end checks, below), so the buckets made
  of those parameters are sent with a non-blocking ``Iallreduce`` while backward goes on
  through the earlier layers.

Buckets: the parameters, last layer first (the order backward produces their gradients),
packed into contiguous buffers of up to ``bucket_cap_mb``, one ``Iallreduce`` per bucket,
sent strictly in bucket order so that every rank starts the same collectives in the same
order.

Checked, not assumed: at the end of backward every bucket sent early is compared with the
gradients as they are now. If one changed after it was sent (a parameter used before its
module was called, so its last gradient came later), every rank hears of it (one small
``Allreduce`` of flags per step, which also says which parameters have a gradient on any
rank), all buckets are averaged again from the final gradients, overlap is switched off
for this model, and a warning names the parameter. The result is exact either way.

The tape has no hook that fires when a leaf's gradient is complete; with one (PyTorch's
``register_post_accumulate_grad_hook``) the module markers and the end check could go.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np

from minigrad.autograd import Function, is_grad_enabled
from minigrad.distributed import comm as _comm
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = ["DistributedDataParallel", "data_parallel"]


# ----------------------------------------------------------------------------- tape nodes


class _Final(Function):
    """A scalar recorded before the model's ops; its backward ends the averaging."""

    @staticmethod
    def forward(ctx, anchor, ledger=None):
        ctx.ledger = ledger
        return np.zeros((), dtype=np.float64)

    @staticmethod
    def backward(ctx, g):
        ctx.ledger.reducer.on_marker(ctx.ledger, 0)
        return (None,)


class _Link(Function):
    """out, unchanged, made to depend on _Final's scalar so that backward reaches it."""

    @staticmethod
    def forward(ctx, out, final):
        return out.view()

    @staticmethod
    def backward(ctx, g):
        return g, np.zeros((), dtype=np.float64)


class _Mark(Function):
    """Identity on a module's input; its backward sends the buckets that are complete."""

    @staticmethod
    def forward(ctx, x, ledger=None, index=0):
        ctx.ledger, ctx.index = ledger, index
        return x.view()

    @staticmethod
    def backward(ctx, g):
        ctx.ledger.reducer.on_marker(ctx.ledger, ctx.index)
        return g


class _Bypass(Function):
    """Identity on a module's input when the model was called directly, not through
    its wrapper: a backward through it would leave the gradients un-averaged."""

    @staticmethod
    def forward(ctx, x, name=""):
        ctx.name = name
        return x.view()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            f"DistributedDataParallel: backward through {ctx.name}, called directly rather "
            "than through its DistributedDataParallel wrapper: its gradients would not be "
            "averaged over the ranks and the ranks' models would drift apart. Call the "
            "wrapper (ddp(x), or ddp.loss(x) for the model's loss method); for gradients "
            "that are meant to stay local, compute them inside `with ddp.no_sync():`."
        )


# ----------------------------------------------------------------------------- instrumenting

# The module -> reducer of its wrapper (weak keys: a dropped model is forgotten).
_REDUCER_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SUBCLASSES: dict = {}


def _instrumented(cls: type) -> type:
    """A subclass of ``cls`` whose forward first lets the reducer mark the input. The
    class of the instance changes (not an instance attribute), so that a copy of the
    module (copy.deepcopy) is a plain module again rather than one calling the original."""
    sub = _SUBCLASSES.get(cls)
    if sub is None:

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            reducer = _REDUCER_OF.get(self)
            if reducer is not None:
                args = reducer.mark_module_input(self, args)
            return cls.forward(self, *args, **kwargs)

        sub = type(cls.__name__, (cls,), {"forward": forward, "__qualname__": cls.__qualname__})
        sub.__module__ = cls.__module__
        _SUBCLASSES[cls] = sub
    return sub


# ----------------------------------------------------------------------------- buckets


class _Bucket:
    """Parameters of one dtype whose gradients travel in one contiguous buffer."""

    def __init__(self, params: list, dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self.slices = []  # (offset, size, shape) per parameter
        offset = 0
        for p in params:
            self.slices.append((offset, p.numpy().size, p.shape))
            offset += p.numpy().size
        self.send = np.zeros(offset, dtype=dtype)  # reused every step
        self.recv: np.ndarray | None = None  # fresh every step: the averages become .grad
        self.request: Any = None
        self.early = False
        self.had_grad: list = []

    def pack(self) -> None:
        self.had_grad = []
        for p, (off, size, _) in zip(self.params, self.slices):
            g = p.grad
            self.had_grad.append(g is not None)
            if g is None:
                self.send[off : off + size] = 0
            else:
                np.copyto(self.send[off : off + size], g.numpy().reshape(-1), casting="same_kind")

    def changed_since_pack(self) -> list:
        """The parameters whose gradient is not what was packed (sent) earlier."""
        out = []
        for p, had, (off, size, _) in zip(self.params, self.had_grad, self.slices):
            g = p.grad
            if g is None:
                if had:
                    out.append(p)
            elif not had or not np.array_equal(
                self.send[off : off + size], g.numpy().reshape(-1), equal_nan=True
            ):
                out.append(p)
        return out


def _make_buckets(params: list, cap_bytes: int) -> list:
    """Consecutive parameters (last layer first) grouped up to ``cap_bytes`` per bucket;
    a parameter larger than the cap gets a bucket of its own; a dtype change starts one."""
    buckets, current, size, dtype = [], [], 0, None
    for p in reversed(params):
        nbytes = p.numpy().nbytes
        if current and (p.dtype != dtype or size + nbytes > cap_bytes):
            buckets.append(_Bucket(current, dtype))
            current, size = [], 0
        current.append(p)
        size += nbytes
        dtype = p.dtype
    if current:
        buckets.append(_Bucket(current, dtype))
    return buckets


class _Ledger:
    """One call of the model through the wrapper: the marker each module got at its
    first call, and the progress of the averaging while its backward runs."""

    def __init__(self, reducer: _Reducer) -> None:
        self.reducer = reducer
        self.first_marker: dict = {}  # id(module) -> index of its marker (0: none)
        self.n_markers = 1  # index 0 is _Final
        self.in_backward = False
        self.next_bucket = 0
        self.ready_at: list = []  # per bucket: the highest marker index it is complete at


class _Reducer:
    """The buckets and the MPI calls of one DistributedDataParallel."""

    def __init__(self, module: Module, params: list, cap_bytes: int, overlap: bool) -> None:
        self.comm = _comm.get_comm()
        self.MPI = _comm._MPI
        self.size = self.comm.Get_size()
        self.params = params
        self.overlap = overlap
        self.buckets = _make_buckets(params, cap_bytes)
        # Which modules hold each parameter directly (tied parameters: several).
        self.index = {id(p): i for i, p in enumerate(params)}
        self.holders: list = [[] for _ in params]
        for m in module.modules():
            for _, p in m.named_parameters(recurse=False):
                if id(p) in self.index:
                    self.holders[self.index[id(p)]].append(m)
        self.names = {id(p): n for n, p in module.named_parameters()}
        self.active: Any = None  # the ledger of the call under way, or _LOCAL
        self.pending: _Ledger | None = None  # the ledger whose backward is averaging
        self.no_sync_depth = 0
        self.stats = _empty_stats()

    # -- forward side ------------------------------------------------------------------
    def mark_module_input(self, module: Module, args: tuple) -> tuple:
        ledger = self.active
        if ledger is _LOCAL or self.no_sync_depth or not is_grad_enabled():
            return args
        i = next((j for j, a in enumerate(args) if isinstance(a, Tensor)), None)
        x = None if i is None else args[i]
        if ledger is None:  # called directly: refuse a backward through it
            if x is not None and x.requires_grad:
                name = type(module).__name__
                return (*args[:i], _Bypass.apply(x, name=name), *args[i + 1 :])
            return args
        if id(module) in ledger.first_marker:  # a later call of the same module
            return args
        if x is None or not x.requires_grad or not self.overlap:
            # No marker: its parameters count as complete only at the end.
            ledger.first_marker[id(module)] = 0
            return args
        k = ledger.n_markers
        ledger.n_markers += 1
        ledger.first_marker[id(module)] = k
        return (*args[:i], _Mark.apply(x, ledger=ledger, index=k), *args[i + 1 :])

    def new_ledger(self) -> _Ledger:
        if self.pending is not None:
            self._abandon_pending()
        return _Ledger(self)

    def _abandon_pending(self) -> None:
        ledger, self.pending = self.pending, None
        ledger.in_backward = False
        self.MPI.Request.Waitall([b.request for b in self.buckets if b.request is not None])
        for b in self.buckets:
            b.request = None
        raise RuntimeError(
            "DistributedDataParallel: the previous backward() did not finish averaging the "
            "gradients: it never reached the start of the model call (the loss did not "
            "depend on what ddp(...) returned?), so the last optimizer step used this "
            "rank's own gradients. Compute the loss from the wrapper's output on every rank."
        )

    # -- backward side -----------------------------------------------------------------
    def on_marker(self, ledger: _Ledger, k: int) -> None:
        t0 = time.perf_counter()
        if not ledger.in_backward:
            if self.pending is not None:
                self._abandon_pending()
            self.pending, ledger.in_backward = ledger, True
            ledger.next_bucket = 0
            ledger.ready_at = self._ready_at(ledger)
        buckets = self.buckets
        while ledger.next_bucket < len(buckets):
            if k > 0 and ledger.ready_at[ledger.next_bucket] < k:
                break  # in order: every rank starts the same collectives in the same order
            self._launch(buckets[ledger.next_bucket], early=k > 0)
            ledger.next_bucket += 1
        if k == 0:
            self._finish(ledger)
        else:  # MPI progresses non-blocking collectives only inside MPI calls
            reqs = [b.request for b in buckets if b.request is not None]
            if reqs:
                self.MPI.Request.Testall(reqs)
        self.stats["comm_seconds"] += time.perf_counter() - t0

    def _ready_at(self, ledger: _Ledger) -> list:
        """Per bucket, the highest marker index at which all its gradients are complete:
        a parameter is complete at the marker of the first of its modules to be called
        (0, the end, when none of them got a marker)."""
        first = ledger.first_marker
        ready = []
        for b in self.buckets:
            at = None
            for p in b.params:
                called = [first[id(m)] for m in self.holders[self.index[id(p)]] if id(m) in first]
                f = min(called) if called else 0
                at = f if at is None else min(at, f)
            ready.append(at)
        return ready

    def _launch(self, b: _Bucket, early: bool) -> None:
        b.pack()
        b.recv = np.empty_like(b.send)
        b.early = early
        b.request = self.comm.Iallreduce(b.send, b.recv, op=self.MPI.SUM)
        self.stats["buckets"] += 1
        self.stats["early_buckets"] += int(early)

    def _finish(self, ledger: _Ledger) -> None:
        MPI = self.MPI
        changed = [p for b in self.buckets if b.early for p in b.changed_since_pack()]
        # One small collective more: [any early bucket changed, then per parameter the
        # number of ranks that have a gradient for it].
        flags = np.array(
            [len(changed) > 0] + [p.grad is not None for p in self.params], dtype=np.int64
        )
        flags_request = self.comm.Iallreduce(MPI.IN_PLACE, flags, op=MPI.SUM)
        t_wait = time.perf_counter()
        _wait_all(MPI, [flags_request] + [b.request for b in self.buckets])
        self.stats["wait_seconds"] += time.perf_counter() - t_wait
        for b in self.buckets:
            b.request = None
        if flags[0]:
            self._redo_all(changed)
        counts = flags[1:]
        for b in self.buckets:
            b.recv /= self.size
            for p, (off, size, shape) in zip(b.params, b.slices):
                if counts[self.index[id(p)]] == 0:
                    p.grad = None  # no rank has a gradient for it
                else:
                    p.grad = Tensor(b.recv[off : off + size].reshape(shape))
            b.recv = None
        self.pending, ledger.in_backward = None, False
        self.stats["steps"] += 1

    def _redo_all(self, changed: list) -> None:
        """Average every bucket again from the complete gradients (all ranks do this
        together), and send everything at the end of backward from now on."""
        for b in self.buckets:
            b.pack()
            b.recv = np.empty_like(b.send)
            self.comm.Allreduce(b.send, b.recv, op=self.MPI.SUM)
        self.overlap = False
        self.stats["redone"] += 1
        names = ", ".join(sorted({self.names.get(id(p), "?") for p in changed}))
        if self.comm.Get_rank() == 0 or changed:
            warnings.warn(
                "DistributedDataParallel: the gradient of "
                + (names or "a parameter (on another rank)")
                + " changed after its "
                "bucket was sent (the parameter is used before the module that holds it is "
                "called); the averages were redone from the final gradients, and this "
                "model's buckets are sent at the end of backward from now on (no overlap).",
                RuntimeWarning,
                stacklevel=2,
            )


_LOCAL = object()  # reducer.active inside a wrapper call that averages nothing

# How long a rank busy-polls before it sleeps between polls ("inf": always spin, as
# MPI_Waitall does); the environment variable is for measuring the difference.
_SPIN_SECONDS = float(os.environ.get("MINIGRAD_MPI_SPIN_SECONDS", "1e-3"))
_NAP_SECONDS = 1e-4


def _wait_all(MPI: Any, requests: list) -> None:
    """Wait for non-blocking MPI calls. Poll (MPI progresses them inside Testall) for up
    to a millisecond, the usual case when the ranks are equally fast; after that, poll
    with short sleeps, so that a rank waiting for a slower one gives its core away
    instead of spinning in MPI_Waitall: on a shared or oversubscribed host the slower
    rank may be waiting for that very core."""
    start = time.perf_counter()
    while not MPI.Request.Testall(requests):
        if time.perf_counter() - start > _SPIN_SECONDS:
            time.sleep(_NAP_SECONDS)


def _empty_stats() -> dict:
    return {
        "steps": 0,  # backward passes averaged
        "buckets": 0,  # Iallreduce calls
        "early_buckets": 0,  # of those, started before the end of backward
        "comm_seconds": 0.0,  # time inside the reducer during backward (pack, MPI, unpack)
        "wait_seconds": 0.0,  # of that, blocked waiting for the buckets at the end
        "redone": 0,  # times an early bucket had to be averaged again
    }


# ----------------------------------------------------------------------------- the wrapper


class DistributedDataParallel(Module):
    """Wraps ``module`` so that ``backward()`` averages its gradients over all ranks.

    Constructing it starts MPI (``init()``), checks that every rank built the same
    model and copies rank 0's parameters and buffers to the others. Call the model
    through the wrapper: ``ddp(x)`` calls ``module(x)``, and any other method of the
    module is reached the same way (``ddp.loss(x)`` calls ``module.loss(x)``). After
    ``loss.backward()`` every parameter's ``.grad`` is the mean over the ranks of the
    ranks' gradients, identical on every rank, so identical optimizers stay identical.

    ``bucket_cap_mb``: the most gradient bytes per all-reduce call (PyTorch's default,
    25). ``overlap``: start each bucket's all-reduce as soon as backward has produced its
    gradients instead of at the end.

    The module itself is changed: its layers mark their inputs for the wrapper, and
    calling the model directly (not through the wrapper) and then ``backward()`` raises,
    since those gradients would not be averaged; ``with ddp.no_sync():`` computes
    gradients that stay local (accumulate over several batches, then average once).
    ``state_dict()`` of the wrapper prefixes every key with ``module.`` (as PyTorch's
    does); save ``ddp.module.state_dict()`` for a checkpoint that loads into a bare model.

    Compute everything of the loss that uses the parameters inside or after the wrapper
    call: a term built from the parameters *before* ``ddp(...)`` adds its gradient after
    the averaging (right only when that term is the same on every rank, as a weight
    penalty is). Parameters with ``requires_grad=False`` at construction are not averaged.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, overlap: bool = True):
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}"
            )
        if isinstance(module, DistributedDataParallel):
            raise TypeError("DistributedDataParallel: the module is already wrapped")
        if isinstance(bucket_cap_mb, bool) or not (
            isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0
        ):
            raise ValueError(f"bucket_cap_mb: expected a positive number, got {bucket_cap_mb!r}")
        for m in module.modules():
            if m in _REDUCER_OF:
                raise ValueError(
                    f"DistributedDataParallel: {type(m).__name__} already belongs to another "
                    "DistributedDataParallel"
                )
        _comm.init()
        super().__init__()
        self.module = module
        _comm.broadcast_parameters(module, root=0)
        params = [p for p in module.parameters() if p.requires_grad]
        reducer = _Reducer(module, params, int(bucket_cap_mb * 2**20), bool(overlap))
        object.__setattr__(self, "_reducer", reducer)
        object.__setattr__(self, "_anchor", Tensor(np.zeros(()), requires_grad=True))
        for m in module.modules():
            if any(True for _ in m.named_parameters(recurse=False)):
                m.__class__ = _instrumented(type(m))
                _REDUCER_OF[m] = reducer

    # -- calling the model ---------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.module, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        module = self.__dict__["_modules"]["module"]
        attr = getattr(module, name)
        if callable(attr) and getattr(attr, "__self__", None) is module:
            return lambda *args, **kwargs: self._call(attr, args, kwargs)
        return attr

    def _call(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        reducer = self._reducer
        previous = reducer.active
        if not is_grad_enabled() or reducer.no_sync_depth:
            reducer.active = _LOCAL
            try:
                return fn(*args, **kwargs)
            finally:
                reducer.active = previous
        ledger = reducer.new_ledger()
        final = _Final.apply(self._anchor, ledger=ledger)
        reducer.active = ledger
        try:
            out = fn(*args, **kwargs)
        finally:
            reducer.active = previous
        return _link_outputs(out, final)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Gradients of backward passes inside stay on this rank (and accumulate in
        ``.grad``); the first backward after it averages the sum."""
        self._reducer.no_sync_depth += 1
        try:
            yield
        finally:
            self._reducer.no_sync_depth -= 1

    # -- what it measured ----------------------------------------------------------------
    @property
    def stats(self) -> dict:
        """Counts and seconds of the averaging so far (see ``_empty_stats``), plus the
        bucket sizes in bytes."""
        r = self._reducer
        return {
            **r.stats,
            "bucket_bytes": [b.send.nbytes for b in r.buckets],
            "overlap": r.overlap,
        }

    def reset_stats(self) -> None:
        self._reducer.stats = _empty_stats()

    def extra_repr(self) -> str:
        r = self._reducer
        return f"world_size={r.size}, buckets={len(r.buckets)}, overlap={r.overlap}"


def data_parallel(module: Module, **kwargs: Any) -> Module:
    """``DistributedDataParallel(module, **kwargs)`` when this process is one of several
    ranks of an MPI job, ``module`` itself otherwise: what a script that runs both alone
    and under mpirun calls its model through (``caller.loss(x)`` works either way)."""
    return DistributedDataParallel(module, **kwargs) if _comm.world_size() > 1 else module


def _link_outputs(out: Any, final: Tensor) -> Any:
    """``out`` with each floating-point Tensor in it (itself, or the items of a tuple,
    list or dict) passed through _Link, so that backward from any of them reaches
    ``final``."""

    def link(t: Any) -> Any:
        if isinstance(t, Tensor) and t.dtype.kind == "f":
            linked.append(t)
            return _Link.apply(t, final)
        return t

    linked: list = []
    if isinstance(out, Tensor):
        result = link(out)
    elif isinstance(out, tuple) and hasattr(out, "_fields"):  # a namedtuple
        result = type(out)(*(link(t) for t in out))
    elif isinstance(out, (tuple, list)):
        result = type(out)(link(t) for t in out)
    elif isinstance(out, dict):
        result = {k: link(v) for k, v in out.items()}
    else:
        result = out
    if not linked:
        raise TypeError(
            "DistributedDataParallel: the model returned "
            f"{type(out).__name__}, with no floating-point Tensor to attach the gradient "
            "averaging to (expected a Tensor, or a tuple, list or dict holding one)"
        )
    return result
