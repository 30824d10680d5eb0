"""``Function``: how an op puts itself on the tape; and ``gradcheck``.

An op is a ``Function`` subclass with ``forward(ctx, *arrays, **options)`` and
``backward(ctx, *grads)`` side by side, both on NumPy arrays (PyTorch's
``torch.autograd.Function``).  ``apply`` unwraps the Tensor arguments, runs
``forward``, wraps its result(s) in Tensors and, when grad mode is on and an
input requires grad, records the node on the tape (``minigrad.tape``, which
also holds grad mode and the backward pass; re-exported here).

The ctx API, for op authors::

    class Pool(Function):
        @staticmethod
        def forward(ctx, x, k):
            y, idx = kernel(x, k)
            ctx.save_for_backward(idx)         # arrays backward needs
            ctx.mark_non_differentiable(idx)   # an output without gradient
            ctx.k = k                          # options: plain attributes
            return y, idx                      # several outputs: a tuple

        @staticmethod
        def backward(ctx, gy, gidx):           # one gradient per output
            (idx,) = ctx.saved_tensors         # checked: unchanged since saved
            return scatter(gy, idx, ctx.k)     # one gradient per input (or None)

    y, idx = Pool.apply(x, 2)                  # Tensors; idx does not require grad
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from minigrad._C.fingerprint import fingerprint
from minigrad.memory import CACHING, use_handler
from minigrad.tape import (  # noqa: F401 - re-exported: the tape's public names live here too
    Context,
    _sequence,
    _state,
    _sum_to_shape,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    run_backward,
    set_grad_enabled,
)
from minigrad.tensor import Tensor, unwrap  # noqa: F401 - unwrap re-exported for the ops

# Ops whose largest input is smaller than this allocate with NumPy's own allocator: their
# outputs are too small for the array cache to keep (64 KiB and up), and switching
# allocators costs more than such an op. An op that makes a large output from small
# inputs (an outer product) just goes uncached.
_CACHE_FROM = 16 * 1024

_new_object = object.__new__


class Function:
    """An op: ``forward(ctx, *arrays, **options)`` returning an array (or a tuple of
    arrays), and ``backward(ctx, *grads)`` taking one gradient per output and
    returning one gradient (or None) per positional input.

    Subclasses write both as static methods and users call ``apply``.  Arrays that
    backward needs go through ``ctx.save_for_backward`` (never ad-hoc attributes):
    saved inputs and outputs are checked in backward against in-place changes.

    A result that is a view of an input array (``np.reshape``, ``a.T``, ``a[1:]``)
    shares that input's storage, hence its version counter.  Returning an input
    array itself is recognized for the first input only (a cast to the same
    dtype); for another input return a view of it (``b[...]``).

    ``fresh_grads = True`` promises that every array ``backward`` returns was
    allocated by that call and is referenced nowhere else (a kernel's output,
    a matmul result).  The engine then hands it to a leaf as ``.grad`` as is;
    otherwise it copies, because a gradient may be a view of, or the very
    array, another input or the caller still holds.  For a locally connected
    layer's weight that copy is 14 MB per step (what PyTorch's AccumulateGrad
    avoids by checking the gradient's use count).

    ``fingerprint_saved = True`` also fingerprints the saved inputs and outputs
    (one pass at memory speed, in C) and re-checks them in backward, catching
    writes made through NumPy (``t.numpy()[...] = 0``), which no version counter
    can see.  Set on the ops whose backward runs a C kernel on saved inputs.
    """

    fresh_grads: bool = False
    fingerprint_saved: bool = False

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads: np.ndarray) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on the arrays and, when grad is needed, record the node.

        This is the hottest function of the engine (once per op), hence the
        plain loops and no helper calls on the common path."""
        arrays = []
        record = big = False
        ctx = _new_object(Context)
        if _state.enabled:
            needs = []
            for a in args:
                if isinstance(a, Tensor):
                    d = a._data
                    arrays.append(d)
                    big = big or d.nbytes >= _CACHE_FROM
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
            # Set before forward (as PyTorch does), so forward may skip saving arrays
            # that no backward will read.
            ctx.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        else:  # no_grad: nothing to record, the short loop
            for a in args:
                if isinstance(a, Tensor):
                    d = a._data
                    arrays.append(d)
                    big = big or d.nbytes >= _CACHE_FROM
                else:
                    arrays.append(a.item() if isinstance(a, np.generic) else a)
            ctx.needs_input_grad = (False,) * len(arrays)
        if big:  # the op's arrays come from the array cache
            prev = use_handler(CACHING)
            try:
                out = cls.forward(ctx, *arrays, **kwargs)
            finally:
                use_handler(prev)
        else:  # tiny inputs: not worth switching allocators (~0.4 us per op)
            out = cls.forward(ctx, *arrays, **kwargs)
        if type(out) is tuple:
            return _wrap_outputs(cls, ctx, args, out, record)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        result = _new_object(Tensor)
        result._data = out
        result.grad = None
        result._out = None
        result._retains_grad = False
        # A view of an input (reshape, transpose, basic indexing, ...) shares its storage;
        # so does the input itself returned as is (a cast to the same dtype).
        view = out.base is not None or (arrays and out is arrays[0])
        if view:
            view = _share_storage(result, args)
        else:
            result._vc = [0, -1, None]  # a new storage's version counter (see tape.py)
        if record and out.dtype.kind in "fc" and not ctx._non_differentiable:
            ctx.fn = cls
            ctx.inputs = args
            ctx.seq = seq = next(_sequence)
            result._ctx = ctx
            result._requires_grad = True
            saved = ctx.saved_tensors
            if saved:  # guarded: the engine checks them if anything is written after seq
                for s in saved:
                    if s is out:  # a saved output is guarded by its own storage
                        ctx._out_versions = ((0, result._vc, seq, out),)
                        break
                if cls.fingerprint_saved:
                    _fingerprint_saved(ctx, args, (result,))
            if view:  # a view: its values must stay what they were
                ctx._view = result._vc
        else:
            result._ctx = None
            result._requires_grad = False
        return result


