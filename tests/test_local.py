"""Locally connected and tiled convolution (issue 5): the C kernels against the
naive eq. 9.9 / 9.10 references in tests/local_reference.py, finite
differences, the exact identities with conv2d, every instruction-set variant,
thread-count independence, and bad input."""

from __future__ import annotations

import local_reference as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad._C import core
from minigrad._C import local as kernels

ISAS = ["generic", "avx2", "avx512"]


@pytest.fixture(params=ISAS)
def isa(request):
    """Run a test on each kernel variant this CPU has (skipping the others)."""
    got = core.set_isa(request.param)
    try:
        if got != request.param:
            pytest.skip(f"CPU lacks {request.param}")
        yield got
    finally:
        core.set_isa(None)


@pytest.fixture
def threads():
    """Restore the thread count a test changes."""
    n = mg.get_num_threads()
    yield
    mg.set_num_threads(n)


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def make_case(rng, n, c_in, c_out, h, w, kernel, stride, padding, tiles, bias=True):
    """Random input / weight / bias for a tiled (tiles given) or locally connected
    (tiles None) layer, float64."""
    h_out, w_out = ref.output_size(h, w, kernel, stride, padding)
    th, tw = tiles if tiles is not None else (h_out, w_out)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, th, tw, c_in, *kernel))
    b = rng.standard_normal((c_out, th, tw)) if bias else None
    return x, wt, b


# (n, c_in, c_out, h, w, kernel, stride, padding, tiles); tiles None = locally connected.
# Batches 1, 3, 17, 40 cover a partial SIMD vector, several vectors and the tails
# of the 4-vector register tiles; c_out 1..9 the tails of the channel tiles.
CASES = [
    (1, 1, 1, 4, 4, (2, 2), (1, 1), (0, 0), None),
    (3, 2, 5, 7, 6, (3, 2), (1, 2), (1, 1), (2, 3)),
    (17, 3, 7, 5, 5, (2, 2), (2, 1), (0, 1), (1, 1)),
    (40, 4, 9, 9, 8, (3, 3), (1, 1), (2, 1), None),
    (5, 2, 4, 8, 8, (3, 3), (2, 2), (1, 1), None),
    (70, 3, 6, 6, 7, (1, 3), (1, 2), (0, 2), (3, 2)),
    (2, 5, 3, 6, 6, (5, 5), (1, 1), (2, 2), (4, 5)),  # t > output size in h: unused kernels
    (21, 2, 3, 3, 19, (2, 3), (1, 1), (1, 1), (2, 2)),  # rows >= 16: whole transpose tiles
]


def run_op(x, w, b, stride, padding, tiled, dtype, grad_out=None):
    """Forward (and backward with grad_out) through the functional op; arrays out."""
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    wt = mg.tensor(w.astype(dtype), requires_grad=True)
    bt = None if b is None else mg.tensor(b.astype(dtype), requires_grad=True)
    op = F.tiled_conv2d if tiled else F.locally_connected2d
    y = op(xt, wt, bt, stride=stride, padding=padding)
    if grad_out is None:
        return y.numpy()
    y.backward(mg.tensor(grad_out.astype(dtype)))
    gb = None if bt is None else bt.grad.numpy()
    return y.numpy(), xt.grad.numpy(), wt.grad.numpy(), gb


# ----------------------------------------------------------------------------- vs references


@pytest.mark.parametrize("case", CASES)
def test_forward_backward_match_reference_float64(case, isa, rng):
    n, c_in, c_out, h, w, kernel, stride, padding, tiles = case
    x, wt, b = make_case(rng, n, c_in, c_out, h, w, kernel, stride, padding, tiles)
    if tiles is None:  # the eq. 9.9 reference, written separately from eq. 9.10's
        y_ref = ref.locally_connected2d(x, wt, b, stride, padding)
        G = rng.standard_normal(y_ref.shape)
        dx, dw, db = ref.locally_connected2d_backward(x, wt, G, stride, padding)
    else:
        y_ref = ref.tiled_conv2d(x, wt, b, stride, padding)
        G = rng.standard_normal(y_ref.shape)
        dx, dw, db = ref.tiled_conv2d_backward(x, wt, G, stride, padding)
    y, gx, gw, gb = run_op(x, wt, b, stride, padding, tiles is not None, np.float64, G)
    assert y.shape == y_ref.shape and y.dtype == np.float64
    assert rel_err(y, y_ref) < 1e-10
    assert rel_err(gx, dx) < 1e-10
    assert rel_err(gw, dw) < 1e-10
    assert rel_err(gb, db) < 1e-10


