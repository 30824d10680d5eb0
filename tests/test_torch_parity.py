"""Every differentiable op of minigrad/ops against PyTorch, forward and backward, and
by finite differences: one table row per op (the audit of issue 16).  Independent
NumPy references live with each family's tests (test_ops, test_losses, test_pad,
test_conv, test_pool, test_local); this file is the PyTorch side and the gradcheck of
every row, and ``test_every_op_has_a_row`` keeps new ops from slipping past it.

Each row: ``fn(L, *inputs)`` written once for both libraries (``L.F`` is the
functional module, ``L.T`` the top-level module: minigrad or torch), and the input
specs.  Float inputs require grad; the backward pass uses the same random output
weights in both; values and gradients are compared in float64."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import book_conv


def f(*shape, lo=-2.0, hi=2.0):
    """A float64 input that requires grad, uniform in [lo, hi]."""
    return ("f", shape, lo, hi)


def c(*shape, lo=-2.0, hi=2.0):
    """A float64 constant (no grad)."""
    return ("c", shape, lo, hi)


def i(*shape, hi=3):
    """An int64 input in [0, hi)."""
    return ("i", shape, hi)


def b(*shape):
    """A boolean input."""
    return ("b", shape)


def _pool_idx(L, x, k):
    return L.F.max_pool2d(x, k, return_indices=True)


def _local2d_torch(T, x, w, b_, stride, padding):
    """Locally connected via PyTorch's unfold: y[n,o,j,k] = sum W[o,j,k,c,a,b] patch."""
    co, ho, wo, ci, kh, kw = w.shape
    cols = T.nn.functional.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C*k, L)
    y = T.einsum("ncl,olc->nol", cols, w.reshape(co, ho * wo, ci * kh * kw))
    return y.reshape(x.shape[0], co, ho, wo) + b_


def _local(L, x, w, b_, stride=1, padding=0):
    if L is MG:
        return L.F.locally_connected2d(x, w, b_, stride, padding)
    return _local2d_torch(L.T, x, w, b_, stride, padding)


def _local1d(L, x, w, b_):
    if L is MG:
        return L.F.locally_connected1d(x, w, b_)
    co, lo, ci, k = w.shape
    return _local2d_torch(L.T, x[:, :, None], w.reshape(co, 1, lo, ci, 1, k), b_[:, None], 1, 0)[
        :, :, 0
    ]


def _tiled(L, x, w, b_):
    """tiled_conv2d with t = (1, 1) is conv2d (the book's identity)."""
    if L is MG:
        return L.F.tiled_conv2d(x, w, b_, 1, 1)
    return L.F.conv2d(x, w[:, 0, 0], b_[:, 0, 0], 1, 1)


def _tiled1d(L, x, w, b_):
    if L is MG:
        return L.F.tiled_conv1d(x, w, b_, 2)
    return L.F.conv1d(x, w[:, 0], b_[:, 0], 2)


def _weighted(L, x, k):
    """weighted_avg_pool2d is a depthwise correlation with one window: PyTorch's
    grouped conv2d with that window repeated over the channels."""
    if L is MG:
        return L.F.weighted_avg_pool2d(x, 3, 2, 1, weights=k)
    C = x.shape[1]
    return L.F.conv2d(x, k.expand(C, 1, 3, 3), None, 2, 1, 1, C)


def _book(name):
    def run(L, *a):
        if L is MG:
            return {"c": book_conv.c, "g": book_conv.g, "h": book_conv.h}[name](*a)
        T = L.T
        if name == "c":
            K, V = a
            return T.nn.functional.conv2d(V, K)
        if name == "g":
            G, V = a
            return T.nn.grad.conv2d_weight(V, (G.shape[1], V.shape[1], 3, 3), G)
        K, G = a
        return T.nn.functional.conv_transpose2d(G, K)

    return run


