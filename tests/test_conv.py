"""Convolution kernels (c, g, h) and ops: against the book-equation reference in
tests/conv_reference.py, by finite differences, as adjoints, across threads, and on bad
input. Timings live in benchmarks/bench_conv.py, never here."""

from __future__ import annotations

import functools

import conv_reference as ref  # tests/ is on sys.path under pytest
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels
from minigrad._C import conv as C
from minigrad.ops.checks import int_tuple
from minigrad.ops.spatial import conv_padding

RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def close(got, want, dtype) -> None:
    """Max-norm relative error below the dtype's tolerance: a wrong index or a missed
    tap moves an O(1) fraction of the result, far above either tolerance."""
    got = np.asarray(got, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    err = float(np.abs(got - want).max()) / scale if want.size else 0.0
    assert err <= RTOL[dtype], f"relative error {err:.3g} > {RTOL[dtype]}"


def rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def threads():
    """Restore the thread count a test changes."""
    before = mg.get_num_threads()
    yield
    mg.set_num_threads(before)


# (N, C_in, H, W, C_out, kH, kW, stride, padding (t, b, l, r), dilation, groups)
GRID = [
    (2, 3, 7, 9, 4, 3, 2, (1, 2), (1, 1, 0, 0), (1, 1), 1),
    (3, 4, 10, 8, 6, 3, 3, (2, 1), (2, 2, 1, 1), (2, 1), 2),
    (2, 2, 5, 5, 2, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1: no im2col
    (5, 6, 6, 6, 6, 2, 2, (3, 3), (0, 0, 1, 1), (1, 2), 3),
    (1, 1, 8, 8, 3, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1),  # batch 1: threads share GEMMs
    (4, 2, 6, 7, 1, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),  # C_out = 1
    (2, 4, 9, 4, 4, 2, 3, (1, 1), (0, 1, 1, 1), (1, 1), 4),  # depthwise, asymmetric pad
    (3, 2, 4, 4, 5, 4, 4, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # kernel = whole input
    (2, 3, 5, 6, 2, 2, 2, (1, 1), (3, 3, 2, 2), (2, 2), 1),  # padding larger than kernel
    (9, 2, 5, 5, 20, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),  # C_out not a tile multiple
    (2, 8, 12, 13, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),  # c computes wide rows
    (3, 16, 12, 12, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2),  # wide rows, groups
]


# ----------------------------------------------------------------- kernels vs reference


@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nt", [1, 2])
def test_kernels_match_book_equations(case, dtype, nt):
    N, Ci, H, W, Co, kh, kw, s, pad, d, g = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x, w, b = (
        rand(rng, (N, Ci, H, W), dtype),
        rand(rng, (Co, Ci // g, kh, kw), dtype),
        rand(rng, (Co,), dtype),
    )
    y = C.conv2d_forward(x, w, b, s, pad, d, g, nt)
    assert y.dtype == dtype
    close(y, ref.conv2d(x, w, b, s, pad, d, g), dtype)
    gy = rand(rng, y.shape, dtype)
    close(
        C.conv2d_backward_input(gy, w, (H, W), s, pad, d, g, nt),
        ref.conv2d_grad_input(w, gy, (H, W), s, pad, d, g),
        dtype,
    )
    close(
        C.conv2d_backward_weight(x, gy, (kh, kw), s, pad, d, g, nt),
        ref.conv2d_grad_weight(gy, x, (kh, kw), s, pad, d, g),
        dtype,
    )


@given(
    n=st.integers(1, 3),
    cin_g=st.integers(1, 3),
    cout_g=st.integers(1, 3),
    groups=st.integers(1, 2),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pad=st.tuples(*[st.integers(0, 2)] * 4),
    extra=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    nt=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_random_configurations_match_reference(
    n, cin_g, cout_g, groups, k, s, d, pad, extra, nt, seed
):
    # input at least as large as the dilated kernel, minus the padding
    H = max(1, d[0] * (k[0] - 1) + 1 - pad[0] - pad[1]) + extra[0]
    W = max(1, d[1] * (k[1] - 1) + 1 - pad[2] - pad[3]) + extra[1]
    rng = np.random.default_rng(seed)
    x = rand(rng, (n, cin_g * groups, H, W))
    w = rand(rng, (cout_g * groups, cin_g, *k))
    y = C.conv2d_forward(x, w, None, s, pad, d, groups, nt)
    close(y, ref.conv2d(x, w, None, s, pad, d, groups), np.float64)
    gy = rand(rng, y.shape)
    close(
        C.conv2d_backward_input(gy, w, (H, W), s, pad, d, groups, nt),
        ref.conv2d_grad_input(w, gy, (H, W), s, pad, d, groups),
        np.float64,
    )
    close(
        C.conv2d_backward_weight(x, gy, k, s, pad, d, groups, nt),
        ref.conv2d_grad_weight(gy, x, k, s, pad, d, groups),
        np.float64,
    )


# ----------------------------------------------------------------- ops with autograd


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "stride,padding,dilation,groups,bias",
    [
        (1, 0, 1, 1, "channel"),
        ((2, 1), (1, 2), (1, 2), 2, "channel"),
        (1, "same", 1, 1, None),
        (1, "same", (2, 1), 2, "location"),
        (2, "valid", 1, 1, "location"),
        ((1, 2), "full", 1, 1, "channel"),
    ],
)
def test_conv2d_op_forward_and_backward(dtype, stride, padding, dilation, groups, bias):
    rng = np.random.default_rng(1)
    x, w = rand(rng, (2, 4, 7, 6), dtype), rand(rng, (6, 4 // groups, 3, 2), dtype)
    s, d = int_tuple(stride, 2, "s"), int_tuple(dilation, 2, "d")
    pad = conv_padding(padding, (3, 2), d)
    out_hw = (
        ref.out_size(7, 3, s[0], pad[0], pad[1], d[0]),
        ref.out_size(6, 2, s[1], pad[2], pad[3], d[1]),
    )
    b = None if bias is None else rand(rng, (6,) if bias == "channel" else (6, *out_hw), dtype)
    X, Wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    B = None if b is None else mg.tensor(b, requires_grad=True)
    y = F.conv2d(X, Wt, B, stride=stride, padding=padding, dilation=dilation, groups=groups)
    want = ref.conv2d(x, w, b, s, pad, d, groups)
    close(y.numpy(), want, dtype)
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]
    gy = rand(rng, y.shape, dtype)
    y.backward(mg.tensor(gy))
    close(X.grad.numpy(), ref.conv2d_grad_input(w, gy, (7, 6), s, pad, d, groups), dtype)
    close(Wt.grad.numpy(), ref.conv2d_grad_weight(gy, x, (3, 2), s, pad, d, groups), dtype)
    if B is not None:
        close(
            B.grad.numpy(), gy.sum(axis=(0, 2, 3)) if bias == "channel" else gy.sum(axis=0), dtype
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "stride,padding,output_padding,dilation,groups",
    [
        (1, 0, 0, 1, 1),
        (2, 1, 1, 1, 1),
        ((2, 3), (0, 1), (1, 2), 1, 2),
        (2, 0, 0, (2, 1), 1),
        (3, 2, 1, 1, 2),
        # dilation > stride: output_padding past every tap's reach (zero rows)
        (1, 0, 1, 2, 1),
        ((2, 1), (0, 1), (2, 1), (3, 2), 2),
    ],
)
def test_conv_transpose2d_op(dtype, stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(2)
    x, w, b = (
        rand(rng, (2, 4, 4, 5), dtype),
        rand(rng, (4, 6 // groups, 3, 3), dtype),
        rand(rng, (6,), dtype),
    )
    P = lambda v: int_tuple(v, 2, "v")  # noqa: E731
    X, Wt, B = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose2d(X, Wt, B, stride, padding, output_padding, groups, dilation)
    want = ref.conv_transpose2d(
        x, w, b, P(stride), P(padding), P(output_padding), groups, P(dilation)
    )
    close(y.numpy(), want, dtype)
    gy = rand(rng, y.shape, dtype)
    y.backward(mg.tensor(gy))
    # the transpose's input gradient is the convolution c, its weight gradient is g with
    # the roles of input and output swapped
    pad = (P(padding)[0],) * 2 + (P(padding)[1],) * 2
    close(
        X.grad.numpy(),
        ref.conv2d(gy, w, None, P(stride), pad, P(dilation), groups)[:, :, :4, :5],
        dtype,
    )
    close(
        Wt.grad.numpy(),
        ref.conv2d_grad_weight(x, gy, (3, 3), P(stride), pad, P(dilation), groups),
        dtype,
    )
    close(B.grad.numpy(), gy.sum(axis=(0, 2, 3)), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d_where_no_tap_reaches_the_output(dtype):
    """padding 1 and output_padding 2 with dilation 3 on a one-row input: the only output
    row is reached by no tap, so y is the bias alone and x, w get zero gradients (the
    kernels were asked for a zero-row result and refused it; found by tests/test_fuzz.py)."""
    rng = np.random.default_rng(5)
    x, w, b = rand(rng, (2, 2, 1, 3), dtype), rand(rng, (2, 3, 1, 2), dtype), rand(rng, (3,), dtype)
    X, Wt, B = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    conf = dict(stride=1, padding=(1, 0), output_padding=(2, 0), dilation=(3, 1))
    y = F.conv_transpose2d(X, Wt, B, **conf)
    want = ref.conv_transpose2d(x, w, b, (1, 1), (1, 0), (2, 0), 1, (3, 1))
    assert y.shape == want.shape == (2, 3, 1, 4)
    close(y.numpy(), want, dtype)
    gy = rand(rng, y.shape, dtype)
    y.backward(mg.tensor(gy))
    close(X.grad.numpy(), np.zeros_like(x), dtype)
    close(Wt.grad.numpy(), np.zeros_like(w), dtype)
    close(B.grad.numpy(), gy.sum(axis=(0, 2, 3)), dtype)
    args = [mg.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b)]
    assert mg.gradcheck(lambda *t: F.conv_transpose2d(*t, **conf), args)


def test_conv1d_and_transpose1d_match_2d_reference():
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, (3, 4, 11)), rand(rng, (6, 2, 3)), rand(rng, (6,))
    y = F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2)
    want = ref.conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 0, 1, 1), (1, 2), 2)[:, :, 0]
    close(y.numpy(), want, np.float64)
    xt, wt = rand(rng, (2, 4, 5)), rand(rng, (4, 3, 4))
    yt = F.conv_transpose1d(xt, wt, None, stride=3, padding=1, output_padding=2)
    want = ref.conv_transpose2d(xt[:, :, None], wt[:, :, None], None, (1, 3), (0, 1), (0, 2))[
        :, :, 0
    ]
    close(yt.numpy(), want, np.float64)
    # per-location bias in 1-d: (C_out, L_out)
    bl = rand(rng, (6, y.shape[2]))
    y2 = F.conv1d(x, w, bl, stride=2, padding=1, dilation=2, groups=2)
    close(
        y2.numpy(),
        want_loc := ref.conv2d(
            x[:, :, None], w[:, :, None], bl[:, None], (1, 2), (0, 0, 1, 1), (1, 2), 2
        )[:, :, 0],
        np.float64,
    )
    assert want_loc.shape == (3, 6, y.shape[2])


def test_padding_modes_shapes():
    x, w = np.zeros((1, 1, 9, 8)), np.zeros((1, 1, 4, 3))
    assert F.conv2d(x, w, padding="same").shape == (1, 1, 9, 8)
    assert F.conv2d(x, w, padding="valid").shape == (1, 1, 6, 6)
    assert F.conv2d(x, w, padding="full").shape == (1, 1, 12, 10)
    assert F.conv2d(x, w, padding="full", dilation=2).shape == (1, 1, 15, 12)
    assert F.conv1d(np.zeros((1, 1, 9)), np.zeros((1, 1, 4)), padding="same").shape == (1, 1, 9)


# ----------------------------------------------------------------- gradcheck


def _leaf(rng, shape):
    return mg.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize(
    "name",
    [
        "conv2d",
        "conv2d_location_bias",
        "conv1d",
        "conv_transpose2d",
        "conv_transpose1d",
        "c",
        "g",
        "h",
    ],
)
def test_gradcheck(name):
    rng = np.random.default_rng(4)
    if name == "conv2d":
        fn = lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)  # noqa: E731
        inputs = [_leaf(rng, (2, 4, 6, 7)), _leaf(rng, (4, 2, 3, 2)), _leaf(rng, (4,))]
    elif name == "conv2d_location_bias":
        fn = lambda x, w, b: F.conv2d(x, w, b, padding="same")  # noqa: E731
        inputs = [_leaf(rng, (2, 2, 5, 4)), _leaf(rng, (3, 2, 2, 3)), _leaf(rng, (3, 5, 4))]
    elif name == "conv1d":
        fn = lambda x, w, b: F.conv1d(x, w, b, stride=2, padding="valid")  # noqa: E731
        inputs = [_leaf(rng, (2, 3, 9)), _leaf(rng, (2, 3, 3)), _leaf(rng, (2, 4))]
    elif name == "conv_transpose2d":
        fn = lambda x, w, b: F.conv_transpose2d(  # noqa: E731
            x, w, b, stride=2, padding=1, output_size=(8, 7), groups=2
        )
        inputs = [_leaf(rng, (2, 4, 4, 4)), _leaf(rng, (4, 1, 3, 3)), _leaf(rng, (2,))]
    elif name == "conv_transpose1d":
        fn = lambda x, w, b: F.conv_transpose1d(x, w, b, stride=3, padding=1, output_padding=1)  # noqa: E731
        inputs = [_leaf(rng, (2, 2, 4)), _leaf(rng, (2, 3, 3)), _leaf(rng, (3,))]
    elif name == "c":
        fn = lambda K, V: kernels.c(K, V, 2, padding=1)  # noqa: E731
        inputs = [_leaf(rng, (3, 2, 3, 3)), _leaf(rng, (2, 2, 6, 5))]
    elif name == "g":
        fn = lambda G, V: kernels.g(G, V, 2)  # noqa: E731
        inputs = [_leaf(rng, (2, 3, 3, 2)), _leaf(rng, (2, 2, 7, 6))]
    else:
        fn = lambda K, G: kernels.h(K, G, (1, 2))  # noqa: E731
        inputs = [_leaf(rng, (3, 2, 2, 3)), _leaf(rng, (2, 3, 4, 3))]
    assert mg.gradcheck(fn, inputs)


def test_book_kernels_match_reference_and_default_sizes():
    rng = np.random.default_rng(5)
    K, V = rand(rng, (3, 2, 3, 3)), rand(rng, (2, 2, 7, 7))
    Z = kernels.c(K, V, 2).numpy()
    close(Z, ref.conv2d(V, K, None, (2, 2)), np.float64)
    G = rand(rng, Z.shape)
    close(kernels.g(G, V, 2).numpy(), ref.conv2d_grad_weight(G, V, (3, 3), (2, 2)), np.float64)
    close(kernels.h(K, G, 2).numpy(), ref.conv2d_grad_input(K, G, (7, 7), (2, 2)), np.float64)
    # an input of 8 also gives 3 outputs at stride 2: h must be told, as the book says
    assert kernels.h(K, G, 2, input_size=8).shape == (2, 2, 8, 8)


# ----------------------------------------------------------------- adjoint and threads


@pytest.mark.parametrize(
    "stride,padding,output_padding", [(1, 0, 0), (2, 1, 1), (3, 2, 2), ((2, 1), (1, 0), (0, 0))]
)
def test_transpose_is_exact_adjoint_of_conv(stride, padding, output_padding):
    rng = np.random.default_rng(6)
    w = rand(rng, (5, 3, 3, 3))  # conv: 3 -> 5 channels; its transpose: 5 -> 3
    x = rand(rng, (2, 3, 9, 8))
    y = F.conv2d(x, w, stride=stride, padding=padding).numpy()
    z = rand(rng, y.shape)
    back = F.conv_transpose2d(z, w, stride=stride, padding=padding, output_size=x.shape[2:]).numpy()
    lhs, rhs = float(np.sum(y * z)), float(np.sum(x * back))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs)) * 10, (lhs, rhs)


def test_results_do_not_depend_on_thread_count_and_runs_repeat(threads):
    rng = np.random.default_rng(7)
    x, w = rand(rng, (7, 8, 12, 12), np.float32), rand(rng, (16, 8, 3, 3), np.float32)
    gy = rand(rng, (7, 16, 12, 12), np.float32)
    conf = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    results = {}
    for nt in (1, 2, 3):
        outs = [
            (
                C.conv2d_forward(x, w, None, *conf, nt),
                C.conv2d_backward_input(gy, w, (12, 12), *conf, nt),
                C.conv2d_backward_weight(x, gy, (3, 3), *conf, nt),
            )
            for _ in range(2)
        ]
        for a, b in zip(*outs):  # identical run to run
            assert np.array_equal(a, b)
        results[nt] = outs[0]
    # each image (and each fixed chunk of the weight gradient's batch sum) is computed the
    # same way whichever thread runs it, so the thread count does not even change rounding
    for nt in (2, 3):
        for a, b in zip(results[1], results[nt]):
            assert np.array_equal(a, b)


def test_non_contiguous_inputs_are_copied_not_misread():
    rng = np.random.default_rng(8)
    x_big, w_big = rand(rng, (3, 6, 8, 10)), rand(rng, (3, 4, 3, 3))
    x = np.swapaxes(x_big, 2, 3)[:, ::2]  # (3, 3, 10, 8), strided view
    w = np.swapaxes(w_big, 0, 1)  # (4, 3, 3, 3), a transposed view
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    X, Wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    y = F.conv2d(X, Wt, padding=1)
    close(y.numpy(), ref.conv2d(x, w, None, (1, 1), (1, 1, 1, 1)), np.float64)
    gy = np.swapaxes(rand(rng, (3, 4, 8, 10)), 2, 3)  # a non-contiguous upstream gradient
    y.backward(mg.tensor(gy))
    close(X.grad.numpy(), ref.conv2d_grad_input(w, gy, (10, 8), (1, 1), (1, 1, 1, 1)), np.float64)


def test_empty_batch_and_batch_one(threads):
    mg.set_num_threads(2)
    w = np.ones((2, 3, 3, 3))
    assert F.conv2d(np.zeros((0, 3, 5, 5)), w).shape == (0, 2, 3, 3)
    assert np.array_equal(
        C.conv2d_backward_weight(
            np.zeros((0, 3, 5, 5)), np.zeros((0, 2, 3, 3)), (3, 3), (1, 1), (0,) * 4, (1, 1), 1, 2
        ),
        np.zeros((2, 3, 3, 3)),
    )
    x = np.random.default_rng(9).standard_normal((1, 3, 40, 40))
    close(
        F.conv2d(x, w, padding=1).numpy(), ref.conv2d(x, w, None, (1, 1), (1, 1, 1, 1)), np.float64
    )


@pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")
def test_torch_agrees_when_available():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(10)
    x, w = rand(rng, (2, 4, 9, 8)), rand(rng, (6, 2, 4, 3))
    for kw in [
        dict(padding="same", groups=2),
        dict(stride=(2, 3), padding=(2, 1), dilation=(2, 1), groups=2),
    ]:
        close(
            F.conv2d(x, w, **kw).numpy(),
            tf.conv2d(torch.tensor(x), torch.tensor(w), **kw).numpy(),
            np.float64,
        )
    wt = rand(rng, (4, 3, 3, 2))
    kw = dict(stride=(3, 2), padding=(1, 0), output_padding=(2, 1), dilation=(1, 2))
    close(
        F.conv_transpose2d(x, wt, **kw).numpy(),
        tf.conv_transpose2d(torch.tensor(x), torch.tensor(wt), **kw).numpy(),
        np.float64,
    )


# ----------------------------------------------------------------- bad input


def _raises(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_invalid_configurations_name_the_argument():
    x, w = np.zeros((2, 4, 5, 5)), np.zeros((6, 2, 3, 3))
    _raises(ValueError, "larger than the padded input", F.conv2d, x, np.zeros((6, 4, 6, 6)))
    _raises(
        ValueError, "larger than the padded input", F.conv2d, x, np.zeros((6, 4, 3, 3)), dilation=3
    )
    _raises(ValueError, "stride", F.conv2d, x, w, stride=0, groups=2)
    _raises(ValueError, "stride", F.conv2d, x, w, stride=(1, -1), groups=2)
    _raises(ValueError, "dilation", F.conv2d, x, w, dilation=0, groups=2)
    _raises(ValueError, "padding", F.conv2d, x, w, padding=-1, groups=2)
    _raises(ValueError, "padding", F.conv2d, x, w, padding="same", stride=2, groups=2)
    _raises(ValueError, "padding", F.conv2d, x, w, padding="sideways", groups=2)
    _raises(ValueError, "groups", F.conv2d, x, np.zeros((6, 4, 3, 3)), groups=3)
    _raises(ValueError, "groups", F.conv2d, x, np.zeros((5, 2, 3, 3)), groups=2)
    _raises(ValueError, "weight.shape", F.conv2d, x, w)  # 2 channels per group, 4 inputs
    _raises(ValueError, "weight must be 4-d", F.conv2d, x, np.zeros((6, 4, 3)))
    _raises(ValueError, r"input must be 4-d .* or 3-d", F.conv2d, np.zeros((5, 5)), w)
    _raises(ValueError, r"input must be 3-d .* or 2-d", F.conv1d, np.zeros(5), np.zeros((1, 1, 2)))
    _raises(TypeError, "dtype", F.conv2d, x, w.astype(np.float32), groups=2)
    _raises(TypeError, "float32 or float64", F.conv2d, x.astype(np.int64), w, groups=2)
    _raises(ValueError, "bias must have shape", F.conv2d, x, w, np.zeros(5), groups=2)
    _raises(TypeError, "bias has dtype", F.conv2d, x, w, np.zeros(6, np.float32), groups=2)
    _raises(ValueError, "weight must be 3-d", F.conv1d, np.zeros((1, 2, 5)), np.zeros((1, 2, 2, 2)))
    xt, wt = np.zeros((1, 4, 3, 3)), np.zeros((4, 2, 3, 3))
    _raises(ValueError, "output_size", F.conv_transpose2d, xt, wt, stride=2, output_size=(9, 5))
    _raises(ValueError, "output_size", F.conv_transpose2d, xt, wt, stride=2, output_size=(4,))
    _raises(ValueError, "output_padding", F.conv_transpose2d, xt, wt, stride=2, output_padding=2)
    _raises(ValueError, "weight.shape\\[0\\]", F.conv_transpose2d, xt, np.zeros((3, 2, 3, 3)))
    _raises(ValueError, "groups", F.conv_transpose2d, xt, wt, groups=3)
    _raises(
        ValueError,
        "output_size",
        F.conv_transpose1d,
        np.zeros((1, 4, 3)),
        np.zeros((4, 1, 3)),
        stride=2,
        output_size=(20,),
    )


def test_wrappers_check_before_touching_memory():
    x, w = np.zeros((2, 4, 5, 5)), np.zeros((6, 4, 3, 3))
    conf = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    _raises(TypeError, "input must be a numpy.ndarray", C.conv2d_forward, [[1.0]], w, None, *conf)
    _raises(TypeError, "dtype", C.conv2d_forward, x.astype(np.float16), w, None, *conf)
    _raises(
        ValueError,
        "padding must be an int or 4 ints",
        C.conv2d_forward,
        x,
        w,
        None,
        (1, 1),
        (1, 1),
        (1, 1),
        1,
    )
    _raises(ValueError, "num_threads", C.conv2d_forward, x, w, None, *conf, 0)
    _raises(
        ValueError,
        "grad_output must have shape",
        C.conv2d_backward_input,
        np.zeros((2, 6, 4, 4)),
        w,
        (5, 5),
        *conf,
    )
    _raises(
        ValueError,
        "grad_output must have shape",
        C.conv2d_backward_weight,
        x,
        np.zeros((2, 6, 3, 4)),
        (3, 3),
        *conf,
    )
    _raises(
        ValueError,
        "input must not be empty",
        C.conv2d_forward,
        np.zeros((2, 0, 5, 5)),
        np.zeros((6, 0, 3, 3)),
        None,
        *conf,
    )


def test_huge_padding_raises_instead_of_wrapping_the_workspace_size():
    # A padded plane of 2**32 x 2**32 values wrapped the C workspace size around to 0:
    # the kernel then read the unpadded input and returned 7 where every tap is padding.
    # Where the stride leaves gaps the padded plane is now compacted to what the windows
    # read (one value here, all padding): the right answer, 0, without the huge plane.
    x, w = mg.tensor(np.full((1, 1, 1, 1), 7.0)), mg.tensor(np.ones((1, 1, 1, 1)))
    big = 2**32 - 1
    assert F.conv2d(x, w, stride=2**40, padding=big).numpy().ravel().tolist() == [0.0]
    conf = ((2**40, 2**40), (big, 0, big, 0), (1, 1), 1)
    g = np.ones((1, 1, 1, 1))
    assert C.conv2d_backward_weight(x.numpy(), g, (1, 1), *conf).ravel().tolist() == [0.0]
    assert C.conv2d_backward_input(g, w.numpy(), (1, 1), *conf).ravel().tolist() == [0.0]
    # without gaps between windows a padded plane this large is still refused
    _raises(
        ValueError,
        "too large",
        C.conv2d_forward,
        x.numpy(),
        w.numpy(),
        None,
        (1, 1),
        (big, 0, big, 0),
        (1, 1),
        1,
    )
    # a large stride alone is fine: one output position
    assert F.conv2d(x, w, stride=2**40, padding=1).shape == (1, 1, 1, 1)


def test_non_integer_sizes_are_refused_not_truncated():
    # int(1.5) == 1: a float inside a tuple used to run silently with stride 1
    x, w = mg.tensor(np.ones((1, 1, 6, 6))), mg.tensor(np.ones((1, 1, 2, 2)))
    for kw in (
        dict(stride=(1.5, 1)),
        dict(padding=(0, 0.5)),
        dict(dilation=(1, 2.0)),
        dict(stride="ab"),
    ):
        with pytest.raises(TypeError, match=f"conv2d: {next(iter(kw))} must be an int"):
            F.conv2d(x, w, **kw)
    with pytest.raises(TypeError, match="conv1d: stride"):
        F.conv1d(mg.tensor(np.ones((1, 1, 6))), mg.tensor(np.ones((1, 1, 2))), stride=(1.5,))
    with pytest.raises(TypeError, match="book_conv.c: s must be"):
        kernels.c(w, x, (1.5, 1))


def test_wrapper_refuses_non_integer_sizes():
    x, w = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2))
    _raises(
        TypeError,
        "stride must be an int or 2 ints",
        C.conv2d_forward,
        x,
        w,
        None,
        (1.5, 1),
        (0, 0, 0, 0),
        (1, 1),
        1,
    )


def test_book_kernels_explain_when_no_default_size_fits():
    with pytest.raises(ValueError, match=r"book_conv.g: no kernel size fits G's size \(5, 5\)"):
        kernels.g(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="book_conv.h: no input size fits"):
        kernels.h(np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), padding=1)


