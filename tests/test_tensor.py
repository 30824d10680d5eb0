"""The Tensor API: factories, dtypes, conversions, properties, repr, aliases."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

# ---------------------------------------------------------------- factories and dtypes


@pytest.mark.parametrize(
    "data,dtype",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1, 2], [3, 4]], np.int64),
        ([True, False], np.bool_),
        (np.array([1.0, 2.0]), np.float64),
        (np.array([1.0], np.float32), np.float32),
        (np.float64(2.0), np.float64),
        (np.arange(3, dtype=np.int32), np.int32),
    ],
)
def test_tensor_dtype_policy(data, dtype):
    assert mg.tensor(data).dtype == dtype


def test_tensor_copies_its_input_and_dtype_argument():
    a = np.array([1.0, 2.0])
    t = mg.tensor(a)
    a[0] = 100.0
    assert t.numpy()[0] == 1.0
    assert mg.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert mg.tensor(a, dtype="float32").dtype == np.float32
    u = mg.tensor(t)  # from a Tensor: a copy as well
    u.numpy()[1] = -1.0
    assert t.numpy()[1] == 2.0


def test_tensor_from_list_of_tensors_and_nested():
    t = mg.tensor([mg.tensor(1.0), mg.tensor(2.0)])
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("factory", [mg.zeros, mg.ones, mg.randn, mg.rand])
def test_shape_factories(factory):
    a = factory(2, 3)
    b = factory((2, 3))
    assert a.shape == b.shape == (2, 3)
    assert a.dtype == np.float32
    c = factory(4, dtype=np.float64, requires_grad=True)
    assert c.dtype == np.float64 and c.requires_grad and c.is_leaf


def test_factory_values():
    np.testing.assert_array_equal(mg.zeros(3).numpy(), 0)
    np.testing.assert_array_equal(mg.ones(2, 2).numpy(), 1)
    np.testing.assert_array_equal(mg.full((2,), 7.0).numpy(), [7, 7])
    r = mg.rand(1000).numpy()
    assert r.min() >= 0 and r.max() < 1 and abs(r.mean() - 0.5) < 0.05
    n = mg.randn(4000, dtype=np.float64).numpy()
    assert abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1


@pytest.mark.parametrize(
    "name, make",
    [
        ("zeros", lambda: mg.zeros(-1, 2)),
        ("ones", lambda: mg.ones((2, -3))),
        ("full", lambda: mg.full((-1,), 1.0)),
        ("randn", lambda: mg.randn(-1)),
    ],
)
def test_factories_refuse_bad_sizes_naming_themselves(name, make):
    with pytest.raises(ValueError, match=f"{name}: size must be non-negative"):
        make()
    with pytest.raises(TypeError, match="rand: size must be integers"):
        mg.rand(2.5)


def test_arange():
    np.testing.assert_array_equal(mg.arange(4).numpy(), [0, 1, 2, 3])
    assert mg.arange(4).dtype == np.int64
    np.testing.assert_array_equal(mg.arange(1, 7, 2).numpy(), [1, 3, 5])
    f = mg.arange(0.0, 1.0, 0.25)
    assert f.dtype == np.float32 and f.shape == (4,)
    assert mg.arange(3, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="arange: step must be non-zero"):
        mg.arange(0, 5, 0)  # was ZeroDivisionError from NumPy


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "randn_like", "rand_like"])
def test_like_factories(name):
    base = mg.tensor(np.zeros((2, 5)))  # float64
    out = getattr(mg, name)(base)
    assert out.shape == (2, 5) and out.dtype == np.float64
    assert getattr(mg, name)(base, dtype=np.float32).dtype == np.float32
    assert getattr(mg, name)(np.zeros(3)).shape == (3,)
    assert mg.full_like(base, 3.0).numpy()[0, 0] == 3.0


def test_manual_seed_reproducible():
    mg.manual_seed(42)
    a, b = mg.randn(5).numpy(), mg.rand(5).numpy()
    mg.manual_seed(42)
    np.testing.assert_array_equal(mg.randn(5).numpy(), a)
    np.testing.assert_array_equal(mg.rand(5).numpy(), b)
    mg.manual_seed(43)
    assert not np.array_equal(mg.randn(5).numpy(), a)


# ---------------------------------------------------------------- properties, conversions


def test_properties():
    t = mg.tensor(np.zeros((2, 3, 4), np.float32))
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.dtype == np.float32
    assert t.size == 24 and t.numel() == 24  # NumPy's count ...
    assert t.size() == (2, 3, 4) and t.size(1) == 3  # ... and PyTorch's size()
    assert len(t) == 2
    assert [s.shape for s in t] == [(3, 4), (3, 4)]


def test_numpy_shares_memory_and_array_protocol():
    t = mg.tensor(np.arange(4.0))
    assert np.shares_memory(t.numpy(), t.numpy())
    a = np.asarray(t)
    assert a.dtype == np.float64 and np.shares_memory(a, t.numpy())
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.array(t, copy=True) is not t.numpy()
    assert np.shares_memory(np.asarray(t, copy=False), t.numpy())
    with pytest.raises(ValueError, match="without a copy"):  # NumPy 2: copy=False never copies
        np.asarray(t, dtype=np.float32, copy=False)
    np.testing.assert_array_equal(np.sin(np.asarray(t)), np.sin(np.arange(4.0)))


def test_item_and_python_scalars():
    t = mg.tensor([[2.5]])
    assert t.item() == 2.5 and isinstance(t.item(), float)
    assert float(t) == 2.5 and int(mg.tensor(3)) == 3
    assert bool(mg.tensor(1.0))
    with pytest.raises(ValueError, match="one element"):
        mg.tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mg.tensor([1.0, 2.0]))
    assert mg.tensor([1, 2]).tolist() == [1, 2]


def test_requires_grad_and_detach():
    t = mg.tensor([1.0, 2.0])
    assert not t.requires_grad
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad
    u = mg.tensor([1.0], requires_grad=True) * 2
    d = u.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), u.numpy())
    with pytest.raises(RuntimeError, match="detach"):
        u.requires_grad_(False)


@pytest.mark.parametrize(
    "conv,dtype",
    [
        (lambda t: t.astype(np.float64), np.float64),
        (lambda t: t.astype("float32"), np.float32),
        (lambda t: t.float(), np.float32),
        (lambda t: t.double(), np.float64),
        (lambda t: t.to(np.float64), np.float64),
        (lambda t: t.long(), np.int64),
    ],
)
def test_casts(conv, dtype):
    t = mg.tensor(np.array([1.5, -2.0], np.float32))
    out = conv(t)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), np.array([1.5, -2.0]).astype(dtype))


def test_clone_is_a_differentiable_copy():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_in_place_helpers():
    t = mg.tensor(np.arange(3.0))
    t.fill_(2.0)
    np.testing.assert_array_equal(t.numpy(), 2.0)
    t.copy_(mg.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
    t.zero_()
    np.testing.assert_array_equal(t.numpy(), 0)


def test_repr():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float64" in repr(mg.tensor(np.array([1.0])))
    assert "requires_grad=True" in repr(mg.tensor([1.0], requires_grad=True))
    r = repr(mg.tensor([1.0], requires_grad=True) * 2)
    assert "grad_fn=<MulBackward>" in r
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"


def test_comparisons_give_boolean_tensors():
    t = mg.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((t > 2).numpy(), [False, False, True])
    np.testing.assert_array_equal((t <= mg.tensor([1.0, 1.0, 5.0])).numpy(), [True, False, True])
    np.testing.assert_array_equal((t == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal((t != 2.0).numpy(), [True, False, True])
    assert (t >= 1).dtype == np.bool_ and not (t < 2).requires_grad


def test_ndarray_on_the_left_gives_a_tensor():
    t = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    for out in (np.ones(2) + t, np.ones(2) * t, np.ones(2) - t, np.ones(2) / t):
        assert isinstance(out, mg.Tensor) and out.requires_grad


# ---------------------------------------------------------------- PyTorch / NumPy aliases


def test_dim_axis_keepdim_keepdims_aliases():
    X = np.arange(24.0).reshape(2, 3, 4)
    t = mg.tensor(X)
    for name, ref in [("sum", X.sum), ("mean", X.mean)]:
        fn = getattr(t, name)
        np.testing.assert_array_equal(fn(1).numpy(), ref(1))
        np.testing.assert_array_equal(fn(dim=1).numpy(), ref(axis=1))
        np.testing.assert_array_equal(fn(axis=1).numpy(), ref(axis=1))
        np.testing.assert_array_equal(
            fn(axis=(0, 2), keepdims=True).numpy(), ref(axis=(0, 2), keepdims=True)
        )
        assert fn(dim=-1, keepdim=True).shape == (2, 3, 1)
    np.testing.assert_allclose(t.var(axis=0, ddof=0).numpy(), X.var(axis=0))
    np.testing.assert_allclose(t.std(dim=2, unbiased=False).numpy(), X.std(axis=2))
    np.testing.assert_allclose(F.var(t, 2, correction=0).numpy(), X.var(axis=2))
    with pytest.raises(TypeError, match="either dim or axis"):
        t.sum(dim=0, axis=1)
    # The functional forms take the same aliases.
    np.testing.assert_array_equal(F.sum(t, axis=0, keepdims=True).numpy(), X.sum(0, keepdims=True))
    np.testing.assert_array_equal(mg.mean(t, axis=(1, 2)).numpy(), X.mean((1, 2)))
    np.testing.assert_allclose(F.std(t, axis=1, correction=0).numpy(), X.std(1))


def test_max_forms():
    X = np.array([[3.0, 1.0], [2.0, 5.0]])
    t = mg.tensor(X)
    assert t.max().item() == 5.0  # a scalar
    values, indices = t.max(dim=0)  # PyTorch's pair
    np.testing.assert_array_equal(values.numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(indices.numpy(), [0, 1])
    np.testing.assert_array_equal(t.max(0).values.numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(t.max(axis=1).numpy(), [3.0, 5.0])  # NumPy's values
    np.testing.assert_array_equal(t.min(1).indices.numpy(), [1, 0])
    np.testing.assert_array_equal(t.argmax(1).numpy(), [0, 1])
    np.testing.assert_array_equal(t.amax(0).numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(t.amin(dim=1, keepdim=True).numpy(), [[1.0], [2.0]])


def test_methods_mirror_functional():
    X = np.random.default_rng(0).uniform(0.5, 1.5, (2, 3))
    t = mg.tensor(X)
    np.testing.assert_allclose(t.exp().numpy(), np.exp(X))
    np.testing.assert_allclose(t.log().numpy(), np.log(X))
    np.testing.assert_allclose(t.sqrt().numpy(), np.sqrt(X))
    np.testing.assert_allclose((-t).abs().numpy(), X)
    np.testing.assert_allclose(t.tanh().numpy(), np.tanh(X))
    np.testing.assert_allclose(t.sigmoid().numpy(), 1 / (1 + np.exp(-X)))
    np.testing.assert_allclose((t - 1).relu().numpy(), np.maximum(X - 1, 0))
    np.testing.assert_allclose(t.softmax(0).numpy(), F.softmax(t, 0).numpy())
    np.testing.assert_allclose(t.log_softmax().numpy(), F.log_softmax(t, -1).numpy())
    np.testing.assert_allclose(t.clip(0.7, 1.0).numpy(), np.clip(X, 0.7, 1.0))
    np.testing.assert_allclose(t.maximum(1.0).numpy(), np.maximum(X, 1.0))
    np.testing.assert_allclose(t.minimum(mg.tensor(1.0)).numpy(), np.minimum(X, 1.0))
    np.testing.assert_allclose(t.matmul(t.T).numpy(), X @ X.T)
    np.testing.assert_allclose((+t).numpy(), X)
    np.testing.assert_allclose((2**t).numpy(), 2**X)
    np.testing.assert_allclose(t.pow(2).numpy(), X**2)
    assert t.reshape(3, 2).shape == (3, 2) and t.view(-1).shape == (6,)
    assert t.squeeze().shape == (2, 3) and t.unsqueeze(0).shape == (1, 2, 3)
    assert t.permute(1, 0).shape == (3, 2) and t.transpose(0, 1).shape == (3, 2)
    assert t.flatten().shape == (6,) and t[None].expand(4, 2, 3).shape == (4, 2, 3)


def test_float32_op_results_stay_float32():
    x = mg.randn(3, 4, requires_grad=True)
    y = ((x * 2 + 1).tanh().exp() / 3).sum(1).mean()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_like_factories_accept_a_numpy_dtype_object():
    # np.dtype objects are falsy (len 0), which once made ``dtype or ...`` ignore them.
    base = mg.zeros(3, dtype=np.float64)
    assert mg.zeros_like(base, dtype=np.dtype(np.float32)).dtype == np.float32
    assert mg.ones_like(base, dtype=np.dtype("float32")).dtype == np.float32


def test_setitem_writes_data_and_follows_pytorch_rules():
    t = mg.zeros(2, 3)
    t[0, 1] = 5.0
    t[1] = mg.tensor([1.0, 2.0, 3.0])
    t[[0, 1], [0, 0]] = -1.0
    np.testing.assert_array_equal(t.numpy(), [[-1, 5, 0], [-1, 2, 3]])
    w = mg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 1.0
    with mg.no_grad():
        w[0] = 1.0  # e.g. an initialiser
    np.testing.assert_array_equal(w.numpy(), [1.0, 0.0])
    y = w * 2
    y[0] = 3.0  # a non-leaf: recorded (differentiable), as in PyTorch
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0])
    for op in (lambda t: t.zero_(), lambda t: t.fill_(2.0), lambda t: t.copy_([5.0, 6.0])):
        with pytest.raises(RuntimeError, match="in-place operation"):
            op(w)
        with mg.no_grad():
            op(w)


def test_format_and_index():
    assert f"{mg.tensor(2.5):.2f}" == "2.50"
    assert f"{mg.tensor([[0.125]], dtype=np.float64):.1e}" == "1.2e-01"
    assert f"{mg.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    assert list(range(mg.tensor(3))) == [0, 1, 2]
    assert [10, 20, 30][mg.tensor(np.int64(1))] == 20
    with pytest.raises(TypeError, match="integer tensors with one element"):
        [1, 2][mg.tensor(1.0)]


def test_requires_grad_attribute_assignment_is_checked():
    t = mg.tensor([1.0, 2.0])
    t.requires_grad = True
    assert t.requires_grad and t.is_leaf
    with pytest.raises(TypeError, match="only floating-point"):
        mg.tensor([1, 2]).requires_grad = True
    with pytest.raises(RuntimeError, match="non-leaf"):
        (t * 2).requires_grad = False