CASES = {
    # ---- elementwise
    "add": (lambda L, a, b: L.T.add(a, b), [f(2, 3), f(3)]),
    "sub": (lambda L, a, b: L.T.sub(a, b), [f(2, 3), f(2, 1)]),
    "mul": (lambda L, a, b: L.T.mul(a, b), [f(2, 3), f(3)]),
    "div": (lambda L, a, b: L.T.div(a, b), [f(2, 3), f(3, lo=0.5, hi=2)]),
    "pow": (lambda L, a, b: L.T.pow(a, b), [f(2, 3, lo=0.5, hi=2), f(2, 3)]),
    "neg": (lambda L, a: L.T.neg(a), [f(4)]),
    "exp": (lambda L, a: L.T.exp(a), [f(2, 3)]),
    "log": (lambda L, a: L.T.log(a), [f(2, 3, lo=0.2, hi=3)]),
    "sqrt": (lambda L, a: L.T.sqrt(a), [f(2, 3, lo=0.2, hi=3)]),
    "abs": (lambda L, a: L.T.abs(a), [f(2, 5)]),
    "clamp": (lambda L, a, lo, hi: L.T.clamp(a, lo, hi), [f(6), f(6, hi=0), f(6, lo=0)]),
    "clip": (lambda L, a: L.T.clip(a, -0.5, 0.7), [f(6)]),
    "maximum": (lambda L, a, b: L.T.maximum(a, b), [f(2, 3), f(3)]),
    "minimum": (lambda L, a, b: L.T.minimum(a, b), [f(2, 3), f(3)]),
    "where": (lambda L, m, a, b: L.T.where(m, a, b), [b(2, 3), f(2, 3), f(3)]),
    # ---- activations
    "relu": (lambda L, a: L.F.relu(a), [f(3, 4)]),
    "leaky_relu": (lambda L, a: L.F.leaky_relu(a, 0.2), [f(3, 4)]),
    "sigmoid": (lambda L, a: L.T.sigmoid(a), [f(3, 4, lo=-6, hi=6)]),
    "tanh": (lambda L, a: L.T.tanh(a), [f(3, 4)]),
    "softplus": (lambda L, a: L.F.softplus(a, 2.0, 3.0), [f(3, 4)]),
    "softmax": (lambda L, a: L.F.softmax(a, dim=0), [f(3, 4)]),
    "log_softmax": (lambda L, a: L.F.log_softmax(a, dim=1), [f(3, 4)]),
    # ---- reductions
    "sum": (lambda L, a: L.T.sum(a, (0, 2), keepdim=True), [f(2, 3, 4)]),
    "mean": (lambda L, a: L.T.mean(a, 1), [f(2, 3, 4)]),
    "var": (lambda L, a: L.T.var(a, 1, correction=0), [f(2, 5)]),
    "std": (lambda L, a: L.T.std(a, 0), [f(4, 3)]),
    "max": (lambda L, a: L.T.max(a, 1)[0], [f(3, 5)]),
    "min": (lambda L, a: L.T.min(a, 0, keepdim=True)[0], [f(3, 5)]),
    "amax": (lambda L, a: L.T.amax(a, (0, 1)), [f(3, 5, 2)]),
    "amin": (lambda L, a: L.T.amin(a, 1), [f(3, 5)]),
    # ---- shape
    "reshape": (lambda L, a: L.T.reshape(a, (3, -1)), [f(2, 3, 2)]),
    "view": (lambda L, a: a.view(4, 3), [f(2, 3, 2)]),
    "flatten": (lambda L, a: L.T.flatten(a, 1), [f(2, 3, 2)]),
    "permute": (lambda L, a: L.T.permute(a, (2, 0, 1)), [f(2, 3, 4)]),
    "transpose": (lambda L, a: L.T.transpose(a, 0, 2), [f(2, 3, 4)]),
    "squeeze": (lambda L, a: L.T.squeeze(a, 1), [f(2, 1, 4)]),
    "unsqueeze": (lambda L, a: L.T.unsqueeze(a, -1), [f(2, 4)]),
    "expand": (lambda L, a: a.expand(3, 2, 4), [f(2, 1)]),
    "broadcast_to": (lambda L, a: L.T.broadcast_to(a, (3, 2, 4)), [f(2, 1)]),
    "getitem": (lambda L, a: a[[0, 2, 0], 1:], [f(3, 4)]),
    "pad": (lambda L, a: L.F.pad(a, (2, 1, 1, 0), mode="reflect"), [f(1, 2, 3, 4)]),
    "cat": (lambda L, a, b: L.T.cat([a, b], 1), [f(2, 3), f(2, 2)]),
    "concatenate": (lambda L, a, b: L.T.cat([a, b], 0), [f(2, 3), f(1, 3)]),
    "stack": (lambda L, a, b: L.T.stack([a, b], 1), [f(2, 3), f(2, 3)]),
    "split": (lambda L, a: L.T.split(a, [1, 3], 1)[1], [f(2, 4)]),
    "chunk": (lambda L, a: L.T.chunk(a, 2, 0)[0] * 2, [f(5, 2)]),
    # ---- products
    "matmul": (lambda L, a, b: L.T.matmul(a, b), [f(2, 3, 4), f(4, 5)]),
    "mm": (lambda L, a, b: L.T.mm(a, b), [f(3, 4), f(4, 2)]),
    "linear": (lambda L, x, w, b_: L.F.linear(x, w, b_), [f(2, 3, 4), f(5, 4), f(5)]),
    # ---- losses
    "mse_loss": (lambda L, x, t: L.F.mse_loss(x, t, reduction="sum"), [f(3, 4), f(3, 4)]),
    "l1_loss": (lambda L, x, t: L.F.l1_loss(x, t), [f(3, 4), f(3, 4)]),
    "nll_loss": (lambda L, x, t: L.F.nll_loss(x, t), [f(4, 5), i(4, hi=5)]),
    "cross_entropy": (
        lambda L, x, t: L.F.cross_entropy(x, t, label_smoothing=0.1),
        [f(4, 5, 2), i(4, 2, hi=5)],
    ),
    "binary_cross_entropy": (
        lambda L, p, t: L.F.binary_cross_entropy(p, t, reduction="sum"),
        [f(3, 4, lo=0.05, hi=0.95), f(3, 4, lo=0.0, hi=1.0)],
    ),
    "binary_cross_entropy_with_logits": (
        lambda L, x, t: L.F.binary_cross_entropy_with_logits(x, t),
        [f(3, 4), f(3, 4, lo=0.0, hi=1.0)],
    ),
    "kl_div": (
        lambda L, q, p: L.F.kl_div(q, p, reduction="batchmean"),
        [f(3, 4, lo=-3, hi=-0.1), f(3, 4, lo=0.05, hi=1)],
    ),
    # ---- convolution
    "conv2d": (
        lambda L, x, w, b_: L.F.conv2d(x, w, b_, 2, 1, 1, 2),
        [f(2, 4, 6, 5), f(6, 2, 3, 3), f(6)],
    ),
    "conv1d": (lambda L, x, w, b_: L.F.conv1d(x, w, b_, 1, 2, 2), [f(2, 3, 9), f(4, 3, 3), f(4)]),
    "conv_transpose2d": (
        lambda L, x, w, b_: L.F.conv_transpose2d(x, w, b_, 2, 1, 1),
        [f(2, 3, 4, 4), f(3, 2, 3, 3), f(2)],
    ),
    "conv_transpose1d": (
        lambda L, x, w, b_: L.F.conv_transpose1d(x, w, b_, 2, 0, 1, 1, 2),
        [f(3, 5), f(3, 2, 3), f(2)],
    ),
    "locally_connected2d": (_local, [f(2, 2, 5, 5), f(3, 3, 3, 2, 3, 3), f(3, 3, 3)]),
    "locally_connected1d": (_local1d, [f(2, 2, 6), f(3, 4, 2, 3), f(3, 4)]),
    "tiled_conv2d": (_tiled, [f(2, 2, 5, 5), f(3, 1, 1, 2, 3, 3), f(3, 1, 1)]),
    "tiled_conv1d": (_tiled1d, [f(2, 2, 7), f(3, 1, 2, 3), f(3, 1)]),
    "c": (_book("c"), [f(4, 3, 3, 3), f(2, 3, 6, 6)]),
    "g": (_book("g"), [f(2, 4, 4, 4), f(2, 3, 6, 6)]),
    "h": (_book("h"), [f(4, 3, 3, 3), f(2, 4, 4, 4)]),
    # ---- pooling
    "max_pool2d": (lambda L, x: L.F.max_pool2d(x, 3, 2, 1, 1, True), [f(2, 3, 7, 6)]),
    "max_pool1d": (lambda L, x: L.F.max_pool1d(x, 3, 2, 1, 2), [f(3, 9)]),
    "avg_pool2d": (lambda L, x: L.F.avg_pool2d(x, 3, 2, 1, True, False), [f(2, 3, 7, 6)]),
    "avg_pool1d": (lambda L, x: L.F.avg_pool1d(x, 3, 2, 1), [f(2, 3, 9)]),
    "lp_pool2d": (lambda L, x: L.F.lp_pool2d(x, 3, 2, 2, True), [f(2, 3, 7, 6, lo=0.2)]),
    "lp_pool1d": (lambda L, x: L.F.lp_pool1d(x, 2, 3), [f(2, 3, 9, lo=0.2)]),
    "adaptive_avg_pool2d": (lambda L, x: L.F.adaptive_avg_pool2d(x, (4, None)), [f(2, 3, 7, 6)]),
    "adaptive_avg_pool1d": (lambda L, x: L.F.adaptive_avg_pool1d(x, 4), [f(3, 9)]),
    "adaptive_max_pool2d": (lambda L, x: L.F.adaptive_max_pool2d(x, (4, 3)), [f(2, 3, 7, 6)]),
    "adaptive_max_pool1d": (lambda L, x: L.F.adaptive_max_pool1d(x, 4), [f(2, 3, 9)]),
    "max_unpool2d": (
        lambda L, x, v: L.F.max_unpool2d(v, _pool_idx(L, x, 2)[1], 2, output_size=(7, 6)),
        [c(2, 3, 7, 6), f(2, 3, 3, 3)],
    ),
    "max_unpool1d": (
        lambda L, x, v: L.F.max_unpool1d(v, L.F.max_pool1d(x, 2, return_indices=True)[1], 2),
        [c(2, 3, 8), f(2, 3, 4)],
    ),
    "weighted_avg_pool2d": (_weighted, [f(2, 3, 6, 6), f(3, 3)]),
}

