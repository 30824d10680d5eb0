"""minigrad's random number generator: one NumPy ``Generator`` for the whole
library (``randn``, ``rand``, dropout, weight initialisation, shuffling), so that
``mg.manual_seed(s)`` makes a run repeatable."""

from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed minigrad's generator; returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng(seed: int | None = None) -> np.random.Generator:
    """The shared generator, or a fresh one seeded with ``seed`` when given."""
    return _rng if seed is None else np.random.default_rng(seed)
