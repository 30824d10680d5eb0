"""The content fingerprint behind the saved-array guard (src_c/fingerprint.h)."""

from __future__ import annotations

import numpy as np
import pytest
from minigrad._C.fingerprint import fingerprint

import minigrad as mg


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8, np.bool_])
def test_every_single_change_is_seen(dtype):
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 9, 63, 64, 65, 200):
        a = (rng.standard_normal(n) * 5).astype(dtype)
        h = fingerprint(a)
        assert fingerprint(a.copy()) == h
        for k in range(n):
            b = a.copy()
            b[k] = 1 if not b[k] else 0
            assert fingerprint(b) != h, (n, k)


def test_zeros_swaps_and_block_boundaries():
    z = np.zeros(3 * 8192 + 5)  # more than one 64 KiB block, and a tail
    h = fingerprint(z)
    for k in (0, 1, 8191, 8192, 8193, 16384, len(z) - 1):
        y = z.copy()
        y[k] = 5e-324  # the smallest change of one word
        assert fingerprint(y) != h, k
    a = np.arange(10.0)
    b = a.copy()
    b[[2, 7]] = b[[7, 2]]  # same values, other places
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(np.zeros(0)) == 0


def test_independent_of_threads_and_layout():
    a = np.random.default_rng(1).standard_normal((64, 32, 28, 28)).astype(np.float32)
    prev = mg.get_num_threads()
    try:
        mg.set_num_threads(1)
        h1 = fingerprint(a)
        mg.set_num_threads(2)
        assert fingerprint(a) == h1
    finally:
        mg.set_num_threads(prev)
    t = a.transpose(1, 0, 2, 3)  # not contiguous: fingerprinted through a copy
    assert fingerprint(t) == fingerprint(np.ascontiguousarray(t))