def _share_storage(result: Tensor, args: tuple) -> bool:
    """If ``result`` shares memory with a Tensor input, make it a view of that input:
    the same version counter, and that input (or its own base) as ``_base``."""
    out = result._data
    for a in args:
        if isinstance(a, Tensor) and (a._data is out or np.may_share_memory(out, a._data)):
            result._vc = a._vc
            base = a._base
            result._view_of = a if base is None else base
            return True
    result._vc = [0, -1, None]  # a view of something else (a private array of forward)
    return False


def _wrap_outputs(cls: type, ctx: Context, args: tuple, outs: tuple, record: bool) -> tuple:
    """``apply`` for a forward that returned several arrays."""
    marked = ctx._non_differentiable
    results = []
    meta = []
    for k, out in enumerate(outs):
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        r = Tensor._wrap(out)
        if out.base is not None or any(out is unwrap(a) for a in args):
            _share_storage(r, args)
        differentiable = out.dtype.kind in "fc" and not any(out is m for m in marked)
        meta.append((out.shape, out.dtype, differentiable))
        if record and differentiable:
            r._ctx, r._out, r._requires_grad = ctx, k, True
        results.append(r)
    if record and any(d for _, _, d in meta):
        ctx.fn = cls
        ctx.inputs = args
        ctx.seq = next(_sequence)
        ctx.n_outputs = len(outs)
        ctx._out_meta = meta
        saved = ctx.saved_tensors
        if saved:
            ctx._out_versions = tuple(
                (k, r._vc, ctx.seq, r._data)
                for k, r in enumerate(results)
                if any(s is r._data for s in saved)
            )
            if cls.fingerprint_saved:
                _fingerprint_saved(ctx, args, results)
    return tuple(results)


def _fingerprint_saved(ctx: Context, args: tuple, results: Sequence[Tensor]) -> None:
    """Fingerprint the saved arrays that belong to an input or an output (not the
    private arrays forward made), for ``ctx.saved_tensors`` to check again."""
    saved = ctx.saved_tensors
    owners = [
        (f"input {i}", unwrap(a)) for i, a in enumerate(args) if isinstance(a, (Tensor, np.ndarray))
    ]
    owners += [(f"output {k}", r._data) for k, r in enumerate(results)]
    prints = []
    for j, s in enumerate(saved):
        if not isinstance(s, np.ndarray):
            continue
        for what, arr in owners:
            if s is arr or np.may_share_memory(s, arr):
                prints.append((j, what, fingerprint(s)))
                break
    ctx._fingerprints = prints
    ctx._check_after = -2  # always: writes through NumPy leave no trace on the clock


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