@pytest.mark.parametrize("case", CASES)
def test_float32_kernels_match_float64_reference(case, isa, rng):
    n, c_in, c_out, h, w, kernel, stride, padding, tiles = case
    x, wt, b = make_case(rng, n, c_in, c_out, h, w, kernel, stride, padding, tiles)
    y_ref = ref.tiled_conv2d(x, wt, b, stride, padding)
    G = rng.standard_normal(y_ref.shape)
    dx, dw, db = ref.tiled_conv2d_backward(x, wt, G, stride, padding)
    y, gx, gw, gb = run_op(x, wt, b, stride, padding, tiles is not None, np.float32, G)
    assert y.dtype == np.float32 and gx.dtype == np.float32 and gw.dtype == np.float32
    # float32 rounding is ~1e-7 relative; a misplaced tap or lane errs by O(1).
    for got, want in [(y, y_ref), (gx, dx), (gw, dw), (gb, db)]:
        assert rel_err(got, want) < 1e-5


def test_no_bias_and_partial_gradients(rng):
    x, wt, _ = make_case(rng, 4, 2, 3, 6, 6, (3, 3), (1, 1), (1, 1), (2, 2), bias=False)
    xt = mg.tensor(x)  # no gradient wanted for x: backward must skip it
    wt_t = mg.tensor(wt, requires_grad=True)
    y = F.tiled_conv2d(xt, wt_t, None, padding=1)
    np.testing.assert_allclose(y.numpy(), ref.tiled_conv2d(x, wt, None, (1, 1), (1, 1)), rtol=1e-12)
    G = rng.standard_normal(y.shape)
    y.backward(mg.tensor(G))
    assert xt.grad is None
    _, dw, _ = ref.tiled_conv2d_backward(x, wt, G, (1, 1), (1, 1))
    assert rel_err(wt_t.grad.numpy(), dw) < 1e-10


def test_bias_gradient_alone(rng):
    """Only the bias needs a gradient: the weight and input gradients are skipped."""
    x, wt, b = make_case(rng, 3, 2, 4, 6, 5, (2, 2), (1, 1), (0, 0), None)
    bt = mg.tensor(b, requires_grad=True)
    xt, wt_t = mg.tensor(x), mg.tensor(wt)
    y = F.locally_connected2d(xt, wt_t, bt)
    G = rng.standard_normal(y.shape)
    y.backward(mg.tensor(G))
    assert xt.grad is None and wt_t.grad is None
    np.testing.assert_allclose(bt.grad.numpy(), G.sum(axis=0), rtol=1e-12)


# ----------------------------------------------------------------------------- hypothesis


@st.composite
def configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    h_out, w_out = ref.output_size(h, w, (kh, kw), (sh, sw), (ph, pw))
    tiled = draw(st.booleans())
    tiles = (draw(st.integers(1, h_out + 1)), draw(st.integers(1, w_out + 1))) if tiled else None
    return dict(
        n=draw(st.integers(1, 35)),
        c_in=draw(st.integers(1, 4)),
        c_out=draw(st.integers(1, 8)),
        h=h,
        w=w,
        kernel=(kh, kw),
        stride=(sh, sw),
        padding=(ph, pw),
        tiles=tiles,
        bias=draw(st.booleans()),
    )


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), seed=st.integers(0, 2**31 - 1), isa=st.sampled_from(ISAS))
def test_random_configurations_match_reference(cfg, seed, isa):
    rng = np.random.default_rng(seed)
    x, wt, b = make_case(rng, **cfg)
    y_ref = ref.tiled_conv2d(x, wt, b, cfg["stride"], cfg["padding"])
    G = rng.standard_normal(y_ref.shape)
    dx, dw, db = ref.tiled_conv2d_backward(x, wt, G, cfg["stride"], cfg["padding"])
    tiled = cfg["tiles"] is not None
    core.set_isa(isa)  # at most this instruction set (fewer where the CPU lacks it)
    try:
        y, gx, gw, gb = run_op(x, wt, b, cfg["stride"], cfg["padding"], tiled, np.float64, G)
    finally:
        core.set_isa(None)
    assert rel_err(y, y_ref) < 1e-10
    assert rel_err(gx, dx) < 1e-10
    assert rel_err(gw, dw) < 1e-10
    if b is not None:
        assert rel_err(gb, db) < 1e-10


