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


# ----------------------------------------------------------------------------- hypothesis
# Profiles for the fuzz suites (tests/test_fuzz.py scales its per-test example counts by
# the profile's max_examples / 100): the default is what CI runs; more on demand with
#     pytest tests/test_fuzz.py --hypothesis-profile=long      (20x, ~45,000 examples)
# and `quick` (a quarter) for slow builds such as the sanitizer run.
from hypothesis import settings  # noqa: E402

settings.register_profile("long", max_examples=2000, deadline=None, print_blob=True)
settings.register_profile("quick", max_examples=25, deadline=None)


# ----------------------------------------------------------------------------- torch
# Every test that compares with PyTorch is marked `torch` (found from its source: it
# imports torch, takes the `torch` fixture, or sits in a module that imported torch), so
# `pytest -m torch` runs exactly those. Without torch they skip; with
# MINIGRAD_REQUIRE_TORCH=1 (the CI step .ci/torch_tests.sh) such a skip is a failure, so a
# broken torch install cannot pass as a green run that compared nothing.
import inspect  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import types  # noqa: E402

_USES_TORCH = re.compile(r"""importorskip\(\s*["']torch|^\s*import torch|^\s*from torch""", re.M)


def _uses_torch(item) -> bool:
    if "torch" in getattr(item, "fixturenames", ()):
        return True
    if isinstance(getattr(getattr(item, "module", None), "torch", None), types.ModuleType):
        return True
    fn = getattr(item, "function", None)
    try:
        return fn is not None and bool(_USES_TORCH.search(inspect.getsource(fn)))
    except (OSError, TypeError):
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "torch: compares with PyTorch (skips without torch)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _uses_torch(item):
            item.add_marker(pytest.mark.torch)


_NO_TORCH = re.compile(r"could not import 'torch[.']")


def _torch_required_but_skipped(report) -> bool:
    return (
        report.skipped
        and os.environ.get("MINIGRAD_REQUIRE_TORCH") == "1"
        and bool(_NO_TORCH.search(str(report.longrepr)))
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _torch_required_but_skipped(report):
        report.outcome = "failed"
        report.longrepr = f"MINIGRAD_REQUIRE_TORCH=1 but torch is missing: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _torch_required_but_skipped(report):  # a module that imports torch at its top
        report.outcome = "failed"
        report.longrepr = f"MINIGRAD_REQUIRE_TORCH=1 but torch is missing: {report.longrepr}"
