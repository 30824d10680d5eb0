"""Tests of the pooling ops: the C kernels against naive NumPy references
(tests/pool_reference.py) in float64 and float32, gradients by finite
differences, PyTorch where installed, properties, and bad input."""

from __future__ import annotations

import numpy as np
import pool_reference as ref  # tests/ is on sys.path under pytest
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad._C import pool as K

RNG = np.random.default_rng(1234)


def distinct(shape, dtype=np.float64, rng=RNG):
    """Values pairwise at least 0.01 apart, so max pooling has no ties, not even
    within gradcheck's eps, and float32 rounding cannot create one."""
    n = int(np.prod(shape))
    v = (rng.permutation(n) - n / 2) * 0.01 + rng.uniform(0, 0.001, n)
    return v.reshape(shape).astype(dtype)


def t64(a, grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(a, b, dtype):
    """float32 results against a float64 reference: tolerance of a few float32
    ulps of the data's scale -- a wrong index or divisor is off by O(1)."""
    a = np.asarray(a, dtype=np.float64)
    if dtype == np.float32:
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


DTYPES = [np.float64, np.float32]

# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CONFIGS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 2, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 3, 9, 11), (3, 2), (2, 1), (1, 1), (1, 1), True),
    ((2, 2, 10, 9), (3, 3), (2, 3), (1, 0), (2, 1), True),
    ((1, 2, 7, 6), (2, 3), (3, 2), (1, 1), (1, 2), True),
    ((3, 1, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), False),
    ((1, 1, 1, 7), (1, 3), (1, 2), (0, 1), (1, 1), True),
    # planes wide enough to be split into several row blocks by the kernels
    ((1, 2, 37, 70), (3, 3), (2, 2), (1, 1), (1, 1), True),
]

# (shape, kernel, stride, padding, ceil_mode)
AVG_CONFIGS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False),
    ((2, 2, 9, 11), (3, 3), (2, 2), (1, 1), False),
    ((1, 3, 9, 11), (3, 2), (2, 1), (1, 1), True),
    ((2, 2, 10, 9), (4, 3), (3, 2), (2, 0), True),
    ((1, 1, 5, 7), (5, 1), (1, 3), (0, 0), True),
    ((1, 2, 30, 67), (3, 3), (2, 2), (1, 1), False),
]


# ----------------------------------------------------------------- max pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k,s,p,d,cm", MAX_CONFIGS)
def test_max_pool2d_matches_reference(dtype, shape, k, s, p, d, cm):
    x = distinct(shape, dtype)
    y_ref, i_ref = ref.max_pool2d(x.astype(np.float64), k, s, p, d, cm)
    xt = mg.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, cm, return_indices=True)
    close(y.numpy(), y_ref, dtype)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    assert idx.dtype == np.int64 and y.dtype == dtype
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.max_pool2d_backward(gy, i_ref, *shape[2:]), dtype)


@pytest.mark.parametrize("shape,k,s,p,d,cm", MAX_CONFIGS[:5])
def test_max_pool2d_gradcheck(shape, k, s, p, d, cm):
    x = t64(distinct((1, 2) + shape[2:]))
    assert mg.gradcheck(lambda a: F.max_pool2d(a, k, s, p, d, cm), [x])


def test_max_pool_ties_gradient_follows_index():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5.0  # two maxima in the first window
    xt = t64(x)
    y, idx = F.max_pool2d(xt, 2, return_indices=True)
    assert idx.numpy()[0, 0, 0, 0] == 1  # first in row-major order, as PyTorch
    y.sum().backward()
    g = xt.grad.numpy()[0, 0]
    assert g[0, 1] == 1.0 and g[1, 0] == 0.0
    flat = g.ravel()
    np.testing.assert_array_equal(np.nonzero(flat)[0], np.unique(idx.numpy().ravel()))