# ----------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((1, 2), (1, 0))])
def test_gradcheck_locally_connected2d(stride, padding, leaf):
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    h_out, w_out = ref.output_size(5, 4, (2, 3), (sh, sw), (ph, pw))
    x, w, b = leaf((2, 2, 5, 4)), leaf((3, h_out, w_out, 2, 2, 3)), leaf((3, h_out, w_out))
    assert mg.gradcheck(
        lambda *a: F.locally_connected2d(*a, stride=stride, padding=padding), [x, w, b]
    )


@pytest.mark.parametrize("tiles", [(1, 1), (2, 2), (3, 1)])
def test_gradcheck_tiled_conv2d(tiles, leaf):
    x, w, b = leaf((2, 2, 5, 5)), leaf((2, *tiles, 2, 2, 2)), leaf((2, *tiles))
    assert mg.gradcheck(lambda *a: F.tiled_conv2d(*a, stride=(1, 2), padding=1), [x, w, b])


def test_gradcheck_1d_ops(leaf):
    x = leaf((2, 2, 7))
    w_lc, b_lc = leaf((3, 4, 2, 3)), leaf((3, 4))  # W_out = (7 + 2 - 3) // 2 + 1 = 4
    assert mg.gradcheck(lambda *a: F.locally_connected1d(*a, stride=2, padding=1), [x, w_lc, b_lc])
    w_t, b_t = leaf((3, 2, 2, 3)), leaf((3, 2))
    assert mg.gradcheck(lambda *a: F.tiled_conv1d(*a, stride=1, padding=2), [x, w_t, b_t])


# ----------------------------------------------------------------------------- 1-d


def test_1d_ops_match_2d_reference_with_unit_height(rng):
    x = rng.standard_normal((5, 3, 11))
    w = rng.standard_normal((4, 6, 3, 3))  # W_out = (11 + 2 - 3) // 2 + 1 = 6
    b = rng.standard_normal((4, 6))
    y = F.locally_connected1d(mg.tensor(x), mg.tensor(w), mg.tensor(b), stride=2, padding=1)
    want = ref.locally_connected2d(
        x[:, :, None], w[:, None, :, :, None], b[:, None], (1, 2), (0, 1)
    )
    assert y.shape == (5, 4, 6)
    assert rel_err(y.numpy(), want[:, :, 0]) < 1e-12
    wt, bt = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((4, 3))
    y = F.tiled_conv1d(mg.tensor(x), mg.tensor(wt), mg.tensor(bt), padding="same")
    want = ref.tiled_conv2d(x[:, :, None], wt[:, None, :, :, None], bt[:, None], (1, 1), (0, 1))
    assert y.shape == (5, 4, 11)
    assert rel_err(y.numpy(), want[:, :, 0]) < 1e-12


# ----------------------------------------------------------------------------- identities


def test_tiled_with_output_size_tiles_is_locally_connected(rng):
    x, wt, b = make_case(rng, 6, 3, 4, 7, 6, (3, 2), (2, 1), (1, 1), None)
    lc = F.locally_connected2d(mg.tensor(x), mg.tensor(wt), mg.tensor(b), stride=(2, 1), padding=1)
    tiled = F.tiled_conv2d(mg.tensor(x), mg.tensor(wt), mg.tensor(b), stride=(2, 1), padding=1)
    np.testing.assert_array_equal(lc.numpy(), tiled.numpy())


