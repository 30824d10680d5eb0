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
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

# --------------------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when new ops are recorded on the tape."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring it on exit."""

    _mode = True

    def __enter__(self) -> None:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():  # a fresh manager per call keeps recursion safe
                return fn(*args, **kwargs)

        return wrapper

    def _fresh(self) -> _GradMode:
        other = object.__new__(type(self))
        other._mode = self._mode
        return other


class no_grad(_GradMode):
    """Record nothing inside: ``with mg.no_grad(): ...`` or ``@mg.no_grad()``."""

    _mode = False


class enable_grad(_GradMode):
    """Record again inside a ``no_grad`` region."""

    _mode = True


class set_grad_enabled(_GradMode):
    """``with mg.set_grad_enabled(flag): ...``"""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)


# --------------------------------------------------------------------------- Function

_sequence = itertools.count()


class Context:
    """What one op remembers between forward and backward (PyTorch's ``ctx``).

    ``forward`` stores arrays with ``save_for_backward`` and any other option as a
    plain attribute.  The engine adds ``inputs`` (the Tensors, or ``None`` for
    non-Tensor arguments), ``needs_input_grad`` and ``seq``.
    """

    def __init__(self) -> None:
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    def mark_freed(self) -> None:
        """Drop what forward saved; a second backward through here is an error."""
        keep = {k: self.__dict__[k] for k in ("fn", "inputs", "needs_input_grad", "seq")}
        self.__dict__.clear()
        self.__dict__.update(keep)
        self.saved_tensors = None
        self.freed = True


class Function:
    """An op: ``forward(ctx, *arrays, **options) -> array`` and
    ``backward(ctx, grad) -> one gradient (or None) per positional input``.

    Subclasses write both as static methods and users call ``apply``.
    """

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        from minigrad.tensor import Tensor

        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        ctx = Context()
        out = cls.forward(ctx, *arrays, **kwargs)
        result = Tensor._wrap(out)
        if _grad_enabled:
            needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            if any(needs):
                ctx.fn = cls
                ctx.inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
                ctx.needs_input_grad = needs
                ctx.seq = next(_sequence)
                result._ctx = ctx
                result.requires_grad = True
        return result


# --------------------------------------------------------------------------- backward


def _sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo NumPy broadcasting: sum ``grad`` down to ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def run_backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d out / d root) to every leaf that requires grad."""
    # Collect the reachable nodes without recursion (graphs may be 10^4+ deep).
    nodes: dict[int, Context] = {}
    stack = [root._ctx]
    while stack:
        ctx = stack.pop()
        if id(ctx) in nodes:
            continue
        if getattr(ctx, "freed", False):
            raise RuntimeError(
                "backward: trying to backward through the graph a second time (its saved "
                "arrays were freed by the first backward); pass retain_graph=True to the "
                "first backward() if you need to call it twice."
            )
        nodes[id(ctx)] = ctx
        for t in ctx.inputs:
            if t is not None and t._ctx is not None and id(t._ctx) not in nodes:
                stack.append(t._ctx)

    # Gradients of non-leaf Tensors are kept per producing node until it runs.
    pending: dict[int, np.ndarray] = {id(root._ctx): grad}
    for ctx in sorted(nodes.values(), key=lambda c: c.seq, reverse=True):
        g = pending.pop(id(ctx), None)
        if g is None:  # no path from the root carries a gradient here
            continue
        grads = ctx.fn.backward(ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        for t, gi, needed in zip(ctx.inputs, grads, ctx.needs_input_grad):
            if not needed or gi is None:
                continue
            gi = np.asarray(gi)
            if gi.shape != t.shape:
                gi = _sum_to_shape(gi, t.shape)
            if gi.dtype != t.dtype:
                gi = gi.astype(t.dtype)
            if t._ctx is None or t._retains_grad:
                t._accumulate_grad(gi)
            if t._ctx is not None:
                key = id(t._ctx)
                prev = pending.get(key)
                # Out-of-place sum: backward functions may return views of their
                # incoming gradient (or the same array twice), so never add in place.
                pending[key] = gi if prev is None else prev + gi
        if not retain_graph:
            ctx.mark_freed()


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
            t = Tensor(a.data.astype(np.float64, copy=True), requires_grad=a.requires_grad)
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
            return float(np.sum(np.asarray(fn(*ins).data, dtype=np.float64) * weights))

    for i in targets:
        ins[i].grad = None
    if out.requires_grad:
        out.backward(Tensor(weights.astype(out.dtype)))

    for i in targets:
        x = ins[i]
        analytic = (
            np.zeros(x.shape) if x.grad is None else np.asarray(x.grad.data, dtype=np.float64)
        )
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: edits below change x in place
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
