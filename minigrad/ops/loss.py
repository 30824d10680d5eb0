"""Losses and regularizers, as differentiable ops on the tape.

Each loss first computes a per-element loss (a ``Function`` with its forward
and backward side by side where the formula is numerically delicate, plain
composed ops elsewhere) and then applies the ``reduction``:

* ``'none'``: the per-element losses,
* ``'sum'``: their sum,
* ``'mean'``: their mean (for the class-weighted losses, the weighted mean, as
  in PyTorch: divided by the sum of the weights of the targets used).

Names, arguments and defaults follow ``torch.nn.functional``.  Beyond PyTorch,
``kl_sparsity`` is the sparse autoencoder's penalty (Deep Learning, sec. 14.2.1)
and ``l2_penalty`` the weight-decay term lambda * ||theta||^2 (sec. 7.1.1) as a
term of the loss rather than a step of the optimizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.autograd import Function, unwrap
from minigrad.ops.activation import _sigmoid, log_softmax
from minigrad.tensor import Tensor, as_tensor

__all__ = [
    "mse_loss",
    "l1_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "kl_sparsity",
    "l2_penalty",
]

_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- helpers


def _check_reduction(reduction: str, op: str, extra: tuple = ()) -> None:
    allowed = _REDUCTIONS + extra
    if reduction not in allowed:
        raise ValueError(
            f"{op}: reduction must be one of {', '.join(repr(r) for r in allowed)}, "
            f"got {reduction!r}"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()


def _float_tensor(x: Any, name: str, op: str) -> Tensor:
    t = as_tensor(x)
    if not np.issubdtype(t.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {t.dtype}")
    return t


def _same_shape(a: Tensor, b: Tensor, op: str, names: tuple = ("input", "target")) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{op}: {names[1]} has shape {b.shape} but {names[0]} has shape {a.shape}; "
            f"they must be the same"
        )


def _const_array(x: Any, name: str, op: str) -> np.ndarray | None:
    """Weights are constants of the loss (as in PyTorch, no gradient flows to them)."""
    if x is None:
        return None
    a = np.asarray(unwrap(x))
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{op}: {name} must be numeric, got dtype {a.dtype}")
    return a


def _outside_unit_interval(a: np.ndarray) -> bool:
    """Whether ``a`` holds a value outside [0, 1] or a NaN, in two passes: min and
    max propagate a NaN, which then fails both comparisons."""
    return a.size > 0 and not (a.min() >= 0 and a.max() <= 1)


# --------------------------------------------------------------------------- regression


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: ``(input - target)^2`` per element, then ``reduction``."""
    _check_reduction(reduction, "mse_loss")
    x, t = _float_tensor(input, "input", "mse_loss"), _float_tensor(target, "target", "mse_loss")
    _same_shape(x, t, "mse_loss")
    d = x - t
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: ``|input - target|`` per element, then ``reduction``."""
    _check_reduction(reduction, "l1_loss")
    x, t = _float_tensor(input, "input", "l1_loss"), _float_tensor(target, "target", "l1_loss")
    _same_shape(x, t, "l1_loss")
    return _reduce((x - t).abs(), reduction)


# --------------------------------------------------------------------------- classification


class NLLPerSample(Function):
    """Per-sample negative log-likelihood ``-w[y_n] * logp[n, y_n]``.

    ``logp`` arrives as (M, C) (class axis last, samples flattened); samples whose
    target is ``ignore_index`` get loss 0 and no gradient.  The gradient only
    touches the picked entries: ``dL/dlogp[n, y_n] = -w[y_n] * g[n]``.
    """

    @staticmethod
    def forward(ctx, logp, picked_index, sample_weight):
        ctx.shape = logp.shape
        ctx.save_for_backward(picked_index, sample_weight)
        return -sample_weight * logp[np.arange(logp.shape[0]), picked_index]

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved_tensors
        grad = np.zeros(ctx.shape, dtype=np.result_type(g, w))
        grad[np.arange(ctx.shape[0]), cols] = -w * g
        return grad, None, None


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N * d1 * ..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    perm = (0, *range(2, x.ndim), 1)
    return x.permute(*perm).reshape(-1, x.shape[1])


def _class_targets(
    x: Tensor, target: Any, weight: np.ndarray | None, ignore_index: int, op: str
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Check class-index targets against input ``x`` (N, C, ...) or (C,); return the
    flattened indices (ignored ones replaced by 0), each sample's weight (0 where
    ignored) and the target shape."""
    if x.ndim < 1:
        raise ValueError(f"{op}: input must have a class dimension, got a scalar")
    C = x.shape[1] if x.ndim >= 2 else x.shape[0]
    y = np.asarray(unwrap(target))
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(
            f"{op}: target must hold integer class indices (or, for cross_entropy, class "
            f"probabilities of the input's shape), got dtype {y.dtype} and shape {y.shape}"
        )
    expected = () if x.ndim == 1 else (x.shape[0], *x.shape[2:])
    if y.shape != expected:
        raise ValueError(
            f"{op}: target has shape {y.shape}; for input of shape {x.shape} "
            f"expected class indices of shape {expected}"
        )
    y = y.reshape(-1)
    used = y != ignore_index
    bad = used & ((y < 0) | (y >= C))
    if bad.any():
        raise ValueError(
            f"{op}: target holds class index {int(y[bad][0])}, outside [0, {C}) "
            f"(and not ignore_index={ignore_index})"
        )
    safe = np.where(used, y, 0)
    if weight is None:
        w = used.astype(x.dtype)
    else:
        if weight.shape != (C,):
            raise ValueError(
                f"{op}: weight must have shape ({C},) (one per class), got {weight.shape}"
            )
        w = np.where(used, weight.astype(x.dtype)[safe], 0).astype(x.dtype)
    return safe, w, expected