# Public functions without a PyTorch counterpart to compare with, and why; each is
# checked against a NumPy reference and by gradcheck where its family is tested.
NO_TORCH = {
    "dropout": "random mask (another generator): tests/test_ops.py checks its statistics",
    "kl_sparsity": "the sparse autoencoder's penalty, not in PyTorch (tests/test_losses.py)",
    "l2_penalty": "lambda * sum ||p||^2, not in PyTorch (tests/test_losses.py)",
    "gaussian_window": "a constant window, not differentiable (tests/test_pool.py)",
}
# Added on other branches, tested against PyTorch there (nnoptim: tests of its own ops).
TESTED_ELSEWHERE = {
    "gelu", "elu", "silu", "dropout1d", "dropout2d", "batch_norm", "layer_norm",
    "interpolate", "embedding", "one_hot",
}  # fmt: skip

MY_MODULES = {
    f"minigrad.ops.{m}"
    for m in ("activation conv elementwise linalg local loss pool reduce shape book_conv".split())
}


class _MgTop:
    """minigrad's side of ``L.T``: the ops' own functions (minigrad.functional holds
    add, std, mm, ... under torch's names), else the top-level module."""

    def __getattr__(self, name):
        return getattr(F, name) if hasattr(F, name) else getattr(mg, name)


