"""The window ops' arguments, class by class (issue 16): float sizes refused rather
than truncated, real-valued window weights, sizes past 64 bits, errors that name the
function the user called, one-element tuples where PyTorch expands them, impossible
sizes refused before anything is allocated, and the documented deviations from
PyTorch (each shown by its behaviour, and said in the public docstring)."""

from __future__ import annotations

import re
import time
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import book_conv

RNG = np.random.default_rng(3)
X4 = RNG.standard_normal((1, 2, 6, 6))
X3 = RNG.standard_normal((1, 2, 8))
W4 = RNG.standard_normal((2, 2, 3, 3))
W3 = RNG.standard_normal((2, 2, 3))
WL2 = RNG.standard_normal((2, 4, 4, 2, 3, 3))  # locally connected, 6x6 -> 4x4
WT1 = RNG.standard_normal((2, 2, 2, 3))  # tiled 1-d, t = 2
G4 = RNG.standard_normal((1, 2, 4, 4))


def t(a):
    return mg.tensor(a)


def pooled(ndim):
    """(values, indices) of a 2x max pooling, for the unpooling ops."""
    if ndim == 2:
        return F.max_pool2d(t(X4), 2, return_indices=True)
    return F.max_pool1d(t(X3), 2, return_indices=True)


# Every public window op: a call taking keyword overrides, and its int-valued arguments.
OPS = {
    "conv2d": (
        lambda **k: F.conv2d(t(X4), t(W4), **k),
        ["stride", "padding", "dilation", "groups"],
    ),
    "conv1d": (
        lambda **k: F.conv1d(t(X3), t(W3), **k),
        ["stride", "padding", "dilation", "groups"],
    ),
    "conv_transpose2d": (
        lambda **k: F.conv_transpose2d(t(X4), t(W4), **k),
        ["stride", "padding", "output_padding", "dilation", "groups"],
    ),
    "conv_transpose1d": (
        lambda **k: F.conv_transpose1d(t(X3), t(W3), **k),
        ["stride", "padding", "output_padding", "dilation", "groups"],
    ),
    "locally_connected2d": (
        lambda **k: F.locally_connected2d(t(X4), t(WL2), **k),
        ["stride", "padding"],
    ),
    "tiled_conv1d": (lambda **k: F.tiled_conv1d(t(X3), t(WT1), **k), ["stride", "padding"]),
    "max_pool2d": (
        lambda **k: F.max_pool2d(t(X4), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding", "dilation"],
    ),
    "max_pool1d": (
        lambda **k: F.max_pool1d(t(X3), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding", "dilation"],
    ),
    "avg_pool2d": (
        lambda **k: F.avg_pool2d(t(X4), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding", "divisor_override"],
    ),
    "avg_pool1d": (
        lambda **k: F.avg_pool1d(t(X3), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding"],
    ),
    "lp_pool2d": (
        lambda **k: F.lp_pool2d(t(X4), **{"norm_type": 2, "kernel_size": 2, **k}),
        ["kernel_size", "stride", "norm_type"],
    ),
    "lp_pool1d": (
        lambda **k: F.lp_pool1d(t(X3), **{"norm_type": 2, "kernel_size": 2, **k}),
        ["kernel_size", "stride", "norm_type"],
    ),
    "adaptive_avg_pool2d": (lambda **k: F.adaptive_avg_pool2d(t(X4), **k), ["output_size"]),
    "adaptive_max_pool2d": (lambda **k: F.adaptive_max_pool2d(t(X4), **k), ["output_size"]),
    "adaptive_avg_pool1d": (lambda **k: F.adaptive_avg_pool1d(t(X3), **k), ["output_size"]),
    "adaptive_max_pool1d": (lambda **k: F.adaptive_max_pool1d(t(X3), **k), ["output_size"]),
    "max_unpool2d": (
        lambda **k: F.max_unpool2d(*pooled(2), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding"],
    ),
    "max_unpool1d": (
        lambda **k: F.max_unpool1d(*pooled(1), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding"],
    ),
    "weighted_avg_pool2d": (
        lambda **k: F.weighted_avg_pool2d(t(X4), **{"kernel_size": 2, **k}),
        ["kernel_size", "stride", "padding"],
    ),
    "book_conv.c": (lambda **k: book_conv.c(t(W4), t(X4), **k), ["s", "padding"]),
    "book_conv.g": (lambda **k: book_conv.g(t(G4), t(X4), **k), ["s", "padding", "kernel_size"]),
    "book_conv.h": (lambda **k: book_conv.h(t(W4), t(G4), **k), ["s", "padding", "input_size"]),
}
CASES = [(op, arg) for op, (_, args) in OPS.items() for arg in args]


def _assert_named(err: BaseException, op: str) -> None:
    assert isinstance(err, (ValueError, TypeError)), f"{op}: {type(err).__name__}: {err}"
    assert str(err).startswith(op + ": "), f"{op} not named first: {err}"
    body = str(err)[len(op) + 2 :]
    others = [name for name in OPS if name != op and re.search(rf"\b{re.escape(name)}\b", body)]
    assert not others, f"{op}'s message names {others}: {err}"


# ----------------------------------------------------------------------- float sizes


@pytest.mark.parametrize(
    "op,call",
    [
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(t(X4), 2.5)),
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(t(X4), (2.5, 2))),
        ("adaptive_max_pool2d", lambda: F.adaptive_max_pool2d(t(X4), (2, 3.9))),
        ("adaptive_avg_pool1d", lambda: F.adaptive_avg_pool1d(t(X3), 2.5)),
        ("adaptive_max_pool1d", lambda: F.adaptive_max_pool1d(t(X3), (3.5,))),
        ("max_unpool2d", lambda: F.max_unpool2d(*pooled(2), 2, output_size=(6.5, 6))),
        ("max_unpool1d", lambda: F.max_unpool1d(*pooled(1), 2, output_size=(8.7,))),
        (
            "conv_transpose2d",
            lambda: F.conv_transpose2d(t(X4), t(W4), stride=2, output_size=(13.5, 13)),
        ),
        (
            "conv_transpose1d",
            lambda: F.conv_transpose1d(t(X3), t(W3), stride=2, output_size=[17.2]),
        ),
        ("book_conv.h", lambda: book_conv.h(t(W4), t(G4), input_size=(6.0, 6))),
    ],
)
def test_float_sizes_are_refused_not_truncated(op, call):
    """int(2.5) == 2: each of these used to run with the truncated size."""
    with pytest.raises(TypeError, match=rf"^{re.escape(op)}: output_size|^{re.escape(op)}: in"):
        call()


def test_split_sections_must_be_ints():
    x = mg.tensor(np.arange(3.0))
    with pytest.raises(TypeError, match=r"split: sections must be ints, got \[2.5, 1.0\]"):
        F.split(x, [2.5, 1.0])  # int() made these [2, 1], which add up: a silent split


def test_adaptive_none_keeps_the_input_size_and_matches_torch():
    y = F.adaptive_avg_pool2d(t(X4[:, :, :, :5]), (None, 2))
    assert y.shape == (1, 2, 6, 2)
    assert F.adaptive_max_pool2d(t(X4), (3, None)).shape == (1, 2, 3, 6)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(X4[:, :, :, :5]), (None, 2))
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("size", [(2,), (None,), None, (2, 2, 2), True])
def test_adaptive_2d_refuses_what_pytorch_refuses(size):
    with pytest.raises((TypeError, ValueError), match="adaptive_avg_pool2d: output_size"):
        F.adaptive_avg_pool2d(t(X4), size)


# ----------------------------------------------------------------------- window weights


@pytest.mark.parametrize(
    "weights",
    [
        np.ones((2, 2), complex) / 4,
        np.ones((2, 2), bool),
        np.full((2, 2), 0.25, object),
    ],
)
def test_weighted_avg_pool_refuses_weights_that_are_not_real_numbers(weights):
    with pytest.raises(TypeError, match=r"weighted_avg_pool2d: weights must hold real numbers"):
        F.weighted_avg_pool2d(t(X4), 2, weights=weights)


def test_weighted_avg_pool_takes_integer_weights_as_their_values():
    got = F.weighted_avg_pool2d(t(X4), 2, weights=np.ones((2, 2), np.int64)).numpy()
    np.testing.assert_allclose(got, 4 * F.avg_pool2d(t(X4), 2).numpy(), rtol=1e-12)


# ----------------------------------------------------------------------- 64 bits


@pytest.mark.parametrize("op,arg", CASES)
@pytest.mark.parametrize("value", [2**63, 2**70, -(2**70)])
def test_sizes_past_64_bits_are_a_value_error_naming_the_argument(op, arg, value):
    call, _ = OPS[op]
    kwargs = {arg: value}
    if arg == "norm_type":  # a float exponent: 2**70 is a valid (huge) p, 2**2000 no float
        kwargs = {arg: 2**2000}
    with pytest.raises(ValueError) as e:
        call(**kwargs)
    _assert_named(e.value, op)
    assert arg in str(e.value)


@pytest.mark.parametrize("op,arg", CASES)
@pytest.mark.parametrize("value", [2**31, 2**40, 2**62])
def test_large_sizes_work_or_raise_a_named_error(op, arg, value):
    """Within 64 bits but past what the kernels index: a named ValueError (never an
    OverflowError or MemoryError), or a result when the size is harmless (a stride)."""
    call, _ = OPS[op]
    t0 = time.perf_counter()
    try:
        call(**{arg: value})
    except Exception as e:  # noqa: BLE001 - the type is what is tested
        _assert_named(e, op)
    assert time.perf_counter() - t0 < 5


# ----------------------------------------------------------------------- names


BAD_CALLS = [
    # (op the user called, the call); each is refused by a check (Python or C)
    ("conv_transpose2d", lambda: F.conv_transpose2d(t(X4), t(RNG.standard_normal((3, 2, 3, 3))))),
    ("conv_transpose1d", lambda: F.conv_transpose1d(t(X3), t(W3), groups=3)),
    ("conv_transpose1d", lambda: F.conv_transpose1d(t(X3), t(W3), stride=2, output_padding=2)),
    ("conv_transpose1d", lambda: F.conv_transpose1d(t(X3), t(W3), padding=9)),
    ("conv1d", lambda: F.conv1d(t(X3), t(RNG.standard_normal((2, 3, 3))))),
    ("conv1d", lambda: F.conv1d(t(X3), t(RNG.standard_normal((2, 2, 9))))),
    ("conv1d", lambda: F.conv1d(t(X3), t(W3), padding="same", stride=2)),
    ("max_pool1d", lambda: F.max_pool1d(t(X3), 0)),
    ("max_pool1d", lambda: F.max_pool1d(t(X3), 9)),
    ("max_pool1d", lambda: F.max_pool1d(t(X3), 2, padding=2)),
    ("max_pool1d", lambda: F.max_pool1d(t(X3[:, :, :2]), 2, 1, 1, 3)),  # padding-only window
    ("avg_pool1d", lambda: F.avg_pool1d(t(X3), 3, stride=0)),
    ("lp_pool1d", lambda: F.lp_pool1d(t(X3), 0, 2)),
    ("adaptive_max_pool1d", lambda: F.adaptive_max_pool1d(t(X3), 0)),
    ("max_unpool1d", lambda: F.max_unpool1d(pooled(1)[0], pooled(1)[1] * 9, 2)),
    ("max_unpool1d", lambda: F.max_unpool1d(pooled(1)[0], pooled(1)[1], 2, output_size=(3,))),
    ("tiled_conv1d", lambda: F.tiled_conv1d(t(X3), t(WT1), padding=5)),
    (
        "locally_connected1d",
        lambda: F.locally_connected1d(t(X3), t(RNG.standard_normal((2, 5, 2, 3)))),
    ),
    ("book_conv.g", lambda: book_conv.g(t(G4), t(X4), kernel_size=2)),
]


@pytest.mark.parametrize("op,call", BAD_CALLS)
def test_every_error_names_the_function_called(op, call):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    _assert_named(e.value, op)


# ----------------------------------------------------------------------- 1-tuples


ONE_TUPLES = [  # where PyTorch expands (2,) to (2, 2) for a 2-d op
    ("conv2d", dict(stride=(2,)), dict(stride=2)),
    ("conv2d", dict(padding=(1,)), dict(padding=1)),
    ("conv2d", dict(dilation=(2,)), dict(dilation=2)),
    ("conv_transpose2d", dict(stride=(2,)), dict(stride=2)),
    ("conv_transpose2d", dict(stride=2, output_padding=(1,)), dict(stride=2, output_padding=1)),
    ("conv_transpose2d", dict(padding=(1,), dilation=(2,)), dict(padding=1, dilation=2)),
    ("max_pool2d", dict(kernel_size=(3,)), dict(kernel_size=3)),
    (
        "max_pool2d",
        dict(stride=(1,), padding=(1,), dilation=(2,)),
        dict(stride=1, padding=1, dilation=2),
    ),
    (
        "avg_pool2d",
        dict(kernel_size=(3,), stride=(2,), padding=(1,)),
        dict(kernel_size=3, stride=2, padding=1),
    ),
    ("lp_pool2d", dict(stride=(1,)), dict(stride=1)),
]


@pytest.mark.parametrize("op,tuple_kw,int_kw", ONE_TUPLES)
def test_one_element_tuples_expand_for_2d_ops(op, tuple_kw, int_kw):
    call, _ = OPS[op]
    np.testing.assert_array_equal(call(**tuple_kw).numpy(), call(**int_kw).numpy())
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    args = {
        "conv2d": (torch.tensor(X4), torch.tensor(W4)),
        "conv_transpose2d": (torch.tensor(X4), torch.tensor(W4)),
    }.get(op, (torch.tensor(X4),))
    extra = {"max_pool2d": {"kernel_size": 2}, "avg_pool2d": {"kernel_size": 2}}.get(op, {})
    if op == "lp_pool2d":
        extra = {"norm_type": 2, "kernel_size": 2}
    theirs = getattr(tf, op)(*args, **{**extra, **tuple_kw})
    np.testing.assert_allclose(call(**tuple_kw).numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_one_element_tuples_of_1d_ops_and_lp_kernel_size():
    np.testing.assert_array_equal(
        F.max_pool1d(t(X3), (2,), (2,)).numpy(), F.max_pool1d(t(X3), 2).numpy()
    )
    # PyTorch's lp_pool2d fails on kernel_size=(2,) (it unpacks two values); here it is 2
    np.testing.assert_array_equal(
        F.lp_pool2d(t(X4), 2, (2,)).numpy(), F.lp_pool2d(t(X4), 2, 2).numpy()
    )


# ----------------------------------------------------------------------- impossible sizes


@pytest.mark.parametrize(
    "op,call",
    [
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(t(X4), 2**40)),
        ("adaptive_max_pool2d", lambda: F.adaptive_max_pool2d(t(X4), (2**20, 2**20))),
        ("adaptive_avg_pool1d", lambda: F.adaptive_avg_pool1d(t(X3), 2**33)),
        ("max_unpool2d", lambda: F.max_unpool2d(*pooled(2), 2**31)),
        ("conv_transpose1d", lambda: F.conv_transpose1d(t(X3), t(W3), stride=2**31)),
        ("conv_transpose2d", lambda: F.conv_transpose2d(t(X4), t(W4), stride=2**20)),
        ("book_conv.h", lambda: book_conv.h(t(W4), t(G4), input_size=2**20)),
    ],
)
def test_impossible_sizes_are_refused_before_anything_is_allocated(op, call):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as e:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _assert_named(e.value, op)
    assert peak < 2**26, f"{op} allocated {peak} bytes before refusing"


# ----------------------------------------------------------------------- deviations


def test_max_unpool_gradient_with_duplicate_indices_goes_to_the_kept_element():
    x = mg.tensor(np.array([[[[5.0, 6.0, 7.0]]]]), requires_grad=True)
    idx = np.array([[[[1, 1, 0]]]])  # 5 and 6 both go to position 1; 6 is kept
    y = F.max_unpool2d(x, idx, (1, 2))
    np.testing.assert_array_equal(y.numpy()[0, 0, 0, :2], [7.0, 6.0])
    y.backward(mg.tensor(np.arange(1.0, 7.0).reshape(1, 1, 1, 6)))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, 2.0, 1.0]]]])  # 5 reached nothing
    # the true derivative, which finite differences confirm (PyTorch gives 5 a 2 as well)
    assert mg.gradcheck(lambda a: F.max_unpool2d(a, idx, (1, 2)), [x])
    for fn in (F.max_unpool2d, F.max_unpool1d):
        assert "duplicate" in fn.__doc__ or "Deviation" in fn.__doc__


