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
each in-place op bumps (``tensor.py``), stamping it with the tape's clock; a node
that saved arrays checks, in ``ctx.saved_tensors``, whether the storage of an input
or a saved output was written after the node was recorded, and raises rather than
compute a gradient from changed values.  Writes that bypass the
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
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from minigrad._C.fingerprint import fingerprint
from minigrad.memory import CACHING, use_handler

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

# One clock for the whole tape: recorded nodes take their sequence number from it, and
# in-place ops read it too.  ``_last_write``: the reading at the latest in-place write
# anywhere (a node recorded after it has nothing to check); ``_last_rebase``: at the
# latest recorded in-place op (only nodes recorded before it can have an input whose
# history moved on).  Both let the common case skip the per-input checks.
_sequence = itertools.count()
_last_write = [-1]
_last_rebase = [-1]

# A storage's version counter is a list [count, stamp, history], shared by every Tensor
# viewing that memory: ``count`` in-place writes so far (PyTorch's ``_version``),
# ``stamp`` the clock at the latest (-1: none), ``history`` the (stamp, count before)
# pairs of the last _HISTORY writes (None until the first), for error messages.  A new
# storage's counter is the literal [0, -1, None] (in the hot paths that make Tensors).
_HISTORY = 16


def bump(vc: list) -> int:
    """Record an in-place write into the storage whose counter is ``vc``; returns its stamp."""
    stamp = next(_sequence)
    history = vc[2]
    if history is None:
        vc[2] = history = []
    elif len(history) >= _HISTORY:
        del history[0]
    history.append((stamp, vc[0]))
    vc[0] += 1
    vc[1] = stamp
    _last_write[0] = stamp
    return stamp


def _version_at(vc: list, stamp: int) -> str:
    """The storage's version at clock reading ``stamp`` (for messages)."""
    history = vc[2] or ()
    for s, before in history:
        if s > stamp:  # the first write after ``stamp``
            if len(history) == _HISTORY and s == history[0][0]:
                return f"{before} or less"  # older writes are forgotten
            return str(before)
    return str(vc[0])