def test_max_pool_nan_propagates_when_the_check_is_off():
    x = distinct((1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    bad = r"max_pool2d: input contains NaN \(first at index \(0, 0, 0, 1\)\)"
    with pytest.raises(ValueError, match=bad):
        F.max_pool2d(mg.tensor(x), 2)
    mg.set_nan_check(False)
    try:
        _check_nan_propagation(x)
    finally:
        mg.set_nan_check(True)


def _check_nan_propagation(x):
    for dtype in DTYPES:
        y, idx = F.max_pool2d(mg.tensor(x.astype(dtype)), 2, return_indices=True)
        assert np.isnan(y.numpy()[0, 0, 0, 0])
        assert not np.isnan(y.numpy()[0, 0, 1:, 1:]).any()
        assert idx.numpy()[0, 0, 0, 0] == 1  # the first NaN in row-major order
        y2 = F.max_pool2d(mg.tensor(x.astype(dtype)), 2)  # the path without indices
        np.testing.assert_array_equal(np.isnan(y2.numpy()), np.isnan(y.numpy()))


def test_max_pool1d_matches_reference():
    x = distinct((2, 3, 13))
    xt = t64(x)
    y, idx = F.max_pool1d(xt, 3, 2, 1, 2, True, return_indices=True)
    y_ref, i_ref = ref.max_pool2d(x[:, :, None, :], (1, 3), (1, 2), (0, 1), (1, 2), True)
    np.testing.assert_allclose(y.numpy(), y_ref[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), i_ref[:, :, 0])
    assert mg.gradcheck(lambda a: F.max_pool1d(a, 3, 2, 1, 2, True), [xt])


def test_unbatched_inputs():
    x = distinct((3, 6, 7))
    np.testing.assert_array_equal(
        F.max_pool2d(mg.tensor(x), 2).numpy(), F.max_pool2d(mg.tensor(x[None]), 2).numpy()[0]
    )
    y, i = F.max_pool1d(mg.tensor(x[0]), 2, return_indices=True)
    assert y.shape == (6, 3) and i.shape == (6, 3)
    assert F.avg_pool2d(mg.tensor(x), 3, 1, 1).shape == (3, 6, 7)


def test_threads_do_not_change_results():
    x = RNG.standard_normal((3, 5, 17, 19)).astype(np.float32)
    out = []
    prev = mg.get_num_threads()
    try:
        for nt in (1, 2, 3):
            mg.set_num_threads(nt)
            y, i = K.max_pool2d_forward(x, 3, 2, 1, 1, False, True, nt)
            a = K.avg_pool2d_forward(x, 3, 2, 1, True, False, None, nt)
            g = K.avg_pool2d_backward(a, x.shape[2:], 3, 2, 1, True, False, None, nt)
            out.append((y, i, a, g))
    finally:
        mg.set_num_threads(prev)
    for o in out[1:]:
        for u, v in zip(o, out[0]):
            np.testing.assert_array_equal(u, v)


def test_noncontiguous_input_is_copied():
    base = distinct((2, 3, 10, 12))
    x = base[:, :, ::2, ::-1].transpose(0, 1, 3, 2)  # strided, reversed, transposed
    assert not x.flags.c_contiguous
    y, idx = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    y_ref, i_ref = ref.max_pool2d(np.ascontiguousarray(x), (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    np.testing.assert_allclose(
        F.avg_pool2d(mg.tensor(x), 3, 1, 1).numpy(),
        ref.avg_pool2d(np.ascontiguousarray(x), (3, 3), (1, 1), (1, 1)),
    )


# ----------------------------------------------------------------- average pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,k,s,p,cm", AVG_CONFIGS)
@pytest.mark.parametrize("cip,div", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_matches_reference(dtype, shape, k, s, p, cm, cip, div):
    x = RNG.standard_normal(shape)
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    y = F.avg_pool2d(xt, k, s, p, cm, cip, div)
    close(y.numpy(), ref.avg_pool2d(x, k, s, p, cm, cip, div), dtype)
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.avg_pool2d_backward(gy, *shape[2:], k, s, p, cm, cip, div), dtype)


@pytest.mark.parametrize("shape,k,s,p,cm", AVG_CONFIGS)
def test_avg_pool2d_gradcheck(shape, k, s, p, cm):
    x = t64(RNG.standard_normal((1, 2) + shape[2:]))  # one image: gradcheck is O(size^2)
    assert mg.gradcheck(lambda a: F.avg_pool2d(a, k, s, p, cm, False), [x])


def test_avg_pool1d():
    x = RNG.standard_normal((2, 3, 11))
    xt = t64(x)
    y = F.avg_pool1d(xt, 4, 3, 2, True, False)
    y_ref = ref.avg_pool2d(x[:, :, None], (1, 4), (1, 3), (0, 2), True, False)[:, :, 0]
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-12)
    assert mg.gradcheck(lambda a: F.avg_pool1d(a, 4, 3, 2, True, False), [xt])


# ----------------------------------------------------------------- Lp pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", [2, 3, 1.5, 1])
@pytest.mark.parametrize(
    "shape,k,s,cm", [((2, 3, 8, 9), (2, 2), (2, 2), False), ((1, 2, 9, 11), (3, 2), (2, 3), True)]
)
def test_lp_pool2d_matches_reference(dtype, norm, shape, k, s, cm):
    x = RNG.uniform(0.1, 2.0, shape)  # positive: x^p is real for every p
    if norm == 2:
        x = x * RNG.choice([-1, 1], shape)  # p = 2 takes any sign
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    y = F.lp_pool2d(xt, norm, k, s, cm)
    close(y.numpy(), ref.lp_pool2d(x, norm, k, s, cm), dtype)
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    np.testing.assert_allclose(
        xt.grad.numpy(),
        ref.lp_pool2d_backward(gy, x, norm, k, s, cm),
        rtol=1e-4 if dtype == np.float32 else 1e-10,
        atol=1e-4 if dtype == np.float32 else 1e-10,
    )


@pytest.mark.parametrize("norm", [2, 3])
def test_lp_pool_gradcheck(norm):
    x = t64(RNG.uniform(0.2, 2.0, (1, 2, 7, 8)))
    assert mg.gradcheck(lambda a: F.lp_pool2d(a, norm, (3, 2), (2, 2), True), [x])
    x1 = t64(RNG.uniform(0.2, 2.0, (2, 2, 9)))
    assert mg.gradcheck(lambda a: F.lp_pool1d(a, norm, 3, 2), [x1])


def test_lp_pool_zero_window_has_finite_gradient():
    x = RNG.standard_normal((1, 1, 4, 4))
    x[0, 0, :2, :2] = 0.0  # one all-zero window
    xt = t64(x)
    y = F.lp_pool2d(xt, 2, 2)
    assert y.numpy()[0, 0, 0, 0] == 0.0
    y.sum().backward()
    g = xt.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0, 0, :2, :2], 0.0)
    np.testing.assert_allclose(g[0, 0, 2:, 2:], x[0, 0, 2:, 2:] / y.numpy()[0, 0, 1, 1])


def test_l2_pool_is_window_norm():
    x = RNG.standard_normal((2, 2, 6, 6))
    y = F.lp_pool2d(mg.tensor(x), 2, 3).numpy()
    w = x.reshape(2, 2, 2, 3, 2, 3)
    np.testing.assert_allclose(y, np.sqrt((w**2).sum(axis=(3, 5))))


# ----------------------------------------------------------------- adaptive pooling


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,out",
    [
        ((2, 3, 9, 11), (4, 3)),
        ((2, 2, 8, 8), (2, 2)),
        ((1, 2, 5, 7), (5, 7)),
        ((1, 1, 3, 3), (5, 4)),
        ((1, 2, 13, 6), (1, 1)),
    ],
)
def test_adaptive_pools_match_reference(dtype, shape, out):
    x = distinct(shape)
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    y = F.adaptive_avg_pool2d(xt, out)
    close(y.numpy(), ref.adaptive_avg_pool2d(x, out), dtype)
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.adaptive_avg_pool2d_backward(gy, *shape[2:]), dtype)

    xt.grad = None
    ym, idx = F.adaptive_max_pool2d(xt, out, return_indices=True)
    y_ref, i_ref = ref.adaptive_max_pool2d(x, out)
    close(ym.numpy(), y_ref, dtype)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    ym.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.max_pool2d_backward(gy, i_ref, *shape[2:]), dtype)