class SoftmaxCrossEntropyPerSample(Function):
    """Per-sample ``-w_n log softmax(x_n)[y_n]`` from logits (M, C), fused:

    L_n      = w_n (logsumexp(x_n) - x_n[y_n])      (max subtracted: no overflow)
    dL/dx_n  = w_n g_n (softmax(x_n) - onehot(y_n))
    """

    @staticmethod
    def forward(ctx, x, picked_index, sample_weight):
        rows = np.arange(x.shape[0])
        shifted = x - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=1)
        e /= total[:, None]  # e is now softmax(x), kept for backward
        ctx.save_for_backward(e, picked_index, sample_weight)
        return sample_weight * (np.log(total) - shifted[rows, picked_index])

    @staticmethod
    def backward(ctx, g):
        p, cols, w = ctx.saved_tensors
        scale = (w * g)[:, None]
        grad = p * scale
        grad[np.arange(p.shape[0]), cols] -= scale[:, 0]
        return grad, None, None


def _finish_nll(per: Tensor, w: np.ndarray, shape: tuple, reduction: str) -> Tensor:
    if reduction == "none":
        return per.reshape(shape)
    if reduction == "sum":
        return per.sum()
    # the weighted mean; 0/0 gives nan, as in PyTorch when every target is ignored
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / np.asarray(w.sum(), dtype=per.dtype)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, ...) at class
    indices ``target`` (N, ...): ``-weight[y_n] * input[n, y_n]``; ``'mean'`` divides
    by the summed weights of the non-ignored targets."""
    _check_reduction(reduction, "nll_loss")
    logp = _float_tensor(input, "input", "nll_loss")
    safe, w, shape = _class_targets(
        logp, target, _const_array(weight, "weight", "nll_loss"), ignore_index, "nll_loss"
    )
    per = NLLPerSample.apply(_class_last(logp), safe, w)
    return _finish_nll(per, w, shape, reduction)


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits ``input`` (N, C, ...) and ``target``.

    ``target`` is either class indices (N, ...), giving ``nll_loss(log_softmax(input))``
    (computed in one fused op when there is no label smoothing),
    or class probabilities of the input's shape, giving ``-sum_c w_c t_c log softmax(x)_c``.
    ``label_smoothing`` eps mixes the target with the uniform distribution:
    ``(1 - eps) * target + eps / C``.  Semantics (the weighted means included) are
    PyTorch's.
    """
    op = "cross_entropy"
    _check_reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _float_tensor(input, "input", op)
    if x.ndim < 1:
        raise ValueError(f"{op}: input must have a class dimension, got a scalar")
    cdim = 0 if x.ndim == 1 else 1
    C = x.shape[cdim]
    weight = _const_array(weight, "weight", op)
    if weight is not None and weight.shape != (C,):
        raise ValueError(f"{op}: weight must have shape ({C},) (one per class), got {weight.shape}")
    wshape = [1] * x.ndim
    wshape[cdim] = C

    tgt_dtype = (
        target.dtype if isinstance(target, (Tensor, np.ndarray)) else np.asarray(target).dtype
    )
    if np.issubdtype(tgt_dtype, np.floating):  # class probabilities
        t = as_tensor(target)
        _same_shape(x, t, op, ("input", "target (class probabilities)"))
        if label_smoothing > 0:
            t = t * (1.0 - label_smoothing) + label_smoothing / C
        terms = t * log_softmax(x, dim=cdim)
        if weight is not None:
            terms = terms * weight.astype(x.dtype).reshape(wshape)
        return _reduce(-terms.sum(cdim), reduction)

    safe, w, shape = _class_targets(x, target, weight, ignore_index, op)
    if label_smoothing == 0:
        per = SoftmaxCrossEntropyPerSample.apply(_class_last(x), safe, w)
        return _finish_nll(per, w, shape, reduction)

    logp = log_softmax(x, dim=cdim)
    nll = _finish_nll(NLLPerSample.apply(_class_last(logp), safe, w), w, shape, reduction)
    # the uniform part: -sum_c w_c logp_c / C per sample, ignored targets zeroed
    terms = logp if weight is None else logp * weight.astype(x.dtype).reshape(wshape)
    used = (np.asarray(unwrap(target)) != ignore_index).astype(x.dtype)
    smooth = -terms.sum(cdim) * used
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = smooth.sum() / np.asarray(w.sum(), dtype=x.dtype)
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / C)


