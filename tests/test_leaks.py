"""Leaks (issue 16): 10,000 forward+backward calls of every kernel-backed op, and 10,000
calls down each error path (refused before the kernel, and refused after it ran: an
index outside the plane, a NaN found in the output), leave resident memory flat and the
reference counts of their inputs where they were.

Resident memory is read from /proc between call 2,000 (after warm-up: allocator arenas,
the local kernels' kept scratch buffers, caches) and call 10,000. Shapes are small so the
whole file runs in seconds, but not tiny: an output or workspace leaked per call would be
at least a few kB, 8,000 of them tens of MB against a bound of 4 MB.
"""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels as K
from minigrad._C import conv as cconv
from minigrad._C import pool as cpool

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)"),
    pytest.mark.skipif(
        os.environ.get("MINIGRAD_UNDER_SANITIZER") == "1",
        reason="ASan's quarantine holds freed memory on purpose",
    ),
]

CALLS, WARM = 10_000, 2_000
BOUND = 4 * 2**20  # bytes of resident memory growth allowed over 8,000 calls
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

RNG = np.random.default_rng(5)


def arr(*shape):
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


X, W, B = arr(2, 3, 12, 12), arr(4, 3, 3, 3), arr(4)
X1, W1 = arr(2, 3, 32), arr(4, 3, 3)
WT = arr(3, 4, 3, 3)
WL, WTI = arr(4, 10, 10, 3, 3, 3), arr(4, 2, 2, 3, 3, 3)
G = arr(2, 4, 10, 10)
with mg.no_grad():
    PY, PI = F.max_pool2d(mg.tensor(X), 2, return_indices=True)
    PY1, PI1 = F.max_pool1d(mg.tensor(X1), 2, return_indices=True)
PY, PI, PY1, PI1 = PY.numpy(), PI.numpy(), PY1.numpy(), PI1.numpy()
XP = np.abs(X) + 0.1

OPS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [X, W, B]),
    "conv1d": (lambda x, w: F.conv1d(x, w, stride=2), [X1, W1]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2), [X, WT]),
    "conv_transpose1d": (lambda x, w: F.conv_transpose1d(x, w[:, :, 0], stride=2), [X1, WT]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1), [X]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, 1, return_indices=True)[0], [X1]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [X]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 2), [X1]),
    "lp_pool2d": (lambda x: F.lp_pool2d(x, 2, 2), [XP]),
    "lp_pool1d": (lambda x: F.lp_pool1d(x, 3, 2), [np.abs(X1) + 0.1]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (5, 3)), [X]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, 5), [X]),
    "adaptive_avg_pool1d": (lambda x: F.adaptive_avg_pool1d(x, 5), [X1]),
    "adaptive_max_pool1d": (lambda x: F.adaptive_max_pool1d(x, 5), [X1]),
    "max_unpool2d": (lambda x: F.max_unpool2d(x, PI, 2), [PY]),
    "max_unpool1d": (lambda x: F.max_unpool1d(x, PI1, 2), [PY1]),
    "weighted_avg_pool2d": (
        lambda x, k: F.weighted_avg_pool2d(x, 3, 2, 1, weights=k),
        [X, arr(3, 3)],
    ),
    "locally_connected2d": (F.locally_connected2d, [X, WL]),
    "tiled_conv2d": (F.tiled_conv2d, [X, WTI]),
    "locally_connected1d": (F.locally_connected1d, [X1, arr(4, 30, 3, 3)]),
    "tiled_conv1d": (F.tiled_conv1d, [X1, arr(4, 3, 3, 3)]),
    "kernels.c": (lambda k, v: K.c(k, v, 1, 0), [W, X]),
    "kernels.g": (lambda g, v: K.g(g, v, 1, 0), [G, X]),
    "kernels.h": (lambda k, g: K.h(k, g, 1, 0), [W, G]),
}

XN = X.copy()
XN[1, 2, 3, 4] = np.nan
BAD_PI = PI.copy()
BAD_PI[0, 0, 0, 0] = 10**6

