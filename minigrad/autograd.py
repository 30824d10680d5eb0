"""The tape: ``Function`` (an op's forward and backward side by side), grad mode,
the backward pass, and ``gradcheck``.

How it works, in one paragraph.  Calling ``SomeFunction.apply(*inputs)`` runs
``forward`` on the inputs' NumPy arrays.  If grad mode is on and some input
requires a gradient, the call also records a *node*: the ``Context`` that
``forward`` filled (saved arrays, options), the input Tensors, and a sequence
number that grows with every recorded op.  ``Tensor.backward()`` collects the
nodes reachable from its output and runs them in decreasing sequence number.
Because a node is always recorded after the nodes that produced its inputs,
this order visits every node after all of its consumers, so its output gradient
is complete when its ``backward`` runs - no recursion, no topological sort.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

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


# --------------------------------------------------------------------------- Function

_sequence = itertools.count()
_Tensor: Any = None  # minigrad.tensor.Tensor, bound by tensor.py (it imports this module)
_new_object = object.__new__


def unwrap(x: Any) -> Any:
    """The array inside a Tensor; anything else unchanged.  (Not ``getattr(x,
    "data", x)``: an ndarray's own ``.data`` is a memoryview.)"""
    return x._data if isinstance(x, _Tensor) else x


class Context:
    """What one op remembers between forward and backward (PyTorch's ``ctx``).

    ``forward`` stores arrays with ``save_for_backward`` and any other option as a
    plain attribute.  When the op is recorded the engine adds ``fn`` (the Function
    class), ``inputs`` (the positional arguments as given to ``apply``),
    ``needs_input_grad`` (one bool per positional argument) and ``seq``.
    """

    saved_tensors: Any = ()
    freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    def mark_freed(self) -> None:
        """Drop what forward saved and the links to the inputs (so the graph's
        memory can go); a second backward through here is an error.  ``fn`` stays
        for ``repr``'s grad_fn name."""
        self.__dict__ = {"fn": self.fn, "saved_tensors": None, "freed": True}


class Function:
    """An op: ``forward(ctx, *arrays, **options) -> array`` and
    ``backward(ctx, grad) -> one gradient (or None) per positional input``.

    Subclasses write both as static methods and users call ``apply``.

    ``fresh_grads = True`` promises that every array ``backward`` returns was
    allocated by that call and is referenced nowhere else (a kernel's output,
    a matmul result).  The engine then hands it to a leaf as ``.grad`` as is;
    otherwise it copies, because a gradient may be a view of, or the very
    array, another input or the caller still holds.  For a locally connected
    layer's weight that copy is 14 MB per step (what PyTorch's AccumulateGrad
    avoids by checking the gradient's use count).
    """

    fresh_grads: bool = False

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``forward`` on the arrays and, when grad is needed, record the node.

        This is the hottest function of the engine (once per op), hence the
        single loop over the arguments and no helper calls."""
        Tensor = _Tensor
        arrays = []
        needs = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                if a._requires_grad:
                    record = True
                    needs.append(True)
                else:
                    needs.append(False)
            else:
                # NumPy scalars act as Python scalars (PyTorch's rule), so that
                # ``x32 * np.sqrt(2.0)`` stays float32 instead of widening to float64.
                arrays.append(a.item() if isinstance(a, np.generic) else a)
                needs.append(False)
        ctx = _new_object(Context)
        # Set before forward (as PyTorch does), so forward may skip saving arrays
        # that no backward will read (all False under no_grad).
        record = record and _state.enabled
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = _new_object(Tensor)
        result._data = out
        result.grad = None
        result._retains_grad = False
        # Integer or boolean results (casts, comparisons) carry no gradient.
        if record and out.dtype.kind in "fc":
            ctx.fn = cls
            ctx.inputs = args
            ctx.seq = next(_sequence)
            result._ctx = ctx
            result._requires_grad = True
        else:
            result._ctx = None
            result._requires_grad = False
        return result


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


def _fit_grad(gi: Any, t: Tensor, ctx: Context) -> np.ndarray:
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
            raise RuntimeError(
                "backward: trying to backward through the graph a second time (its saved "
                "arrays were freed by the first backward); pass retain_graph=True to the "
                "first backward() if you need to call it twice."
            )
        for t, needed in zip(ctx.inputs, ctx.needs_input_grad):
            if needed:
                c = t._ctx
                if c is not None and c not in seen:
                    seen.add(c)
                    stack.append(c)
    return sorted(seen, key=_by_seq, reverse=True)


def run_backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d out / d root) to every leaf that requires grad.

    Nodes run in decreasing sequence number: a node is recorded after every node
    that produced one of its inputs, so when it runs, all of its consumers have
    already added their share to its output gradient (kept in ``pending``).
    """
    order = _collect(root._ctx)
    if root._retains_grad:
        root._accumulate_grad(grad)
    pending = {root._ctx: grad}
    # Backward functions run with recording off (as in PyTorch without
    # create_graph): any Tensor op one of them uses must not grow the tape.
    prev_mode, _state.enabled = _state.enabled, False
    try:
        for ctx in order:
            g = pending.pop(ctx, None)
            if g is None:  # no path from the root carries a gradient here
                continue
            grads = ctx.fn.backward(ctx, g)
            if type(grads) is not tuple:
                grads = tuple(grads) if isinstance(grads, list) else (grads,)
            inputs = ctx.inputs
            fresh = ctx.fn.fresh_grads
            if len(grads) != len(inputs):
                _check_arity(ctx, grads)
            for t, gi, needed in zip(inputs, grads, ctx.needs_input_grad):
                if not needed or gi is None:
                    continue
                data = t._data
                if type(gi) is not np.ndarray or gi.shape != data.shape or gi.dtype != data.dtype:
                    gi = _fit_grad(gi, t, ctx)
                tctx = t._ctx
                if tctx is None:
                    t._accumulate_grad(gi, fresh)
                    continue
                if t._retains_grad:
                    t._accumulate_grad(gi)
                prev = pending.get(tctx)
                # Out-of-place sum: backward functions may return views of their
                # incoming gradient (or the same array twice), so never add in place.
                pending[tctx] = gi if prev is None else prev + gi
            if not retain_graph:
                ctx.mark_freed()
    finally:
        _state.enabled = prev_mode


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


# --------------------------------------------------------------------------- gradcheck


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` with the worst element and both derivative values."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s analytic gradients against central differences in float64.

    ``fn(*inputs)`` must return a Tensor.  Its output is reduced with fixed random
    weights, ``L = sum(w * fn(*inputs))``, so every output element's gradient is
    exercised; then, for each input Tensor that requires grad and each of its
    elements, ``(L(x + eps) - L(x - eps)) / (2 eps)`` is compared with the
    backward pass's ``dL/dx``.  Inputs are used in float64 (float32 inputs are
    converted, since finite differences in float32 are meaningless).

    Returns True, or raises ``GradcheckError`` naming the input, the worst
    element's index, and the numerical and analytic values.
    """
    from minigrad.tensor import Tensor

    ins = []
    for a in inputs:
        if isinstance(a, Tensor) and np.issubdtype(a.dtype, np.floating):
            t = Tensor(a._data.astype(np.float64, copy=True), requires_grad=a.requires_grad)
            ins.append(t)
        else:
            ins.append(a)
    targets = [i for i, a in enumerate(ins) if isinstance(a, Tensor) and a.requires_grad]
    if not targets:
        raise ValueError("gradcheck: no input Tensor has requires_grad=True")

    with enable_grad():
        out = fn(*ins)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(out.shape)

    def objective() -> float:
        with no_grad():
            return float(np.sum(np.asarray(fn(*ins)._data, dtype=np.float64) * weights))

    for i in targets:
        ins[i].grad = None
    if out.requires_grad:
        out.backward(Tensor(weights.astype(out.dtype)))

    for i in targets:
        x = ins[i]
        analytic = (
            np.zeros(x.shape) if x.grad is None else np.asarray(x.grad._data, dtype=np.float64)
        )
        numeric = np.zeros(x.shape)
        flat = x._data.reshape(-1)  # a view: edits below change x in place
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            fp = objective()
            flat[k] = orig - eps
            fm = objective()
            flat[k] = orig
            numeric.reshape(-1)[k] = (fp - fm) / (2 * eps)
        err = np.abs(numeric - analytic) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(np.argmax(err)), x.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {x.shape}) at index {tuple(int(j) for j in worst)}: "
                f"numerical {numeric[worst]:.10g} vs analytic {analytic[worst]:.10g} "
                f"(atol={atol}, rtol={rtol})"
            )
    return True