def test_adaptive_gradcheck_and_identity():
    x = t64(distinct((1, 2, 7, 5)))
    assert mg.gradcheck(lambda a: F.adaptive_avg_pool2d(a, (3, 2)), [x])
    assert mg.gradcheck(lambda a: F.adaptive_max_pool2d(a, (3, 2)), [x])
    np.testing.assert_array_equal(F.adaptive_avg_pool2d(x, (7, 5)).numpy(), x.numpy())
    np.testing.assert_array_equal(F.adaptive_max_pool2d(x, (7, None)).numpy(), x.numpy())
    x1 = t64(distinct((2, 3, 10)))
    np.testing.assert_allclose(
        F.adaptive_avg_pool1d(x1, 3).numpy(),
        ref.adaptive_avg_pool2d(x1.numpy()[:, :, None], (1, 3))[:, :, 0],
    )
    assert mg.gradcheck(lambda a: F.adaptive_max_pool1d(a, 4), [x1])


def test_adaptive_quadrants():
    """Output (2, 2): one summary per quadrant, whatever the input size."""
    for h, w in [(8, 8), (9, 7), (30, 17)]:
        x = RNG.standard_normal((1, 1, h, w))
        y = F.adaptive_max_pool2d(mg.tensor(x), 2).numpy()[0, 0]
        assert y[0, 0] == x[0, 0, : (h + 1) // 2, : (w + 1) // 2].max()
        assert y[1, 1] == x[0, 0, h // 2 :, w // 2 :].max()


# ----------------------------------------------------------------- unpooling


@pytest.mark.parametrize("dtype", DTYPES)
def test_unpool_keeps_exactly_the_max_elements(dtype):
    x = distinct((2, 3, 8, 10), dtype)
    y, idx = F.max_pool2d(mg.tensor(x), 2, return_indices=True)
    u = F.max_unpool2d(y, idx, 2).numpy()
    mask = np.zeros(x.shape, bool).reshape(2, 3, -1)
    np.put_along_axis(mask, idx.numpy().reshape(2, 3, -1), True, axis=2)
    mask = mask.reshape(x.shape)
    np.testing.assert_array_equal(u[mask], x[mask])
    np.testing.assert_array_equal(u[~mask], 0)
    assert mask.sum() == y.numpy().size
    np.testing.assert_array_equal(u, ref.max_unpool2d(y.numpy(), idx.numpy(), 8, 10))


def test_unpool_output_size_and_gradients():
    x9 = distinct((2, 2, 9, 11))
    y9, i9 = F.max_pool2d(mg.tensor(x9), 3, 2, 1, return_indices=True)
    assert F.max_unpool2d(y9, i9, 3, 2, 1).shape == (2, 2, 9, 11)  # (5-1)*2 - 2 + 3
    # (10, 12) pools to the same (5, 6): only output_size can say which was meant
    x = distinct((2, 2, 10, 12))
    y, idx = F.max_pool2d(mg.tensor(x), 3, 2, 1, return_indices=True)  # overlapping windows
    assert y.shape == y9.shape
    u = F.max_unpool2d(y, idx, 3, 2, 1, output_size=x.shape)
    assert u.shape == x.shape
    np.testing.assert_array_equal(u.numpy(), ref.max_unpool2d(y.numpy(), idx.numpy(), 10, 12))
    yt = t64(y.numpy())
    # Windows overlap, so an index may repeat: only the value written last counts.
    assert mg.gradcheck(lambda a: F.max_unpool2d(a, idx, 3, 2, 1, output_size=(10, 12)), [yt])
    out = F.max_unpool2d(yt, idx, 3, 2, 1, output_size=(10, 12))
    gy = RNG.standard_normal(out.shape)
    out.backward(mg.tensor(gy))
    np.testing.assert_array_equal(yt.grad.numpy(), ref.max_unpool2d_backward(gy, idx.numpy()))


def test_unpool1d():
    x = distinct((2, 3, 11))
    y, idx = F.max_pool1d(mg.tensor(x), 2, return_indices=True)
    u = F.max_unpool1d(y, idx, 2, output_size=(11,))
    assert u.shape == (2, 3, 11)
    kept = u.numpy() != 0
    np.testing.assert_array_equal(u.numpy()[kept], x[kept])
    assert mg.gradcheck(lambda a: F.max_unpool1d(a, idx, 2), [t64(y.numpy())])


def test_unpool_rejects_bad_indices():
    y = mg.tensor(np.ones((1, 1, 2, 2)))
    for bad in (16, -1, 10**12):
        idx = np.zeros((1, 1, 2, 2), np.int64)
        idx[0, 0, 1, 1] = bad
        with pytest.raises(ValueError, match="indices"):
            F.max_unpool2d(y, idx, 2)
    with pytest.raises(ValueError, match="indices"):
        F.max_unpool2d(y, np.zeros((1, 1, 2, 3), np.int64), 2)
    with pytest.raises(TypeError, match="indices"):
        F.max_unpool2d(y, np.zeros((1, 1, 2, 2)), 2)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(y, np.zeros((1, 1, 2, 2), np.int64), 2, output_size=(7, 4))
    with pytest.raises(ValueError, match="indices"):
        K.max_unpool2d_backward(np.ones((1, 1, 2, 2)), np.full((1, 1, 1, 1), 4, np.int64))


# ----------------------------------------------------------------- weighted average


def test_gaussian_window():
    w = F.gaussian_window((5, 3), (1.0, 0.7))
    np.testing.assert_allclose(w, ref.gaussian_window(5, 3, 1.0, 0.7))
    np.testing.assert_allclose(w.sum(), 1.0)
    np.testing.assert_allclose(w, w[::-1, ::-1])  # symmetric about the centre
    assert w.argmax() == 7  # the centre weighs most
    np.testing.assert_allclose(F.gaussian_window(2), 0.25)  # all four equidistant


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_avg_pool2d(dtype):
    x = RNG.standard_normal((2, 3, 9, 8))
    y = F.weighted_avg_pool2d(mg.tensor(x.astype(dtype)), 3, 2, 1, sigma=0.9)
    Kg = ref.gaussian_window(3, 3, 0.9, 0.9)
    close(y.numpy(), ref.weighted_avg_pool2d(x, Kg, (2, 2), (1, 1)), dtype)
    # uniform weights 1/(kH kW) are average pooling with count_include_pad
    u = F.weighted_avg_pool2d(mg.tensor(x), (3, 2), (1, 2), (1, 0), weights=np.full((3, 2), 1 / 6))
    np.testing.assert_allclose(u.numpy(), ref.avg_pool2d(x, (3, 2), (1, 2), (1, 0)))
    xt, Kt = t64(x[:1, :2]), t64(RNG.uniform(size=(3, 2)))
    assert mg.gradcheck(
        lambda a, k: F.weighted_avg_pool2d(a, (3, 2), (2, 1), (1, 1), weights=k), [xt, Kt]
    )


# ----------------------------------------------------------------- bad input


def test_errors_name_the_argument():
    x = mg.tensor(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="kernel_size"):
        F.max_pool2d(x, 6, padding=0)  # window larger than the padded input
    with pytest.raises(ValueError, match="padding"):
        F.max_pool2d(x, 3, padding=2)  # padding over half the window
    with pytest.raises(ValueError, match="padding"):
        F.avg_pool2d(x, (2, 4), padding=(1, 3))
    with pytest.raises(ValueError, match="stride"):
        F.avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="dilation"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="input"):
        F.max_pool2d(mg.tensor(np.zeros((4, 4))), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.avg_pool2d(mg.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)
    with pytest.raises(ValueError, match="norm_type"):
        F.lp_pool2d(x, 0, 2)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="weights"):
        F.weighted_avg_pool2d(x, 2, weights=np.ones((3, 3)))
    with pytest.raises(ValueError, match="dilation/padding"):
        F.max_pool2d(mg.tensor(np.zeros((1, 1, 2, 2))), 2, 1, 1, 3)  # a window of padding only


def test_kernel_wrappers_validate():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="input"):
        K.max_pool2d_forward([[1.0]], 2)
    view = np.arange(32, dtype=np.float32).reshape(1, 1, 4, 8)[..., ::2]  # copied, not refused
    assert np.array_equal(K.avg_pool2d_forward(view, 2), K.avg_pool2d_forward(view.copy(), 2))
    with pytest.raises(ValueError, match="grad_output"):
        K.avg_pool2d_backward(np.zeros((1, 1, 3, 3), np.float32), (4, 4), 2)
    with pytest.raises(TypeError, match="grad_output"):
        K.lp_pool2d_backward(np.zeros((1, 1, 2, 2)), x, np.zeros((1, 1, 2, 2), np.float32), 2, 2)
    with pytest.raises(ValueError, match="indices"):
        K.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 1), np.int64), (4, 4))
    bad = np.full((1, 1, 2, 2), 99, np.int64)
    with pytest.raises(ValueError, match="indices"):
        K.max_pool2d_backward(np.zeros((1, 1, 2, 2)), bad, (4, 4))
    with pytest.raises(ValueError, match="input_hw"):
        K.max_pool2d_backward(np.zeros((1, 1, 2, 2)), bad, (0, 4))
    # empty batch: an empty result, not a crash
    assert K.max_pool2d_forward(np.zeros((0, 3, 4, 4)), 2)[0].shape == (0, 3, 2, 2)


