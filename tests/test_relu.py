"""ReLU's C rectifier (src_c/mg_relu.h, core.relu_forward / relu_backward) against the
equations in NumPy, on every vector path and thread count, with the special values
(NaN, infinities, signed zeros) where a wrong select would show; finite differences;
and PyTorch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from test_kernel_hardening import misaligned

import minigrad as mg
from minigrad._C import core

ISAS = ["generic", "avx2", "avx512"]
SIZES = [1, 7, 1000, (1 << 16) + 37]  # the last one is split over threads


@pytest.fixture(params=ISAS)
def isa(request):
    if ISAS.index(request.param) > ISAS.index(core.best_isa()):
        pytest.skip(f"this CPU has no {request.param}")
    assert core.set_isa(request.param) == request.param
    try:
        yield request.param
    finally:
        core.set_isa(None)


@pytest.fixture(params=[1, 2])
def threads(request):
    before = mg.get_num_threads()
    mg.set_num_threads(request.param)
    yield mg.get_num_threads()
    mg.set_num_threads(before)


def with_specials(n, dtype, rng):
    a = rng.standard_normal(n).astype(dtype)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30], dtype)
    k = min(n, len(specials))
    a[rng.choice(n, k, replace=False)] = specials[:k]
    return a


def forward_reference(a):
    out = a.copy()
    for i, v in enumerate(a):  # the definition, element by element
        out[i] = 0 if v < 0 else v
    return out


def backward_reference(out, g):
    ga = np.empty_like(g)
    for i, (o, gi) in enumerate(zip(out, g)):
        ga[i] = 0 if o <= 0 else gi
    return ga


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_forward_and_backward_match_the_definition(isa, threads, dtype, n):
    rng = np.random.default_rng(n)
    a = with_specials(n, dtype, rng)
    g = with_specials(n, dtype, rng)
    out = core.relu_forward(a)
    ga = core.relu_backward(out, g)
    np.testing.assert_array_equal(out, forward_reference(a))  # NaN == NaN here
    np.testing.assert_array_equal(ga, backward_reference(out, g))
    assert out.dtype == ga.dtype == dtype


def test_the_kernel_keeps_nan_and_passes_its_gradient():
    a = np.array([np.nan, -1.0, 0.0, 2.0], np.float32)
    out = core.relu_forward(a)
    assert np.isnan(out[0]) and out[1] == 0 and out[2] == 0 and out[3] == 2
    ga = core.relu_backward(out, np.full(4, 5.0, np.float32))
    np.testing.assert_array_equal(ga, [5.0, 0.0, 0.0, 5.0])


@pytest.mark.parametrize("layout", ["transposed", "misaligned", "broadcast g", "int"])
def test_other_layouts_take_the_numpy_path_with_the_same_result(layout):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 301)).astype(np.float32)
    g = rng.standard_normal((300, 301)).astype(np.float32)
    want_out = np.where(a < 0, 0, a)
    if layout == "transposed":
        a, g, want_out = a.T, g.T, want_out.T
    elif layout == "misaligned":
        a, g = misaligned(a), misaligned(g)
    elif layout == "broadcast g":
        g = np.broadcast_to(np.float32(3), a.shape)
    else:
        a = (a * 10).astype(np.int64)
        want_out = np.where(a < 0, 0, a)
    out = core.relu_forward(a)
    np.testing.assert_array_equal(out, want_out)
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(core.relu_backward(out, g), np.where(out <= 0, 0, g))


def test_the_op_gradchecks_and_leaves_get_the_right_grad():
    rng = np.random.default_rng(2)
    # away from the kink at 0, where the derivative jumps
    v = rng.standard_normal((4, 5))
    v[np.abs(v) < 0.1] += 0.5
    x = mg.tensor(v, requires_grad=True)
    assert mg.gradcheck(mg.relu, (x,))
    y = mg.tensor(v.astype(np.float32), requires_grad=True)
    (mg.relu(y) * 2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.where(v > 0, 2, 0).astype(np.float32))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch_with_special_values(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = with_specials((1 << 16) + 5, dtype, rng).reshape(-1, 1)
    g = rng.standard_normal(a.shape).astype(dtype)
    ta = torch.from_numpy(a.copy()).requires_grad_()
    tout = torch.relu(ta)
    tout.backward(torch.from_numpy(g))
    x = mg.tensor(a.copy(), requires_grad=True)
    out = mg.relu(x)
    out.backward(mg.tensor(g))
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), ta.grad.numpy())
