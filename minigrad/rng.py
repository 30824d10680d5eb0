"""Random number generators, as in PyTorch: ``mg.Generator`` objects and one default
generator behind ``randn``, ``rand``, dropout, weight initialisation and shuffling,
so that ``mg.manual_seed(s)`` makes a run repeatable.

A ``Generator`` wraps a NumPy ``Generator`` (PCG64).  Code that needs NumPy's
API draws from ``gen.numpy_generator()``: the live generator, so each draw
advances ``gen`` exactly as a draw through minigrad would.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from minigrad.device import as_device

__all__ = [
    "Generator",
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "get_rng",
]


class Generator:
    """A seeded source of random numbers (PyTorch's ``torch.Generator``).

    ``Generator()`` starts from a fresh nondeterministic seed; ``manual_seed(s)``
    restarts it from ``s``.  Pass it as ``generator=`` to ``randn``, ``rand``,
    ``randint``, ``randperm``, ``normal_``, ``uniform_`` or a DataLoader.
    """

    def __init__(self, device: Any = "cpu") -> None:
        self.device = as_device(device, "Generator")
        self.seed()

    def manual_seed(self, seed: int) -> Generator:
        """Restart from ``seed`` (a non-negative int); returns self, as PyTorch does."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
        seed = int(seed)
        if seed < 0:
            # PyTorch reads a negative seed modulo 2^64; so do we.
            seed %= 1 << 64
        self._initial_seed = seed
        self._rng = np.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Restart from a fresh nondeterministic seed, and return that seed."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last started from."""
        return self._initial_seed

    def numpy_generator(self) -> np.random.Generator:
        """The NumPy ``Generator`` behind this one (shared state: drawing from it
        advances this generator)."""
        return self._rng

    def get_state(self) -> dict:
        """A snapshot of the state (a dict, NumPy's bit-generator state)."""
        return {"seed": self._initial_seed, "bit_generator": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        """Restore a snapshot taken by ``get_state``."""
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise TypeError("set_state: expected a state dict from Generator.get_state()")
        rng = np.random.default_rng()
        rng.bit_generator.state = state["bit_generator"]
        self._rng, self._initial_seed = rng, int(state.get("seed", self._initial_seed))
        return self

    def __repr__(self) -> str:
        return f"<minigrad.Generator seed={self._initial_seed}>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator; returns it (as ``torch.manual_seed`` does)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Reseed the default generator nondeterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last started from."""
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def get_rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s, or the default one's."""
    if generator is None:
        return default_generator._rng
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a minigrad.Generator, got {type(generator).__name__}")
    return generator._rng