# --------------------------------------------------------------------------- binary


_LOG_FLOOR = -100.0  # PyTorch clamps log(p) at -100 so that p = 0 or 1 gives a finite loss


class BinaryCrossEntropy(Function):
    """``-(t log p + (1 - t) log(1 - p))`` with both logs clamped at -100.

    dL/dp = (p - t) / max(p (1 - p), 1e-12)   (PyTorch's guard at p in {0, 1})
    dL/dt = log(1 - p) - log(p)               (the same clamped logs)
    """

    @staticmethod
    def forward(ctx, p, t):
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), _LOG_FLOOR)
            log_q = np.maximum(np.log1p(-p), _LOG_FLOOR)
        ctx.save_for_backward(p, t, log_p, log_q)
        return -(t * log_p + (1 - t) * log_q)

    @staticmethod
    def backward(ctx, g):
        p, t, log_p, log_q = ctx.saved_tensors
        gp = gt = None
        if ctx.needs_input_grad[0]:
            gp = g * (p - t) / np.maximum(p * (1 - p), 1e-12)
        if ctx.needs_input_grad[1]:
            gt = g * (log_q - log_p)
        return gp, gt


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target``:
    ``-weight * (t log p + (1 - t) log(1 - p))``, logs clamped at -100 as in PyTorch."""
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    p, t = _float_tensor(input, "input", op), _float_tensor(target, "target", op)
    _same_shape(p, t, op)
    if _outside_unit_interval(p._data):
        raise ValueError(
            f"{op}: input must hold probabilities in [0, 1] (e.g. a sigmoid's output), got "
            f"values in [{np.nanmin(p._data):.4g}, {np.nanmax(p._data):.4g}]; for logits use "
            f"binary_cross_entropy_with_logits"
        )
    loss = BinaryCrossEntropy.apply(p, t)
    w = _const_array(weight, "weight", op)
    if w is not None:
        loss = loss * w.astype(loss.dtype)
    return _reduce(loss, reduction)


class BCEWithLogits(Function):
    """Stable ``-(pw t log sigma(x) + (1 - t) log(1 - sigma(x)))`` from logits x.

    With log sigma(x) = -softplus(-x) and log(1 - sigma(x)) = -softplus(x), and
    softplus(x) = max(x, 0) + log1p(exp(-|x|)) never overflowing:
        L     = pw t softplus(-x) + (1 - t) softplus(x)
        dL/dx = sigma(x) (pw t + 1 - t) - pw t
        dL/dt = pw softplus(-x) - softplus(x)
    """

    @staticmethod
    def forward(ctx, x, t, pos_weight):
        tail = np.log1p(np.exp(-np.abs(x)))
        sp_pos = np.maximum(x, 0) + tail  # softplus(x)
        sp_neg = np.maximum(-x, 0) + tail  # softplus(-x)
        pw = 1.0 if pos_weight is None else pos_weight
        ctx.save_for_backward(x, t, sp_pos, sp_neg, pw)
        return pw * t * sp_neg + (1 - t) * sp_pos

    @staticmethod
    def backward(ctx, g):
        x, t, sp_pos, sp_neg, pw = ctx.saved_tensors
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = g * (_sigmoid(x) * (pw * t + 1 - t) - pw * t)
        if ctx.needs_input_grad[1]:
            gt = g * (pw * sp_neg - sp_pos)
        return gx, gt, None


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target``, computed from the
    logits without overflow; ``pos_weight`` scales the positive term (per class)."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    x, t = _float_tensor(input, "input", op), _float_tensor(target, "target", op)
    _same_shape(x, t, op)
    pw = _const_array(pos_weight, "pos_weight", op)
    if pw is not None:
        try:
            np.broadcast_shapes(pw.shape, x.shape)
        except ValueError:
            raise ValueError(
                f"{op}: pos_weight of shape {pw.shape} does not broadcast against input {x.shape}"
            ) from None
        pw = pw.astype(x.dtype)
    loss = BCEWithLogits.apply(x, t, pw)
    w = _const_array(weight, "weight", op)
    if w is not None:
        loss = loss * w.astype(loss.dtype)
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- divergences


class KLDivPointwise(Function):
    """PyTorch's kl_div per element, with ``input`` = log q and ``target`` = p:

        L = p (log p - log q)           (0 where p = 0: x log x -> 0)
        L = exp(lt) (lt - log q)        (log_target=True, target lt = log p)
    dL/dlogq = -p;  dL/dp = log p + 1 - log q (p > 0);  dL/dlt = exp(lt) (lt - log q + 1).
    """

    @staticmethod
    def forward(ctx, logq, target, log_target=False):
        ctx.log_target = log_target
        ctx.save_for_backward(logq, target)
        if log_target:
            return np.exp(target) * (target - logq)
        pos = target > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(pos, target * (np.log(np.where(pos, target, 1)) - logq), 0)
        return out.astype(np.result_type(logq, target), copy=False)

    @staticmethod
    def backward(ctx, g):
        logq, target = ctx.saved_tensors
        gq = gt = None
        if ctx.log_target:
            p = np.exp(target)
            if ctx.needs_input_grad[0]:
                gq = -g * p
            if ctx.needs_input_grad[1]:
                gt = g * p * (target - logq + 1)
            return gq, gt
        if ctx.needs_input_grad[0]:
            gq = -g * target
        if ctx.needs_input_grad[1]:
            pos = target > 0
            gt = g * np.where(pos, np.log(np.where(pos, target, 1)) + 1 - logq, 0)
        return gq, gt


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence with PyTorch's convention: ``input`` holds log-probabilities log q,
    ``target`` probabilities p (or log p with ``log_target=True``); per element
    ``p (log p - log q)``.  ``reduction='batchmean'`` divides the sum by the batch size
    (the true KL per sample); ``'mean'`` divides by the number of elements."""
    op = "kl_div"
    _check_reduction(reduction, op, ("batchmean",))
    x, t = _float_tensor(input, "input", op), _float_tensor(target, "target", op)
    _same_shape(x, t, op)
    loss = KLDivPointwise.apply(x, t, log_target=bool(log_target))
    if reduction == "batchmean":
        n = x.shape[0] if x.ndim > 0 else 1
        return loss.sum() / n
    return _reduce(loss, reduction)