# Each raises: before any kernel work (bad arguments), or after the kernel ran (an index
# outside the output plane, found by the C code; a NaN, found in the pooled output).
ERRORS = {
    "conv2d bad stride": lambda: F.conv2d(X, W, stride=0),
    "conv2d channels": lambda: F.conv2d(X, W[:, :2]),
    "conv2d NaN": lambda: F.conv2d(XN, W),
    "conv_transpose2d output_size": lambda: F.conv_transpose2d(X, WT, output_size=(99, 99)),
    "max_pool2d padding past half the kernel": lambda: F.max_pool2d(X, 2, padding=2),
    "max_pool2d window of padding only": lambda: F.max_pool2d(X, 2, padding=1, dilation=13),
    "max_pool2d NaN (after the kernel)": lambda: F.max_pool2d(XN, 2),
    "avg_pool2d NaN (after the kernel)": lambda: F.avg_pool2d(XN, 2),
    "adaptive_avg_pool2d output_size": lambda: F.adaptive_avg_pool2d(X, 0),
    "max_unpool2d index (after the kernel)": lambda: F.max_unpool2d(PY, BAD_PI, 2),
    "local weight shape": lambda: F.locally_connected2d(X, WL[:, :3]),
    "tiled dtype": lambda: F.tiled_conv2d(X, WTI.astype(np.float64)),
    "kernels.h input_size": lambda: K.h(W, G, 1, 0, input_size=(3, 3)),
    "_C.conv2d_forward shape": lambda: cconv.conv2d_forward(
        X, W[:, :2], None, (1, 1), (0, 0, 0, 0), (1, 1), 1
    ),
    "_C.max_unpool2d_forward index": lambda: cpool.max_unpool2d_forward(PY, BAD_PI, (12, 12)),
    # one more per family and argument class (issue 16: "each error path")
    "conv1d negative padding": lambda: F.conv1d(X1, W1, padding=-1),
    "conv_transpose1d output_padding": lambda: F.conv_transpose1d(
        X1, WT[:, :, 0], stride=2, output_padding=2
    ),
    "max_pool1d float kernel": lambda: F.max_pool1d(X1, 2.5),
    "avg_pool2d divisor 0": lambda: F.avg_pool2d(X, 2, divisor_override=0),
    "lp_pool2d norm_type": lambda: F.lp_pool2d(X, 0, 2),
    "lp_pool2d NaN (after the kernel)": lambda: F.lp_pool2d(np.abs(XN), 2, 2),
    "adaptive_max_pool2d NaN (after the kernel)": lambda: F.adaptive_max_pool2d(XN, 3),
    "adaptive_max_pool2d absurd size": lambda: F.adaptive_max_pool2d(X, (2**20, 2**20)),
    "max_unpool2d output_size": lambda: F.max_unpool2d(PY, PI, 2, output_size=(99, 99)),
    "weighted_avg_pool2d complex weights": lambda: F.weighted_avg_pool2d(
        X, 3, weights=np.ones((3, 3), complex)
    ),
    "tiled_conv1d stride past 64 bits": lambda: F.tiled_conv1d(X1, arr(4, 3, 3, 3), stride=2**64),
    "kernels.c stride 0": lambda: K.c(W, X, 0, 0),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Leaks do not depend on the thread count; one thread keeps 240,000 calls quick
    on a loaded machine (waking a team costs more than these small calls)."""
    before = mg.get_num_threads()
    mg.set_num_threads(1)
    yield
    mg.set_num_threads(before)


def measured(call) -> tuple[int, int]:
    """(resident bytes, live gc objects) gained between call WARM and call CALLS."""
    for _ in range(WARM):
        call()
    gc.collect()
    r0, n0 = rss(), len(gc.get_objects())
    for _ in range(CALLS - WARM):
        call()
    gc.collect()
    return rss() - r0, len(gc.get_objects()) - n0


@pytest.mark.parametrize("op", sorted(OPS))
def test_forward_backward_leaves_memory_and_refcounts_flat(op):
    fn, arrays = OPS[op]
    upstream = {}

    def step():
        ts = [mg.Tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        if "g" not in upstream:
            upstream["g"] = mg.tensor(np.ones(y.shape, y.dtype))
        y.backward(upstream["g"])
        assert all(t.grad is not None for t in ts)

    step()
    refs = [sys.getrefcount(a) for a in arrays]
    grown, objects = measured(step)
    assert [sys.getrefcount(a) for a in arrays] == refs, f"{op}: input reference counts moved"
    print(f"{op}: {grown / 2**10:.0f} kB, {objects} objects")
    assert grown < BOUND, f"{op}: resident memory grew {grown / 2**20:.1f} MB in 8,000 calls"
    assert objects < 100, f"{op}: {objects} more live Python objects after 8,000 calls"


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_paths_leave_memory_and_refcounts_flat(case):
    call = ERRORS[case]
    held = [X, W, XN, PY, PI, BAD_PI, WT, WL, WTI, G, X1, W1]

    def step():
        with pytest.raises((ValueError, TypeError)):
            call()

    step()
    refs = [sys.getrefcount(a) for a in held]
    grown, objects = measured(step)
    assert [sys.getrefcount(a) for a in held] == refs, f"{case}: reference counts moved"
    print(f"{case}: {grown / 2**10:.0f} kB, {objects} objects")
    assert grown < BOUND, f"{case}: resident memory grew {grown / 2**20:.1f} MB in 8,000 calls"
    assert objects < 100, f"{case}: {objects} more live Python objects after 8,000 calls"