def test_non_integer_sizes_are_refused_not_truncated():
    # int(2.5) == 2: the 1-d and unpooling paths used to run silently with 2
    x1 = mg.tensor(np.ones((1, 1, 6)))
    with pytest.raises(TypeError, match="kernel_size"):
        F.max_pool1d(x1, 2.5)
    with pytest.raises(TypeError, match="stride"):
        F.avg_pool1d(x1, 2, stride=(1.5,))
    idx = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(TypeError, match="kernel_size"):
        F.max_unpool2d(mg.tensor(np.ones((1, 1, 2, 2))), idx, (2.7, 2))
    with pytest.raises(TypeError, match="kernel_size"):
        F.weighted_avg_pool2d(mg.tensor(np.ones((1, 1, 4, 4))), (2, 2.0))


def test_weighted_avg_pool_refuses_nan_weights():
    K = np.ones((2, 2))
    K[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"weights contains NaN \(first at index \(0, 1\)\)"):
        F.weighted_avg_pool2d(mg.tensor(np.ones((1, 1, 4, 4))), 2, weights=K)


def test_huge_windows_and_strides_raise_instead_of_crashing():
    # stride / kernel_size past 2**31 used to be truncated into the kernels' C ints
    # (a division by zero: SIGFPE); windows this wide on a small row overflowed the
    # row-buffer size (a heap overrun).
    x = mg.tensor(np.arange(8.0).reshape(1, 1, 1, 8))
    # a stride past 2**31 with a single window is just that window (as in PyTorch)
    assert F.max_pool2d(x, (1, 2), stride=(1, 2**32 + 1)).numpy().ravel().tolist() == [1.0]
    with pytest.raises(ValueError, match="kernel_size"):
        F.avg_pool2d(x, (1, 2**33), padding=(0, 2**32))
    # windows of 2**30 taps, nearly all padding, over 8 values: computed from the 8 values
    # (the buffers hold the input row, not the padded one)
    assert F.max_pool2d(x, (1, 2**30), padding=(0, 2**29)).numpy().ravel().tolist() == [7.0]
    y = F.avg_pool2d(x, (1, 2**30), padding=(0, 2**29)).numpy().ravel()
    np.testing.assert_allclose(y, [28.0 / 2**30])
    g = K.avg_pool2d_backward(np.ones((1, 1, 1, 9)), (1, 8), (1, 2**30), 1, (0, 2**29))
    np.testing.assert_allclose(g.ravel(), np.full(8, 9.0 / 2**30))