def kl_sparsity(h: Any, rho: float) -> Tensor:
    """The sparse autoencoder's penalty: ``sum_j KL(rho || rho_hat_j)`` with
    ``rho_hat_j = mean_n h[n, j]`` the average activation of hidden unit j over the batch
    (axis 0; every other axis indexes units) and

        KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r)).

    ``h`` must hold activations in [0, 1] (sigmoid outputs) whose batch means lie
    strictly inside (0, 1), where the divergence is finite.
    """
    op = "kl_sparsity"
    if not 0.0 < float(rho) < 1.0:
        raise ValueError(f"{op}: rho (the target mean activation) must be in (0, 1), got {rho}")
    h = _float_tensor(h, "h (activations)", op)
    if h.ndim < 1 or h.size == 0:
        raise ValueError(
            f"{op}: h must be a non-empty batch of activations (N, units...), got shape {h.shape}"
        )
    a = h._data
    if _outside_unit_interval(a):
        raise ValueError(
            f"{op}: activations must lie in [0, 1] (use a sigmoid hidden layer), got values in "
            f"[{np.nanmin(a):.4g}, {np.nanmax(a):.4g}]"
        )
    rho_hat = h.mean(0)
    rh = rho_hat._data
    if rh.min() <= 0 or rh.max() >= 1:
        raise ValueError(
            f"{op}: a unit's mean activation over the batch is "
            f"{rh.min() if rh.min() <= 0 else rh.max():.4g}; "
            f"it must lie strictly in (0, 1) for KL(rho || rho_hat) to be finite"
        )
    rho = float(rho)
    # Python floats, so a float32 model stays float32 (NumPy scalars would widen it)
    const = rho * float(np.log(rho)) + (1 - rho) * float(np.log1p(-rho))
    kl = const - rho * rho_hat.log() - (1 - rho) * (1 - rho_hat).log()
    return kl.sum()


def l2_penalty(params: Any | Iterable[Any], lam: float = 1.0) -> Tensor:
    """``lam * sum_p ||p||^2`` over ``params`` (a Tensor, an iterable of Tensors, or a
    Module, whose ``parameters()`` are used), as a term on the tape: adding it to the
    loss adds ``2 lam p`` to each parameter's gradient."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, (Tensor, np.ndarray)):
        params = [params]
    total = None
    for p in params:
        p = as_tensor(p)
        term = (p * p).sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l2_penalty: params is empty (expected one or more Tensors)")
    return total * lam
