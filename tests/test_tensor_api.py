"""The Tensor methods and mg.* functions of issue #11's list: each differentiable one
gradchecked, compared with a NumPy reference written here, and with PyTorch when
it is installed; the rest checked against NumPy / PyTorch semantics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import minigrad as mg


def f64(a, requires_grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- differentiable ops
# name -> (minigrad call, NumPy reference, torch call, input arrays)

X = randn(3, 4)
ROWS = randn(2, 5, seed=1)
MASK = np.array([[True, False, False, True], [False, False, True, False], [True] * 4])


def _norm_ref(a, p, axis=None, keepdims=False):
    a = np.abs(a)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    if p == -np.inf:
        return a.min(axis=axis, keepdims=keepdims)
    return (a**p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


def _topk_ref(a, k, axis, largest):
    order = np.argsort(-a if largest else a, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(a, idx, axis=axis), idx


@dataclass
class Op:
    """One differentiable op: minigrad's call, a NumPy reference, the same call on torch
    (given the torch module first), and the input arrays."""

    call: Callable
    ref: Callable
    torch_call: Callable
    inputs: list


SWAPPED = X[::-1].copy()
INDEX = [[0, 0], [3, 1], [2, 2]]

DIFFERENTIABLE = {
    "repeat": Op(
        lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)),
        lambda T, x: x.repeat(2, 1, 3), [X],
    ),
    "repeat same rank": Op(
        lambda x: x.repeat(1, 2), lambda a: np.tile(a, (1, 2)), lambda T, x: x.repeat(1, 2), [X]
    ),
    "masked_fill": Op(
        lambda x: x.masked_fill(mg.tensor(MASK), -2.5), lambda a: np.where(MASK, -2.5, a),
        lambda T, x: x.masked_fill(T.tensor(MASK), -2.5), [X],
    ),
    "masked_fill broadcast mask": Op(
        lambda x: x.masked_fill(mg.tensor(MASK[0]), 1.0), lambda a: np.where(MASK[0], 1.0, a),
        lambda T, x: x.masked_fill(T.tensor(MASK[0]), 1.0), [X],
    ),
    "topk values": Op(
        lambda x: x.topk(3, dim=1).values, lambda a: _topk_ref(a, 3, 1, True)[0],
        lambda T, x: x.topk(3, dim=1).values, [ROWS],
    ),
    "topk smallest dim 0": Op(
        lambda x: x.topk(1, dim=0, largest=False)[0], lambda a: _topk_ref(a, 1, 0, False)[0],
        lambda T, x: x.topk(1, dim=0, largest=False)[0], [ROWS],
    ),
    "norm fro": Op(
        lambda x: x.norm(), lambda a: np.sqrt((a * a).sum()), lambda T, x: x.norm(), [X]
    ),
    "norm p=1 dim": Op(
        lambda x: x.norm(1, dim=1), lambda a: _norm_ref(a, 1, 1), lambda T, x: x.norm(1, dim=1), [X]
    ),
    "norm p=3 keepdim": Op(
        lambda x: x.norm(3, dim=0, keepdim=True), lambda a: _norm_ref(a, 3, 0, True),
        lambda T, x: x.norm(3, dim=0, keepdim=True), [X],
    ),
    "norm inf": Op(
        lambda x: x.norm(float("inf"), dim=1), lambda a: _norm_ref(a, np.inf, 1),
        lambda T, x: x.norm(float("inf"), dim=1), [X],
    ),
    "norm -inf": Op(
        lambda x: mg.norm(x, float("-inf")), lambda a: _norm_ref(a, -np.inf),
        lambda T, x: x.norm(float("-inf")), [X],
    ),
    "gather": Op(
        lambda x: mg.gather(x, 1, mg.tensor(INDEX)),
        lambda a: np.array([[a[0, 0], a[0, 0]], [a[1, 3], a[1, 1]], [a[2, 2], a[2, 2]]]),
        lambda T, x: T.gather(x, 1, T.tensor(INDEX)), [X],
    ),
    "lerp": Op(
        lambda x, y: mg.lerp(x, y, 0.3), lambda a, b: a + 0.3 * (b - a),
        lambda T, x, y: T.lerp(x, y, 0.3), [X, SWAPPED],
    ),
    "lerp tensor weight": Op(
        lambda x, y, w: x.lerp(y, w), lambda a, b, w: a + w * (b - a),
        lambda T, x, y, w: x.lerp(y, w), [X, X * 2, X[0] * 0.1],
    ),
    "view_as": Op(
        lambda x: x.view_as(mg.zeros(4, 3)), lambda a: a.reshape(4, 3),
        lambda T, x: x.view_as(T.zeros(4, 3, dtype=x.dtype)), [X],
    ),
    "t()": Op(lambda x: x.t() * 1, lambda a: a.T, lambda T, x: x.t() * 1, [X]),
    "contiguous": Op(
        lambda x: x.t().contiguous(), lambda a: np.ascontiguousarray(a.T),
        lambda T, x: x.t().contiguous(), [X],
    ),
    "mg.max(a, b)": Op(
        lambda x, y: mg.max(x, y), np.maximum, lambda T, x, y: T.max(x, y), [X, SWAPPED]
    ),
    "mg.min(a, b)": Op(
        lambda x, y: mg.min(x, y), np.minimum, lambda T, x, y: T.min(x, y), [X, SWAPPED]
    ),
    "max(other) method": Op(
        lambda x, y: x.max(y), np.maximum, lambda T, x, y: x.max(y), [X, SWAPPED]
    ),
    "mg.relu": Op(mg.relu, lambda a: np.maximum(a, 0), lambda T, x: T.relu(x), [X]),
    "mg.softmax": Op(
        lambda x: mg.softmax(x, dim=1), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True),
        lambda T, x: T.softmax(x, dim=1), [X],
    ),
    "mg.log_softmax": Op(
        lambda x: mg.log_softmax(x, dim=0),
        lambda a: a - np.log(np.exp(a).sum(0, keepdims=True)),
        lambda T, x: T.log_softmax(x, dim=0), [X],
    ),
    "where method": Op(
        lambda x, y: x.where(mg.tensor(MASK), y), lambda a, b: np.where(MASK, a, b),
        lambda T, x, y: x.where(T.tensor(MASK), y), [X, SWAPPED],
    ),
    "square": Op(lambda x: x.square(), lambda a: a * a, lambda T, x: x.square(), [X]),
    "clamp_min": Op(
        lambda x: x.clamp_min(0.1), lambda a: np.maximum(a, 0.1), lambda T, x: x.clamp_min(0.1), [X]
    ),
    "type_as": Op(
        lambda x: x.type_as(mg.zeros(1, dtype=mg.float64)) * 2, lambda a: a * 2,
        lambda T, x: x.type_as(T.zeros(1, dtype=T.float64)) * 2, [X],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_gradcheck(name):
    op = DIFFERENTIABLE[name]
    assert mg.gradcheck(op.call, [f64(a) for a in op.inputs])


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_against_numpy_reference(name):
    op = DIFFERENTIABLE[name]
    out = op.call(*[f64(a) for a in op.inputs])
    np.testing.assert_allclose(out.numpy(), op.ref(*op.inputs), rtol=1e-12)


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_against_torch(name, torch):
    op = DIFFERENTIABLE[name]
    ins = [f64(a) for a in op.inputs]
    tins = [torch.tensor(a, requires_grad=True) for a in op.inputs]
    out, tout = op.call(*ins), op.torch_call(torch, *tins)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = randn(*out.shape, seed=7)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    for a, ta in zip(ins, tins):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    index = mg.zeros(1, 4, dtype=mg.int64)
    outs = [x.repeat(2, 1), x.norm(), x.topk(2).values, x.masked_fill(mg.tensor(MASK), 0),
            mg.lerp(x, x * 2, 0.5), x.t().contiguous(), mg.gather(x, 0, index)]  # fmt: skip
    for y in outs:
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32


def test_topk_pair_and_ties(torch):
    a = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, -1.0, 5.0, 5.0]])
    values, indices = mg.tensor(a).topk(2)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(values.numpy(), [[3, 3], [5, 5]])
    np.testing.assert_array_equal(indices.numpy(), [[1, 2], [2, 3]])  # ties: lower index first
    tv, ti = torch.tensor(a).topk(2)
    np.testing.assert_array_equal(values.numpy(), tv.numpy())
    with pytest.raises(ValueError, match="topk: k"):
        mg.tensor(a).topk(5)


def test_norm_zero_vector_has_zero_gradient(torch):
    x = f64(np.zeros(3))
    x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)  # PyTorch's subgradient choice
    t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    t.norm().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 0)


def test_norm_refuses_what_it_cannot_differentiate():
    with pytest.raises(ValueError, match="nuc"):
        mg.tensor(X).norm("nuc")
    with pytest.raises(ValueError, match=">= 1"):
        mg.tensor(X).norm(0.5)
    with pytest.raises(TypeError, match="floating"):
        mg.tensor([1, 2]).norm()


def test_repeat_errors():
    with pytest.raises(ValueError, match="can not be smaller"):
        mg.tensor(X).repeat(2)
    with pytest.raises(ValueError, match="non-negative"):
        mg.tensor(X).repeat(1, -1)


# ---------------------------------------------------------------- non-differentiable


def test_comparison_methods(torch):
    a, b = X, X[::-1].copy()
    t, u = mg.tensor(a), mg.tensor(b)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        out = getattr(t, name)(u)
        assert out.dtype == np.bool_ and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), getattr(ta, name)(tb).numpy())
        np.testing.assert_array_equal(getattr(t, name)(0.0).numpy(), getattr(ta, name)(0.0).numpy())
    assert t.equal(mg.tensor(a.copy())) and not t.equal(u) and not t.equal(mg.zeros(2))


def test_mnist_accuracy_idiom():
    """pytorch/examples mnist: pred = output.argmax(dim=1, keepdim=True);
    correct += pred.eq(target.view_as(pred)).sum().item()"""
    output = mg.tensor(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]))
    target = mg.tensor(np.array([1, 0, 0]))
    pred = output.argmax(dim=1, keepdim=True)
    assert pred.shape == (3, 1) and pred.dtype == np.int64
    assert pred.eq(target.view_as(pred)).sum().item() == 2


def test_all_any(torch):
    m = mg.tensor(MASK)
    assert not m.all().item() and m.any().item()
    np.testing.assert_array_equal(m.all(1).numpy(), MASK.all(1))
    np.testing.assert_array_equal(m.any(0, keepdim=True).numpy(), MASK.any(0, keepdims=True))
    np.testing.assert_array_equal(m.all(1).numpy(), torch.tensor(MASK).all(1).numpy())


def test_argmax_argmin(torch):
    a = np.array([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]])
    for fn in ("argmax", "argmin"):
        assert getattr(mg, fn)(mg.tensor(a)).item() == getattr(torch, fn)(torch.tensor(a)).item()
        np.testing.assert_array_equal(
            getattr(mg, fn)(mg.tensor(a), dim=1).numpy(),
            getattr(torch, fn)(torch.tensor(a), dim=1).numpy(),
        )
        assert getattr(mg.tensor(a), fn)(0, keepdim=True).shape == (1, 3)


def test_casts(torch):
    t = mg.tensor(np.array([1.7, -2.2, 0.0]))
    for name, dt in (("float", np.float32), ("double", np.float64), ("long", np.int64),
                     ("int", np.int32), ("bool", np.bool_)):  # fmt: skip
        out = getattr(t, name)()
        ref = getattr(torch.tensor(t.numpy()), name)().numpy()
        assert out.dtype == dt
        np.testing.assert_array_equal(out.numpy(), ref)
    f = mg.zeros(2)
    assert f.float() is f and f.to(mg.float) is f  # no change: self, as in PyTorch
    assert f.type() == "minigrad.FloatTensor" and f.long().type() == "minigrad.LongTensor"
    assert f.type(mg.float64).dtype == np.float64
    assert mg.float is np.float32 and mg.long is np.int64 and mg.double is np.float64


def test_new_factories():
    base = mg.tensor(np.zeros(2, np.float64))
    assert base.new_zeros(2, 3).shape == (2, 3) and base.new_zeros((2, 3)).dtype == np.float64
    assert base.new_ones(4).numpy().tolist() == [1.0] * 4
    assert base.new_full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert base.new_empty(3).shape == (3,) and base.new_empty(3).dtype == np.float64
    nt = base.new_tensor([1, 2])
    assert nt.dtype == np.float64 and nt.numpy().tolist() == [1.0, 2.0]
    assert base.new_zeros(2, dtype=mg.int64).dtype == np.int64
    assert base.new_ones(2, requires_grad=True).requires_grad
    src = np.array([1.0, 2.0])
    nt = base.new_tensor(src)
    src[0] = 9
    assert nt.numpy()[0] == 1.0  # a copy


def test_factories(torch):
    assert mg.eye(3).numpy().tolist() == np.eye(3).tolist() and mg.eye(2, 3).shape == (2, 3)
    np.testing.assert_allclose(mg.linspace(0, 1, 5).numpy(), torch.linspace(0, 1, 5).numpy())
    assert mg.linspace(0, 1, 5).dtype == np.float32
    assert mg.empty(2, 3).shape == (2, 3) and mg.empty((4,)).dtype == np.float32
    assert mg.full((2,), 3).dtype == np.int64 and mg.full((2,), True).dtype == np.bool_
    assert mg.full((2,), 3.0).dtype == np.float32
    assert mg.empty_like(mg.zeros(2, dtype=mg.float64)).dtype == np.float64


def test_randint_randperm():
    mg.manual_seed(0)
    r = mg.randint(3, 7, (1000,))
    assert r.dtype == np.int64 and r.shape == (1000,)
    assert r.numpy().min() == 3 and r.numpy().max() == 6
    assert mg.randint(5, (2, 3)).shape == (2, 3)  # randint(high, size)
    p = mg.randperm(10)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="high"):
        mg.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="size"):
        mg.randint(5)


def test_from_numpy_shares_memory():
    a = np.arange(3.0)
    t = mg.from_numpy(a)
    a[0] = 7
    assert t.numpy()[0] == 7 and t.dtype == np.float64
    t.add_(1)
    assert a.tolist() == [8.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="ndarray"):
        mg.from_numpy([1.0])


def test_allclose(torch):
    a = np.array([1.0, 2.0])
    assert mg.allclose(mg.tensor(a), mg.tensor(a + 1e-9))
    assert not mg.allclose(mg.tensor(a), a + 1e-3)
    assert mg.tensor(a).allclose(mg.tensor(a + 1e-3), atol=1e-2)
    assert mg.allclose(mg.tensor([np.nan]), mg.tensor([np.nan]), equal_nan=True)
    assert torch.allclose(torch.tensor(a), torch.tensor(a + 1e-9))


def test_tensor_constructor_forms(torch):
    t = mg.Tensor(2, 3)
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
    assert mg.Tensor(4).shape == (4,)  # one int is a size, as torch.Tensor(4)
    assert mg.Tensor().shape == (0,)
    assert mg.Tensor([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert mg.Tensor(np.zeros(2)).dtype == np.float64  # an array keeps its dtype
    assert mg.Tensor(2, 3, requires_grad=True).requires_grad
    assert torch.Tensor(2, 3).shape == (2, 3)
    f = mg.FloatTensor(2, 2)
    assert f.shape == (2, 2) and f.dtype == np.float32
    assert mg.FloatTensor([1, 2]).dtype == np.float32
    assert mg.LongTensor([1.0, 2.0]).dtype == np.int64 and mg.LongTensor(3).shape == (3,)
    assert mg.DoubleTensor([1]).dtype == np.float64 and mg.BoolTensor([1, 0]).dtype == np.bool_
    with pytest.raises(TypeError, match="integer sizes"):
        mg.Tensor([1.0], [2.0])


def test_inference_mode():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.inference_mode():
        assert not mg.is_grad_enabled() and not (x * 2).requires_grad
    with mg.inference_mode(False):
        assert mg.is_grad_enabled()
    assert mg.is_grad_enabled()

    @mg.inference_mode()
    def f():
        return (x * 2).requires_grad

    @mg.inference_mode
    def g():
        return (x * 2).requires_grad

    assert f() is False and g() is False and mg.is_grad_enabled()


# ---------------------------------------------------------------- generators


def test_manual_seed_returns_the_default_generator():
    g = mg.manual_seed(3)
    assert isinstance(g, mg.Generator) and g is mg.default_generator
    assert g.initial_seed() == 3 == mg.initial_seed()
    a = mg.randn(4).numpy()
    mg.manual_seed(3)
    np.testing.assert_array_equal(mg.randn(4).numpy(), a)


def test_generator_objects():
    g1, g2 = mg.Generator().manual_seed(5), mg.Generator()
    assert g2.manual_seed(5) is g2
    a = mg.randn(3, generator=g1).numpy()
    np.testing.assert_array_equal(mg.randn(3, generator=g2).numpy(), a)
    # a generator's draws do not touch the default generator
    mg.manual_seed(0)
    ref = mg.rand(2).numpy()
    mg.manual_seed(0)
    mg.rand(5, generator=g1)
    np.testing.assert_array_equal(mg.rand(2).numpy(), ref)
    # numpy_generator() is the live state
    g = mg.Generator().manual_seed(1)
    first = g.numpy_generator().permutation(5)
    h = mg.Generator().manual_seed(1)
    h.numpy_generator().permutation(5)
    np.testing.assert_array_equal(
        mg.randperm(5, generator=g).numpy(), mg.randperm(5, generator=h).numpy()
    )
    assert sorted(first.tolist()) == list(range(5))
    # state round trip
    st = g.get_state()
    x = mg.randn(3, generator=g).numpy()
    g.set_state(st)
    np.testing.assert_array_equal(mg.randn(3, generator=g).numpy(), x)
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(TypeError, match="Generator"):
        mg.randn(2, generator=np.random.default_rng(0))


def test_in_place_random_fills_take_a_generator():
    g = mg.Generator().manual_seed(2)
    a = mg.zeros(1000).normal_(1.0, 2.0, generator=g).numpy()
    assert abs(a.mean() - 1.0) < 0.3 and abs(a.std() - 2.0) < 0.3
    b = mg.zeros(1000).uniform_(-3, -2, generator=mg.Generator().manual_seed(2)).numpy()
    assert b.min() >= -3 and b.max() < -2


# ---------------------------------------------------------------- pytorch/examples idioms


def test_mnist_and_vae_tensor_lines_run_as_written():
    """The Tensor-level lines of pytorch/examples' mnist/main.py and vae/main.py (data
    loading and layers aside), with ``torch`` spelled ``mg``."""
    mg.manual_seed(1)
    device = mg.device("cpu")
    data = mg.rand(8, 1, 28, 28).to(device)
    target = mg.randint(0, 10, (8,)).to(device)
    output = mg.log_softmax(mg.flatten(data, 1)[:, :10], dim=1)
    test_loss = 0
    test_loss += mg.nn.functional.nll_loss(output, target, reduction="sum").item()
    pred = output.argmax(dim=1, keepdim=True)
    correct = pred.eq(target.view_as(pred)).sum().item()
    assert isinstance(test_loss, float) and 0 <= correct <= len(data)
    assert f"{100.0 * correct / len(data):.0f}%" and data.size(0) == 8

    mu = mg.randn(8, 20, requires_grad=True)
    logvar = mg.randn(8, 20, requires_grad=True)
    std = mg.exp(0.5 * logvar)
    eps = mg.randn_like(std)
    z = mu + eps * std
    recon = mg.sigmoid(z.repeat(1, 40)[:, :784])
    bce = mg.nn.functional.binary_cross_entropy(recon, data.view(-1, 784), reduction="sum")
    kld = -0.5 * mg.sum(1 + logvar - mu.pow(2) - logvar.exp())
    loss = bce + kld
    loss.backward()
    assert mu.grad.shape == (8, 20) and logvar.grad.shape == (8, 20)
    n = min(data.size(0), 8)
    comparison = mg.cat([data[:n], recon.view(8, 1, 28, 28)[:n]])
    assert comparison.cpu().shape == (16, 1, 28, 28)
    with mg.no_grad():
        sample = mg.randn(64, 20).to(device)
        assert sample.cpu().view(64, 1, 4, 5).shape == (64, 1, 4, 5)
