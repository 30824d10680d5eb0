"""The tape: grad mode, the recorded nodes (``Context``), and the backward pass.

How it works, in one paragraph.  Calling ``SomeFunction.apply(*inputs)``
(``minigrad.autograd``) runs ``forward`` on the inputs' NumPy arrays.  If grad
mode is on and some input requires a gradient, the call also records a *node*:
the ``Context`` that ``forward`` filled (saved arrays, options), the input
Tensors, and a sequence number that grows with every recorded op.
``Tensor.backward()`` collects the nodes reachable from its output and runs them
in decreasing sequence number.  Because a node is always recorded after the
nodes that produced its inputs, this order visits every node after all of its
consumers, so its output gradient is complete when its ``backward`` runs - no
recursion, no topological sort.

Saved arrays are guarded.  Every Tensor's storage has a version counter that
each in-place op bumps (``tensor.py``); a node remembers the versions of its
inputs and outputs when it saves arrays, and ``ctx.saved_tensors`` raises if an
array it saved has been changed in place since.  Writes that bypass the
Tensor (through ``t.numpy()``) cannot bump a counter; Functions marked
``fingerprint_saved`` also keep a content fingerprint of what they saved and
re-check it (``minigrad/_C/fingerprint``).

This module knows nothing of the Tensor class: it reads the few slots the
engine needs (``_data``, ``_ctx``, ``_out``, ``_vc``, ``_retains_grad``) and
calls ``_accumulate_grad``.  ``tensor.py`` builds on it, ``autograd.py``
(Function) on both.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
from typing import Any, Callable

import numpy as np

from minigrad._C.fingerprint import fingerprint

# --------------------------------------------------------------------------- grad mode


class _GradState(threading.local):
    """Grad mode is per thread (as in PyTorch): a ``no_grad`` block in one thread
    must not silently stop recording in another."""

    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """True when new ops are recorded on the tape."""
    return _state.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring it on exit.

    The previous modes live on a per-object stack, so one object can be entered
    again while it is active (``ng = no_grad(); with ng: with ng: ...``).
    """

    _mode = True

    def __enter__(self) -> None:
        self.__dict__.setdefault("_prev", []).append(_state.enabled)
        _state.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Record nothing inside: ``with mg.no_grad(): ...``, ``@mg.no_grad()`` or
    ``@mg.no_grad``."""

    _mode = False

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)  # bare decorator: wrap fn now

    def __init__(self, fn: Callable | None = None) -> None:
        pass


class enable_grad(no_grad):
    """Record again inside a ``no_grad`` region (same three spellings)."""

    _mode = True


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode(mode=True)``: here the same as ``no_grad`` (when
    ``mode`` is true), as context manager or decorator (``@mg.inference_mode()``
    or ``@mg.inference_mode``).  minigrad has no separate inference tensors."""

    def __new__(cls, mode: Any = True):
        self = super().__new__(cls)
        if callable(mode):  # bare decorator
            self._mode = False
            return self(mode)
        return self

    def __init__(self, mode: Any = True) -> None:
        if not callable(mode):
            self._mode = not bool(mode)