def test_lp_pool_p1_gradient_is_the_sums_derivative_also_at_an_all_zero_window():
    x = mg.tensor(np.array([[[[0.0, 0.0, 1.0, -1.0, 2.0, 3.0]]]]), requires_grad=True)
    F.lp_pool2d(x, 1, (1, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((1, 1, 1, 6)))
    assert mg.gradcheck(lambda a: F.lp_pool2d(a, 1, (1, 2)), [x])  # the true derivative
    assert "p = 1" in F.lp_pool2d.__doc__ and "all-zero window" in F.lp_pool2d.__doc__
    # p = 2 at an all-zero window: 0 (0/0 taken as 0), as PyTorch
    x2 = mg.tensor(np.zeros((1, 1, 1, 4)), requires_grad=True)
    F.lp_pool2d(x2, 2, (1, 2)).sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), np.zeros((1, 1, 1, 4)))
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x.numpy(), requires_grad=True)
    torch.nn.functional.lp_pool2d(xt, 1, (1, 2)).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[..., :2], [[[[0.0, 0.0]]]])  # PyTorch's 0


def test_a_window_of_padding_only_is_refused_and_documented():
    with pytest.raises(ValueError, match=r"max_pool2d: .*only padding"):
        F.max_pool2d(t(np.zeros((1, 1, 2, 2))), 2, 1, 1, 3)
    assert "covers only padding" in F.max_pool2d.__doc__


