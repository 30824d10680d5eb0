"""Bad input gives a clear exception whose message says what was expected and
what was given; mixed dtypes follow NumPy's promotion (documented policy)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


def f64(shape, requires_grad=True):
    return mg.tensor(np.ones(shape), requires_grad=requires_grad)


# ---------------------------------------------------------------- broadcasting


@pytest.mark.parametrize(
    "name,op",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
        ("maximum", F.maximum),
        ("minimum", F.minimum),
    ],
)
def test_binary_shape_mismatch_names_both_shapes(name, op):
    with pytest.raises(
        ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast"
    ):
        op(f64((2, 3)), f64((4,)))


def test_where_shape_mismatch():
    with pytest.raises(ValueError, match=r"where: .*\(3,\).*\(4,\)"):
        F.where(np.ones(3, bool), f64((3,)), f64((4,)))


def test_expand_and_reshape_mismatch():
    with pytest.raises(ValueError, match=r"shape \(3,\) cannot be broadcast to \(2, 4\)"):
        f64((3,)).expand(2, 4)
    with pytest.raises(
        ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) .* into \(4, 2\)"
    ):
        f64((2, 3)).reshape(4, 2)


# ---------------------------------------------------------------- backward misuse


def test_backward_non_scalar_without_gradient():
    y = f64((2, 3)) * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2, 3\)"):
        y.backward()


def test_backward_gradient_of_wrong_shape():
    y = f64((2, 3)) * 2
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), expected .*\(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_twice_without_retain_graph():
    y = (f64((2,)) * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_backward_on_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (f64((2,), requires_grad=False) * 2).sum().backward()


# ---------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    "sa,sb,msg",
    [
        ((2, 3), (4, 5), r"a.shape\[-1\] \(3\) must equal b.shape\[-2\] \(4\)"),
        ((3,), (4,), r"a.shape\[-1\] \(3\) must equal b.shape\[0\] \(4\)"),
        ((2, 3), (), "at least 1 dimension"),
        ((2, 2, 3), (3, 3, 4), "batch dimensions"),
    ],
)
def test_matmul_errors(sa, sb, msg):
    with pytest.raises(ValueError, match=msg):
        f64(sa) @ f64(sb)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "make",
    [
        lambda: mg.tensor([1, 2], requires_grad=True),
        lambda: mg.tensor([True], requires_grad=True),
        lambda: mg.zeros(2, dtype=np.int64, requires_grad=True),
        lambda: mg.arange(3).requires_grad_(),
        lambda: mg.Tensor(np.arange(3), requires_grad=True),
    ],
)
def test_int_tensor_cannot_require_grad(make):
    with pytest.raises(
        TypeError, match=r"only floating-point tensors can require gradients.*int|bool"
    ):
        make()


def test_mixed_dtypes_promote_like_numpy_and_grads_keep_their_dtype():
    a = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = mg.tensor(np.array([3.0, 4.0], np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64  # float32 * float64 -> float64, as in NumPy
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])
    # Python scalars never widen; integer tensors widen to float with floats.
    assert (a * 0.5).dtype == np.float32
    assert (a * np.float64(0.5)).dtype == np.float32  # NumPy scalars act as Python's
    assert (np.sqrt(2.0) * a).dtype == np.float32
    assert (a * np.array(0.5)).dtype == np.float64  # a 0-d array promotes, as in NumPy
    assert (mg.tensor([1, 2]) * a).dtype == np.float64  # int64 * float32, NumPy's rule
    assert (mg.tensor(np.array([1, 2], np.int8)) * a).dtype == np.float32


# ---------------------------------------------------------------- shape ops


@pytest.mark.parametrize(
    "call,exc,msg",
    [
        (lambda t: t.permute(0, 0, 1), ValueError, "permutation"),
        (lambda t: t.permute(0, 1), ValueError, "permutation"),
        (lambda t: t.permute(0, 1, -5), ValueError, "permutation"),
        (lambda t: t[0].permute(0, -3), ValueError, "permutation"),
        (lambda t: t.transpose(0, 3), ValueError, "dim 3 is out of range"),
        (lambda t: t.transpose(0), TypeError, "both dim0 and dim1"),
        (lambda t: t.unsqueeze(5), ValueError, "dim 5 is out of range"),
        (lambda t: t.squeeze(4), ValueError, "dim 4 is out of range"),
        (lambda t: t.flatten(2, 0), ValueError, "start_dim"),
        (lambda t: t.sum(3), ValueError, "dim 3 is out of range .* 3 dimensions"),
        (lambda t: t.sum("a"), TypeError, "dim must be an int, a tuple of ints or None"),
        (lambda t: t.amax((0, 1.5)), TypeError, "dim must be an int, a tuple of ints or None"),
        (lambda t: t.mean((0, 0)), ValueError, "repeats"),
        (lambda t: t.max(dim=7), ValueError, "out of range"),
        (lambda t: t.max(dim=(0, 1)), TypeError, "dim must be an int"),
        (lambda t: F.softmax(t, 3), ValueError, "softmax: dim 3 is out of range"),
        (lambda t: F.softmax(t, 1.5), TypeError, "softmax: dim must be an int"),
        (lambda t: F.dropout(t, "0.5"), TypeError, "dropout: p must be a number"),
        (lambda t: F.leaky_relu(t, None), TypeError, "leaky_relu: negative_slope must be a number"),
        (
            lambda t: F.softplus(t, threshold="20"),
            TypeError,
            "softplus: threshold must be a number",
        ),
        (lambda t: t.transpose(0, 1.5), TypeError, "transpose: dim must be an int"),
        (lambda t: F.log_softmax(t, -4), ValueError, "log_softmax: dim -4 is out of range"),
        (lambda t: t[5], IndexError, r"shape \(2, 3, 4\)"),
        (lambda t: t[[0, 2]], IndexError, r"shape \(2, 3, 4\)"),
        (lambda t: F.split(t, 0, 1), ValueError, "split_size must be positive"),
        (lambda t: F.split(t, [1, 1], 1), ValueError, r"sum to 3"),
        (lambda t: F.chunk(t, 0), ValueError, "chunks must be positive"),
        (lambda t: F.chunk(t, 2, dim=3), ValueError, "out of range"),
        (lambda t: F.var(t, 0, correction=2), ValueError, "too few for correction=2"),
    ],
)
def test_shape_and_reduction_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call(f64((2, 3, 4)))


@pytest.mark.parametrize(
    "args,msg",
    [
        (dict(pad=(1,)), "even number"),
        (dict(pad=(1, 1, 1, 1, 1, 1, 1, 1)), "at most 2 per dimension"),
        (dict(pad=(-5, 1)), "crop more than the 4 elements of dimension 2"),
        (dict(pad=(1, 1), mode="wrap"), "mode must be"),
        (dict(pad=(4, 0), mode="reflect"), "smaller than dimension 2 .size 4."),
    ],
)
def test_pad_errors(args, msg):
    with pytest.raises(ValueError, match=msg):
        F.pad(f64((2, 3, 4)), **args)


def test_join_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        F.cat([])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(2, 4\).*outside dim 0"):
        F.cat([f64((2, 3)), f64((2, 4))])
    with pytest.raises(ValueError, match="zero-dimensional"):
        F.cat([f64(()), f64(())])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(3,\), expected \(2,\)"):
        F.stack([f64((2,)), f64((3,))])


# ---------------------------------------------------------------- option checks


def test_option_errors():
    x = f64((3,))
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="beta must be positive"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError, match="at least one of min and max"):
        F.clamp(x)
    with pytest.raises(ValueError, match="empty tensor"):
        mg.tensor(np.zeros((0, 3))).max()
    with pytest.raises(TypeError, match="must return a Tensor"):
        mg.gradcheck(lambda t: 3.0, [x])
    with pytest.raises(TypeError, match="len"):
        len(mg.tensor(1.0))


# ---------------------------------------------------------------- int / int-tuple arguments


@pytest.mark.parametrize(
    "value,n,minimum,expected",
    [
        (3, 2, None, (3, 3)),
        (np.int64(2), 1, None, (2,)),
        ([1, 2], 2, 1, (1, 2)),
        ((0, 4, 5), 3, 0, (0, 4, 5)),
        (np.array([2, 3]), 2, 1, (2, 3)),
        (range(1, 3), 2, None, (1, 2)),
    ],
)
def test_int_tuple_accepts_ints_and_sequences(value, n, minimum, expected):
    from minigrad.ops.checks import int_tuple

    got = int_tuple(value, n, "op: arg", minimum)
    assert got == expected and all(type(v) is int for v in got)


@pytest.mark.parametrize(
    "value,n,minimum,exc,pattern",
    [
        (1.5, 2, None, TypeError, r"op: arg must be an int or a pair of ints, got 1.5"),
        ((1, 2.0), 2, None, TypeError, r"op: arg must be an int or a pair of ints"),
        (np.array([1.0, 2.0]), 2, None, TypeError, r"op: arg must be an int or a pair of ints"),
        (np.ones((2, 2), int), 2, None, TypeError, r"op: arg must be an int or a pair of ints"),
        (True, 1, None, TypeError, r"op: arg must be an int or a 1-tuple of ints"),
        ("3", 2, None, TypeError, r"got '3'"),
        ((1, 2, 3), 2, None, ValueError, r"got \(1, 2, 3\) \(3 entries\)"),
        ((), 3, None, ValueError, r"an int or a tuple of 3 ints, got \(\) \(0 entries\)"),
        ((1, 0), 2, 1, ValueError, r"op: arg must be >= 1, got \(1, 0\)"),
    ],
)
def test_int_tuple_errors_name_the_argument(value, n, minimum, exc, pattern):
    from minigrad.ops.checks import int_tuple

    with pytest.raises(exc, match=pattern):
        int_tuple(value, n, "op: arg", minimum)