class set_grad_enabled(_GradMode):
    """Set grad mode to ``mode``: as a call (``mg.set_grad_enabled(False)``, which
    takes effect at once, as in PyTorch), or as ``with`` / decorator, which
    restore the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = [_state.enabled]
        _state.enabled = self._mode

    def __enter__(self) -> None:
        pass  # the mode was already set by __init__; __exit__ restores _prev

    def __call__(self, fn: Callable) -> Callable:
        _state.enabled = self._prev.pop()  # decorating is not a call: undo __init__
        return super().__call__(fn)


# --------------------------------------------------------------------------- nodes

# One clock for the whole tape: recorded nodes take their sequence number from it.
_sequence = itertools.count()


class Context:
    """One recorded op: what it remembers between forward and backward (PyTorch's ``ctx``).

    ``forward`` stores arrays with ``save_for_backward`` (read back in backward as
    ``ctx.saved_tensors``) and any other option as a plain attribute.  When the op
    is recorded the engine adds ``fn`` (the Function class), ``inputs`` (the
    positional arguments as given to ``apply``), ``needs_input_grad`` (one bool per
    positional argument, already set when forward runs) and ``seq``.
    """

    _saved: tuple = ()
    _in_versions: Any = None  # versions of the Tensor inputs when the node saved arrays
    _out_versions: tuple = ()  # (counter, version, array) per output
    _fingerprints: Any = None  # (saved index, what, fingerprint) for fingerprint_saved ops
    _non_differentiable: tuple = ()
    n_outputs = 1
    materialize_grads = True
    rebased_from: Any = None  # in-place nodes: the Tensor that stood for the old value
    _view: Any = None  # view ops: (the storage's counter, its version when the view was taken)
    freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` for backward.  Saved inputs and outputs are guarded: backward
        raises if one of them was changed in place after this call."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept, after checking it was not changed since."""
        if self.freed:
            raise RuntimeError(_FREED)
        versions = self._in_versions
        if versions is not None:  # the common case inline: no input changed since
            for t, v in zip(self.inputs, versions):
                if v is not None and t._vc[0] != v:
                    check_saved(self)
            if self._out_versions or self._fingerprints is not None:
                check_saved(self)
        return self._saved

    def mark_non_differentiable(self, *arrays: np.ndarray) -> None:
        """Mark outputs of ``forward`` (the arrays it returns, by identity) that carry
        no gradient, e.g. pooling indices; their Tensors do not require grad and
        backward receives None for them.  Integer outputs never carry a gradient."""
        self._non_differentiable = arrays

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for a differentiable output
        that no gradient reached (PyTorch's ``ctx.set_materialize_grads``)."""
        self.materialize_grads = bool(value)

    def mark_freed(self) -> None:
        """Drop what forward saved and the links to the inputs (so the graph's
        memory can go); a second backward through here is an error.  ``fn`` stays
        for ``repr``'s grad_fn name; ``seq`` and ``rebased_from`` for the graph walk
        (nodes recorded before an in-place op may still route gradients past here)."""
        keep = {"fn": self.fn, "seq": self.seq, "freed": True}
        if self.rebased_from is not None:
            keep["rebased_from"] = self.rebased_from
        self.__dict__ = keep


_FREED = (
    "backward: trying to backward through the graph a second time (its saved "
    "arrays were freed by the first backward); pass retain_graph=True to the "
    "first backward() if you need to call it twice."
)


# --------------------------------------------------------------------------- saved-array guard


def check_saved(ctx: Context) -> None:
    """Raise if an array ``ctx`` saved was changed after it was saved: by an in-place
    op (the owner's version moved on) or, for fingerprinted ops, by any write."""
    if ctx._in_versions is not None:
        for i, (t, v) in enumerate(zip(ctx.inputs, ctx._in_versions)):
            if v is not None and t._vc[0] != v:
                _version_conflict(ctx, t._data, t._vc[0], v, f"input {i}")
        for k, (vc, v, arr) in enumerate(ctx._out_versions):
            if vc[0] != v:
                _version_conflict(ctx, arr, vc[0], v, f"output {k}")
    if ctx._fingerprints is not None:
        saved = ctx._saved
        for j, what, fp in ctx._fingerprints:
            if fingerprint(saved[j]) != fp:
                raise RuntimeError(
                    f"{ctx.fn.__name__}.backward: the array saved for the gradient as "
                    f"argument {j} ({what}, {_describe(saved[j])}) was changed after the "
                    f"forward pass by a write minigrad could not see (through .numpy(), "
                    f"np.asarray() or another NumPy view of the tensor), so the gradient "
                    f"would be computed from the new values. Change it out of place, or "
                    f"clone() it before changing it."
                )


def _version_conflict(ctx: Context, arr: np.ndarray, now: int, then: int, what: str) -> None:
    """The owner of ``arr`` was changed in place; an error if ``ctx`` saved (part of) it."""
    for j, s in enumerate(ctx._saved):
        if isinstance(s, np.ndarray) and (s is arr or np.may_share_memory(s, arr)):
            raise RuntimeError(
                f"{ctx.fn.__name__}.backward: one of the arrays needed for gradient "
                f"computation has been modified by an in-place operation: saved argument "
                f"{j} ({what} of {ctx.fn.__name__}, {_describe(s)}) is at version {now}; "
                f"expected version {then} instead (its version when {ctx.fn.__name__} "
                f"saved it). Hint: an in-place op (+=, add_, x[i] = v, copy_, fill_, "
                f"t.data.xxx_) changed it after it was used; use the out-of-place form "
                f"(x = x + 1) or clone() the tensor before changing it."
            )


def _describe(a: np.ndarray) -> str:
    return f"a {a.dtype} array of shape {a.shape}"


def privatize(ctx: Context, arr: np.ndarray) -> None:
    """Replace what ``ctx`` saved from ``arr`` by copies: an in-place op is about to
    overwrite ``arr`` and its own node still needs the old values."""
    saved = list(ctx._saved)
    for j, s in enumerate(saved):
        if isinstance(s, np.ndarray) and (s is arr or np.may_share_memory(s, arr)):
            saved[j] = s.copy()
    ctx._saved = tuple(saved)


def adopt_output(ctx: Context, old: Any, result: np.ndarray, array: np.ndarray) -> None:
    """An in-place op copied its node's output ``result`` into ``array``, the storage of
    the input ``old`` (whose old values ``privatize`` kept where needed).  From now on
    ``array`` holds the output: the input's recorded version moves on with it, and if
    the node saved its output it keeps ``array`` instead, guarded by the storage's
    version (as PyTorch's in-place ops save ``self``): ``result``'s memory is freed, and
    a later in-place change of the tensor is caught."""
    vc = old._vc
    if ctx._in_versions is not None:
        ctx._in_versions = [vc[0] if t is old else v for t, v in zip(ctx.inputs, ctx._in_versions)]
    if ctx._out_versions:
        ctx._saved = tuple(array if s is result else s for s in ctx._saved)
        ctx._out_versions = tuple(
            (vc, vc[0], array) if a is result else (c, v, a) for c, v, a in ctx._out_versions
        )


# --------------------------------------------------------------------------- backward


def _sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo NumPy broadcasting: sum ``grad`` down to ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0:  # fewer dims than the input (e.g. a scalar): broadcast up instead
        return np.broadcast_to(grad, shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _fit_grad(gi: Any, t: Any, ctx: Context) -> np.ndarray:
    """Bring an input's gradient to the input's shape (summing broadcast axes)
    and dtype, or say which backward returned a gradient that cannot be its."""
    gi = np.asarray(gi)
    shape = t._data.shape
    if gi.shape != shape:
        try:
            joint = np.broadcast_shapes(gi.shape, shape)
        except ValueError:
            joint = None
        if joint == gi.shape:  # the input was broadcast in forward: sum it back
            gi = _sum_to_shape(gi, shape)
        elif joint == shape:  # a smaller gradient (e.g. a scalar) stands for all
            gi = np.broadcast_to(gi, shape)
        else:
            raise RuntimeError(
                f"{ctx.fn.__name__}.backward returned a gradient of shape {gi.shape} for "
                f"an input of shape {shape} (expected that shape, or one that "
                f"broadcasts with it)"
            )
    if gi.dtype != t._data.dtype:
        gi = gi.astype(t._data.dtype)
    return gi


def _as_of(t: Any, seq: int) -> Any:
    """The Tensor that stood for ``t``'s value when node ``seq`` used it.

    An in-place op gives ``t`` a new node (its history is rebased), but the nodes
    recorded before it must still send their gradient to ``t``'s old history: each
    in-place node keeps the Tensor standing for the old value (``rebased_from``)."""
    c = t._ctx
    while c is not None and c.seq > seq:
        t = c.rebased_from
        c = t._ctx
    return t


_by_seq = operator.attrgetter("seq")


def _collect(root_ctx: Context) -> list:
    """The nodes reachable from ``root_ctx``, newest first.  Iterative (graphs may
    be 10^4+ deep); only inputs that need a gradient are followed (only those
    can have a node: a recorded result always requires grad)."""
    seen = {root_ctx}
    stack = [root_ctx]
    while stack:
        ctx = stack.pop()
        if ctx.freed:
            raise RuntimeError(_FREED)
        for t, needed in zip(ctx.inputs, ctx.needs_input_grad):
            if needed:
                c = t._ctx
                if c is not None and c.seq > ctx.seq:
                    c = _as_of(t, ctx.seq)._ctx
                if c is not None and c not in seen:
                    seen.add(c)
                    stack.append(c)
    return sorted(seen, key=_by_seq, reverse=True)


def _output_grads(ctx: Context, grads: list) -> list:
    """The gradients a multi-output node's backward receives: None for its
    non-differentiable outputs, zeros (or None, see ``set_materialize_grads``)
    for a differentiable output no gradient reached."""
    out = []
    for g, (shape, dtype, differentiable) in zip(grads, ctx._out_meta):
        if g is None and differentiable and ctx.materialize_grads:
            g = np.zeros(shape, dtype)
        out.append(g if differentiable else None)
    return out


def run_backward(root: Any, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d out / d root) to every leaf that requires grad.

    Nodes run in decreasing sequence number: a node is recorded after every node
    that produced one of its inputs, so when it runs, all of its consumers have
    already added their share to its output gradient (kept in ``pending``: an
    array, or for a node with several outputs a list with one entry per output).
    """
    root_ctx = root._ctx
    order = _collect(root_ctx)
    if root._retains_grad:
        root._accumulate_grad(grad)
    if root._out is None:
        pending: dict = {root_ctx: grad}
    else:
        pending = {root_ctx: [None] * root_ctx.n_outputs}
        pending[root_ctx][root._out] = grad
    # Backward functions run with recording off (as in PyTorch without
    # create_graph): any Tensor op one of them uses must not grow the tape.
    prev_mode, _state.enabled = _state.enabled, False
    try:
        for ctx in order:
            g = pending.pop(ctx, None)
            if g is None:  # no path from the root carries a gradient here
                continue
            if ctx._view is not None and ctx._view[0][0] != ctx._view[1]:
                _stale_view(ctx)
            if type(g) is list:
                grads = ctx.fn.backward(ctx, *_output_grads(ctx, g))
            else:
                grads = ctx.fn.backward(ctx, g)
            if type(grads) is not tuple:
                grads = tuple(grads) if isinstance(grads, list) else (grads,)
            inputs = ctx.inputs
            fresh = ctx.fn.fresh_grads
            seq = ctx.seq
            if len(grads) != len(inputs):
                _check_arity(ctx, grads)
            for t, gi, needed in zip(inputs, grads, ctx.needs_input_grad):
                if not needed or gi is None:
                    continue
                data = t._data
                if type(gi) is not np.ndarray or gi.shape != data.shape or gi.dtype != data.dtype:
                    gi = _fit_grad(gi, t, ctx)
                tctx = t._ctx
                if tctx is not None and tctx.seq > seq:  # t was changed in place since
                    t = _as_of(t, seq)
                    tctx = t._ctx
                if tctx is None:
                    t._accumulate_grad(gi, fresh)
                    continue
                if t._retains_grad:
                    t._accumulate_grad(gi)
                # Out-of-place sums: backward functions may return views of their
                # incoming gradient (or the same array twice), so never add in place.
                k = t._out
                if k is None:
                    prev = pending.get(tctx)
                    pending[tctx] = gi if prev is None else prev + gi
                else:
                    slots = pending.get(tctx)
                    if slots is None:
                        slots = pending[tctx] = [None] * tctx.n_outputs
                    slots[k] = gi if slots[k] is None else slots[k] + gi
            if not retain_graph:
                ctx.mark_freed()
    finally:
        _state.enabled = prev_mode


def _stale_view(ctx: Context) -> None:
    vc, then = ctx._view
    raise RuntimeError(
        f"{ctx.fn.__name__}.backward: the result of this view op (it shares memory with "
        f"its input) was changed by an in-place operation after the view was taken (the "
        f"storage is at version {vc[0]}; expected version {then}), through the view, its "
        f"base or another view; its recorded history no longer describes its values. "
        f"minigrad does not rebase views: take the view after the in-place change, or "
        f"clone() it."
    )


def _check_arity(ctx: Context, grads: tuple) -> None:
    """Fewer gradients than inputs is fine when the missing ones need none
    (e.g. options passed positionally); otherwise it is a bug in backward."""
    n_in = len(ctx.inputs)
    missing = any(ctx.needs_input_grad[len(grads) :])
    extra = any(g is not None for g in grads[n_in:])
    if missing or extra:
        raise RuntimeError(
            f"{ctx.fn.__name__}.backward returned {len(grads)} gradient(s), expected one "
            f"per positional input of forward ({n_in}; None where not needed)"
        )
