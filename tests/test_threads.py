"""Threads (issue 16): every kernel family gives bitwise the same results with 1, 2 and 4
OpenMP threads and from run to run (src_c/conv_kernels.h, gemm.h and local_kernels_impl.h
promise a fixed order of operations whatever the thread count; pooling computes each
output, and each plane's gradient, on one thread), and several Python threads calling the
kernels at once -- forward and backward, conv, pool and local mixed, while another thread
keeps changing ``mg.set_num_threads`` -- get exactly the single-threaded results."""

from __future__ import annotations

import random
import sys
import threading

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels as K
from minigrad._C import core

RNG = np.random.default_rng(7)


def arr(*shape, dtype=np.float32, low=-1.0):
    return RNG.uniform(low, 1.0, shape).astype(dtype)


# Shapes large enough that every family really splits its work over 4 threads (the local
# kernels run serially below 2**20 multiply-adds), small enough to keep the test quick.
X = arr(8, 4, 20, 20)
XD = arr(8, 4, 20, 20, dtype=np.float64)
W = arr(8, 4, 3, 3)
WT = arr(4, 6, 3, 3)
WL = arr(6, 18, 18, 4, 3, 3)
WTI = arr(6, 3, 3, 4, 3, 3)
X1 = arr(8, 4, 64)
W1 = arr(8, 4, 5)
G = arr(8, 8, 18, 18)
B, BL, BT = arr(8), arr(6, 18, 18), arr(6, 3, 3)
WG = arr(8, 2, 3, 3, dtype=np.float64)
XP = np.abs(X) + 0.1


def _pooled():
    with mg.no_grad():
        y, i = F.max_pool2d(mg.tensor(X), 2, return_indices=True)
    return y.numpy(), i.numpy()


PY, PI = _pooled()


def variant(a: np.ndarray, v: int) -> np.ndarray:
    """Input variant v of a: other values (shifted along the last axis and scaled), same
    shape and signs, so each of several threads can pool or convolve its own data."""
    return a if v == 0 else (np.roll(a, v, axis=-1) * (1 + v / 4)).astype(a.dtype)


def run(op: str, v: int = 0) -> list[np.ndarray]:
    """Forward and every gradient of one op, on input variant v, as arrays."""
    leaves = {
        "conv2d": (F.conv2d, [X, W, B], dict(stride=1, padding=1)),
        "conv2d_f64_groups": (
            F.conv2d,
            [XD, WG],
            dict(stride=2, padding=1, dilation=2, groups=2),
        ),
        "conv1d": (F.conv1d, [X1, W1], dict(stride=2, padding=2)),
        "conv_transpose2d": (F.conv_transpose2d, [X, WT], dict(stride=2, padding=1)),
        "max_pool2d": (F.max_pool2d, [X], dict(kernel_size=3, stride=2, padding=1)),
        "avg_pool2d": (F.avg_pool2d, [X], dict(kernel_size=3, stride=1, padding=1)),
        "lp_pool2d": (F.lp_pool2d, [XP], dict(norm_type=2, kernel_size=2)),
        "adaptive_avg_pool2d": (F.adaptive_avg_pool2d, [X], dict(output_size=(7, 6))),
        "adaptive_max_pool2d": (F.adaptive_max_pool2d, [X], dict(output_size=(7, 6))),
        "max_unpool2d": (lambda x: F.max_unpool2d(x, PI, 2), [PY], {}),
        "weighted_avg_pool2d": (F.weighted_avg_pool2d, [X], dict(kernel_size=3, stride=2)),
        "locally_connected2d": (F.locally_connected2d, [X, WL, BL], {}),
        "tiled_conv2d": (F.tiled_conv2d, [X, WTI, BT], {}),
        "kernels.g": (lambda g, v: K.g(g, v, 1, 0), [G, X], {}),
        "kernels.h": (lambda k, g: K.h(k, g, 1, 0), [W, G], {}),
    }
    fn, arrays, kw = leaves[op]
    ts = [mg.tensor(variant(a, v), requires_grad=True) for a in arrays]
    y = fn(*ts, **kw)
    y.backward(mg.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape).astype(y.dtype)))
    return [y.numpy()] + [t.grad.numpy() for t in ts]


