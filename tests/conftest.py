"""Shared fixtures: a seeded NumPy generator and float64 leaf tensors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test, so each test is reproducible alone."""
    return np.random.default_rng(1234)


@pytest.fixture
def leaf(rng):
    """``leaf(shape, low=-2, high=2)``: a float64 leaf tensor with requires_grad=True.

    Uniform values keep every test input away from huge magnitudes; tests that
    need inputs away from a kink (abs, relu, clamp) pass their own ``avoid``.
    """

    def make(shape=(), low=-2.0, high=2.0, avoid=None, margin=0.1):
        a = rng.uniform(low, high, size=shape)
        if avoid is not None:  # push values at least ``margin`` away from each kink
            for k in np.atleast_1d(avoid):
                close = np.abs(a - k) < margin
                a = np.where(close, k + np.copysign(margin, a - k + 1e-300), a)
        return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)

    return make