MG = SimpleNamespace(F=F, T=_MgTop())


def _make(spec, seed):
    rng = np.random.default_rng(seed)
    kind, shape = spec[0], spec[1]
    if kind in "fc":
        return rng.uniform(spec[2], spec[3], shape)
    if kind == "i":
        return rng.integers(0, spec[2], shape)
    return rng.random(shape) > 0.5


def _inputs(T, arrays, specs, grad=True):
    out = []
    for a, s in zip(arrays, specs):
        needs = grad and s[0] == "f"
        if T is mg:
            out.append(mg.tensor(a.copy(), requires_grad=needs))
        else:
            out.append(T.tensor(a.copy(), requires_grad=needs))
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_against_torch_forward_and_backward(name):
    torch = pytest.importorskip("torch")
    fn, specs = CASES[name]
    arrays = [_make(s, k + 7 * len(name)) for k, s in enumerate(specs)]
    ours = _inputs(mg, arrays, specs)
    theirs = _inputs(torch, arrays, specs)
    y = fn(MG, *ours)
    ty = fn(SimpleNamespace(F=torch.nn.functional, T=torch), *theirs)
    assert y.shape == tuple(ty.shape), (y.shape, tuple(ty.shape))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(3).standard_normal(y.shape)
    (y * mg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for k, (a, ta, s) in enumerate(zip(ours, theirs, specs)):
        if s[0] != "f":
            continue
        assert a.grad is not None, f"{name}: input {k} got no gradient"
        np.testing.assert_allclose(
            a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=f"{name} input {k}"
        )


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, specs = CASES[name]
    arrays = [_make(s, k + 7 * len(name)) for k, s in enumerate(specs)]
    ins = _inputs(mg, arrays, specs)
    assert mg.gradcheck(lambda *a: fn(MG, *a), ins)


def test_every_op_has_a_row():
    """Every public function of the ops modules (reached through F or book_conv) has a
    row above, or says why it has no PyTorch counterpart."""
    names = set()
    for mod in (F, book_conv):
        for n, obj in vars(mod).items():
            if n.startswith("_") or not inspect.isfunction(obj):
                continue
            if obj.__module__ in MY_MODULES:
                names.add(n)
    missing = names - set(CASES) - set(NO_TORCH) - TESTED_ELSEWHERE
    assert not missing, f"ops with no PyTorch parity row in tests/test_torch_parity.py: {missing}"
