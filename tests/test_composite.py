"""Random composite expressions, differentiated twice: by minigrad and by a tiny
reverse-mode reference written here over NumPy (its own derivative rules, its
own unbroadcasting, its own tape), compared in float64.

Each seed builds a random DAG over three leaves of broadcast-compatible shapes:
every step applies a random op to random earlier nodes, so subexpressions are
shared (diamonds) and gradients must accumulate.  The loss is sum(out * W) with
a fixed random W; values and all three leaf gradients must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

LEAF_SHAPES = [(3, 4), (4,), (3, 1), (), (1, 4)]


# ---------------------------------------------------------------- the reference engine


class Node:
    """A value on the reference tape and how to pull a gradient back through it."""

    def __init__(self, value, parents=(), vjp=None):
        self.value = np.asarray(value, dtype=np.float64)
        self.parents = list(parents)
        self.vjp = vjp  # g -> one gradient per parent, before unbroadcasting


def ref_unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def ref_backward(nodes: list, out_index: int, w: np.ndarray) -> list:
    """Gradients of sum(w * out) for every node, visiting nodes newest first."""
    grads = [None] * len(nodes)
    grads[out_index] = w
    position = {id(n): i for i, n in enumerate(nodes)}
    for i in range(len(nodes) - 1, -1, -1):
        node, g = nodes[i], grads[i]
        if g is None or node.vjp is None:
            continue
        for parent, pg in zip(node.parents, node.vjp(g)):
            j = position[id(parent)]
            pg = ref_unbroadcast(
                np.broadcast_to(pg, np.broadcast_shapes(pg.shape, parent.value.shape)),
                parent.value.shape,
            )
            grads[j] = pg if grads[j] is None else grads[j] + pg
    return grads


# ---------------------------------------------------------------- the ops, two ways each
# Unary: name -> (minigrad expression, reference node builder)


def _u_tanh(x):
    v = np.tanh(x.value)
    return Node(v, [x], lambda g: [g * (1 - v * v)])


def _u_sigmoid(x):
    v = 1 / (1 + np.exp(-x.value))
    return Node(v, [x], lambda g: [g * v * (1 - v)])


def _u_neg(x):
    return Node(-x.value, [x], lambda g: [-g])


def _u_softlog(x):  # log(x^2 + 1): smooth everywhere
    X = x.value
    return Node(np.log(X * X + 1), [x], lambda g: [g * 2 * X / (X * X + 1)])


def _u_hypot1(x):  # sqrt(x^2 + 1)
    X = x.value
    r = np.sqrt(X * X + 1)
    return Node(r, [x], lambda g: [g * X / r])


def _u_square(x):
    X = x.value
    return Node(X**2, [x], lambda g: [2 * X * g])


def _u_relu(x):
    X = x.value
    return Node(np.where(X > 0, X, 0.0), [x], lambda g: [g * (X > 0)])


def _u_abs(x):
    X = x.value
    return Node(np.abs(X), [x], lambda g: [g * np.sign(X)])


def _u_exp_bounded(x):  # exp(tanh(x)) keeps values in [1/e, e]
    t = np.tanh(x.value)
    e = np.exp(t)
    return Node(e, [x], lambda g: [g * e * (1 - t * t)])


def _u_scale(x):
    return Node(x.value * 0.7, [x], lambda g: [g * 0.7])


def _u_rsub(x):  # 2 - x, a scalar on the left
    return Node(2.0 - x.value, [x], lambda g: [-g])


def _u_sum0(x):  # sum over the first axis, kept as size 1
    if x.value.ndim == 0:
        return Node(x.value, [x], lambda g: [g])
    shape = x.value.shape
    return Node(x.value.sum(axis=0, keepdims=True), [x], lambda g: [np.broadcast_to(g, shape)])


def _u_mean_last(x):
    if x.value.ndim == 0:
        return Node(x.value, [x], lambda g: [g])
    shape, n = x.value.shape, x.value.shape[-1]
    v = x.value.sum(axis=-1, keepdims=True) / n
    return Node(v, [x], lambda g: [np.broadcast_to(g / n, shape)])


def _u_softmax_last(x):
    if x.value.ndim == 0:
        return Node(np.ones(()), [x], lambda g: [np.zeros(())])
    z = x.value - x.value.max(axis=-1, keepdims=True)
    s = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return Node(s, [x], lambda g: [s * (g - (g * s).sum(axis=-1, keepdims=True))])


def _u_transpose(x):
    return Node(x.value.T, [x], lambda g: [g.T])


UNARY = {
    "tanh": (lambda t: t.tanh(), _u_tanh),
    "sigmoid": (F.sigmoid, _u_sigmoid),
    "neg": (lambda t: -t, _u_neg),
    "softlog": (lambda t: (t * t + 1).log(), _u_softlog),
    "hypot1": (lambda t: (t**2 + 1.0).sqrt(), _u_hypot1),
    "square": (lambda t: t**2, _u_square),
    "relu": (F.relu, _u_relu),
    "abs": (F.abs, _u_abs),
    "exp_bounded": (lambda t: t.tanh().exp(), _u_exp_bounded),
    "scale": (lambda t: t * 0.7, _u_scale),
    "rsub": (lambda t: 2.0 - t, _u_rsub),
    "sum0": (lambda t: t.sum(0, keepdim=True) if t.ndim else t, _u_sum0),
    "mean_last": (lambda t: t.mean(axis=-1, keepdims=True) if t.ndim else t, _u_mean_last),
    "softmax_last": (lambda t: F.softmax(t, -1) if t.ndim else t * 0 + 1, _u_softmax_last),
    "transpose": (lambda t: t.T, _u_transpose),
}


def _b_add(a, b):
    return Node(a.value + b.value, [a, b], lambda g: [g, g])


def _b_sub(a, b):
    return Node(a.value - b.value, [a, b], lambda g: [g, -g])


def _b_mul(a, b):
    A, B = a.value, b.value
    return Node(A * B, [a, b], lambda g: [g * B, g * A])


def _b_softdiv(a, b):  # a / (b^2 + 1): a division whose denominator never vanishes
    A, B = a.value, b.value
    d = B * B + 1
    return Node(A / d, [a, b], lambda g: [g / d, -g * A * 2 * B / (d * d)])


def _b_maximum(a, b):
    A, B = a.value, b.value
    # Exact ties (maximum(x, x)) split the gradient, so d/dx max(x, x) = 1.
    share = (A > B) + 0.5 * (A == B)
    return Node(np.maximum(A, B), [a, b], lambda g: [g * share, g * (1 - share)])


def _b_where(a, b):
    A, B = a.value, b.value
    c = A > B
    return Node(np.where(c, A, B * 3), [a, b], lambda g: [g * c, 3 * g * ~c])


BINARY = {
    "add": (lambda a, b: a + b, _b_add),
    "sub": (lambda a, b: a - b, _b_sub),
    "mul": (lambda a, b: a * b, _b_mul),
    "softdiv": (lambda a, b: a / (b * b + 1), _b_softdiv),
    "maximum": (F.maximum, _b_maximum),
    "where": (lambda a, b: F.where(a > b, a, b * 3), _b_where),
}


# ---------------------------------------------------------------- generator and test


def build(seed: int, n_ops: int, leaf_values=None):
    """Random DAG: returns the leaves (minigrad), the output (minigrad), the
    reference nodes and the index of the reference output, plus the op names.
    ``leaf_values`` replays the same ops on other leaf values."""
    rng = np.random.default_rng(seed)
    leaves, nodes, tensors, names = [], [], [], []
    for k in range(3):
        shape = LEAF_SHAPES[rng.integers(len(LEAF_SHAPES))]
        value = rng.uniform(-1.5, 1.5, size=shape)
        if leaf_values is not None:
            value = leaf_values[k]
        t = mg.tensor(value, requires_grad=True)
        leaves.append(t)
        tensors.append(t)
        nodes.append(Node(value))
    for _ in range(n_ops):
        # Prefer recent nodes (depth) but allow any (shared subexpressions).
        i = len(nodes) - 1 - min(len(nodes) - 1, int(rng.geometric(0.35)) - 1)
        if rng.random() < 0.5:
            j = int(rng.integers(len(nodes)))
            try:
                np.broadcast_shapes(nodes[i].value.shape, nodes[j].value.shape)
            except ValueError:
                j = None
            if j is not None:
                name = list(BINARY)[rng.integers(len(BINARY))]
                mg_op, ref_op = BINARY[name]
                nodes.append(ref_op(nodes[i], nodes[j]))
                tensors.append(mg_op(tensors[i], tensors[j]))
                names.append(name)
                continue
        name = list(UNARY)[rng.integers(len(UNARY))]
        mg_op, ref_op = UNARY[name]
        nodes.append(ref_op(nodes[i]))
        tensors.append(mg_op(tensors[i]))
        names.append(name)
    return leaves, tensors[-1], nodes, len(nodes) - 1, names


def kinks_close(nodes: list, names: list) -> bool:
    """True when some relu/abs/maximum/where input sits within 1e-6 of its kink
    without being exactly on it: there the two engines' rounding may pick
    different sides.  Exact ties are fine: both split them the same way."""

    def near(d):
        return np.any((np.abs(d) < 1e-6) & (d != 0))

    for node, name in zip(nodes[3:], names):
        if name in ("relu", "abs") and near(node.parents[0].value):
            return True
        if name in ("maximum", "where") and near(node.parents[0].value - node.parents[1].value):
            return True
    return False


@pytest.mark.parametrize("batch", range(10))
def test_random_expressions_match_reference(batch):
    """30 expressions per batch, 300 in all, of 4 to 14 ops each."""
    checked = 0
    for seed in range(batch * 30, batch * 30 + 30):
        leaves, out, nodes, out_index, names = build(seed, n_ops=4 + seed % 11)
        if kinks_close(nodes, names):
            continue
        ref_out = nodes[out_index].value
        np.testing.assert_allclose(
            out.numpy(), ref_out, rtol=1e-12, atol=1e-14, err_msg=f"seed {seed}: {names}"
        )
        w = np.random.default_rng(seed + 10_000).standard_normal(ref_out.shape)
        ref_grads = ref_backward(nodes, out_index, w)
        if out.requires_grad:
            out.backward(w)
        for k, leaf in enumerate(leaves):
            expected = ref_grads[k] if ref_grads[k] is not None else np.zeros(leaf.shape)
            got = leaf.grad.numpy() if leaf.grad is not None else np.zeros(leaf.shape)
            np.testing.assert_allclose(
                got, expected, rtol=1e-9, atol=1e-12, err_msg=f"seed {seed}, leaf {k}: {names}"
            )
        checked += 1
    assert checked >= 25  # kinks are rare; most expressions must be compared


def test_reference_engine_agrees_with_finite_differences():
    """The reference itself is checked, so a shared mistake cannot hide."""
    for seed in range(5):
        leaves, out, nodes, out_index, names = build(seed, n_ops=8)
        w = np.random.default_rng(seed).standard_normal(nodes[out_index].value.shape)
        ref_grads = ref_backward(nodes, out_index, w)

        def loss(values, seed=seed, w=w):  # the reference forward alone, perturbed
            nodes2 = build(seed, 8, leaf_values=values)[2]
            return float(np.sum(nodes2[-1].value * w))

        for k in range(3):
            base = [n.value.copy() for n in nodes[:3]]
            flat = base[k].reshape(-1)
            for e in range(flat.size):
                old = flat[e]
                flat[e] = old + 1e-6
                up = loss(base)
                flat[e] = old - 1e-6
                down = loss(base)
                flat[e] = old
                numeric = (up - down) / 2e-6
                analytic = 0.0 if ref_grads[k] is None else ref_grads[k].reshape(-1)[e]
                assert abs(numeric - analytic) < 1e-5 + 1e-4 * abs(numeric), (seed, k, e)