def conv_weight_as_tiled(w_conv: np.ndarray, tiles: tuple) -> np.ndarray:
    """(C_out, C_in, kH, kW) repeated at every tile: (C_out, t_h, t_w, C_in, kH, kW)."""
    return np.ascontiguousarray(
        np.broadcast_to(w_conv[:, None, None], (w_conv.shape[0], *tiles, *w_conv.shape[1:]))
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stride,padding", [((1, 1), (1, 1)), ((2, 1), (0, 1))])
def test_shared_kernels_equal_conv2d(dtype, stride, padding, rng):
    """tiled with t = (1, 1) and locally connected with all kernels equal are conv2d."""
    x = rng.standard_normal((5, 3, 8, 7)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    h_out, w_out = ref.output_size(8, 7, (3, 3), stride, padding)
    want = ref.conv2d(x, w, b, stride, padding)  # always available
    tol = 1e-12 if dtype == np.float64 else 1e-5
    t1 = F.tiled_conv2d(x, conv_weight_as_tiled(w, (1, 1)), b[:, None, None], stride, padding)
    lc_b = np.ascontiguousarray(np.broadcast_to(b[:, None, None], (4, h_out, w_out)))
    lc = F.locally_connected2d(x, conv_weight_as_tiled(w, (h_out, w_out)), lc_b, stride, padding)
    assert rel_err(t1.numpy(), want) < tol
    assert rel_err(lc.numpy(), want) < tol
    if not hasattr(F, "conv2d"):
        pytest.skip("F.conv2d not available yet")
    conv = F.conv2d(
        mg.tensor(x), mg.tensor(w), mg.tensor(b), stride=stride, padding=padding
    ).numpy()
    assert rel_err(t1.numpy(), conv) < tol
    assert rel_err(lc.numpy(), conv) < tol


def test_tiled_t1_gradients_equal_conv2d_gradients(rng):
    """The weight gradient of tiled t = (1, 1) is conv2d's weight gradient."""
    if not hasattr(F, "conv2d"):
        pytest.skip("F.conv2d not available yet")
    x = rng.standard_normal((4, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    G = rng.standard_normal((4, 3, 6, 6))
    xs = [mg.tensor(x, requires_grad=True) for _ in range(2)]
    wc = mg.tensor(w, requires_grad=True)
    wtl = mg.tensor(conv_weight_as_tiled(w, (1, 1)), requires_grad=True)
    F.conv2d(xs[0], wc, None, padding=1).backward(mg.tensor(G))
    F.tiled_conv2d(xs[1], wtl, None, padding=1).backward(mg.tensor(G))
    assert rel_err(xs[1].grad.numpy(), xs[0].grad.numpy()) < 1e-12
    assert rel_err(wtl.grad.numpy()[:, 0, 0], wc.grad.numpy()) < 1e-12


def test_tiled_t1_matches_torch_conv2d(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 9, 9))
    w = rng.standard_normal((5, 4, 3, 3))
    got = F.tiled_conv2d(x, conv_weight_as_tiled(w, (1, 1)), None, stride=2, padding=1).numpy()
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1).numpy()
    assert rel_err(got, want) < 1e-12


# ----------------------------------------------------------------------------- threads, layout


@pytest.mark.parametrize(
    "n,c_in,c_out,h,w,kernel,stride,padding,tiles",
    [
        (40, 8, 8, 12, 12, (3, 3), (1, 1), (1, 1), (2, 2)),  # bands of output rows
        (33, 6, 9, 11, 10, (3, 2), (2, 1), (1, 1), None),  # locally connected
        (64, 8, 8, 1, 200, (1, 5), (1, 1), (0, 2), (1, 3)),  # one row: bands of columns
        (48, 4, 8, 4, 90, (3, 3), (1, 1), (0, 1), (2, 2)),  # 2 rows: columns give more bands
    ],
)
def test_results_do_not_depend_on_thread_count(
    n, c_in, c_out, h, w, kernel, stride, padding, tiles, rng, threads
):
    """Above the serial cut-off (~1e6 multiply-adds) the kernels run in parallel;
    each output element is still summed by one thread in one fixed order."""
    x, wt, b = make_case(rng, n, c_in, c_out, h, w, kernel, stride, padding, tiles)
    y_ref = ref.tiled_conv2d(x, wt, b, stride, padding)
    G = rng.standard_normal(y_ref.shape)
    outs = []
    for nt in (1, 2, 3):
        mg.set_num_threads(nt)
        outs.append(run_op(x, wt, b, stride, padding, tiles is not None, np.float32, G))
    for other in outs[1:]:
        for a, b_ in zip(outs[0], other):
            np.testing.assert_array_equal(a, b_)
    dx, dw, db = ref.tiled_conv2d_backward(x, wt, G, stride, padding)
    for got, want in zip(outs[0], (y_ref, dx, dw, db)):
        assert rel_err(got, want) < 1e-5


def test_non_contiguous_inputs_are_copied(rng):
    x, wt, b = make_case(rng, 3, 2, 3, 6, 5, (2, 2), (1, 1), (0, 0), (2, 2))
    xt_view = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values
    wt_view = np.asfortranarray(wt)
    assert not xt_view.flags.c_contiguous and not wt_view.flags.c_contiguous
    y = F.tiled_conv2d(mg.tensor(xt_view), mg.tensor(wt_view), mg.tensor(b))
    assert rel_err(y.numpy(), ref.tiled_conv2d(x, wt, b, (1, 1), (0, 0))) < 1e-12


def test_padding_strings(rng):
    x, wt, _ = make_case(rng, 2, 2, 3, 6, 6, (3, 3), (1, 1), (1, 1), (2, 2), bias=False)
    same = F.tiled_conv2d(x, wt, padding="same").numpy()
    np.testing.assert_array_equal(same, F.tiled_conv2d(x, wt, padding=1).numpy())
    full = F.tiled_conv2d(x, wt, padding="full")
    assert full.shape == (2, 3, 8, 8)
    assert F.tiled_conv2d(x, wt, padding="valid").shape == (2, 3, 4, 4)


@pytest.mark.parametrize(
    "op,w_shape,b_shape",
    [
        (F.locally_connected2d, (4, 5, 5, 2, 3, 3), (4, 5, 5)),
        (F.tiled_conv2d, (4, 2, 2, 2, 3, 3), (4, 2, 2)),
        (F.locally_connected1d, (4, 5, 2, 3), (4, 5)),
        (F.tiled_conv1d, (4, 2, 2, 3), (4, 2)),
    ],
)
def test_empty_batch_gives_empty_output_and_zero_parameter_gradients(op, w_shape, b_shape, rng):
    # As conv2d (and PyTorch): N = 0 is a batch of no images, not an error.
    x_shape = (0, 2, 5, 5) if len(w_shape) == 6 else (0, 2, 5)
    x = mg.tensor(np.zeros(x_shape, np.float32), requires_grad=True)
    w = mg.tensor(rng.standard_normal(w_shape).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal(b_shape).astype(np.float32), requires_grad=True)
    y = op(x, w, b, padding=1)
    assert y.shape == (0, 4) + x_shape[2:]
    y.sum().backward()
    assert x.grad.shape == x_shape
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(w_shape))
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(b_shape))


