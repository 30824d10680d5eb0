"""Kernel-level hardening (issue 16): ties in max pooling, work and memory bounded by
the data rather than by an argument's value, impossible sizes refused before anything
is allocated, misaligned arrays, and sizes past 64 bits -- for every kernel family."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pool_reference as ref  # tests/ is on sys.path under pytest
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad._C import conv, core, local, pool

ISAS = ["generic", "avx2", "avx512"][: ["generic", "avx2", "avx512"].index(core.best_isa()) + 1]


@pytest.fixture(params=ISAS)
def isa(request):
    core.set_isa(request.param)
    try:
        yield request.param
    finally:
        core.set_isa(None)


# ----------------------------------------------------------------- ties: the first index

# (shape, kernel, stride, padding, dilation, ceil_mode): padding, dilation, ceil_mode,
# stride < kernel (overlapping windows), stride > 2 (output by output), wide rows
TIE_CONFIGS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 2, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((1, 3, 9, 11), (3, 2), (1, 1), (1, 1), (1, 1), True),
    ((2, 2, 10, 9), (3, 3), (2, 3), (1, 0), (2, 1), True),
    ((1, 2, 7, 6), (2, 3), (3, 2), (1, 1), (1, 2), True),
    ((3, 1, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), False),
    ((1, 2, 12, 40), (4, 5), (3, 4), (2, 2), (1, 1), False),
    ((1, 2, 37, 70), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 1, 6, 50), (2, 7), (1, 3), (1, 3), (2, 1), True),
]


def tied(shape, seed, levels=3):
    """Integer values from a few levels: nearly every window holds a tie."""
    return np.random.default_rng(seed).integers(0, levels, shape).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", TIE_CONFIGS)
def test_max_pool2d_ties_give_the_first_index(isa, cfg, dtype):
    shape, k, s, p, d, cm = cfg
    for seed, levels in [(0, 2), (1, 3), (2, 1)]:  # levels=1: every window all ties
        x = tied(shape, seed, levels)
        y, idx = F.max_pool2d(mg.tensor(x.astype(dtype)), k, s, p, d, cm, return_indices=True)
        y_ref, i_ref = ref.max_pool2d(x, k, s, p, d, cm)
        np.testing.assert_array_equal(y.numpy(), y_ref)
        np.testing.assert_array_equal(idx.numpy(), i_ref)


@pytest.mark.parametrize("cfg", TIE_CONFIGS)
def test_max_pool1d_ties_give_the_first_index(isa, cfg):
    shape, k, s, p, d, cm = cfg
    x = tied((shape[0], shape[1], shape[3]), 4)
    y, idx = F.max_pool1d(mg.tensor(x), k[1], s[1], p[1], d[1], cm, return_indices=True)
    y_ref, i_ref = ref.max_pool2d(x[:, :, None, :], (1, k[1]), (1, s[1]), (0, p[1]), (1, d[1]), cm)
    np.testing.assert_array_equal(y.numpy(), y_ref[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), i_ref[:, :, 0])


@pytest.mark.parametrize("hw,out", [((8, 8), (4, 4)), ((9, 11), (4, 3)), ((7, 30), (3, 7))])
def test_adaptive_max_pool_ties_give_the_first_index(isa, hw, out):
    x = tied((2, 3) + hw, 5)
    y, idx = F.adaptive_max_pool2d(mg.tensor(x), out, return_indices=True)
    y_ref, i_ref = ref.adaptive_max_pool2d(x, out)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), i_ref)
    y1, i1 = F.adaptive_max_pool1d(mg.tensor(x[:, :, 0]), out[1], return_indices=True)
    y1_ref, i1_ref = ref.adaptive_max_pool2d(x[:, :, :1], (1, out[1]))
    np.testing.assert_array_equal(i1.numpy(), i1_ref[:, :, 0])


def test_tied_gradient_goes_to_the_first_index():
    x = tied((1, 2, 9, 11), 6, 2)
    xt = mg.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    y.sum().backward()
    _, i_ref = ref.max_pool2d(x, (3, 3), (2, 2), (1, 1))
    want = ref.max_pool2d_backward(np.ones(y.shape), i_ref, 9, 11)
    np.testing.assert_array_equal(xt.grad.numpy(), want)


# ----------------------------------------------------------------- bounded work


def _peak_rss_of(code: str) -> tuple[float, str]:
    """Run code in a fresh interpreter; (peak RSS growth in MB over the import, stdout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.abspath(mg.__file__)))
    prog = (
        "import resource, time, numpy as np, minigrad as mg, minigrad.functional as F\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"{code}\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((peak - base) / 1024)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, here]))
    r = subprocess.run(
        # cwd=here: `python -c` puts the working directory first on sys.path, where a source
        # checkout without built extensions would shadow the installed minigrad.
        [sys.executable, "-c", prog],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=here,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    return float(lines[-1]), "\n".join(lines[:-1])


@pytest.mark.skipif(sys.platform != "linux", reason="peak RSS in kB is Linux's unit")
def test_one_pixel_with_a_huge_stride_costs_what_one_pixel_costs():
    """The row buffers were sized by the stride: a 1x1 max_pool2d with stride 2**22 took
    gigabytes and seconds (PyTorch: microseconds)."""
    grew, out = _peak_rss_of(
        "x = mg.tensor(np.full((1, 1, 1, 1), 3.0, np.float32), requires_grad=True)\n"
        "y = F.max_pool2d(x, 1, stride=2**22); y.sum().backward()\n"
        "a = F.avg_pool2d(mg.tensor(np.ones((1, 1, 3, 3), np.float32)), 2, stride=2**22)\n"
        "print(float(y.numpy().ravel()[0]), float(x.grad.numpy().ravel()[0]), a.shape)"
    )
    assert out == "3.0 1.0 (1, 1, 1, 1)"
    assert grew < 50, f"peak RSS grew by {grew:.0f} MB"


def test_a_long_1d_row_is_pooled_not_refused():
    """A global pooling over a row of 2**25 values needed a row buffer of more than 2**31
    elements and was refused with a message blaming kernel_size/stride."""
    n = 2**25
    x = np.zeros((1, 1, n), np.float32)
    x[0, 0, 12345] = 2.0
    x[0, 0, n - 1] = 2.0  # a tie: the first index wins
    y, idx = F.max_pool1d(mg.tensor(x), n, return_indices=True)
    assert y.numpy().ravel().tolist() == [2.0] and idx.numpy().ravel().tolist() == [12345]
    np.testing.assert_allclose(F.avg_pool1d(mg.tensor(x), n).numpy().ravel(), [4.0 / n])


@pytest.mark.parametrize(
    "call",
    [
        lambda x: F.adaptive_avg_pool2d(x, (2**20, 2**20)),
        lambda x: F.adaptive_max_pool2d(x, (2**40, 2**40)),
        lambda x: F.adaptive_max_pool2d(x, (3, 2**62)),
        lambda x: F.adaptive_avg_pool1d(x[:, :, 0], 2**45),
        lambda x: F.adaptive_max_pool1d(x[:, :, 0], 2**45, return_indices=True),
        # a plane the kernels can index (< 2**31 positions), 35 TB in all
        lambda x: F.adaptive_avg_pool2d(mg.tensor(np.ones((64, 64, 1, 1))), (46340, 46340)),
        lambda x: F.adaptive_max_pool1d(mg.tensor(np.ones((64, 64, 1))), 2**31 - 1),
    ],
)
def test_absurd_adaptive_output_sizes_are_refused_before_allocating(call):
    """An output larger than physical memory, or a plane past what the kernels index
    (2**31 - 1 positions), can never be allocated: refused up front (it used to allocate
    until NumPy or the kernel gave up, or the process was killed)."""
    x = mg.tensor(np.ones((2, 3, 4, 4), np.float32))
    refused = "machine's memory|physical memory|more than 2\\*\\*31 - 1 positions"
    with pytest.raises(ValueError, match=refused):
        call(x)


def test_output_bound_is_the_machines_memory():
    from minigrad._C import checks

    assert checks.PHYSICAL_MEMORY > 2**26
    checks.allocatable("op", "x", checks.PHYSICAL_MEMORY // 8, 8)  # fits exactly
    with pytest.raises(ValueError, match="op: x would take"):
        checks.allocatable("op", "x", checks.PHYSICAL_MEMORY // 8 + 1, 8)


# ----------------------------------------------------------------- misaligned arrays


def misaligned(a: np.ndarray) -> np.ndarray:
    """A copy of a that starts one byte into its buffer: valid, but not aligned."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = buf[1:].view(a.dtype).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_arrays_in_every_family(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 10)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    conf = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    y = conv.conv2d_forward(x, w, None, *conf, 1)
    assert np.array_equal(conv.conv2d_forward(misaligned(x), misaligned(w), None, *conf, 1), y)
    g = rng.standard_normal(y.shape).astype(dtype)
    assert np.array_equal(
        conv.conv2d_backward_input(misaligned(g), w, (9, 10), *conf, 1),
        conv.conv2d_backward_input(g, w, (9, 10), *conf, 1),
    )
    assert np.array_equal(
        conv.conv2d_backward_weight(misaligned(x), misaligned(g), (3, 3), *conf, 1),
        conv.conv2d_backward_weight(x, g, (3, 3), *conf, 1),
    )
    for f in (
        lambda a: pool.max_pool2d_forward(a, 3, 2, 1, 1, True, True)[1],
        lambda a: pool.avg_pool2d_forward(a, 2),
        lambda a: pool.lp_pool2d_forward(np.abs(a), 2, 3),
        lambda a: pool.adaptive_max_pool2d_forward(a, (4, 3))[0],
        lambda a: pool.adaptive_avg_pool2d_forward(a, (4, 3)),
    ):
        assert np.array_equal(f(misaligned(x)), f(x))
    wl = rng.standard_normal((4, 7, 8, 3, 3, 3)).astype(dtype)
    yl, xp = local.forward(x, wl, None, (1, 1), (0, 0), False, 1)
    yl_m, xp_m = local.forward(misaligned(x), misaligned(wl), None, (1, 1), (0, 0), False, 1)
    assert np.array_equal(yl_m, yl)
    gl = rng.standard_normal(yl.shape).astype(dtype)
    want = local.backward(gl, xp, wl, (9, 10), (1, 1), (0, 0), True, True, False, False, 1)
    got = local.backward(
        misaligned(gl), misaligned(xp_m), wl, (9, 10), (1, 1), (0, 0), True, True, False, False, 1
    )
    for a, b in zip(got[:2], want[:2]):
        assert np.array_equal(a, b)


def test_misaligned_arrays_in_the_nan_scan_and_the_ops():
    x = np.ones((4, 1 << 18), np.float32)
    x[3, 5] = np.nan
    assert core.has_nan(misaligned(x)) and not core.has_nan(misaligned(np.ones(1000)))
    with pytest.raises(ValueError, match="input contains NaN"):
        F.conv2d(
            mg.tensor(misaligned(x[None, None, :, :64])),
            mg.tensor(np.ones((1, 1, 1, 1), np.float32)),
        )
    a = np.random.default_rng(1).standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(
        F.conv2d(mg.tensor(misaligned(a)), mg.tensor(np.ones((3, 2, 2, 2)))).numpy(),
        F.conv2d(mg.tensor(a), mg.tensor(np.ones((3, 2, 2, 2)))).numpy(),
    )


# ----------------------------------------------------------------- sizes past 64 bits

BIG = 2**64 + 3
X4 = np.ones((1, 1, 4, 4))
W4 = np.ones((1, 1, 1, 1))
CONF = ((1, 1), (0, 0, 0, 0), (1, 1), 1)


@pytest.mark.parametrize(
    "name,call",
    [
        ("stride", lambda: conv.conv2d_forward(X4, W4, None, (BIG, 1), *CONF[1:])),
        ("padding", lambda: conv.conv2d_forward(X4, W4, None, (1, 1), (0, BIG, 0, 0), *CONF[2:])),
        ("dilation", lambda: conv.conv2d_forward(X4, W4, None, *CONF[:2], (1, BIG), 1)),
        ("groups", lambda: conv.conv2d_forward(X4, W4, None, *CONF[:3], BIG)),
        ("num_threads", lambda: conv.conv2d_forward(X4, W4, None, *CONF, BIG)),
        ("input_size", lambda: conv.conv2d_backward_input(X4, W4, (BIG, 4), *CONF)),
        ("kernel_size", lambda: conv.conv2d_backward_weight(X4, X4, (1, BIG), *CONF)),
        ("kernel_size", lambda: pool.max_pool2d_forward(X4, BIG)),
        ("stride", lambda: pool.max_pool2d_forward(X4, 2, (1, BIG))),
        ("padding", lambda: pool.avg_pool2d_forward(X4, 2, 2, BIG)),
        ("dilation", lambda: pool.max_pool2d_forward(X4, 2, 2, 0, BIG)),
        ("num_threads", lambda: pool.max_pool2d_forward(X4, 2, num_threads=BIG)),
        ("output_size", lambda: pool.adaptive_avg_pool2d_forward(X4, BIG)),
        (
            "output_size",
            lambda: pool.max_unpool2d_forward(X4, np.zeros((1, 1, 4, 4), np.int64), (BIG, 4)),
        ),
        (
            "stride",
            lambda: local.forward(X4, np.ones((1, 4, 4, 1, 1, 1)), None, (BIG, 1), (0, 0), True, 1),
        ),
        (
            "padding",
            lambda: local.forward(X4, np.ones((1, 4, 4, 1, 1, 1)), None, (1, 1), (BIG, 0), True, 1),
        ),
        (
            "num_threads",
            lambda: local.forward(X4, np.ones((1, 4, 4, 1, 1, 1)), None, (1, 1), (0, 0), True, BIG),
        ),
    ],
)
def test_sizes_past_64_bits_are_a_value_error_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


# ----------------------------------------------------------------- conv: strides past the kernel


@pytest.mark.parametrize(
    "stride,padding,dilation",
    [
        ((4, 5), (3, 3, 2, 2), (1, 1)),
        ((5, 3), (2, 2, 0, 0), (2, 1)),
        ((1, 7), (0, 0, 6, 6), (1, 1)),
    ],
)
def test_strides_past_the_kernel_match_the_reference(stride, padding, dilation):
    """Where windows leave gaps, the convolution runs on the compacted input (only what
    the windows read): forward and weight gradient still equal the reference."""
    import conv_reference as cref

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 9, 11)), rng.standard_normal((4, 3, 2, 2))
    y = conv.conv2d_forward(x, w, None, stride, padding, dilation, 1, 2)
    want = cref.conv2d(x, w, None, stride, padding, dilation, 1)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gw = conv.conv2d_backward_weight(x, gy, (2, 2), stride, padding, dilation, 1, 2)
    want = cref.conv2d_grad_weight(gy, x, (2, 2), stride, padding, dilation, 1)
    np.testing.assert_allclose(gw, want, rtol=1e-12, atol=1e-12)


def test_huge_stride_and_padding_cost_what_the_output_costs():
    """A 1x1 kernel with stride and padding 10**6 on a 2x2 image has a 3x3 output; the
    padded plane (4 * 10**12 values) was refused as too large, and smaller ones of the
    kind (stride and padding 3000: 36M values) were allocated and zeroed per thread."""
    x, w = np.arange(1.0, 5.0).reshape(1, 1, 2, 2), np.full((1, 1, 1, 1), 2.0)
    big = 10**6
    y = conv.conv2d_forward(x, w, None, (big, big), (big,) * 4, (1, 1), 1, 1)
    want = np.zeros((1, 1, 3, 3))
    want[0, 0, 1, 1] = 2.0  # only the centre window lands on the image, on x[0, 0]
    np.testing.assert_array_equal(y, want)
    gw = conv.conv2d_backward_weight(x, np.ones_like(y), (1, 1), (big, big), (big,) * 4, (1, 1), 1)
    assert gw.ravel().tolist() == [1.0]
    if sys.platform != "linux":
        return  # peak RSS in kB is Linux's unit
    grew, _ = _peak_rss_of(
        "from minigrad._C import conv\n"
        "x = np.ones((1, 1, 2, 2), np.float32); w = np.ones((1, 1, 1, 1), np.float32)\n"
        "conv.conv2d_forward(x, w, None, (3000, 3000), (3000,) * 4, (1, 1), 1, 1)"
    )
    assert grew < 50, f"peak RSS grew by {grew:.0f} MB"
