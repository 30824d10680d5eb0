"""The functional side of the new layers: batch_norm, layer_norm, interpolate,
embedding, one_hot, gelu, elu, silu, dropout1d/2d.  Each differentiable op is
gradchecked in float64, compared with a NumPy reference written from its
definition (loops, separately from the op), and with PyTorch where installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F

RNG = np.random.default_rng(11)


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def torch_grads(torch, fn, arrays, upstream):
    """fn's output and the gradients of sum(out * upstream) in PyTorch (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def mg_grads(fn, arrays, upstream):
    ts = [t64(a, True) for a in arrays]
    out = fn(*ts)
    out.backward(t64(upstream))
    return out.numpy(), [t.grad.numpy() for t in ts]


# ----------------------------------------------------------------------------- batch norm


def batch_norm_ref(x, mean, var, w, b, eps):
    """Per channel c: (x[:, c] - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c]."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        out[:, c] = (x[:, c] - mean[c]) / math.sqrt(var[c] + eps) * w[c] + b[c]
    return out


def channel_stats(x):
    """Mean, biased and unbiased variance of each channel, by explicit sums."""
    C = x.shape[1]
    vals = [x[:, c].ravel() for c in range(C)]
    mean = np.array([sum(v) / len(v) for v in vals])
    ss = np.array([sum((v - m) ** 2) for v, m in zip(vals, mean)])
    m = len(vals[0])
    return mean, ss / m, ss / (m - 1)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_batch_norm_training_matches_reference_and_updates_running_stats(shape):
    x = RNG.standard_normal(shape) * 2 + 1
    C = shape[1]
    w, b = RNG.standard_normal(C), RNG.standard_normal(C)
    rm, rv = RNG.standard_normal(C), RNG.uniform(0.5, 2, C)
    rm_t, rv_t = t64(rm), t64(rv)
    out = F.batch_norm(t64(x), rm_t, rv_t, t64(w), t64(b), training=True, momentum=0.3, eps=1e-3)
    mean, var, var_unbiased = channel_stats(x)
    np.testing.assert_allclose(out.numpy(), batch_norm_ref(x, mean, var, w, b, 1e-3), rtol=1e-10)
    np.testing.assert_allclose(rm_t.numpy(), 0.7 * rm + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv_t.numpy(), 0.7 * rv + 0.3 * var_unbiased, rtol=1e-12)
    # evaluation mode uses the running statistics and leaves them alone
    ev = F.batch_norm(t64(x), rm_t, rv_t, t64(w), t64(b), training=False, eps=1e-3)
    np.testing.assert_allclose(
        ev.numpy(), batch_norm_ref(x, rm_t.numpy(), rv_t.numpy(), w, b, 1e-3), rtol=1e-10
    )
    np.testing.assert_allclose(rm_t.numpy(), 0.7 * rm + 0.3 * mean, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_gradcheck(training, affine):
    x = t64(RNG.standard_normal((4, 3, 2, 3)), True)
    rm, rv = t64(RNG.standard_normal(3)), t64(RNG.uniform(0.5, 2, 3))
    if affine:
        w, b = t64(RNG.standard_normal(3), True), t64(RNG.standard_normal(3), True)
        assert mg.gradcheck(
            lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), [x, w, b]
        )
    else:
        assert mg.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])
        assert mg.gradcheck(lambda x: F.batch_norm(x, rm, rv, training=training), [x])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_against_torch(training):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((5, 4, 3, 2))
    w, b = RNG.standard_normal(4), RNG.standard_normal(4)
    rm, rv = RNG.standard_normal(4), RNG.uniform(0.5, 2, 4)
    up = RNG.standard_normal(x.shape)
    rm1, rv1 = t64(rm), t64(rv)
    ours = mg_grads(
        lambda x, w, b: F.batch_norm(x, rm1, rv1, w, b, training=training, momentum=0.2),
        [x, w, b],
        up,
    )
    rm2, rv2 = torch.tensor(rm), torch.tensor(rv)
    theirs = torch_grads(
        torch,
        lambda x, w, b: torch.nn.functional.batch_norm(x, rm2, rv2, w, b, training, 0.2),
        [x, w, b],
        up,
    )
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-12)
    for g, tg in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(rm1.numpy(), rm2.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv1.numpy(), rv2.numpy(), rtol=1e-12)


def test_batch_norm_float32_against_float64_reference():
    x = (RNG.standard_normal((16, 8, 7, 7)) * 3 + 5).astype(np.float32)
    out = F.batch_norm(mg.tensor(x), mg.zeros(8), mg.ones(8), training=True)
    assert out.dtype == np.float32
    mean, var, _ = channel_stats(x.astype(np.float64))
    ref = batch_norm_ref(x.astype(np.float64), mean, var, np.ones(8), np.zeros(8), 1e-5)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_batch_norm_errors():
    x = mg.zeros(4, 3)
    with pytest.raises(ValueError, match="running_mean has shape \\(2,\\), expected \\(3,\\)"):
        F.batch_norm(x, mg.zeros(2), mg.ones(3))
    with pytest.raises(ValueError, match="weight has shape \\(4,\\), expected \\(3,\\)"):
        F.batch_norm(x, None, None, weight=mg.ones(4), training=True)
    with pytest.raises(ValueError, match="needed when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(mg.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="shape \\(N, C, ...\\)"):
        F.batch_norm(mg.zeros(3), None, None, training=True)


# ----------------------------------------------------------------------------- layer norm


def layer_norm_ref(x, k, w, b, eps):
    lead = x.shape[: x.ndim - k]
    out = np.empty_like(x)
    for i in np.ndindex(*lead):
        v = x[i]
        m = v.sum() / v.size
        s = ((v - m) ** 2).sum() / v.size
        out[i] = (v - m) / math.sqrt(s + eps) * w + b
    return out


@pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((3, 5), 5)])
def test_layer_norm_reference_and_gradcheck(shape, norm):
    ns = (norm,) if isinstance(norm, int) else norm
    x = RNG.standard_normal(shape) * 3
    w, b = RNG.standard_normal(ns), RNG.standard_normal(ns)
    out = F.layer_norm(t64(x), norm, t64(w), t64(b), eps=1e-4)
    np.testing.assert_allclose(out.numpy(), layer_norm_ref(x, len(ns), w, b, 1e-4), rtol=1e-10)
    assert mg.gradcheck(
        lambda x, w, b: F.layer_norm(x, norm, w, b), [t64(x, True), t64(w, True), t64(b, True)]
    )
    assert mg.gradcheck(lambda x: F.layer_norm(x, norm), [t64(x, True)])


def test_layer_norm_against_torch_and_errors():
    torch = pytest.importorskip("torch")
    x, w, b = RNG.standard_normal((3, 4, 5)), RNG.standard_normal(5), RNG.standard_normal(5)
    up = RNG.standard_normal(x.shape)
    ours = mg_grads(lambda x, w, b: F.layer_norm(x, (5,), w, b), [x, w, b], up)
    theirs = torch_grads(
        torch, lambda x, w, b: torch.nn.functional.layer_norm(x, (5,), w, b), [x, w, b], up
    )
    for a, c in zip([ours[0], *ours[1]], [theirs[0], *theirs[1]]):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="must be the last dimensions"):
        F.layer_norm(mg.zeros(3, 4), (3,))
    with pytest.raises(ValueError, match="weight has shape \\(3,\\), expected \\(4,\\)"):
        F.layer_norm(mg.zeros(3, 4), 4, weight=mg.ones(3))


# ----------------------------------------------------------------------------- interpolate


def interpolate_ref(x, out_size, mode, align_corners=False, scale=None):
    """Per output pixel: the source coordinate of each axis from its definition, then
    the nearest input pixel or the bilinear blend of the (up to) four around it."""

    def source(o, n_in, n_out, s):
        if mode in ("nearest", "nearest-exact"):
            ratio = np.float32(1.0 / s) if s else np.float32(n_in) / np.float32(n_out)
            if mode == "nearest-exact":  # the input pixel whose centre is nearest
                centre = max(np.float32(float(ratio) * (o + 0.5) - 0.5), 0)
                return min(int(math.floor(centre + np.float32(0.5))), n_in - 1)
            return min(int(math.floor(np.float32(o) * ratio)), n_in - 1)
        if align_corners:
            return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        ratio = 1.0 / s if s else n_in / n_out
        return max((o + 0.5) * ratio - 0.5, 0.0)

    N, C = x.shape[:2]
    spatial = x.shape[2:]
    scales = scale or (None,) * len(spatial)
    out = np.zeros((N, C, *out_size))
    for pos in np.ndindex(*out_size):
        srcs = [source(o, i, n, s) for o, i, n, s in zip(pos, spatial, out_size, scales)]
        if mode.startswith("nearest"):
            out[(slice(None), slice(None), *pos)] = x[(slice(None), slice(None), *srcs)]
            continue
        acc = 0.0
        corners = []
        for src, n in zip(srcs, spatial):
            lo = min(int(math.floor(src)), n - 1)
            hi = min(lo + 1, n - 1)
            t = src - lo
            corners.append(((lo, 1 - t), (hi, t)))
        for combo in np.ndindex(*(2,) * len(spatial)):
            idx = tuple(corners[k][c][0] for k, c in enumerate(combo))
            wt = np.prod([corners[k][c][1] for k, c in enumerate(combo)])
            acc = acc + wt * x[(slice(None), slice(None), *idx)]
        out[(slice(None), slice(None), *pos)] = acc
    return out


INTERP_CASES = [
    ((2, 3, 4, 5), dict(size=(7, 3), mode="nearest")),
    ((2, 3, 4, 5), dict(scale_factor=2, mode="nearest")),
    ((1, 2, 6, 7), dict(scale_factor=0.5, mode="nearest")),
    ((1, 2, 5, 3), dict(scale_factor=(1.7, 2.4), mode="nearest")),
    ((1, 2, 5, 3), dict(size=(8, 4), mode="nearest-exact")),
    ((2, 3, 4, 5), dict(size=(7, 9), mode="bilinear")),
    ((2, 3, 4, 5), dict(size=(7, 9), mode="bilinear", align_corners=True)),
    ((1, 2, 5, 4), dict(scale_factor=1.5, mode="bilinear")),
    ((1, 2, 6, 6), dict(scale_factor=0.4, mode="bilinear")),
    ((1, 2, 3, 3), dict(size=(1, 5), mode="bilinear", align_corners=True)),
    ((2, 3, 5), dict(size=8, mode="linear")),
    ((2, 3, 5), dict(scale_factor=3, mode="nearest")),
    ((1, 2, 3, 2, 4), dict(size=(4, 3, 5), mode="trilinear")),
    ((1, 2, 4, 5), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
]


def _out_size(shape, kw):
    if "size" in kw:
        s = kw["size"]
        return (s,) * (len(shape) - 2) if isinstance(s, int) else s
    f = kw["scale_factor"]
    f = (f,) * (len(shape) - 2) if not isinstance(f, tuple) else f
    return tuple(math.floor(n * s) for n, s in zip(shape[2:], f))


@pytest.mark.parametrize("shape,kw", INTERP_CASES, ids=[str(k) for _, k in INTERP_CASES])
def test_interpolate_reference_and_gradcheck(shape, kw):
    x = RNG.standard_normal(shape)
    out = F.interpolate(t64(x), **kw)
    size = _out_size(shape, kw)
    scale = None
    if "scale_factor" in kw and not kw.get("recompute_scale_factor"):
        f = kw["scale_factor"]
        scale = f if isinstance(f, tuple) else (float(f),) * (len(shape) - 2)
    ref = interpolate_ref(x, size, kw["mode"], kw.get("align_corners", False), scale)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    small = t64(RNG.standard_normal((1, 1, *shape[2:])), True)
    assert mg.gradcheck(lambda a: F.interpolate(a, **kw), [small])


@pytest.mark.parametrize("shape,kw", INTERP_CASES, ids=[str(k) for _, k in INTERP_CASES])
def test_interpolate_against_torch(shape, kw):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal(shape)
    up = RNG.standard_normal((shape[0], shape[1], *_out_size(shape, kw)))
    ours = mg_grads(lambda a: F.interpolate(a, **kw), [x], up)
    theirs = torch_grads(torch, lambda a: torch.nn.functional.interpolate(a, **kw), [x], up)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours[1][0], theirs[1][0], rtol=1e-12, atol=1e-13)
    # float32: the same pixels picked (nearest's float32 index arithmetic included)
    x32 = (RNG.standard_normal(shape) * 10).astype(np.float32)
    o32 = F.interpolate(mg.tensor(x32), **kw).numpy()
    t32 = torch.nn.functional.interpolate(torch.tensor(x32), **kw).numpy()
    assert o32.dtype == np.float32
    np.testing.assert_allclose(o32, t32, rtol=1e-5, atol=1e-5)


def test_interpolate_nearest_index_rule_against_torch_on_many_sizes():
    # sizes where PyTorch's float32 index arithmetic and a float64 one pick different
    # pixels (e.g. 2 -> 82, or 6 * 1.4) are among these
    torch = pytest.importorskip("torch")
    for n_in in (2, 6, 37):
        x = np.arange(1.0, n_in + 1).reshape(1, 1, n_in).astype(np.float32)
        cases = [dict(size=n) for n in range(1, 200)]
        factors = (1.4, 2.8, 3.4, 4.6, 0.7, 1 / 3, 2.0, 1.1)
        cases += [dict(scale_factor=f) for f in factors if math.floor(n_in * f) > 0]
        for kw in cases:
            for mode in ("nearest", "nearest-exact"):
                ours = F.interpolate(mg.tensor(x), mode=mode, **kw).numpy()
                theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw)
                np.testing.assert_array_equal(ours, theirs.numpy(), err_msg=f"{mode} {kw}")


def test_interpolate_errors():
    x = mg.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners can only be set"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match="'bilinear' needs a 4-d input"):
        F.interpolate(mg.zeros(1, 1, 4), size=3, mode="bilinear")
    with pytest.raises(NotImplementedError, match="mode 'bicubic' is not available"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ValueError, match="size must have 2 entries"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(ValueError, match="must be positive"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(TypeError, match="size must hold ints"):
        F.interpolate(x, size=2.5)
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, size=2, mode="bilinear", antialias=True)


# ----------------------------------------------------------------------------- embedding


def test_embedding_lookup_gradient_and_padding_idx():
    W = RNG.standard_normal((6, 3))
    idx = np.array([[1, 2, 1], [5, 0, 1]])
    out = F.embedding(mg.tensor(idx), t64(W))
    np.testing.assert_array_equal(out.numpy(), W[idx])
    assert mg.gradcheck(lambda w: F.embedding(mg.tensor(idx), w), [t64(W, True)])
    up = RNG.standard_normal((2, 3, 3))
    for kw in (dict(), dict(padding_idx=1), dict(padding_idx=-5), dict(scale_grad_by_freq=True)):
        Wt = t64(W, True)
        F.embedding(mg.tensor(idx), Wt, **kw).backward(t64(up))
        ref = np.zeros_like(W)
        counts = np.bincount(idx.ravel(), minlength=6)
        for pos in np.ndindex(*idx.shape):
            k = idx[pos]
            ref[k] += up[pos] / (counts[k] if kw.get("scale_grad_by_freq") else 1)
        if "padding_idx" in kw:
            ref[kw["padding_idx"] % 6] = 0
        np.testing.assert_allclose(Wt.grad.numpy(), ref, rtol=1e-12)


def test_embedding_max_norm_renormalizes_looked_up_rows_in_place():
    W = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    Wt = t64(W.copy(), True)
    out = F.embedding(mg.tensor(np.array([0, 1])), Wt, max_norm=1.0)
    np.testing.assert_allclose(Wt.numpy()[0], [0.6, 0.8], rtol=1e-6)  # rescaled in place
    np.testing.assert_array_equal(Wt.numpy()[1:], W[1:])  # small or not looked up: kept
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)


def test_embedding_against_torch():
    torch = pytest.importorskip("torch")
    W = RNG.standard_normal((7, 4))
    idx = RNG.integers(0, 7, (3, 5))
    up = RNG.standard_normal((3, 5, 4))
    for kw in (dict(padding_idx=2), dict(scale_grad_by_freq=True), dict(max_norm=1.5)):
        ours = mg_grads(lambda w, kw=kw: F.embedding(mg.tensor(idx), w, **kw), [W], up)
        theirs = torch_grads(
            torch,
            lambda w, kw=kw: torch.nn.functional.embedding(torch.tensor(idx), w, **kw),
            [W],
            up,
        )
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
        np.testing.assert_allclose(ours[1][0], theirs[1][0], rtol=1e-12)


def test_embedding_and_one_hot_errors():
    W = mg.zeros(4, 2)
    with pytest.raises(IndexError, match="index 4 is out of range for 4 embeddings"):
        F.embedding(mg.tensor(np.array([0, 4])), W)
    with pytest.raises(TypeError, match="indices must be integers"):
        F.embedding(mg.tensor(np.array([0.0])), W)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(mg.tensor(np.array([0])), W, sparse=True)
    with pytest.raises(ValueError, match="smaller than num_classes=3"):
        F.one_hot(mg.tensor(np.array([0, 3])), 3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(mg.tensor(np.array([-1])))


def test_one_hot():
    idx = np.array([[0, 2], [1, 2]])
    out = F.one_hot(mg.tensor(idx))
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    for pos in np.ndindex(2, 2):
        assert list(out.numpy()[pos]) == [int(c == idx[pos]) for c in range(3)]
    assert F.one_hot(mg.tensor(np.array([1])), num_classes=5).tolist() == [[0, 1, 0, 0, 0]]


# ----------------------------------------------------------------------------- activations


def test_gelu_elu_silu_against_definitions_and_gradcheck(leaf):
    x = np.concatenate([np.linspace(-9, 9, 181), RNG.standard_normal(50)])
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.gelu(t64(x)).numpy(), x * phi, rtol=1e-14, atol=1e-16)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    np.testing.assert_allclose(
        F.gelu(t64(x), approximate="tanh").numpy(), 0.5 * x * (1 + np.tanh(u)), rtol=1e-13
    )
    np.testing.assert_allclose(
        F.elu(t64(x), alpha=0.7).numpy(), np.where(x > 0, x, 0.7 * (np.exp(x) - 1)), rtol=1e-13
    )
    np.testing.assert_allclose(F.silu(t64(x)).numpy(), x / (1 + np.exp(-x)), rtol=1e-13)
    a = leaf((3, 4), low=-4, high=4, avoid=0.0)
    for fn in (
        F.gelu,
        lambda v: F.gelu(v, approximate="tanh"),
        lambda v: F.elu(v, 1.3),
        F.silu,
    ):
        assert mg.gradcheck(fn, [a])
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(a, approximate="erf")


@pytest.mark.parametrize(
    "name,kw",
    [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("elu", {"alpha": 0.5}), ("silu", {})],
)
def test_activations_against_torch(name, kw):
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-12, 12, 97), RNG.standard_normal(40) * 3])
    up = RNG.standard_normal(x.shape)
    ours = mg_grads(lambda v: getattr(F, name)(v, **kw), [x], up)
    theirs = torch_grads(torch, lambda v: getattr(torch.nn.functional, name)(v, **kw), [x], up)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ours[1][0], theirs[1][0], rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32)
    o32 = getattr(F, name)(mg.tensor(x32), **kw).numpy()
    assert o32.dtype == np.float32
    t32 = getattr(torch.nn.functional, name)(torch.tensor(x32), **kw).numpy()
    np.testing.assert_allclose(o32, t32, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize(
    "fn,shape,mask_axes",
    [(F.dropout2d, (40, 30, 3, 2), 2), (F.dropout1d, (40, 30, 5), 2), (F.dropout1d, (300, 4), 1)],
)
def test_channel_dropout_zeroes_whole_channels(fn, shape, mask_axes):
    mg.manual_seed(0)
    x = t64(np.ones(shape), True)
    out = fn(x, p=0.3)
    o = out.numpy().reshape(*shape[:mask_axes], -1)
    assert np.all((o == 0).all(-1) | (o == 1 / 0.7).all(-1))  # each channel all or nothing
    assert 0.25 < (o[..., 0] == 0).mean() < 0.35
    up = RNG.standard_normal(shape)
    out.backward(t64(up))
    np.testing.assert_allclose(x.grad.numpy(), up * out.numpy())  # the same mask
    np.testing.assert_array_equal(fn(x, p=0.3, training=False).numpy(), x.numpy())
    mg.manual_seed(5)
    a = fn(x, 0.5).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(fn(x, 0.5).numpy(), a)  # seeded


def test_channel_dropout_errors_and_warnings():
    with pytest.raises(ValueError, match="dropout1d: expected a 2-d"):
        F.dropout1d(mg.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout2d(mg.zeros(2, 3, 4, 5), p=1.5)
    with pytest.warns(UserWarning, match="3-d input is read as \\(N, C, L\\)"):
        F.dropout2d(mg.zeros(2, 3, 4))
    assert not F.dropout2d(mg.ones(2, 3, 4, 5), p=1.0).numpy().any()


# ----------------------------------------------------------------------------- fresh_grads


def _fresh_cases():
    r = np.random.default_rng(5)

    def t(*shape):
        return mg.tensor(r.standard_normal(shape), requires_grad=True)

    x4 = t(2, 3, 4, 5)
    rm, rv = mg.zeros(3, dtype=np.float64), mg.ones(3, dtype=np.float64)
    return {
        "batch_norm train": lambda: F.batch_norm(x4, rm, rv, t(3), t(3), training=True),
        "batch_norm eval": lambda: F.batch_norm(x4, rm, rv, t(3), t(3)),
        "batch_norm no affine": lambda: F.batch_norm(x4, None, None, training=True),
        "layer_norm": lambda: F.layer_norm(x4, (4, 5), t(4, 5), t(4, 5)),
        "interpolate nearest": lambda: F.interpolate(x4, scale_factor=2),
        "interpolate bilinear": lambda: F.interpolate(x4, size=(3, 7), mode="bilinear"),
        "embedding": lambda: F.embedding(mg.tensor(np.array([[0, 2], [2, 1]])), t(3, 4)),
        "gelu": lambda: F.gelu(x4),
        "gelu tanh": lambda: F.gelu(x4, approximate="tanh"),
        "elu": lambda: F.elu(x4),
        "silu": lambda: F.silu(x4),
        "dropout2d": lambda: F.dropout2d(x4, 0.5),
    }


@pytest.mark.parametrize("name", list(_fresh_cases()))
def test_fresh_grads_promise(name):
    """These Functions claim fresh_grads (their gradients become .grad without the
    engine's copy), so no returned gradient may share memory with the incoming
    gradient, an input, anything ctx saved, or another returned gradient."""
    y = _fresh_cases()[name]()
    ctx = y.grad_fn
    assert ctx.fn.fresh_grads
    held = [t.numpy() for t in ctx.inputs if isinstance(t, mg.Tensor)]
    held += [a for a in (ctx.saved_tensors or ()) if isinstance(a, np.ndarray)]
    held += [a for a in vars(ctx).values() if isinstance(a, np.ndarray)]
    g = np.random.default_rng(0).standard_normal(y.shape)
    held.append(g)
    returned = ctx.fn.backward(ctx, g)
    returned = [
        a for a in (returned if isinstance(returned, tuple) else (returned,)) if a is not None
    ]
    assert returned
    for i, a in enumerate(returned):
        assert not any(np.shares_memory(a, h) for h in held), f"{name}: gradient {i} aliases"
        assert not any(np.shares_memory(a, b) for b in returned[i + 1 :])


def test_empty_batches_give_empty_outputs_and_gradients_as_in_torch():
    rm, rv = mg.zeros(3), mg.ones(3)
    for fn, shape in [
        (lambda x: F.batch_norm(x, rm, rv, training=True), (0, 3, 2)),
        (lambda x: F.batch_norm(x, rm, rv), (0, 3, 2, 2)),
        (lambda x: F.layer_norm(x, (3,)), (0, 3)),
        (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), (0, 3, 2, 2)),
        (lambda x: F.interpolate(x, size=3), (0, 3, 2)),
        (F.gelu, (0, 4)),
    ]:
        x = mg.zeros(*shape, requires_grad=True)
        y = fn(x)
        assert y.shape[0] == 0
        y.sum().backward()
        assert x.grad.shape == shape
    assert rm.numpy().tolist() == [0, 0, 0] and rv.numpy().tolist() == [1, 1, 1]  # no update


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.layer_norm(x, (4, 5)),
        lambda x: F.batch_norm(x, None, None, training=True),
        lambda x: F.interpolate(x, scale_factor=1),
    ],
)
def test_outputs_never_alias_what_backward_saved(fn):
    x = t64(RNG.standard_normal((2, 3, 4, 5)), True)
    y = fn(x)
    saved = [a for a in (y.grad_fn.saved_tensors or ()) if isinstance(a, np.ndarray)]
    assert not any(np.shares_memory(y.numpy(), a) for a in saved + [x.numpy()])


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    oh=st.integers(1, 9),
    ow=st.integers(1, 9),
    mode=st.sampled_from(["nearest", "nearest-exact", "bilinear"]),
    corners=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_interpolate_fuzz_against_reference(h, w, oh, ow, mode, corners, seed):
    x = np.random.default_rng(seed).standard_normal((1, 2, h, w))
    ac = corners if mode == "bilinear" else None
    out = F.interpolate(t64(x), size=(oh, ow), mode=mode, align_corners=ac)
    ref = interpolate_ref(x, (oh, ow), mode, bool(ac))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 5),
    c=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    seed=st.integers(0, 1000),
)
def test_batch_norm_fuzz_against_reference(n, c, spatial, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, c, *spatial)) * r.uniform(0.1, 10) + r.uniform(-5, 5)
    w, b = r.standard_normal(c), r.standard_normal(c)
    mean, var, _ = channel_stats(x)
    out = F.batch_norm(t64(x), None, None, t64(w), t64(b), training=True)
    np.testing.assert_allclose(
        out.numpy(), batch_norm_ref(x, mean, var, w, b, 1e-5), rtol=1e-9, atol=1e-10
    )


@pytest.mark.parametrize(
    "fn,shape",
    [(F.dropout2d, (3, 4, 2, 2)), (F.dropout1d, (3, 4, 5)), (F.dropout1d, (4, 5))],
)
def test_channel_dropout_gradcheck_with_a_fixed_mask(fn, shape):
    def seeded(a):  # the same mask at every evaluation: reseed before drawing it
        mg.manual_seed(7)
        return fn(a, p=0.4)

    assert mg.gradcheck(seeded, [t64(RNG.standard_normal(shape), True)])


def test_embedding_backward_uses_the_indices_of_the_forward_pass():
    idx = mg.tensor(np.array([0, 1, 1]))
    w = t64(np.zeros((3, 2)), True)
    out = F.embedding(idx, w)
    idx.numpy()[:] = 2  # the caller reuses its index buffer before backward
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [2, 2], [0, 0]])