@pytest.mark.parametrize(
    "op,x_shape,w_shape",
    [
        (F.locally_connected2d, (2, 5, 5), (3, 3, 3, 2, 3, 3)),
        (F.tiled_conv2d, (2, 5, 5), (3, 2, 2, 2, 3, 3)),
        (F.locally_connected1d, (2, 6), (3, 4, 2, 3)),
        (F.tiled_conv1d, (2, 6), (3, 2, 2, 3)),
    ],
)
def test_unbatched_input_is_one_example_of_a_batch(op, x_shape, w_shape, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal((w_shape[0],) + w_shape[1 : -3 if len(w_shape) == 6 else -2])
    xt = mg.tensor(x, requires_grad=True)
    y = op(xt, w, b)
    yb = op(x[None], w, b)
    assert y.shape == yb.shape[1:]
    np.testing.assert_array_equal(y.numpy(), yb.numpy()[0])
    assert mg.gradcheck(
        lambda a, w_, b_: op(a, w_, b_),
        [xt, mg.tensor(w, requires_grad=True), mg.tensor(b, requires_grad=True)],
    )


# ----------------------------------------------------------------------------- bad input


def test_locally_connected_weight_size_mismatch_names_both_sizes(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 7, 7, 3, 3, 3))  # output is 6 x 6 with stride 1, no padding
    with pytest.raises(ValueError, match=r"H_out, W_out = \(7, 7\).*output size \(6, 6\)"):
        F.locally_connected2d(x, w)