# ----------------------------------------------------------------- hypothesis


@st.composite
def pool_configs(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    cm = draw(st.booleans())
    hw = [draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 9)) for i in range(2)]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), hw[0], hw[1])
    return shape, k, s, p, d, cm


@settings(max_examples=40, deadline=None)
@given(pool_configs(), st.sampled_from(DTYPES))
def test_fuzz_max_pool(cfg, dtype):
    shape, k, s, p, d, cm = cfg
    x = distinct(shape, dtype)
    try:
        y_ref, i_ref = ref.max_pool2d(x.astype(np.float64), k, s, p, d, cm)
    except ValueError:  # a window that holds only padding
        with pytest.raises(ValueError, match="padding"):
            F.max_pool2d(mg.tensor(x), k, s, p, d, cm)
        return
    xt = mg.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, cm, return_indices=True)
    close(y.numpy(), y_ref, dtype)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.max_pool2d_backward(gy, i_ref, *shape[2:]), dtype)


@settings(max_examples=40, deadline=None)
@given(pool_configs(), st.booleans(), st.sampled_from(DTYPES))
def test_fuzz_avg_pool(cfg, cip, dtype):
    shape, k, s, p, _, cm = cfg
    x = RNG.standard_normal(shape)
    if any(shape[2 + i] + 2 * p[i] < k[i] for i in range(2)):
        with pytest.raises(ValueError, match="kernel_size"):
            F.avg_pool2d(mg.tensor(x), k, s, p, cm, cip)
        return
    xt = mg.tensor(x.astype(dtype), requires_grad=True)
    y = F.avg_pool2d(xt, k, s, p, cm, cip)
    close(y.numpy(), ref.avg_pool2d(x, k, s, p, cm, cip), dtype)
    gy = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(gy.astype(dtype)))
    close(xt.grad.numpy(), ref.avg_pool2d_backward(gy, *shape[2:], k, s, p, cm, cip), dtype)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 6), st.integers(1, 6))
