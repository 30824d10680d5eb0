"""Issue 16 audit, max pooling ties: more instances of the class "the first maximum in
row-major order wins" than the integer-data tests of test_kernel_hardening.py -- signed
zeros (-0.0 == 0.0 is a tie), windows whose real elements are all -inf (padding must
never win), the same indices as PyTorch on tied data, and max_unpool's duplicate
indices (the last input in row-major order is kept, and only it gets the gradient)."""

from __future__ import annotations

import numpy as np
import pool_reference as ref  # tests/ is on sys.path under pytest
import pytest
from test_kernel_hardening import TIE_CONFIGS, tied

import minigrad as mg
import minigrad.functional as F
from minigrad._C import core

ISAS = ["generic", "avx2", "avx512"][: ["generic", "avx2", "avx512"].index(core.best_isa()) + 1]


@pytest.fixture(params=ISAS)
def isa(request):
    core.set_isa(request.param)
    try:
        yield request.param
    finally:
        core.set_isa(None)


def signed_zeros(shape, seed):
    return np.random.default_rng(seed).choice([-0.0, 0.0], shape)


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal, and the same sign bit: the element the index names is the one returned."""
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", TIE_CONFIGS)
def test_signed_zero_ties_give_the_first_index(isa, cfg, dtype):
    shape, k, s, p, d, cm = cfg
    x = signed_zeros(shape, 1)
    y, idx = F.max_pool2d(mg.tensor(x.astype(dtype)), k, s, p, d, cm, return_indices=True)
    y_ref, i_ref = ref.max_pool2d(x, k, s, p, d, cm)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    same_bits(y.numpy(), y_ref)
    x1 = x[:, :, 0]
    y1, i1 = F.max_pool1d(mg.tensor(x1.astype(dtype)), k[1], s[1], p[1], d[1], cm, True)
    y1_ref, i1_ref = ref.max_pool2d(x1[:, :, None], (1, k[1]), (1, s[1]), (0, p[1]), (1, d[1]), cm)
    np.testing.assert_array_equal(i1.numpy(), i1_ref[:, :, 0])
    same_bits(y1.numpy(), y1_ref[:, :, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("out", [(3, 4), (9, 37), (2, 5), (1, 1)])
def test_adaptive_signed_zero_ties_give_the_first_index(isa, out, dtype):
    x = signed_zeros((2, 3, 9, 37), 2)
    y, idx = F.adaptive_max_pool2d(mg.tensor(x.astype(dtype)), out, return_indices=True)
    y_ref, i_ref = ref.adaptive_max_pool2d(x, out)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    same_bits(y.numpy(), y_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", TIE_CONFIGS)
def test_windows_of_minus_inf_name_their_first_real_element(isa, cfg, dtype):
    """Every element -inf: each window's maximum is -inf, a tie of all its real elements
    (padding is -inf too, but must never be the index), so the index is the first real
    element of the window, and the gradient goes there."""
    shape, k, s, p, d, cm = cfg
    x = np.full(shape, -np.inf)
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, cm, return_indices=True)
    y_ref, i_ref = ref.max_pool2d(x, k, s, p, d, cm)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    y.sum().backward()
    want = ref.max_pool2d_backward(np.ones(y.shape), i_ref, *shape[2:])
    np.testing.assert_array_equal(xt.grad.numpy(), want)
    ya, ia = F.adaptive_max_pool2d(mg.tensor(x.astype(dtype)), (2, 3), return_indices=True)
    np.testing.assert_array_equal(ia.numpy(), ref.adaptive_max_pool2d(x, (2, 3))[1])


# ----------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("cfg", TIE_CONFIGS)
def test_tie_indices_and_gradients_match_pytorch(cfg):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    shape, k, s, p, d, cm = cfg
    for seed, levels in [(0, 2), (1, 1)]:
        x = tied(shape, seed, levels)
        xt = mg.tensor(x, requires_grad=True)
        y, idx = F.max_pool2d(xt, k, s, p, d, cm, return_indices=True)
        g = np.random.default_rng(seed).standard_normal(y.shape)
        y.backward(mg.tensor(g))
        xr = torch.tensor(x, requires_grad=True)
        yr, ir = tf.max_pool2d(xr, k, s, p, d, cm, return_indices=True)
        yr.backward(torch.tensor(g))
        np.testing.assert_array_equal(idx.numpy(), ir.numpy())
        np.testing.assert_array_equal(xt.grad.numpy(), xr.grad.numpy())
        x1 = x[:, :, 0]
        _, i1 = F.max_pool1d(mg.tensor(x1), k[1], s[1], p[1], d[1], cm, return_indices=True)
        _, i1r = tf.max_pool1d(torch.tensor(x1), k[1], s[1], p[1], d[1], cm, return_indices=True)
        np.testing.assert_array_equal(i1.numpy(), i1r.numpy())


@pytest.mark.parametrize("hw,out", [((8, 8), (4, 4)), ((9, 11), (4, 3)), ((7, 30), (3, 7))])
def test_adaptive_tie_indices_match_pytorch(hw, out):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    for levels in (2, 1):
        x = tied((2, 3) + hw, 3, levels)
        _, idx = F.adaptive_max_pool2d(mg.tensor(x), out, return_indices=True)
        _, ir = tf.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), ir.numpy())
        _, i1 = F.adaptive_max_pool1d(mg.tensor(x[:, :, 0]), out[1], return_indices=True)
        _, i1r = tf.adaptive_max_pool1d(torch.tensor(x[:, :, 0]), out[1], return_indices=True)
        np.testing.assert_array_equal(i1.numpy(), i1r.numpy())


# ----------------------------------------------------------------------------- max_unpool


@pytest.mark.parametrize("one_d", [False, True])
def test_max_unpool_duplicates_keep_the_last_input_and_document_it(one_d):
    """Many inputs naming few positions: the output holds the last of them in the
    input's row-major order, and only that input gets the gradient there (the true
    derivative; PyTorch gives every duplicate the gradient at its index)."""
    rng = np.random.default_rng(4)
    shape = (2, 3, 1, 12) if one_d else (2, 3, 4, 6)
    out_hw = (1, 24) if one_d else (8, 12)
    x = rng.standard_normal(shape)
    idx = rng.integers(0, 5, shape)  # 24 inputs per plane onto 5 positions
    g = rng.standard_normal((shape[0], shape[1]) + out_hw)
    xt = mg.tensor(x[:, :, 0] if one_d else x, requires_grad=True)
    i_in = idx[:, :, 0] if one_d else idx
    if one_d:
        y = F.max_unpool1d(xt, i_in, 2)
        y.backward(mg.tensor(g[:, :, 0]))
    else:
        y = F.max_unpool2d(xt, i_in, 2)
        y.backward(mg.tensor(g))
    want = ref.max_unpool2d(x, idx, *out_hw)
    gx = ref.max_unpool2d_backward(g, idx)
    got_y = y.numpy()[:, :, None] if one_d else y.numpy()
    got_g = xt.grad.numpy()[:, :, None] if one_d else xt.grad.numpy()
    np.testing.assert_array_equal(got_y, want)
    np.testing.assert_array_equal(got_g, gx)
    for fn in (F.max_unpool2d, F.max_unpool1d):
        assert "last" in fn.__doc__ and "row-major" in fn.__doc__, fn.__name__