@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        (dict(x_shape=(3, 8)), ValueError, r"input must be 4-d .* or 3-d .*one unbatched"),
        (dict(w_shape=(4, 2, 2, 3, 3)), ValueError, "weight must be 6-d"),
        (dict(w_shape=(4, 2, 2, 5, 3, 3)), ValueError, "weight has 5 input channels"),
        (dict(b_shape=(4, 2, 3)), ValueError, r"bias must have shape \(4, 2, 2\)"),
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
        (dict(padding=3), ValueError, "padding .* must be at most kernel size - 1"),
        (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
        (dict(padding="bogus"), ValueError, "padding must be an int"),
        (dict(x_shape=(2, 3, 2, 2)), ValueError, "kernel .* larger than the padded input"),
        (dict(x_shape=(2, 3, 0, 8)), ValueError, "input must not be empty"),
        (
            dict(x_shape=(2, 0, 8, 8), w_shape=(4, 2, 2, 0, 3, 3)),
            ValueError,
            "input must not be empty",
        ),
        (dict(w_dtype=np.float64), TypeError, "weight has dtype float64, expected float32"),
        (
            dict(x_dtype=np.int32, w_dtype=np.int32, b_dtype=np.int32),
            TypeError,
            "input must have dtype float32 or float64, got int32",
        ),
        (
            dict(stride=(1, 2, 3)),
            ValueError,
            r"stride must be an int or a pair of ints, got \(1, 2, 3\) \(3 entries\)",
        ),
        # int(1.5) == 1: floats inside a tuple used to be truncated silently
        (dict(stride=(1.5, 1)), TypeError, "stride must be an int or a pair"),
        (dict(padding=(0, 0.5)), TypeError, "padding must be an int or a pair"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, exc, pattern, rng):
    x_shape = kwargs.get("x_shape", (2, 3, 8, 8))
    w_shape = kwargs.get("w_shape", (4, 2, 2, 3, 3, 3))
    b_shape = kwargs.get("b_shape", (4, 2, 2))
    x = rng.standard_normal(x_shape).astype(kwargs.get("x_dtype", np.float32))
    w = rng.standard_normal(w_shape).astype(kwargs.get("w_dtype", np.float32))
    b = rng.standard_normal(b_shape).astype(kwargs.get("b_dtype", np.float32))
    with pytest.raises(exc, match="tiled_conv2d: " + pattern):
        F.tiled_conv2d(x, w, b, stride=kwargs.get("stride", 1), padding=kwargs.get("padding", 0))


def test_wrapper_rejects_what_the_op_layer_would_copy(rng):
    """The Cython layer copies views (it never misreads them) and refuses foreign packed
    buffers."""
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 1, 1, 2, 2, 2)).astype(np.float32)
    view = x[:, :, ::-1]
    y_view = kernels.forward(view, w, None, (1, 1), (0, 0), True, 1)[0]
    assert np.array_equal(y_view, kernels.forward(view.copy(), w, None, (1, 1), (0, 0), True, 1)[0])
    with pytest.raises(TypeError, match="weight must be a numpy.ndarray"):
        kernels.forward(x, w.tolist(), None, (1, 1), (0, 0), True, 1)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        kernels.forward(x, w, None, (1, 1), (0, 0), True, 0)
    y, xp = kernels.forward(x, w, None, (1, 1), (0, 0), True, 1)
    with pytest.raises(ValueError, match="x_packed must have shape"):
        kernels.backward(y, xp[:, :-1].copy(), w, (5, 5), (1, 1), (0, 0), True, True, True, True, 1)
    with pytest.raises(ValueError, match="grad_output must have shape"):
        kernels.backward(
            y[:, :, :-1].copy(), xp, w, (5, 5), (1, 1), (0, 0), True, True, True, True, 1
        )


def test_1d_bad_input(rng):
    x = rng.standard_normal((2, 3, 8))
    with pytest.raises(ValueError, match="locally_connected1d: weight must be 4-d"):
        F.locally_connected1d(x, rng.standard_normal((4, 6, 3, 3, 1)))
    with pytest.raises(ValueError, match=r"locally_connected1d: .*\(1, 5\).*\(1, 6\)"):
        F.locally_connected1d(x, rng.standard_normal((4, 5, 3, 3)))
    with pytest.raises(ValueError, match="tiled_conv1d: input must be 3-d"):
        F.tiled_conv1d(x[None], rng.standard_normal((4, 2, 3, 3)))


def test_1d_stride_must_be_an_int(rng):
    x = rng.standard_normal((2, 3, 8))
    w = rng.standard_normal((4, 1, 3, 3))
    with pytest.raises(TypeError, match=r"tiled_conv1d: stride must be an int .*, got \(1.5,\)"):
        F.tiled_conv1d(x, w, stride=(1.5,))
    assert F.tiled_conv1d(x, w, stride=(2,)).shape == (2, 4, 3)


def test_wrapper_refuses_non_integer_sizes():
    x, w = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 1, 1, 2, 2))
    with pytest.raises(TypeError, match="stride must be an int or 2 ints"):
        kernels.forward(x, w, None, (1.5, 1), (0, 0), True, 1)