OPS = [
    "conv2d",
    "conv2d_f64_groups",
    "conv1d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    "lp_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "max_unpool2d",
    "weighted_avg_pool2d",
    "locally_connected2d",
    "tiled_conv2d",
    "kernels.g",
    "kernels.h",
]


@pytest.fixture
def threads():
    before = mg.get_num_threads()
    yield mg.set_num_threads
    mg.set_num_threads(before)


def same_bits(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(a, b)
    )


@pytest.mark.skipif(not core.openmp_enabled(), reason="a serial build has one thread")
@pytest.mark.parametrize("op", OPS)
def test_one_two_four_threads_bitwise_identical_run_to_run(op, threads):
    threads(1)
    want = run(op)
    assert same_bits(want, run(op)), f"{op}: two runs on one thread differ"
    for n in (2, 4):
        threads(n)
        for rep in range(2):
            got = run(op)
            bad = [i for i, (a, b) in enumerate(zip(want, got)) if a.tobytes() != b.tobytes()]
            assert not bad, (
                f"{op}: {n} threads (run {rep}) differ from 1 thread in outputs {bad} "
                f"(0 = forward, then the gradients); max difference "
                f"{max(np.abs(want[i] - got[i]).max() for i in bad)}"
            )


def test_python_threads_calling_kernels_at_once_get_single_threaded_results(threads):
    """4 Python threads run random forward+backward ops (the GIL is released inside the
    kernels, so they really overlap) while a fifth keeps switching set_num_threads between
    1, 2 and 4; every result must be the single-threaded one, bit for bit."""
    threads(1)
    want = {op: run(op) for op in OPS}
    stop = threading.Event()
    errors: list = []
    done = [0]

    def worker(seed: int):
        order = random.Random(seed)
        try:
            for _ in range(30):
                op = order.choice(OPS)
                got = run(op)
                if not same_bits(want[op], got):
                    errors.append(f"{op}: differs from the single-threaded result")
                done[0] += 1
        except Exception as e:  # reported below, with the thread's op
            errors.append(f"{type(e).__name__}: {e}")

    def switcher():
        counts = [1, 2, 4]
        i = 0
        while not stop.is_set():
            mg.set_num_threads(counts[i % 3])
            i += 1
            stop.wait(0.001)

    workers = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    sw = threading.Thread(target=switcher)
    sw.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=300)
    stop.set()
    sw.join()
    assert not any(t.is_alive() for t in workers), "a worker thread hung"
    assert not errors, errors[:5]
    assert done[0] == 120


REPEATS = 16


def test_python_threads_on_different_data_do_not_mix(threads):
    """Each of 4 threads runs the same op at the same time, each on its own input variant
    (the test above gives every thread the same arrays, so a buffer shared between
    threads -- scratch kept across calls, a workspace keyed by shape -- would go unseen
    there), while a fifth switches set_num_threads: every result must be the
    single-threaded result of that thread's own data, bit for bit."""
    threads(1)
    want = {(op, v): run(op, v) for op in OPS for v in range(4)}
    assert not same_bits(want[("conv2d", 0)], want[("conv2d", 1)])  # the variants differ
    stop = threading.Event()
    errors: list = []
    done = [0]
    start = threading.Barrier(4)

    def worker(v: int):
        try:
            for op in OPS:
                start.wait(timeout=60)  # all four threads enter each op together
                for _ in range(REPEATS):
                    if not same_bits(want[(op, v)], run(op, v)):
                        errors.append(f"{op}: thread {v} got another result than its data's")
                    done[0] += 1
        except Exception as e:  # reported below
            errors.append(f"{type(e).__name__}: {e}")
            start.abort()

    def switcher():
        i = 0
        while not stop.is_set():
            mg.set_num_threads((1, 2, 4)[i % 3])
            i += 1
            stop.wait(0.001)

    workers = [threading.Thread(target=worker, args=(v,)) for v in range(4)]
    sw = threading.Thread(target=switcher)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over often: the threads interleave finely
    try:
        sw.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=300)
    finally:
        stop.set()
        sw.join()
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in workers), "a worker thread hung"
    assert not errors, errors[:5]
    assert done[0] == 4 * REPEATS * len(OPS)
