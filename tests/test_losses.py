"""Losses and regularizers: each against an independent NumPy formula (written from
the definitions, with plain loops where that is clearer) and gradchecked in float64;
PyTorch cross-checks where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn

RNG = np.random.default_rng(1234)
REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def reduce_ref(per, reduction):
    if reduction == "none":
        return per
    return per.sum() if reduction == "sum" else per.mean()


# ----------------------------------------------------------------------------- references


def log_softmax_ref(x, axis=1):
    out = np.empty_like(x, dtype=np.float64)
    xm = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    om = np.moveaxis(out, axis, -1)
    for idx in np.ndindex(xm.shape[:-1]):
        row = xm[idx]
        m = max(row)
        om[idx] = row - m - math.log(sum(math.exp(v - m) for v in row))
    return out


def nll_ref(logp, y, weight=None, ignore_index=-100, reduction="mean"):
    """-w[y] logp[n, y] per sample, loop over samples; mean = sum / sum of used weights."""
    logp = np.moveaxis(logp, 1, -1) if logp.ndim > 1 else logp[None]
    C = logp.shape[-1]
    flat, yf = logp.reshape(-1, C), np.asarray(y).reshape(-1)
    w = np.ones(C) if weight is None else np.asarray(weight, np.float64)
    per, wsum = np.zeros(len(yf)), 0.0
    for n, c in enumerate(yf):
        if c == ignore_index:
            continue
        per[n] = -w[c] * flat[n, c]
        wsum += w[c]
    if reduction == "none":
        return per.reshape(np.shape(y))
    return per.sum() if reduction == "sum" else per.sum() / wsum


def ce_probs_ref(x, p, weight=None, reduction="mean", eps=0.0):
    logp = log_softmax_ref(x)
    C = x.shape[1]
    p = p * (1 - eps) + eps / C
    w = np.ones(C) if weight is None else weight
    shape = [1] * x.ndim
    shape[1] = C
    per = -(p * logp * w.reshape(shape)).sum(1)
    return reduce_ref(per, reduction)


def ce_smooth_ref(x, y, weight, ignore_index, reduction, eps):
    """Label smoothing with indices, PyTorch's definition: (1-eps) nll + eps/C * smooth,
    smooth_n = -sum_c w_c logp[n, c] with the same weighted-mean normaliser."""
    logp = log_softmax_ref(x)
    C = x.shape[1]
    nll = nll_ref(logp, y, weight, ignore_index, reduction)
    w = np.ones(C) if weight is None else weight
    used = np.asarray(y) != ignore_index
    smooth = -(logp * w.reshape(1, C, *([1] * (x.ndim - 2)))).sum(1) * used
    if reduction == "mean":
        smooth = smooth.sum() / w[np.asarray(y)[used]].sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - eps) * nll + eps / C * smooth


# ----------------------------------------------------------------------------- mse / l1


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_formula_and_gradchecks(reduction):
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    got = F.mse_loss(t64(a), t64(b), reduction=reduction).numpy()
    ref = reduce_ref(
        np.array([[(a[i, j] - b[i, j]) ** 2 for j in range(4)] for i in range(3)]), reduction
    )
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert mg.gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction), [t64(a), t64(b)])


def test_mse_float32_close_to_float64_reference():
    a = RNG.standard_normal((5, 7)).astype(np.float32)
    b = RNG.standard_normal((5, 7)).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    loss = F.mse_loss(x, b)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    d = a.astype(np.float64) - b
    np.testing.assert_allclose(loss.item(), (d * d).mean(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 * d / d.size, rtol=1e-5, atol=1e-7)


def test_l1_loss():
    a, b = RNG.standard_normal(6), RNG.standard_normal(6)
    np.testing.assert_allclose(F.l1_loss(t64(a), t64(b)).item(), np.abs(a - b).mean())
    assert mg.gradcheck(F.l1_loss, [t64(a), t64(b)])


def test_mse_shape_mismatch_names_target():
    with pytest.raises(ValueError, match="target has shape"):
        F.mse_loss(mg.zeros(3), mg.zeros(4))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(mg.zeros(3), mg.zeros(3), reduction="avg")


# ----------------------------------------------------------------------------- cross entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_indices(reduction, weighted):
    x = RNG.standard_normal((6, 4))
    y = np.array([0, 3, 1, 1, 2, 3])
    w = RNG.uniform(0.5, 2.0, 4) if weighted else None
    got = F.cross_entropy(t64(x), y, weight=w, reduction=reduction).numpy()
    ref = nll_ref(log_softmax_ref(x), y, w, reduction=reduction)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(lambda a: F.cross_entropy(a, y, weight=w, reduction=reduction), [t64(x)])


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = RNG.standard_normal((5, 3))
    y = np.array([2, 0, 1, 1, 0])
    xt = t64(x)
    F.cross_entropy(xt, y).backward()
    p = np.exp(log_softmax_ref(x))
    p[np.arange(5), y] -= 1
    np.testing.assert_allclose(xt.grad.numpy(), p / 5, rtol=1e-10, atol=1e-14)


def test_cross_entropy_ignore_index_and_spatial():
    x = RNG.standard_normal((2, 3, 2, 2))  # (N, C, H, W)
    y = np.array([[[0, 2], [-1, 1]], [[1, -1], [2, 0]]])
    for reduction in REDUCTIONS:
        got = F.cross_entropy(t64(x), y, ignore_index=-1, reduction=reduction).numpy()
        ref = nll_ref(log_softmax_ref(x), y, None, -1, reduction)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(lambda a: F.cross_entropy(a, y, ignore_index=-1), [t64(x)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_label_smoothing_indices(reduction):
    x = RNG.standard_normal((5, 4))
    y = np.array([0, 3, -100, 1, 2])
    w = RNG.uniform(0.5, 2.0, 4)
    got = F.cross_entropy(t64(x), y, weight=w, reduction=reduction, label_smoothing=0.2).numpy()
    ref = ce_smooth_ref(x, y, w, -100, reduction, 0.2)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(
        lambda a: F.cross_entropy(a, y, weight=w, reduction=reduction, label_smoothing=0.2),
        [t64(x)],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(reduction):
    x = RNG.standard_normal((4, 5))
    p = RNG.random((4, 5))
    p /= p.sum(1, keepdims=True)
    w = RNG.uniform(0.5, 2.0, 5)
    got = F.cross_entropy(
        t64(x), t64(p, False), weight=w, reduction=reduction, label_smoothing=0.1
    ).numpy()
    np.testing.assert_allclose(got, ce_probs_ref(x, p, w, reduction, 0.1), rtol=1e-10)
    # differentiable in both the logits and the target distribution
    assert mg.gradcheck(lambda a, b: F.cross_entropy(a, b, reduction=reduction), [t64(x), t64(p)])


def test_cross_entropy_single_sample_and_errors():
    x = RNG.standard_normal(4)
    np.testing.assert_allclose(
        F.cross_entropy(t64(x), np.array(2)).item(), -log_softmax_ref(x[None])[0, 2]
    )
    with pytest.raises(ValueError, match="outside"):
        F.cross_entropy(mg.zeros(2, 3), [0, 3])
    with pytest.raises(ValueError, match="target has shape"):
        F.cross_entropy(mg.zeros(2, 3), [0, 1, 2])
    with pytest.raises(ValueError, match="weight must have shape"):
        F.cross_entropy(mg.zeros(2, 3), [0, 1], weight=np.ones(2))


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor(np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x, [1])
    loss.backward()
    assert np.isfinite(loss.item()) and abs(loss.item() - 2000.0) < 1e-2
    assert np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    logp = log_softmax_ref(RNG.standard_normal((5, 3)))
    y = np.array([2, 0, 1, -100, 0])
    w = np.array([0.2, 1.0, 3.0])
    got = F.nll_loss(t64(logp), y, weight=w, reduction=reduction).numpy()
    np.testing.assert_allclose(got, nll_ref(logp, y, w, -100, reduction), rtol=1e-12)
    assert mg.gradcheck(lambda a: F.nll_loss(a, y, weight=w, reduction=reduction), [t64(logp)])


def test_nll_all_ignored_mean_is_nan():
    assert np.isnan(F.nll_loss(mg.zeros(2, 3), [-100, -100]).item())


def test_nll_loss_rejects_float_targets():
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(mg.zeros(2, 3), np.array([0.0, 1.0]))


# ----------------------------------------------------------------------------- binary


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    p = RNG.uniform(0.05, 0.95, (3, 4))
    t = RNG.random((3, 4))
    w = RNG.uniform(0.5, 2, 4)
    got = F.binary_cross_entropy(t64(p), t64(t), weight=w, reduction=reduction).numpy()
    per = -w * (t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(got, reduce_ref(per, reduction), rtol=1e-12)
    assert mg.gradcheck(
        lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), [t64(p), t64(t)]
    )


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = mg.tensor(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0])
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.numpy()))


def test_binary_cross_entropy_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(mg.tensor([0.5, 1.5]), mg.tensor([0.0, 1.0]))
    for bad in ([-0.5, 0.5], [0.5, np.nan]):  # below 0, and a NaN (which fails both bounds)
        with pytest.raises(ValueError, match="probabilities in \\[0, 1\\]"):
            F.binary_cross_entropy(mg.tensor(bad), mg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="activations must lie in"):
        F.kl_sparsity(mg.tensor([[0.5, np.nan]]), 0.1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction):
    x = RNG.standard_normal((4, 3)) * 3
    t = RNG.random((4, 3))
    pw = np.array([0.5, 2.0, 3.0])
    w = RNG.uniform(0.5, 2, (4, 1))
    got = F.binary_cross_entropy_with_logits(
        t64(x), t64(t), weight=w, reduction=reduction, pos_weight=pw
    ).numpy()
    s = 1 / (1 + np.exp(-x))
    per = -w * (pw * t * np.log(s) + (1 - t) * np.log(1 - s))
    np.testing.assert_allclose(got, reduce_ref(per, reduction), rtol=1e-10)
    assert mg.gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, weight=w, reduction=reduction, pos_weight=pw
        ),
        [t64(x), t64(t)],
    )


def test_bce_with_logits_is_stable_and_agrees_with_bce():
    x = mg.tensor(np.array([-800.0, -30.0, 0.0, 30.0, 800.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    tiny = math.log1p(math.exp(-30.0))
    np.testing.assert_allclose(
        loss.numpy(), [800.0, tiny, math.log(2), tiny, 800.0], rtol=1e-10, atol=1e-12
    )
    loss.sum().backward()
    with np.errstate(over="ignore"):  # exp(800) -> inf -> sigmoid 0, as intended
        sig = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), sig - t, atol=1e-12)
    xm = RNG.standard_normal(6)
    tm = RNG.random(6)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(t64(xm), t64(tm)).item(),
        F.binary_cross_entropy(F.sigmoid(t64(xm)), t64(tm)).item(),
        rtol=1e-12,
    )


# ----------------------------------------------------------------------------- kl


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div(reduction):
    q = RNG.random((3, 4))
    q /= q.sum(1, keepdims=True)
    p = RNG.random((3, 4))
    p[0, 1] = 0.0  # 0 log 0 = 0
    p /= p.sum(1, keepdims=True)
    got = F.kl_div(t64(np.log(q)), t64(p, False), reduction=reduction).numpy()
    per = np.zeros_like(p)
    for i, j in np.ndindex(p.shape):
        if p[i, j] > 0:
            per[i, j] = p[i, j] * (math.log(p[i, j]) - math.log(q[i, j]))
    ref = per.sum() / 3 if reduction == "batchmean" else reduce_ref(per, reduction)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    p2 = np.abs(p) + 0.1  # gradcheck the target away from the kink at 0
    assert mg.gradcheck(lambda a, b: F.kl_div(a, b, reduction=reduction), [t64(np.log(q)), t64(p2)])


def test_kl_div_log_target():
    lq, lp = np.log(RNG.uniform(0.1, 1, 5)), np.log(RNG.uniform(0.1, 1, 5))
    np.testing.assert_allclose(
        F.kl_div(t64(lq), t64(lp), reduction="sum", log_target=True).item(),
        np.sum(np.exp(lp) * (lp - lq)),
    )
    assert mg.gradcheck(
        lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True), [t64(lq), t64(lp)]
    )


def kl_sparsity_ref(h, rho):
    total = 0.0
    for j in range(h.shape[1]):
        r = sum(h[n, j] for n in range(h.shape[0])) / h.shape[0]
        total += rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
    return total


def test_kl_sparsity():
    h = RNG.uniform(0.01, 0.99, (8, 5))
    np.testing.assert_allclose(
        F.kl_sparsity(t64(h), 0.05).item(), kl_sparsity_ref(h, 0.05), rtol=1e-12
    )
    assert mg.gradcheck(lambda a: F.kl_sparsity(a, 0.2), [t64(h)])
    # zero exactly when every unit's mean activation equals rho
    assert abs(F.kl_sparsity(mg.full((4, 3), 0.3, dtype=np.float64), 0.3).item()) < 1e-15


def test_kl_sparsity_float32_and_module():
    h = RNG.uniform(0.01, 0.99, (6, 4)).astype(np.float32)
    out = nn.KLSparsity(rho=0.1, beta=3.0)(mg.tensor(h))
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out.item(), 3 * kl_sparsity_ref(h.astype(np.float64), 0.1), rtol=1e-5
    )


def test_kl_sparsity_errors():
    with pytest.raises(ValueError, match="activations must lie in"):
        F.kl_sparsity(mg.tensor([[0.5, 1.2]]), 0.1)
    with pytest.raises(ValueError, match="strictly in"):
        F.kl_sparsity(mg.tensor([[0.0, 0.5], [0.0, 0.5]]), 0.1)
    with pytest.raises(ValueError, match="rho"):
        F.kl_sparsity(mg.tensor([[0.2]]), 1.0)
    # no units (N, 0) used to fail inside NumPy's min() with "zero-size array"
    for shape in [(0, 3), (4, 0)]:
        with pytest.raises(ValueError, match="non-empty batch of activations"):
            F.kl_sparsity(mg.zeros(*shape), 0.1)


def test_l2_penalty_on_tape():
    a, b = RNG.standard_normal((3, 2)), RNG.standard_normal(4)
    ta, tb = t64(a), t64(b)
    pen = F.l2_penalty([ta, tb], lam=0.3)
    np.testing.assert_allclose(pen.item(), 0.3 * (np.sum(a**2) + np.sum(b**2)))
    pen.backward()
    np.testing.assert_allclose(ta.grad.numpy(), 0.6 * a)
    np.testing.assert_allclose(tb.grad.numpy(), 0.6 * b)
    assert mg.gradcheck(lambda x, y: F.l2_penalty([x, y], 0.7), [t64(a), t64(b)])
    model = nn.Linear(3, 2)
    expect = sum(float(np.sum(p.numpy().astype(np.float64) ** 2)) for p in model.parameters())
    np.testing.assert_allclose(F.l2_penalty(model).item(), expect, rtol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        F.l2_penalty([])


# ----------------------------------------------------------------------------- modules


def test_loss_modules_match_functions():
    x = RNG.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    p = RNG.uniform(0.1, 0.9, (4, 3))
    assert nn.CrossEntropyLoss(label_smoothing=0.1)(t64(x), y).item() == pytest.approx(
        F.cross_entropy(t64(x), y, label_smoothing=0.1).item()
    )
    assert nn.NLLLoss(reduction="sum")(t64(x), y).item() == pytest.approx(
        F.nll_loss(t64(x), y, reduction="sum").item()
    )
    assert nn.MSELoss()(t64(x), t64(p)).item() == pytest.approx(F.mse_loss(t64(x), t64(p)).item())
    assert nn.BCELoss()(t64(p), t64(p)).item() == pytest.approx(
        F.binary_cross_entropy(t64(p), t64(p)).item()
    )
    assert nn.BCEWithLogitsLoss()(t64(x), t64(p)).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(t64(x), t64(p)).item()
    )
    assert nn.KLDivLoss(reduction="batchmean")(t64(np.log(p)), t64(p)).item() == pytest.approx(
        F.kl_div(t64(np.log(p)), t64(p), reduction="batchmean").item()
    )


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(2, 6), d=st.integers(0, 2), seed=st.integers(0, 99))
def test_cross_entropy_fuzz_shapes(n, c, d, seed):
    r = np.random.default_rng(seed)
    shape = (n, c) + (3,) * d
    x = r.standard_normal(shape)
    y = r.integers(0, c, (n,) + (3,) * d)
    got = F.cross_entropy(t64(x), y, reduction="none").numpy()
    assert got.shape == y.shape
    np.testing.assert_allclose(got, nll_ref(log_softmax_ref(x), y, reduction="none"), rtol=1e-10)


# ----------------------------------------------------------------------------- torch


def test_against_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = RNG.standard_normal((5, 4))
    y = np.array([0, 3, 1, -100, 2])
    w = RNG.uniform(0.5, 2, 4)
    for red in REDUCTIONS:
        ours = F.cross_entropy(t64(x), y, weight=w, reduction=red, label_smoothing=0.15).numpy()
        ref = tF.cross_entropy(
            torch.tensor(x),
            torch.tensor(y),
            weight=torch.tensor(w),
            reduction=red,
            label_smoothing=0.15,
        ).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    p = RNG.uniform(0, 1, (5, 4))
    t = RNG.random((5, 4))
    np.testing.assert_allclose(
        F.binary_cross_entropy(t64(p), t64(t)).item(),
        tF.binary_cross_entropy(torch.tensor(p), torch.tensor(t)).item(),
        rtol=1e-10,
    )
    pw = np.array([1.0, 2.0, 0.5, 3.0])
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(t64(x), t64(t), pos_weight=pw).item(),
        tF.binary_cross_entropy_with_logits(
            torch.tensor(x), torch.tensor(t), pos_weight=torch.tensor(pw)
        ).item(),
        rtol=1e-10,
    )
    lq = np.log(p / p.sum(1, keepdims=True))
    np.testing.assert_allclose(
        F.kl_div(t64(lq), t64(t), reduction="batchmean").item(),
        tF.kl_div(torch.tensor(lq), torch.tensor(t), reduction="batchmean").item(),
        rtol=1e-10,
    )


def test_float32_losses_against_float64_references():
    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.integers(0, 6, 8)
    xt = mg.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, y)
    loss.backward()
    assert loss.dtype == np.float32 and xt.grad.dtype == np.float32
    logp = log_softmax_ref(x.astype(np.float64))
    np.testing.assert_allclose(loss.item(), nll_ref(logp, y), rtol=1e-6)
    g = np.exp(logp)
    g[np.arange(8), y] -= 1
    np.testing.assert_allclose(xt.grad.numpy(), g / 8, rtol=1e-5, atol=1e-7)
    p = RNG.uniform(0.05, 0.95, (4, 5)).astype(np.float32)
    t = RNG.random((4, 5)).astype(np.float32)
    bce = F.binary_cross_entropy_with_logits(mg.tensor(p), mg.tensor(t))
    assert bce.dtype == np.float32
    p64, t64_ = p.astype(np.float64), t.astype(np.float64)
    ref = np.mean(np.log1p(np.exp(p64)) - t64_ * p64)
    np.testing.assert_allclose(bce.item(), ref, rtol=1e-6)
