"""The array cache (minigrad/memory.py, src_c/mg_array_cache.c): which arrays it serves,
that what it hands out again is right (zeroed by calloc, kept by realloc), that it
stays within its limit, and that a training step stops faulting its pages in."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minigrad as mg
from minigrad import memory
from minigrad._C import core
from minigrad.models import ConvAutoencoder

get_handler_name = pytest.importorskip("numpy._core.multiarray").get_handler_name

BIG = 1 << 17  # float64 elements: 1 MiB, well above the 64 KiB the cache starts at


@pytest.fixture
def cache():
    """The cache with its limit restored and emptied afterwards; yields a function that
    runs a callable with the caching handler installed."""
    limit = memory.cache_info()["limit"]

    def under_handler(fn):
        prev = memory.use_handler(memory.CACHING)
        try:
            return fn()
        finally:
            memory.use_handler(prev)

    yield under_handler
    memory.set_cache_limit(limit)
    memory.empty_cache()


def test_ops_allocate_from_the_cache_and_user_arrays_do_not():
    x = mg.randn(256, 1024)
    y = (x * 2).relu()
    assert get_handler_name(y.numpy()) == "minigrad_array_cache"
    w = mg.randn(256, 1024, requires_grad=True)
    (w * 3).sum().backward()
    assert get_handler_name(w.grad.numpy()) == "minigrad_array_cache"
    assert get_handler_name(np.ones(BIG)) == "default_allocator"


def test_a_freed_buffer_is_handed_out_again(cache):
    memory.set_cache_limit(64 << 20)
    memory.empty_cache()
    before = memory.cache_info()

    def alloc_free_alloc():
        a = np.full(BIG, 7.0)
        addr = a.ctypes.data
        del a
        b = np.empty(BIG)
        return addr, b.ctypes.data

    first, second = cache(alloc_free_alloc)
    assert first == second
    after = memory.cache_info()
    assert after["hits"] == before["hits"] + 1


def test_calloc_from_the_cache_is_zeroed(cache):
    memory.set_cache_limit(64 << 20)

    def dirty_then_zeros():
        a = np.full(BIG, 7.0)
        addr = a.ctypes.data
        del a
        z = np.zeros(BIG)
        return addr, z

    addr, z = cache(dirty_then_zeros)
    assert z.ctypes.data == addr  # the dirty block came back ...
    assert not z.any()  # ... zeroed


@pytest.mark.parametrize(
    "old, new",
    [(BIG, 2 * BIG), (BIG, BIG // 3), (100, 2 * BIG), (2 * BIG, 100), (BIG, BIG - 7)],
)
def test_realloc_keeps_the_data(cache, old, new):
    memory.set_cache_limit(64 << 20)

    def grow_or_shrink():
        a = np.arange(old, dtype=np.float64)
        a.resize(new, refcheck=False)  # NumPy reallocates the buffer in place
        return a

    a = cache(grow_or_shrink)
    keep = min(old, new)
    np.testing.assert_array_equal(a[:keep], np.arange(keep, dtype=np.float64))
    if new > old:
        assert not a[old:].any()  # NumPy zero-fills the grown part


def test_the_cache_stays_within_its_limit(cache):
    memory.set_cache_limit(3 << 20)

    def many_sizes():
        for k in range(1, 300):
            np.empty(BIG // 16 * (k % 40 + 1))  # 64 KiB .. 2.5 MiB, freed at once
            info = memory.cache_info()
            assert info["cached_bytes"] <= 3 << 20
            assert info["cached_blocks"] <= 128

    cache(many_sizes)
    memory.set_cache_limit(0)
    assert memory.cache_info()["cached_bytes"] == 0
    assert memory.cache_info()["cached_blocks"] == 0


def test_off_means_nothing_is_kept(cache):
    memory.set_cache_limit(0)
    hits = memory.cache_info()["hits"]
    cache(lambda: [np.empty(BIG) for _ in range(5)])
    assert memory.cache_info()["cached_bytes"] == 0
    assert memory.cache_info()["hits"] == hits


def test_threads_share_the_cache_safely(cache):
    memory.set_cache_limit(8 << 20)
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(300):
                n = int(rng.integers(BIG // 32, BIG))
                a = cache(lambda n=n: np.full(n, float(seed)))
                assert (a == seed).all()
                del a
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert memory.cache_info()["cached_bytes"] <= 8 << 20


def test_set_cache_limit_refuses_bad_values():
    for bad in (-1, 1.5, "1", True, None):
        with pytest.raises(ValueError, match="set_cache_limit: nbytes"):
            memory.set_cache_limit(bad)


@pytest.mark.parametrize("value", ["-3", "lots", "nan"])
def test_a_bad_environment_value_is_refused_at_import(value, tmp_path):
    # the minigrad this suite imported (installed, or the built checkout), not whatever
    # a child started in the current directory would find first
    root = os.path.dirname(os.path.dirname(mg.__file__))
    r = subprocess.run(
        [sys.executable, "-c", "import minigrad"],
        env={**os.environ, "MINIGRAD_CACHE_MB": value, "PYTHONPATH": root},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert "MINIGRAD_CACHE_MB" in r.stderr


@pytest.mark.skipif(
    os.environ.get("MINIGRAD_UNDER_SANITIZER") == "1", reason="ASan's allocator maps its own pages"
)
def test_a_training_step_does_not_fault_its_pages_in_again(cache):
    """The reason for the cache: with NumPy's allocator, glibc returned the freed top of
    its heap after every step and the next step faulted ~1,600 pages back in (conv
    autoencoder, batch 64); with the cache a step reuses its buffers."""
    resource = pytest.importorskip("resource")
    memory.set_cache_limit(memory.DEFAULT_LIMIT_MB << 20)
    mg.manual_seed(0)
    model = ConvAutoencoder(1, channels=(16, 8))
    x = mg.tensor(np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32))
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        model.loss(x).backward()
        opt.step()

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    per_step = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    assert per_step < 100, f"{per_step:.0f} page faults per step"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_cache_lock_is_held_can_allocate(cache):
    """The cache's lock is held for a few instructions per allocation; a fork at that
    moment (another thread allocating) would leave the child waiting for a lock nobody
    can release, unless the child makes a new one (os.register_at_fork in core.pyx)."""
    memory.set_cache_limit(64 << 20)
    core._hold_cache_lock(True)  # as another thread would, inside an allocation
    try:
        pid = os.fork()
        if pid == 0:  # the child: one allocation through the cache, then leave at once
            try:
                cache(lambda: np.empty(BIG))
                os._exit(0)
            finally:
                os._exit(1)
    finally:
        core._hold_cache_lock(False)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the array cache's lock")
        time.sleep(0.005)