def test_fuzz_adaptive(h, w, oh, ow):
    x = distinct((1, 2, h, w))
    np.testing.assert_allclose(
        F.adaptive_avg_pool2d(mg.tensor(x), (oh, ow)).numpy(),
        ref.adaptive_avg_pool2d(x, (oh, ow)),
        rtol=1e-12,
    )
    y, idx = F.adaptive_max_pool2d(mg.tensor(x), (oh, ow), return_indices=True)
    y_ref, i_ref = ref.adaptive_max_pool2d(x, (oh, ow))
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), i_ref)


# ----------------------------------------------------------------- PyTorch (optional)


def test_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    for dtype in DTYPES:
        x = RNG.standard_normal((2, 3, 11, 10)).astype(dtype)
        tx = torch.from_numpy(x)
        max_cases = [(2, 2, 0, 1, False), (3, 2, 1, 1, True), ((3, 2), (2, 1), 1, 2, True)]
        for k, s, p, d, cm in max_cases:
            y, i = F.max_pool2d(mg.tensor(x), k, s, p, d, cm, return_indices=True)
            ty, ti = tf.max_pool2d(tx, k, s, p, d, cm, return_indices=True)
            np.testing.assert_array_equal(y.numpy(), ty.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
            if d != 1:  # unpooling knows no dilation: (11, 10) is out of its reach
                continue
            u = F.max_unpool2d(y, i, k, s, p, output_size=x.shape[2:])
            tu = tf.max_unpool2d(ty, ti, k, s, p, output_size=x.shape[2:])
            np.testing.assert_array_equal(u.numpy(), tu.numpy())
        avg_cases = [(3, 2, 1, True, False, None), ((2, 3), 1, (1, 0), False, True, 2)]
        for k, s, p, cm, cip, dv in avg_cases:
            np.testing.assert_allclose(
                F.avg_pool2d(mg.tensor(x), k, s, p, cm, cip, dv).numpy(),
                tf.avg_pool2d(tx, k, s, p, cm, cip, dv).numpy(),
                rtol=1e-5,
                atol=1e-6,
            )
        xa = np.abs(x)
        for norm in (2, 3):
            np.testing.assert_allclose(
                F.lp_pool2d(mg.tensor(xa), norm, 3, 2, True).numpy(),
                tf.lp_pool2d(torch.from_numpy(xa), norm, 3, 2, True).numpy(),
                rtol=1e-5,
            )
        for out in [(4, 3), (2, 2), (7, 9)]:
            np.testing.assert_allclose(
                F.adaptive_avg_pool2d(mg.tensor(x), out).numpy(),
                tf.adaptive_avg_pool2d(tx, out).numpy(),
                rtol=1e-5,
                atol=1e-6,
            )
            y, i = F.adaptive_max_pool2d(mg.tensor(x), out, return_indices=True)
            ty, ti = tf.adaptive_max_pool2d(tx, out, return_indices=True)
            np.testing.assert_array_equal(y.numpy(), ty.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
        x1 = RNG.standard_normal((2, 3, 13)).astype(dtype)
        y, i = F.max_pool1d(mg.tensor(x1), 3, 2, 1, 1, True, return_indices=True)
        ty, ti = tf.max_pool1d(torch.from_numpy(x1), 3, 2, 1, 1, True, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_allclose(
            F.avg_pool1d(mg.tensor(x1), 3, 2, 1, True, False).numpy(),
            tf.avg_pool1d(torch.from_numpy(x1), 3, 2, 1, True, False).numpy(),
            rtol=1e-5,
        )
        np.testing.assert_array_equal(
            F.max_unpool1d(y, i, 3, 2, 1, output_size=(13,)).numpy(),
            tf.max_unpool1d(ty, ti, 3, 2, 1, output_size=(13,)).numpy(),
        )


def test_gradients_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = RNG.standard_normal((2, 3, 9, 10))
    gy_seed = np.random.default_rng(7)
    cases = [
        (lambda a: F.max_pool2d(a, 3, 2, 1, 1, True), lambda a: tf.max_pool2d(a, 3, 2, 1, 1, True)),
        (
            lambda a: F.avg_pool2d(a, 3, 2, 1, True, False),
            lambda a: tf.avg_pool2d(a, 3, 2, 1, True, False),
        ),
        (lambda a: F.lp_pool2d(a, 2, 3, 2, True), lambda a: tf.lp_pool2d(a, 2, 3, 2, True)),
        (lambda a: F.adaptive_avg_pool2d(a, (4, 3)), lambda a: tf.adaptive_avg_pool2d(a, (4, 3))),
        (lambda a: F.adaptive_max_pool2d(a, (4, 3)), lambda a: tf.adaptive_max_pool2d(a, (4, 3))),
    ]
    for ours, theirs in cases:
        xt, tx = t64(x), torch.from_numpy(x.copy()).requires_grad_()
        y, ty = ours(xt), theirs(tx)
        gy = gy_seed.standard_normal(y.shape)
        y.backward(mg.tensor(gy))
        ty.backward(torch.from_numpy(gy))
        np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- SIMD fallbacks

_ISA_CHECK = """
import numpy as np, minigrad as mg, minigrad.functional as F
from minigrad._C import core as K
import pool_reference as ref  # tests/ is on sys.path under pytest
assert K.isa() == {isa!r}, K.isa()
rng = np.random.default_rng(5)
cases = [((2, 3, 9, 11), (3, 3), (2, 2), (1, 1)), ((1, 2, 8, 37), (2, 2), (2, 2), (0, 0)),
         ((1, 2, 7, 40), (3, 2), (1, 3), (1, 1))]
for shape, k, s, p in cases:
    for dt in (np.float32, np.float64):
        x = (rng.permutation(int(np.prod(shape))) * 0.01).reshape(shape)
        xt = mg.tensor(x.astype(dt), requires_grad=True)
        y, i = F.max_pool2d(xt, k, s, p, return_indices=True)
        y_ref, i_ref = ref.max_pool2d(x, k, s, p)
        np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-6)
        np.testing.assert_array_equal(i.numpy(), i_ref)
        a = F.avg_pool2d(xt, k, s, p, True, False)
        np.testing.assert_allclose(a.numpy(), ref.avg_pool2d(x, k, s, p, True, False), rtol=1e-5)
        g = rng.standard_normal(a.shape)
        a.backward(mg.tensor(g.astype(dt)))
        np.testing.assert_allclose(xt.grad.numpy(),
            ref.avg_pool2d_backward(g, *shape[2:], k, s, p, True, False), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(F.lp_pool2d(mg.tensor(x.astype(dt)), 2, k, s).numpy(),
            ref.lp_pool2d(x, 2, k, s), rtol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_simd_fallback_paths(isa):
    """The AVX2 and baseline copies of the row kernels, chosen by the one dispatch's
    environment cap MINIGRAD_ISA (read once, at the core's first use)."""
    import os
    import subprocess
    import sys

    from minigrad._C.core import best_isa

    if isa == "avx2" and best_isa() == "generic":
        pytest.skip("this CPU has no AVX2")
    # The child must import the same minigrad as this process (installed, or an
    # in-place build), never a source tree without its compiled modules.
    here = os.path.dirname(os.path.abspath(__file__))
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(mg.__file__)))
    env = dict(os.environ, MINIGRAD_ISA=isa)
    env["PYTHONPATH"] = os.pathsep.join([package_root, here])
    r = subprocess.run(
        [sys.executable, "-c", _ISA_CHECK.format(isa=isa)],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