@pytest.mark.parametrize(
    "op,x_shape,w_shape,kwargs",
    [
        (F.conv2d, (3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),
        (F.conv1d, (3, 9), (4, 3, 3), dict(padding=2, dilation=2)),
        (F.conv_transpose2d, (3, 5, 4), (3, 2, 3, 3), dict(stride=2, output_padding=1)),
        (F.conv_transpose1d, (3, 6), (3, 2, 4), dict(stride=3)),
    ],
)
def test_unbatched_input_is_one_image_of_a_batch(op, x_shape, w_shape, kwargs):
    # PyTorch accepts (C, H, W) / (C, L) for one example: the result (and the
    # gradients) are those of the batch of one, without the batch axis.
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    xt, wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    y = op(xt, wt, **kwargs)
    xb, wb = mg.tensor(x[None], requires_grad=True), mg.tensor(w, requires_grad=True)
    yb = op(xb, wb, **kwargs)
    assert y.shape == yb.shape[1:]
    np.testing.assert_array_equal(y.numpy(), yb.numpy()[0])
    g = rng.standard_normal(y.shape)
    y.backward(g)
    yb.backward(g[None])
    np.testing.assert_array_equal(xt.grad.numpy(), xb.grad.numpy()[0])
    np.testing.assert_array_equal(wt.grad.numpy(), wb.grad.numpy())
    assert mg.gradcheck(lambda a, b: op(a, b, **kwargs), [xt, wt])


def test_conv_layers_take_unbatched_images():
    conv = mg.nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 5))
    np.testing.assert_allclose(conv(x).numpy(), conv(x[None]).numpy()[0], rtol=1e-12)


