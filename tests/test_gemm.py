"""minigrad's own GEMM (src_c/gemm.h), the engine under every convolution, against
NumPy in float64: every micro-kernel, both transposes, leading dimensions, alpha/beta,
the edge sizes 0 and 1 and sizes that straddle the cache blocks, thread counts."""

import numpy as np
import pytest

from minigrad._C import core

ISAS = ["generic", "avx2", "avx512"]
# Relative to sqrt(k) * max|C|: an index error (a wrong row, a dropped term) is O(1).
EPS = {np.float32: 4e-7, np.float64: 1e-15}


@pytest.fixture(params=ISAS)
def isa(request):
    want = request.param
    order = ISAS.index(want)
    if order > ISAS.index(core.best_isa()):
        pytest.skip(f"this CPU has no {want}")
    got = core.set_isa(want)
    assert got == want
    try:
        yield want
    finally:
        core.set_isa(None)


def reference(a, b, ta, tb, alpha, beta, c):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return alpha * (a64.T if ta else a64) @ (b64.T if tb else b64) + beta * c.astype(np.float64)


def check(got, want, k, dtype):
    tol = EPS[dtype] * 20 * np.sqrt(max(k, 1)) * max(1.0, np.abs(want).max())
    err = np.abs(got.astype(np.float64) - want).max() if want.size else 0.0
    assert err <= tol, f"max error {err} > {tol}"


SHAPES = [
    (1, 1, 1),
    (1, 7, 1),
    (7, 1, 3),
    (7, 33, 5),  # every edge tile: m, n not multiples of any mr, nr
    (64, 100, 300),  # k crosses the float KC (256) and the double KC (128)
    (13, 600, 257),  # n crosses NC (512)
    (200, 9, 70),  # tall: the threads split rows
    (3, 17, 0),  # k = 0: C = beta C
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_every_microkernel_and_transpose(isa, dtype, ta, tb):
    rng = np.random.default_rng(11)
    for m, n, k in SHAPES:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c0 = rng.standard_normal((m, n)).astype(dtype)
        for alpha, beta in [(1.0, 0.0), (0.5, -2.0), (-1.5, 1.0), (0.0, 3.0)]:
            got = core.gemm(a, b, ta, tb, alpha, beta, c0.copy(), num_threads=2)
            check(got, reference(a, b, ta, tb, alpha, beta, c0), k, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_leading_dimensions_larger_than_the_width(dtype):
    """Views of wider arrays: the wrapper copies strided operands, and an output that
    cannot be written in place is refused rather than silently not updated."""
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((40, 50)).astype(dtype)
    big_b = rng.standard_normal((50, 60)).astype(dtype)
    a, b = big_a[3:20, 5:30], big_b[::2, 7:40]  # strides != widths
    got = core.gemm(a, b)
    check(got, reference(a, b, False, False, 1.0, 0.0, np.zeros((17, 33))), 25, dtype)
    c_view = np.zeros((17, 66), dtype)[:, ::2]
    with pytest.raises(ValueError, match="written in place"):
        core.gemm(a, b, c=c_view)


@pytest.mark.parametrize("nt", [1, 2, 3, 8])
def test_thread_counts_give_identical_bits(nt):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((150, 270)).astype(np.float32)
    b = rng.standard_normal((270, 700)).astype(np.float32)
    one = core.gemm(a, b, num_threads=1)
    assert np.array_equal(core.gemm(a, b, num_threads=nt), one)
    at = rng.standard_normal((700, 90)).astype(np.float32)  # tall: split by rows
    bt = rng.standard_normal((90, 40)).astype(np.float32)
    assert np.array_equal(core.gemm(at, bt, num_threads=nt), core.gemm(at, bt, num_threads=1))


@pytest.mark.parametrize("m,n,k", [(0, 5, 3), (5, 0, 3), (0, 0, 0), (4, 6, 0)])
def test_empty_sizes(m, n, k):
    a, b = np.ones((m, k)), np.ones((k, n))
    c = np.full((m, n), 2.0)
    got = core.gemm(a, b, beta=0.5, c=c)
    assert got.shape == (m, n)
    assert np.array_equal(got, np.full((m, n), 1.0))  # k = 0: C = beta C


def test_beta_zero_does_not_read_c():
    """As in BLAS: NaN in C must not leak through beta = 0."""
    c = np.full((5, 6), np.nan, np.float32)
    core.gemm(np.ones((5, 2), np.float32), np.ones((2, 6), np.float32), beta=0.0, c=c)
    assert np.array_equal(c, np.full((5, 6), 2, np.float32))


def test_misaligned_operands_are_copied_not_misread():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((9, 13)).astype(np.float32)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    mis = buf[1:].view(np.float32).reshape(a.shape)
    mis[...] = a
    assert not mis.flags.aligned
    b = rng.standard_normal((13, 21)).astype(np.float32)
    assert np.array_equal(core.gemm(mis, b), core.gemm(a, b))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="inner dimensions"):
        core.gemm(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(TypeError, match="gemm: b has dtype float32"):
        core.gemm(np.zeros((2, 3)), np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="gemm: c must have shape"):
        core.gemm(np.zeros((2, 3)), np.zeros((3, 4)), c=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="num_threads must be at most"):
        core.gemm(np.zeros((2, 3)), np.zeros((3, 4)), num_threads=2**40)


def test_set_isa_steers_the_one_dispatch():
    """The GEMM, the pooling rows and the local kernels follow one ISA setting (the core
    extension's), not a copy per extension."""
    from minigrad._C import local, pool  # noqa: F401  (their import binds to the core)

    best = core.best_isa()
    try:
        assert core.set_isa("generic") == "generic"
        assert core.isa() == "generic"
    finally:
        assert core.set_isa(None) == best
    with pytest.raises(ValueError, match="set_isa"):
        core.set_isa("sse9")