class Context:
    """One recorded op: what it remembers between forward and backward (PyTorch's ``ctx``).

    ``forward`` stores arrays with ``save_for_backward`` (read back in backward as
    ``ctx.saved_tensors``) and any other option as a plain attribute.  When the op
    is recorded the engine adds ``fn`` (the Function class), ``inputs`` (the
    positional arguments as given to ``apply``), ``needs_input_grad`` (one bool per
    positional argument, already set when forward runs) and ``seq``.
    """

    saved_tensors: tuple = ()  # what save_for_backward kept
    # Before running backward the engine checks what the node saved (check_saved) if an
    # in-place write happened after the node was recorded, and always if it keeps
    # fingerprints (a write through NumPy leaves no trace): then this is -2.
    _check_after = 1 << 62
    _out_versions: tuple = ()  # (output index, counter, stamp it must not pass, array)
    _written_at = -1  # in-place nodes: the stamp of the write that rebased onto this node
    _fingerprints: Any = None  # (saved index, what, fingerprint) for fingerprint_saved ops
    _non_differentiable: tuple = ()
    n_outputs = 1
    materialize_grads = True
    rebased_from: Any = None  # in-place nodes: the Tensor that stood for the old value
    _view: Any = None  # view ops: the counter of the storage the result shares
    freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` for backward (read them back as ``ctx.saved_tensors``).  Saved
        inputs and outputs are guarded: before running this node's backward, the
        engine raises if one of them was changed in place since this call."""
        self.saved_tensors = arrays

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
        self.__dict__ = {
            "fn": self.fn,
            "seq": self.seq,
            "freed": True,
            "rebased_from": self.rebased_from,
            "saved_tensors": _FREED_SAVED,
        }


_FREED = (
    "backward: trying to backward through the graph a second time (its saved "
    "arrays were freed by the first backward); pass retain_graph=True to the "
    "first backward() if you need to call it twice."
)


class _FreedSaved:
    """``ctx.saved_tensors`` of a freed node: using it raises the error above."""

    def __iter__(self):
        raise RuntimeError(_FREED)

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError(_FREED)

    __len__ = __iter__


_FREED_SAVED = _FreedSaved()


# --------------------------------------------------------------------------- saved-array guard


def check_saved(ctx: Context) -> None:
    """Raise if an array ``ctx`` saved was changed after it was saved: by an in-place
    op (its storage was written after the node was recorded) or, for fingerprinted
    ops, by any write."""
    if ctx.freed:
        raise RuntimeError(_FREED)
    outputs = [arr for _, _, _, arr in ctx._out_versions]
    for i, t in enumerate(ctx.inputs):
        vc = getattr(t, "_vc", None)
        if vc is None:
            continue
        # The Tensor standing for an in-place op's old value was overwritten by that
        # op itself (after it kept a private copy of what it needs): not a conflict.
        after = ctx._written_at if t is ctx.rebased_from else ctx.seq
        if vc[1] > after:
            _version_conflict(ctx, t._data, vc, after, f"input {i}", outputs)
    for k, vc, after, arr in ctx._out_versions:
        if vc[1] > after:
            _version_conflict(ctx, arr, vc, after, f"output {k}", ())
    if ctx._fingerprints is not None:
        saved = ctx.saved_tensors
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


def _version_conflict(
    ctx: Context, arr: np.ndarray, vc: list, after: int, what: str, skip: Sequence
) -> None:
    """The storage of ``arr`` was written in place after clock reading ``after``: an
    error if ``ctx`` saved (part of) it (except the arrays in ``skip``)."""
    for j, s in enumerate(ctx.saved_tensors):
        if not isinstance(s, np.ndarray) or any(s is o for o in skip):
            continue
        if s is arr or np.may_share_memory(s, arr):
            name = ctx.fn.__name__
            raise RuntimeError(
                f"{name}.backward: one of the arrays needed for gradient computation has "
                f"been modified by an in-place operation: saved argument {j} ({what} of "
                f"{name}, {_describe(s)}) is at version {vc[0]}; expected version "
                f"{_version_at(vc, after)} instead (its version when {name} saved it). "
                f"Hint: an in-place op (+=, add_, x[i] = v, copy_, fill_, t.data.xxx_) "
                f"changed it after it was used; use the out-of-place form (x = x + 1) or "
                f"clone() the tensor before changing it."
            )


def _describe(a: np.ndarray) -> str:
    return f"a {a.dtype} array of shape {a.shape}"


def privatize(ctx: Context, arr: np.ndarray) -> None:
    """Replace what ``ctx`` saved from ``arr`` by copies: an in-place op is about to
    overwrite ``arr`` and its own node still needs the old values."""
    saved = list(ctx.saved_tensors)
    for j, s in enumerate(saved):
        if isinstance(s, np.ndarray) and (s is arr or np.may_share_memory(s, arr)):
            saved[j] = s.copy()
    ctx.saved_tensors = tuple(saved)


def adopt_output(ctx: Context, old: Any, result: np.ndarray, array: np.ndarray, stamp: int) -> None:
    """An in-place op (its write stamped ``stamp``) copied its node's output ``result``
    into ``array``, the storage of the input ``old`` (whose old values ``privatize``
    kept where needed).  From now on ``array`` holds the output; if the node saved its
    output it keeps ``array`` instead, guarded from ``stamp`` on (as PyTorch's in-place
    ops save ``self``): ``result``'s memory is freed, and a later in-place change of
    the tensor is caught."""
    ctx._written_at = stamp
    if ctx._out_versions:
        ctx.saved_tensors = tuple(array if s is result else s for s in ctx.saved_tensors)
        ctx._out_versions = tuple(
            (k, old._vc, stamp, array) if a is result else (k, c, after, a)
            for k, c, after, a in ctx._out_versions
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
    last_rebase = _last_rebase[0]
    while stack:
        ctx = stack.pop()
        if ctx.freed:
            raise RuntimeError(_FREED)
        late = last_rebase > ctx.seq  # an input may have been rebased since
        for t, needed in zip(ctx.inputs, ctx.needs_input_grad):
            if needed:
                c = t._ctx
                if late and c is not None and c.seq > ctx.seq:
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
    prev_handler = use_handler(CACHING)  # gradients come from the array cache
    last_write, last_rebase = _last_write[0], _last_rebase[0]
    try:
        for ctx in order:
            g = pending.pop(ctx, None)
            if g is None:  # no path from the root carries a gradient here
                continue
            seq = ctx.seq
            if last_write > seq:  # written in place since: what it saved, a view's values
                if ctx.saved_tensors:
                    check_saved(ctx)
                vc = ctx._view
                if vc is not None and vc[1] > seq:
                    _stale_view(ctx, vc)
            elif last_write > ctx._check_after:  # fingerprints
                check_saved(ctx)
            if type(g) is list:
                grads = ctx.fn.backward(ctx, *_output_grads(ctx, g))
            else:
                grads = ctx.fn.backward(ctx, g)
            if type(grads) is not tuple:
                grads = tuple(grads) if isinstance(grads, list) else (grads,)
            inputs = ctx.inputs
            fresh = ctx.fn.fresh_grads
            late = last_rebase > seq  # an input may have been rebased since
            if len(grads) != len(inputs):
                _check_arity(ctx, grads)
            for t, gi, needed in zip(inputs, grads, ctx.needs_input_grad):
                if not needed or gi is None:
                    continue
                data = t._data
                if type(gi) is not np.ndarray or gi.shape != data.shape or gi.dtype != data.dtype:
                    gi = _fit_grad(gi, t, ctx)
                tctx = t._ctx
                if late and tctx is not None and tctx.seq > seq:  # t changed in place since
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
        use_handler(prev_handler)


def _stale_view(ctx: Context, vc: list) -> None:
    raise RuntimeError(
        f"{ctx.fn.__name__}.backward: the result of this view op (it shares memory with "
        f"its input) was changed by an in-place operation after the view was taken (the "
        f"storage is at version {vc[0]}; expected version {_version_at(vc, ctx.seq)}), "
        f"through the view, its "
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
