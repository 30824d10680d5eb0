"""Every core op: finite differences (``mg.gradcheck`` in float64) AND an
independent NumPy reference for the value and the gradient.

The references are written here from the definitions (derivative rules by hand,
broadcasting undone by ``unbroadcast`` below, index ops by counting how often
each source element is picked), never by calling minigrad.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F

# ---------------------------------------------------------------- reference helpers


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched (loops, no tricks)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def backprop(out: mg.Tensor, weights: np.ndarray) -> None:
    """Backward of sum(out * weights): ``weights`` is the upstream gradient."""
    out.backward(mg.tensor(weights))


def grads_of(fn, *inputs, seed=0):
    """Value of fn(*inputs) and the gradients of sum(fn * w) for a fixed random w."""
    for t in inputs:
        if isinstance(t, mg.Tensor):
            t.grad = None
    out = fn(*inputs)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    backprop(out, w)
    return out.numpy(), w, [t.grad.numpy() if t.grad is not None else None for t in inputs]


def index_reference_grad(shape: tuple, pick, w: np.ndarray) -> np.ndarray:
    """Gradient of sum(w * pick(x)) for a pure gather ``pick``: each source element
    receives the sum of the weights of the outputs that copied it.  Found by
    gathering element ids instead of values, then counting with bincount."""
    ids = np.arange(int(np.prod(shape))).reshape(shape)
    picked = np.asarray(pick(ids))
    g = np.bincount(picked.reshape(-1), weights=w.reshape(-1), minlength=ids.size)
    return g.reshape(shape)


# ---------------------------------------------------------------- binary ops, broadcasting

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1, 3, 1), (2, 1, 4)),
    ((), (3, 4)),
    ((3, 4), ()),
]

# op name -> (minigrad call, value rule, d/da rule, d/db rule)
BINARY = {
    "add": (
        lambda a, b: a + b,
        lambda a, b: a + b,
        lambda a, b: np.ones_like(a * b),
        lambda a, b: np.ones_like(a * b),
    ),
    "sub": (
        lambda a, b: a - b,
        lambda a, b: a - b,
        lambda a, b: np.ones_like(a * b),
        lambda a, b: -np.ones_like(a * b),
    ),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "div": (
        lambda a, b: a / b,
        lambda a, b: a / b,
        lambda a, b: 1 / b + 0 * a,
        lambda a, b: -a / b**2,
    ),
    "pow": (
        lambda a, b: a**b,
        lambda a, b: a**b,
        lambda a, b: b * a ** (b - 1),
        lambda a, b: a**b * np.log(a),
    ),
    "maximum": (
        F.maximum,
        np.maximum,
        lambda a, b: (a > b) + 0.0 * b,
        lambda a, b: (b > a) + 0.0 * a,
    ),
    "minimum": (
        F.minimum,
        np.minimum,
        lambda a, b: (a < b) + 0.0 * b,
        lambda a, b: (b < a) + 0.0 * a,
    ),
    "where": (
        lambda a, b: F.where(a > b, a, b * 2),
        lambda a, b: np.where(a > b, a, 2 * b),
        lambda a, b: (a > b) + 0.0 * b,
        lambda a, b: 2.0 * (a <= b) + 0.0 * a,
    ),
}


def _binary_inputs(leaf, name, sa, sb):
    if name in ("div", "pow"):  # positive operands keep a / b and log(a) smooth
        return leaf(sa, 0.5, 2.0), leaf(sb, 0.5, 2.0)
    return leaf(sa), leaf(sb)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS)
def test_binary_broadcast(leaf, name, sa, sb):
    op, value, da, db = BINARY[name]
    a, b = _binary_inputs(leaf, name, sa, sb)
    assert mg.gradcheck(op, [a, b])
    out, w, (ga, gb) = grads_of(op, a, b)
    A, B = a.numpy(), b.numpy()
    np.testing.assert_allclose(out, value(A, B), rtol=1e-12)
    np.testing.assert_allclose(ga, unbroadcast(w * da(A, B), sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, unbroadcast(w * db(A, B), sb), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_binary_with_python_scalar(leaf, name, side):
    op, value, da, db = BINARY[name]
    x = leaf((3, 2), 0.5, 2.0)
    s = 1.3
    if side == "left":
        fn = lambda t: op(s, t)  # noqa: E731
        rule = lambda X: db(np.full_like(X, s), X)  # noqa: E731
        ref = value(s, x.numpy())
    else:
        fn = lambda t: op(t, s)  # noqa: E731
        rule = lambda X: da(X, np.full_like(X, s))  # noqa: E731
        ref = value(x.numpy(), s)
    assert mg.gradcheck(fn, [x])
    out, w, (g,) = grads_of(fn, x)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(g, w * rule(x.numpy()), rtol=1e-10)


def test_scalar_keeps_float32():
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (x * 2.0, 2.0 * x, x + 1, 1 - x, x / 3.0, 2.0 / x, x**2, 2.0**x):
        assert y.dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    name=st.sampled_from(["add", "sub", "mul", "div", "maximum"]),
    seed=st.integers(0, 2**16),
)
def test_binary_broadcast_fuzz(shapes, name, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = mg.tensor(rng.uniform(0.5, 2, sa), requires_grad=True)
    b = mg.tensor(rng.uniform(0.5, 2, sb) * rng.choice([-1, 1], sb), requires_grad=True)
    op, value, da, db = BINARY[name]
    out, w, (ga, gb) = grads_of(op, a, b)
    A, B = a.numpy(), b.numpy()
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out, value(A, B), rtol=1e-12)
    np.testing.assert_allclose(ga, unbroadcast(w * da(A, B), sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, unbroadcast(w * db(A, B), sb), rtol=1e-10, atol=1e-12)


def test_where_condition_as_tensor_and_broadcast(leaf):
    a, b = leaf((3, 4)), leaf((4,))
    cond = mg.tensor(np.arange(12).reshape(3, 4) % 3 == 0)
    assert mg.gradcheck(lambda a, b: F.where(cond, a, b), [a, b])
    out, w, (ga, gb) = grads_of(lambda a, b: F.where(cond, a, b), a, b)
    c = cond.numpy()
    np.testing.assert_allclose(out, np.where(c, a.numpy(), b.numpy()))
    np.testing.assert_allclose(ga, w * c)
    np.testing.assert_allclose(gb, (w * ~c).sum(axis=0))


def test_maximum_minimum_ties_split_gradient():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    b = mg.tensor([1.0, 5.0, 3.0], requires_grad=True, dtype=np.float64)
    F.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.5])
    a.grad = b.grad = None
    F.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 0.0, 0.5])


# ---------------------------------------------------------------- unary ops


def _sig(x):
    return 1 / (1 + np.exp(-x))


# name -> (minigrad call, value rule, derivative rule, input range, kinks to avoid)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, lambda x: -np.ones_like(x), (-2, 2), None),
    "exp": (F.exp, np.exp, np.exp, (-2, 2), None),
    "log": (F.log, np.log, lambda x: 1 / x, (0.2, 3), None),
    "sqrt": (F.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x), (0.2, 3), None),
    "abs": (F.abs, np.abs, np.sign, (-2, 2), 0.0),
    "tanh": (F.tanh, np.tanh, lambda x: 1 / np.cosh(x) ** 2, (-2, 2), None),
    "sigmoid": (F.sigmoid, _sig, lambda x: _sig(x) * (1 - _sig(x)), (-3, 3), None),
    "relu": (F.relu, lambda x: x * (x > 0), lambda x: (x > 0) * 1.0, (-2, 2), 0.0),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        lambda x: np.where(x > 0, 1.0, 0.2),
        (-2, 2),
        0.0,
    ),
    "softplus": (F.softplus, lambda x: np.log1p(np.exp(x)), _sig, (-3, 3), None),
    "softplus_beta": (
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
        lambda x: np.where(2 * x > 3, 1.0, _sig(2 * x)),
        (-3, 3),
        1.5,
    ),
    "clamp_both": (
        lambda x: F.clamp(x, -0.5, 0.7),
        lambda x: np.minimum(np.maximum(x, -0.5), 0.7),
        lambda x: ((x > -0.5) & (x < 0.7)) * 1.0,
        (-2, 2),
        [-0.5, 0.7],
    ),
    "clamp_min": (
        lambda x: x.clamp(min=0.3),
        lambda x: np.maximum(x, 0.3),
        lambda x: (x > 0.3) * 1.0,
        (-2, 2),
        0.3,
    ),
    "clamp_max": (
        lambda x: F.clip(x, max=0.3),
        lambda x: np.minimum(x, 0.3),
        lambda x: (x < 0.3) * 1.0,
        (-2, 2),
        0.3,
    ),
    "square": (lambda x: x**2, lambda x: x * x, lambda x: 2 * x, (-2, 2), None),
    "rsqrt_pow": (
        lambda x: x**-0.5,
        lambda x: 1 / np.sqrt(x),
        lambda x: -0.5 * x**-1.5,
        (0.3, 3),
        None,
    ),
    "exp2": (lambda x: 2.0**x, lambda x: 2.0**x, lambda x: np.log(2) * 2.0**x, (-2, 2), None),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_unary(leaf, name, shape):
    op, value, deriv, (lo, hi), kinks = UNARY[name]
    x = leaf(shape, lo, hi, avoid=kinks)
    assert mg.gradcheck(op, [x])
    out, w, (g,) = grads_of(op, x)
    X = x.numpy()
    np.testing.assert_allclose(out, value(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, w * deriv(X), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float32_matches_float64_reference(name):
    op, value, deriv, (lo, hi), kinks = UNARY[name]
    X = np.random.default_rng(7).uniform(lo, hi, (50,))
    if kinks is not None:
        for k in np.atleast_1d(kinks):
            X = np.where(np.abs(X - k) < 0.05, k + 0.1, X)
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    y = op(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    X32 = X.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(y.numpy(), value(X32), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), deriv(X32), rtol=2e-5, atol=1e-6)


def test_softplus_threshold_switches_to_identity():
    # Above the threshold softplus is x itself (as PyTorch); below it log(1 + e^x).
    x = mg.tensor(np.array([-30.0, 0.0, 19.0, 21.0, 500.0]), requires_grad=True)
    y = F.softplus(x, beta=1.0, threshold=20.0)
    y.sum().backward()
    X = x.numpy()
    expected = np.where(X > 20, X, np.log1p(np.exp(np.minimum(X, 20))))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14)
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), np.where(X > 20, 1.0, _sig(X)), rtol=1e-12)


def test_sigmoid_and_softplus_do_not_overflow():
    x = mg.tensor(np.array([-1000.0, -50.0, 50.0, 1000.0], np.float32), requires_grad=True)
    s = F.sigmoid(x)
    np.testing.assert_allclose(s.numpy(), [0, _sig(-50.0), 1, 1], atol=1e-20)
    sp = F.softplus(x)
    np.testing.assert_allclose(sp.numpy(), [0, np.exp(-50.0), 50, 1000], rtol=1e-6, atol=1e-20)


# ---------------------------------------------------------------- softmax family


def _softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x_i) / sum_j exp(x_j), evaluated with explicit loops along ``axis``."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx].astype(np.float64)
        m = max(row)
        e = [np.exp(v - m) for v in row]
        s = sum(e)
        out[idx] = [v / s for v in e]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax(leaf, dim):
    x = leaf((3, 4, 2), -3, 3)
    for op in (lambda t: F.softmax(t, dim), lambda t: F.log_softmax(t, dim)):
        assert mg.gradcheck(op, [x])
    s, w, (g,) = grads_of(lambda t: F.softmax(t, dim), x)
    ref = _softmax_ref(x.numpy(), dim)
    np.testing.assert_allclose(s, ref, rtol=1e-12)
    # Jacobian of softmax: ds_i/dx_j = s_i (delta_ij - s_j), so g_j = s_j (w_j - sum_i w_i s_i)
    np.testing.assert_allclose(g, ref * (w - (w * ref).sum(axis=dim, keepdims=True)), rtol=1e-9)
    ls, w, (g,) = grads_of(lambda t: F.log_softmax(t, dim), x)
    np.testing.assert_allclose(ls, np.log(ref), rtol=1e-12)
    np.testing.assert_allclose(g, w - ref * w.sum(axis=dim, keepdims=True), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_with_huge_logits(dtype):
    big = 1e4 if dtype == np.float32 else 1e300
    logits = np.array([[big, 0.0, -big], [big, big, big], [-big, -big, 1.0]], dtype)
    x = mg.tensor(logits, requires_grad=True)
    s = F.softmax(x, dim=1)
    ls = F.log_softmax(x, dim=1)
    assert s.dtype == ls.dtype == dtype
    assert np.all(np.isfinite(s.numpy()))
    np.testing.assert_allclose(s.numpy(), [[1, 0, 0], [1 / 3] * 3, [0, 0, 1]], atol=1e-7)
    assert np.all(np.isfinite(ls.numpy()[1])) and ls.numpy()[0, 0] == 0
    np.testing.assert_allclose(ls.numpy()[1], np.log(1 / 3), rtol=1e-6)
    (ls * mg.tensor(np.eye(3, dtype=dtype))).sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_sum_to_one(dtype):
    x = mg.tensor(np.random.default_rng(3).normal(0, 30, (20, 7)).astype(dtype))
    np.testing.assert_allclose(F.softmax(x, 1).numpy().sum(1), 1, rtol=1e-6)


# ---------------------------------------------------------------- dropout


def test_dropout_training_statistics():
    mg.manual_seed(5)
    p = 0.3
    x = mg.tensor(np.ones((200, 500), np.float32), requires_grad=True)
    y = F.dropout(x, p=p, training=True)
    Y = y.numpy()
    kept = Y != 0
    # 10^5 Bernoulli draws: the kept fraction is within 5 sigma of 1 - p.
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / Y.size)
    np.testing.assert_allclose(Y[kept], 1 / (1 - p), rtol=1e-6)  # inverted dropout
    assert abs(Y.mean() - 1) < 0.02  # expectation preserved
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), Y)  # gradient uses the same mask


def test_dropout_eval_is_identity_and_edge_p():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)


def test_dropout_reproducible_with_manual_seed():
    x = mg.ones(100)
    mg.manual_seed(11)
    a = F.dropout(x, 0.5).numpy()
    mg.manual_seed(11)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, F.dropout(x, 0.5).numpy())


# ---------------------------------------------------------------- reductions

AXES = [None, 0, 1, -1, (0, 2), (2, 0, 1)]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "var0"])
def test_reductions(leaf, name, axis, keep):
    x = leaf((2, 3, 4))
    X = x.numpy()
    n = X.size if axis is None else np.prod([X.shape[a] for a in np.atleast_1d(axis)])
    ax = axis if axis is None or np.isscalar(axis) else tuple(axis)
    ops = {
        "sum": lambda t: t.sum(axis, keep),
        "mean": lambda t: t.mean(dim=axis, keepdim=keep),
        "var": lambda t: t.var(axis, keepdim=keep),
        "std": lambda t: F.std(t, axis, keepdim=keep),
        "var0": lambda t: t.var(axis=axis, keepdims=keep, unbiased=False),
    }
    op = ops[name]
    assert mg.gradcheck(op, [x])
    out, w, (g,) = grads_of(op, x)
    m = X.mean(axis=ax, keepdims=True)
    ddof = 0 if name == "var0" else 1
    W = w if keep else np.expand_dims(w, tuple(range(X.ndim)) if axis is None else ax)
    if name == "sum":
        ref, gref = X.sum(ax, keepdims=keep), np.broadcast_to(W, X.shape)
    elif name == "mean":
        ref, gref = X.mean(ax, keepdims=keep), np.broadcast_to(W / n, X.shape)
    elif name in ("var", "var0"):
        ref = X.var(ax, ddof=ddof, keepdims=keep)
        gref = W * 2 * (X - m) / (n - ddof)
    else:
        sd = X.std(ax, ddof=1, keepdims=True)
        ref, gref = X.std(ax, ddof=1, keepdims=keep), W * (X - m) / ((n - 1) * sd)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(g, gref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_max_min_values_and_gradient(leaf, mode, axis):
    x = leaf((4, 5))
    op = (lambda t: t.amax(axis)) if mode == "max" else (lambda t: F.amin(t, axis))
    assert mg.gradcheck(op, [x])
    out, w, (g,) = grads_of(op, x)
    X = x.numpy()
    ref = X.max(axis) if mode == "max" else X.min(axis)
    np.testing.assert_array_equal(out, ref)
    # Without ties the whole gradient goes to the arg-extreme element.
    W = np.expand_dims(w, tuple(range(2)) if axis is None else axis)
    R = np.expand_dims(ref, tuple(range(2)) if axis is None else axis)
    np.testing.assert_allclose(g, W * (X == R))


@pytest.mark.parametrize("mode", ["max", "min"])
def test_max_min_ties_share_gradient(mode):
    X = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 1.0]])
    if mode == "min":
        X = -X
    x = mg.tensor(X, requires_grad=True)
    getattr(x, mode)(axis=1).sum().backward()
    expected = [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0]]
    np.testing.assert_allclose(x.grad.numpy(), expected)
    x.grad = None
    getattr(x, mode)().backward()  # global extreme: the three 5s tie
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0]])


def test_var_of_constant_rows_and_ties():
    x = mg.tensor(np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 1.0]]), requires_grad=True)
    v = x.var(dim=1)
    np.testing.assert_allclose(v.numpy(), [0.0, 4.0 / 3.0])
    v.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [-2 / 3, 4 / 3, -2 / 3]])


def test_max_dim_returns_values_and_indices():
    X = np.array([[1.0, 7.0, 7.0], [4.0, 0.0, 9.0]])
    x = mg.tensor(X, requires_grad=True)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.numpy(), [7.0, 9.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 2])  # first of a tie, as NumPy
    r = x.min(1, keepdim=True)
    assert r.values.shape == (2, 1) and r.indices.shape == (2, 1)
    np.testing.assert_array_equal(r.indices.numpy(), [[0], [1]])
    values.sum().backward()  # as PyTorch: the whole gradient to the returned index
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 0], [0, 0, 1]])
    x.grad = None
    r.values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [0, 1, 0]])
    assert mg.gradcheck(lambda t: t.max(0).values, [mg.tensor(X[::-1] * 1.5, requires_grad=True)])
    assert mg.max(x).item() == 9.0 and mg.min(x, 0).values.shape == (3,)


@settings(max_examples=25, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
    data=st.data(),
    keep=st.booleans(),
    name=st.sampled_from(["sum", "mean", "amax"]),
)
def test_reduction_fuzz(shape, data, keep, name):
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    X = np.random.default_rng(len(shape)).standard_normal(shape)
    x = mg.tensor(X, requires_grad=True)
    out = getattr(x, name)(tuple(axes), keep)
    npf = {"sum": np.sum, "mean": np.mean, "amax": np.max}[name]
    np.testing.assert_allclose(out.numpy(), npf(X, axis=tuple(axes), keepdims=keep), rtol=1e-12)
    out.sum().backward()
    ax = tuple(axes)
    if name == "sum":
        expected = np.ones(shape)
    elif name == "mean":
        expected = np.full(shape, 1.0 / np.prod([shape[a] for a in ax]))
    else:  # each extreme element gets 1 / (number of tied extremes in its slice)
        hit = X == X.max(axis=ax, keepdims=True)
        expected = hit / hit.sum(axis=ax, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


# ---------------------------------------------------------------- shape ops

SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), lambda X: X.reshape(4, 6)),
    "reshape_tuple": (lambda t: F.reshape(t, (2, -1)), lambda X: X.reshape(2, 12)),
    "view": (lambda t: t.view(24), lambda X: X.reshape(24)),
    "flatten": (lambda t: t.flatten(1), lambda X: X.reshape(2, 12)),
    "flatten_mid": (lambda t: F.flatten(t, 0, 1), lambda X: X.reshape(6, 4)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda X: X.transpose(2, 0, 1)),
    "permute_neg": (lambda t: F.permute(t, (-1, 0, 1)), lambda X: X.transpose(2, 0, 1)),
    "transpose": (lambda t: t.transpose(0, 2), lambda X: X.swapaxes(0, 2)),
    "transpose_all": (lambda t: F.transpose(t), lambda X: X.T),
    "T": (lambda t: t.T, lambda X: X.T),
    "unsqueeze": (lambda t: t.unsqueeze(1), lambda X: X[:, None]),
    "unsqueeze_end": (lambda t: F.unsqueeze(t, -1), lambda X: X[..., None]),
    "squeeze": (lambda t: t.unsqueeze(0).squeeze(), lambda X: X),
    "squeeze_dim": (lambda t: t.unsqueeze(2).squeeze(2), lambda X: X),
    "expand": (lambda t: t[:, :1].expand(2, 3, 4), lambda X: np.broadcast_to(X[:, :1], (2, 3, 4))),
    "expand_new": (lambda t: t.expand(5, -1, -1, -1), lambda X: np.broadcast_to(X, (5, 2, 3, 4))),
    "broadcast_to": (
        lambda t: t[0, :, :1].broadcast_to((2, 3, 4)),
        lambda X: np.broadcast_to(X[0, :, :1], (2, 3, 4)),
    ),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(leaf, name):
    op, ref = SHAPE_OPS[name]
    x = leaf((2, 3, 4))
    assert mg.gradcheck(op, [x])
    out, w, (g,) = grads_of(op, x)
    np.testing.assert_array_equal(out, ref(x.numpy()))
    # A pure rearrangement: each source element gets the weights of its copies.
    np.testing.assert_allclose(g, index_reference_grad(x.shape, ref, w), rtol=1e-12)


# ---------------------------------------------------------------- indexing

INDICES = {
    "int": 1,
    "neg_int": -1,
    "slice": (slice(None), slice(1, 3)),
    "step_slice": (slice(None, None, -1), slice(0, 4, 2)),
    "ellipsis": (Ellipsis, 0),
    "newaxis": (None, 0, slice(None)),
    "int_array_repeats": np.array([0, 2, 2, 0, 0]),
    "int_array_unique": np.array([2, 0]),
    "negative_alias_repeat": np.array([-1, 2, 0]),  # -1 is row 2 again
    "int_array_2d": np.array([[1, 0], [2, 1]]),
    "list_repeats": [1, 1, 2],
    "list_pair": ([0, 0, 2], [3, 3, 1]),
    "bool_mask_rows": np.array([True, False, True]),
    "bool_mask_full": "mask",  # filled in below from the data
    "mixed_slice_array": (slice(None), [0, 0, 3]),
    "mixed_array_slice": ([2, 0, 2], slice(1, None)),
    "mixed_int_array": (1, np.array([[0, 1], [1, 3]])),
    "tensor_index": "tensor",
    "empty_list": [],
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem(leaf, name):
    x = leaf((3, 4))
    index = INDICES[name]
    if isinstance(index, str) and index == "mask":
        index = x.numpy() > 0
    elif isinstance(index, str) and index == "tensor":
        index = mg.tensor(np.array([2, 1, 2]))
    np_index = index.numpy() if isinstance(index, mg.Tensor) else index
    if isinstance(np_index, list) and not np_index:
        np_index = np.array([], dtype=np.intp)
    pick = (
        (lambda X: X[np.asarray(np_index)])
        if isinstance(np_index, list)
        else (lambda X: X[np_index])
    )
    op = lambda t: t[index]  # noqa: E731
    out, w, (g,) = grads_of(op, x)
    np.testing.assert_array_equal(out, pick(x.numpy()))
    np.testing.assert_allclose(g, index_reference_grad(x.shape, pick, w), rtol=1e-12)
    if out.size:
        assert mg.gradcheck(op, [x])


def test_getitem_repeated_index_accumulates_twice(leaf):
    x = leaf((4,))
    y = x[[1, 1, 1, 2]]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 1, 0])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_getitem_fuzz(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    X = np.random.default_rng(0).standard_normal(shape)
    x = mg.tensor(X, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), X[index])
    w = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(w)
    np.testing.assert_allclose(
        x.grad.numpy(), index_reference_grad(shape, lambda A: A[index], w), rtol=1e-12
    )


# ---------------------------------------------------------------- pad


def _pad_source(i: int, n: int, mode: str) -> int:
    """Which input position padded position ``i`` (may be < 0 or >= n) copies."""
    if mode == "reflect":  # mirror about the edge elements, which are not repeated
        period = 2 * (n - 1)
        i = i % period
        return i if i < n else period - i
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    if mode == "circular":
        return i % n
    raise ValueError(mode)


def _pad_reference(X: np.ndarray, pad: tuple, mode: str, value: float = 0.0) -> np.ndarray:
    """F.pad by loops: ``pad`` pairs start from the last dimension, as in PyTorch."""
    widths = [(0, 0)] * X.ndim
    for k in range(len(pad) // 2):
        widths[X.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(X.shape, widths))
    out = np.empty(out_shape, dtype=X.dtype)
    for pos in np.ndindex(out_shape):
        src = [p - lo for p, (lo, _) in zip(pos, widths)]
        if mode == "constant":
            inside = all(0 <= s < n for s, n in zip(src, X.shape))
            out[pos] = X[tuple(src)] if inside else value
        else:
            out[pos] = X[tuple(_pad_source(s, n, mode) for s, n in zip(src, X.shape))]
    return out


PADS = [
    ((5,), (2, 3)),
    ((3, 4), (1, 2)),
    ((3, 4), (2, 1, 1, 2)),
    ((2, 3, 4), (3, 0, 0, 2)),
    ((2, 3, 4), (1, 1, 1, 1, 1, 1)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PADS)
def test_pad(leaf, mode, shape, pad):
    x = leaf(shape)
    kwargs = {"value": 1.5} if mode == "constant" else {}
    op = lambda t: F.pad(t, pad, mode=mode, **kwargs)  # noqa: E731
    assert mg.gradcheck(op, [x])
    out, w, (g,) = grads_of(op, x)
    np.testing.assert_array_equal(out, _pad_reference(x.numpy(), pad, mode, 1.5))
    # The gradient reference gathers element ids through the loop reference.
    ids_pad = lambda ids: _pad_reference(ids, pad, mode, -1)  # noqa: E731
    ids = np.arange(x.numpy().size).reshape(shape)
    picked = ids_pad(ids)
    keep = picked >= 0
    gref = np.bincount(picked[keep], weights=w[keep], minlength=ids.size).reshape(shape)
    np.testing.assert_allclose(g, gref, rtol=1e-12)


def test_pad_circular_wider_than_input_and_against_torch(leaf):
    torch = pytest.importorskip("torch")
    x = leaf((1, 2, 3, 4))
    for mode in ("constant", "reflect", "replicate", "circular"):
        pad = (3, 2, 2, 1)
        ours = F.pad(x, pad, mode=mode).numpy()
        theirs = torch.nn.functional.pad(torch.tensor(x.numpy()), pad, mode=mode).numpy()
        np.testing.assert_array_equal(ours, theirs)


# ---------------------------------------------------------------- joining and splitting


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(leaf, dim):
    shapes = {0: [(1, 3), (2, 3), (4, 3)], 1: [(2, 1), (2, 3), (2, 2)], -1: [(2, 2), (2, 2)]}[dim]
    xs = [leaf(s) for s in shapes]
    op = lambda *ts: F.cat(list(ts), dim=dim)  # noqa: E731
    assert mg.gradcheck(op, xs)
    out, w, gs = grads_of(op, *xs)
    np.testing.assert_array_equal(out, np.concatenate([t.numpy() for t in xs], axis=dim))
    bounds = np.cumsum([s[dim] for s in shapes])[:-1]
    for g, piece in zip(gs, np.split(w, bounds, axis=dim)):
        np.testing.assert_array_equal(g, piece)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(leaf, dim):
    xs = [leaf((2, 3)) for _ in range(3)]
    op = lambda *ts: F.stack(ts, dim=dim)  # noqa: E731
    assert mg.gradcheck(op, xs)
    out, w, gs = grads_of(op, *xs)
    np.testing.assert_array_equal(out, np.stack([t.numpy() for t in xs], axis=dim))
    for k, g in enumerate(gs):
        np.testing.assert_array_equal(g, np.take(w, k, axis=dim))


def test_cat_and_stack_of_mixed_inputs():
    a = mg.tensor(np.ones((2, 2)), requires_grad=True)
    b = np.zeros((1, 2))  # a plain array joins in without a gradient
    out = F.cat([a, b])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 1)
    assert F.stack([a, a]).shape == (2, 2, 2)


@pytest.mark.parametrize(
    "sizes,dim,expected",
    [(2, 0, [2, 2, 1]), ([1, 4], 0, [1, 4]), (3, 1, [3]), ([0, 2, 1], 1, [0, 2, 1])],
)
def test_split(leaf, sizes, dim, expected):
    x = leaf((5, 3))
    parts = F.split(x, sizes, dim=dim)
    assert [p.shape[dim] for p in parts] == expected
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts], axis=dim), x.numpy())
    ws = [np.random.default_rng(i).standard_normal(p.shape) for i, p in enumerate(parts)]
    total = sum((p * mg.tensor(wi)).sum() for p, wi in zip(parts, ws))
    total.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.concatenate(ws, axis=dim))
    assert mg.gradcheck(lambda t: F.cat(list(F.split(t, sizes, dim))[::-1], dim), [x])


@pytest.mark.parametrize(
    "n,chunks,expected", [(6, 3, [2, 2, 2]), (5, 2, [3, 2]), (7, 3, [3, 3, 1])]
)
def test_chunk(leaf, n, chunks, expected):
    x = leaf((2, n))
    parts = F.chunk(x, chunks, dim=1)
    assert [p.shape[1] for p in parts] == expected
    assert mg.gradcheck(lambda t: F.chunk(t, chunks, -1)[-1] * 2, [x])


# ---------------------------------------------------------------- matmul


def _matmul_loops(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """C[i, j] = sum_k A[i, k] B[k, j] for 2-d operands."""
    C = np.zeros((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            C[i, j] = sum(A[i, k] * B[k, j] for k in range(A.shape[1]))
    return C


MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (3, 4, 2)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(leaf, sa, sb):
    a, b = leaf(sa), leaf(sb)
    assert mg.gradcheck(lambda a, b: a @ b, [a, b])
    out, w, (ga, gb) = grads_of(F.matmul, a, b)
    np.testing.assert_allclose(out, np.matmul(a.numpy(), b.numpy()), rtol=1e-12)
    assert ga.shape == sa and gb.shape == sb


def test_matmul_2d_against_loops(leaf):
    a, b = leaf((3, 4)), leaf((4, 2))
    out, w, (ga, gb) = grads_of(lambda a, b: a @ b, a, b)
    A, B = a.numpy(), b.numpy()
    np.testing.assert_allclose(out, _matmul_loops(A, B), rtol=1e-12)
    # dL/dA[i,k] = sum_j w[i,j] B[k,j];  dL/dB[k,j] = sum_i A[i,k] w[i,j]
    np.testing.assert_allclose(ga, _matmul_loops(w, B.T), rtol=1e-12)
    np.testing.assert_allclose(gb, _matmul_loops(A.T, w), rtol=1e-12)


def test_rmatmul_with_array(leaf):
    b = leaf((4, 2))
    A = np.ones((3, 4))
    out = A @ b
    assert isinstance(out, mg.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full((4, 2), 3.0))


# ---------------------------------------------------------------- casts


def test_cast_gradient_in_input_dtype():
    x = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.double() * mg.tensor(np.array([3.0, 4.0]))
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    z = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert mg.gradcheck(lambda t: t.float().double() * 2, [z], eps=1e-3, atol=1e-3)


def test_clamp_with_tensor_bounds_and_pow_zero_exponent():
    x = mg.tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    lo, hi = mg.tensor(np.array([0.0, 0.0, 0.0])), mg.tensor(np.array([1.0, 1.0, 1.0]))
    y = F.clamp(x, lo, hi)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.5, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])
    z = mg.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (z**0).sum().backward()  # constant: gradient 0, not 0 * 0^-1 = nan
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0])


def test_clamp_tensor_bounds_get_gradients_as_in_pytorch():
    """A bound that requires grad gets the gradient where it is the output (PyTorch's
    clamp backward; min > max gives max); used to get none."""
    X = np.array([-1.0, 0.5, 2.0, 0.3, -0.4, 1.7])
    LO = np.array([0.0, 0.0, 0.0, 0.6, 0.2, 0.1])
    HI = np.array([1.0, 1.0, 1.0, 0.4, 0.9, -0.2])  # the last three: lo > hi
    x, lo, hi = (mg.tensor(a, requires_grad=True) for a in (X, LO, HI))
    assert mg.gradcheck(lambda a, b, c: F.clamp(a, b, c), [x, lo, hi])
    assert mg.gradcheck(lambda a, b: F.clamp(a, min=b), [x, lo])
    assert mg.gradcheck(lambda a, c: F.clamp(a, max=c), [x, hi])
    w = np.arange(1.0, 7.0)
    (F.clamp(x, lo, hi) * mg.tensor(w)).sum().backward()
    # reference from the definition: each output is x, lo or hi; that one gets w
    out = np.minimum(np.maximum(X, LO), HI)
    np.testing.assert_array_equal(x.grad.numpy(), np.where((X >= LO) & (X <= HI), w, 0))
    np.testing.assert_array_equal(lo.grad.numpy(), np.where((X < LO) & (LO < HI), w, 0))
    np.testing.assert_array_equal(hi.grad.numpy(), np.where((X > HI) | (HI < LO), w, 0))
    np.testing.assert_array_equal(F.clamp(x, lo, hi).numpy(), out)
    torch = pytest.importorskip("torch")
    xt, lt, ht = (torch.tensor(a, requires_grad=True) for a in (X, LO, HI))
    (torch.clamp(xt, lt, ht) * torch.tensor(w)).sum().backward()
    for ours, theirs in ((x, xt), (lo, lt), (hi, ht)):
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_clamp_with_a_bound_that_broadcasts_the_output_larger():
    # the bound (2, 3) widens x (3,): backward used to fail writing a (2, 3) mask in place
    x = mg.tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    lo = mg.tensor(np.array([[0.0, 0.0, 0.0], [-2.0, 1.0, 3.0]]))
    y = F.clamp(x, min=lo)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 0.5, 2.0], [-1.0, 1.0, 3.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])


# ---------------------------------------------------------------- optional: PyTorch agrees

TORCH_CASES = {
    "softplus": (lambda F_, t: F_.softplus(t, beta=1.5, threshold=2.0), (3, 4)),
    "log_softmax": (lambda F_, t: F_.log_softmax(t, dim=0), (3, 4)),
    "softmax": (lambda F_, t: F_.softmax(t, dim=-1), (3, 4)),
    "leaky_relu": (lambda F_, t: F_.leaky_relu(t, 0.1), (3, 4)),
    "var": (lambda F_, t: t.var(1, keepdim=True), (3, 4)),
    "std": (lambda F_, t: t.std(0), (3, 4)),
    "amax": (lambda F_, t: t.amax(1), (3, 4)),
    "max_dim": (lambda F_, t: t.max(1)[0], (3, 4)),
    "min_dim": (lambda F_, t: t.min(0, keepdim=True)[0], (3, 4)),
    "pad_reflect": (lambda F_, t: F_.pad(t, (2, 1), mode="reflect"), (2, 3, 4)),
    "pad_circular": (lambda F_, t: F_.pad(t, (1, 2, 2, 0), mode="circular"), (1, 2, 3, 4)),
    "getitem": (lambda F_, t: t[[0, 2, 0], 1:], (3, 4)),
    "matmul": (lambda F_, t: t @ t.transpose(0, 1), (3, 4)),
    "clamp": (lambda F_, t: t.clamp(-0.3, 0.4), (3, 4)),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_against_torch(name):
    torch = pytest.importorskip("torch")
    fn, shape = TORCH_CASES[name]
    X = np.random.default_rng(9).uniform(-2, 2, shape)
    if name in ("amax", "max_dim", "min_dim"):
        X[0, :2] = X[0, 2]  # ties
    W = np.random.default_rng(10).standard_normal(fn(F, mg.tensor(X)).shape)
    x = mg.tensor(X, requires_grad=True)
    (fn(F, x) * mg.tensor(W)).sum().backward()
    xt = torch.tensor(X, requires_grad=True)
    out_t = fn(torch.nn.functional, xt)
    (out_t * torch.tensor(W)).sum().backward()
    np.testing.assert_allclose(fn(F, x).numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- shape fuzzing


@settings(max_examples=25, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=2, min_side=1, max_side=3
    ),
    seed=st.integers(0, 2**16),
)
def test_matmul_fuzz(shapes, seed):
    """Every vector/matrix/batched combination NumPy's matmul accepts."""
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = mg.tensor(rng.standard_normal(sa), requires_grad=True)
    b = mg.tensor(rng.standard_normal(sb), requires_grad=True)
    out = a @ b
    np.testing.assert_allclose(out.numpy(), np.matmul(a.numpy(), b.numpy()), rtol=1e-12)
    assert out.shape == shapes.result_shape
    assert mg.gradcheck(lambda a, b: a @ b, [a, b])


@settings(max_examples=20, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4),
    data=st.data(),
    mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]),
)
def test_pad_fuzz(shape, data, mode):
    n_dims = data.draw(st.integers(1, len(shape)))
    pad = []
    for k in range(n_dims):
        size = shape[len(shape) - 1 - k]
        limit = {"reflect": size - 1, "circular": size}.get(mode, 3)
        pad += [data.draw(st.integers(0, limit)), data.draw(st.integers(0, limit))]
    X = np.random.default_rng(0).standard_normal(shape)
    x = mg.tensor(X, requires_grad=True)
    kwargs = {"value": -2.0} if mode == "constant" else {}  # PyTorch: no value otherwise
    out = F.pad(x, tuple(pad), mode=mode, **kwargs)
    np.testing.assert_array_equal(out.numpy(), _pad_reference(X, tuple(pad), mode, -2.0))
    w = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(w)
    picked = _pad_reference(np.arange(X.size).reshape(shape), tuple(pad), mode, -1)
    keep = picked >= 0
    gref = np.bincount(picked[keep], weights=w[keep], minlength=X.size).reshape(shape)
    np.testing.assert_allclose(x.grad.numpy(), gref, rtol=1e-12)