# ----------------------------------------------------------------- the direct path
# Stride 1 or 2 along the width, 64 or more taps per output, rows and channels that the
# direct GEMM's tiles divide: c, g (and h, as a stride-1 convolution) read the padded
# image through tap offsets instead of unfolding it. Every ISA's micro-kernel, against the
# NumPy reference; groups, dilation, asymmetric padding, a row stride, bias.

DIRECT_CASES = [
    # x shape, w shape, stride, padding (t, b, l, r), dilation, groups
    ((1, 8, 6, 14), (32, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 8, 5, 28), (32, 8, 3, 3), (2, 1), (0, 2, 1, 1), (1, 1), 1),
    ((1, 16, 4, 14), (64, 8, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 2),
    ((1, 12, 3, 29), (32, 12, 2, 3), (1, 1), (1, 0, 2, 1), (1, 2), 1),
    ((10, 64, 3, 30), (32, 64, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),  # chunks of 2
    ((2, 8, 9, 28), (32, 8, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),  # stride 2 across
    ((1, 16, 4, 57), (64, 16, 2, 2), (1, 2), (0, 1, 0, 1), (1, 1), 1),
    ((1, 8, 6, 14), (32, 8, 3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 1),  # rows of 7
    # weight gradients with few taps and channels that fill no whole vector: the output
    # gradient's transposing pack with a ragged last tile (64 and 15 positions, 20 and
    # 10 channels), 25 and 27 taps; and one input channel at stride 2 (9 taps)
    ((2, 1, 12, 12), (20, 1, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((1, 3, 5, 7), (10, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((2, 1, 10, 9), (32, 1, 3, 3), (2, 2), (1, 0, 1, 0), (1, 1), 1),
    # weight gradients of small outputs in blocks of several images (more than 8 images,
    # so a chunk holds several), rows interleaved by row phase: strides 2 and 3 down,
    # dilation, groups, a short last block
    ((20, 3, 7, 9), (8, 3, 3, 2), (2, 1), (1, 0, 2, 1), (2, 1), 1),
    ((19, 4, 8, 6), (6, 2, 3, 3), (3, 2), (1, 2, 0, 2), (1, 2), 2),
]


@functools.cache
def direct_reference(i):
    xs, ws, st_, pad, dil, g = DIRECT_CASES[i]
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, xs), rand(rng, ws), rand(rng, (ws[0],))
    y = ref.conv2d(x, w, b, st_, pad, dil, g)
    gy = rand(rng, y.shape)
    gx = ref.conv2d_grad_input(w, gy, xs[2:], st_, pad, dil, g)
    return x, w, b, y, gy, gx, ref.conv2d_grad_weight(gy, x, ws[2:], st_, pad, dil, g)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(DIRECT_CASES)))
@pytest.mark.parametrize("isa", ["generic", "avx2", "avx512"])
def test_direct_path_matches_the_reference(isa, case, dtype):
    from minigrad._C import core

    if core.set_isa(isa) != isa:
        core.set_isa(None)
        pytest.skip(f"this CPU has no {isa}")
    try:
        xs, ws, st_, pad, dil, g = DIRECT_CASES[case]
        x, w, b, y_ref, gy, gx_ref, gw_ref = (a.astype(dtype) for a in direct_reference(case))
        y = C.conv2d_forward(x, w, b, st_, pad, dil, g, 2)
        close(y, y_ref, dtype)
        gx = C.conv2d_backward_input(gy, w, xs[2:], st_, pad, dil, g, 2)
        close(gx, gx_ref, dtype)
        gw = C.conv2d_backward_weight(x, gy, ws[2:], st_, pad, dil, g, 2)
        close(gw, gw_ref, dtype)
        assert np.array_equal(C.conv2d_backward_weight(x, gy, ws[2:], st_, pad, dil, g, 1), gw)
        # one thread and two give the same bits
        assert np.array_equal(C.conv2d_forward(x, w, b, st_, pad, dil, g, 1), y)
    finally:
        core.set_isa(None)