def test_remembered_pooling_geometry_still_refuses_floats_and_bools():
    """Pooling remembers checked geometry per (shape, arguments); 2.0 == 2 and True == 1
    as dict keys, so the memory must not let them through after 2 or 1 passed."""
    x = t(X4)
    F.max_pool2d(x, 2)
    F.avg_pool2d(x, 1)
    for bad in (2.0, (2, 2.0), np.float64(2.0)):
        with pytest.raises(TypeError, match="max_pool2d: kernel_size"):
            F.max_pool2d(x, bad)
    with pytest.raises(TypeError, match="avg_pool2d: kernel_size"):
        F.avg_pool2d(x, True)


def test_a_nested_one_element_list_is_not_read_as_the_pair():
    """PyTorch expands a 1-tuple for 2-d window ops; [[1, 2]] is not a 1-tuple of an int
    and used to be unwrapped to the pair (found by tests/test_fuzz.py)."""
    x = mg.tensor(np.ones((1, 1, 6, 6), np.float32))
    for call, name in (
        (lambda: F.avg_pool2d(x, 2, stride=[[1, 2]]), "stride"),
        (lambda: F.max_pool2d(x, [[2, 2]]), "kernel_size"),
        (lambda: F.conv2d(x, mg.ones(1, 1, 3, 3), dilation=[[1, 2]]), "dilation"),
    ):
        with pytest.raises((TypeError, ValueError), match=name):
            call()
