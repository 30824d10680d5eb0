"""minigrad.distributed: the sampler here, in this process; data-parallel training,
the wrapper's edges and the abort under ``mpirun -n 2`` (scripts in tests/mpi_scripts/,
each launched with a timeout, their results judged here). Without mpi4py or an MPI
launcher the MPI tests skip, saying what to install."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.distributed as dist
from minigrad.distributed import DistributedSampler
from minigrad.distributed.launch import find_mpirun, mpirun_command

SCRIPTS = Path(__file__).parent / "mpi_scripts"
sys.path.insert(0, str(SCRIPTS))
from ddp_setup import (  # noqa: E402
    INIT_SEED,
    build,
    data,
    loss_of,
    make_optimizer,
    named_arrays,
)

MPI_HINT = 'these tests need mpi4py and an MPI launcher: pip install "minigrad[mpi]"'


# ----------------------------------------------------------------------------- launching


def _no_mpi(why: str):
    """Skip, saying what to install; fail instead where MPI is required (CI's MPI step)."""
    if os.environ.get("MINIGRAD_REQUIRE_MPI") == "1":
        pytest.fail(f"MINIGRAD_REQUIRE_MPI=1 but {why}; {MPI_HINT}")
    pytest.skip(f"{why}; {MPI_HINT}")


@pytest.fixture(scope="module")
def mpirun():
    if importlib.util.find_spec("mpi4py") is None:
        _no_mpi("mpi4py is not installed")
    exe = find_mpirun()
    if exe is None:
        _no_mpi("no mpirun/mpiexec found")
    return exe


def child_env() -> dict:
    """The environment of a launched script: this minigrad first on its path, one
    kernel thread and one BLAS thread per process."""
    env = dict(os.environ)
    package_root = str(Path(minigrad.__file__).resolve().parents[1])  # this minigrad
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return env


def run_mpi(mpirun: str, script: str, *args: str, n: int = 2, timeout: float = 240):
    """Run tests/mpi_scripts/<script> (or the script at an absolute path) on ``n`` ranks;
    (returncode, stdout + stderr, seconds). A job still running after ``timeout`` is
    killed (its whole process group) and fails the test: a hang is a bug."""
    env = child_env()
    cmd = [*mpirun_command(n, mpirun), sys.executable, str(SCRIPTS / script), *args]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=SCRIPTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} still running after {timeout} s (hung):\n{output[-3000:]}")
    return proc.returncode, output, time.perf_counter() - start


# ----------------------------------------------------------------------------- training


def shards(n_ranks: int) -> list:
    """Every rank's indices for the epoch the training script uses."""
    x, _ = data("float64")
    out = []
    for r in range(n_ranks):
        s = DistributedSampler(x, num_replicas=n_ranks, rank=r, shuffle=True, seed=3)
        s.set_epoch(1)
        out.append(s.indices())
    return out


def reference_run(kind: str, opt_name: str, dtype: str, batch: int, steps: int) -> list:
    """One process, batch 2B: at each step the union of the two ranks' batches."""
    model = build(kind, dtype, INIT_SEED)
    opt = make_optimizer(opt_name, model)
    x, y = data(dtype)
    per_rank = shards(2)
    history = [named_arrays(model)]
    for s in range(steps):
        idx = np.concatenate([ix[s * batch : (s + 1) * batch] for ix in per_rank])
        loss = loss_of(kind, model, x[idx], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(named_arrays(model))
    return history


def train_on_two_ranks(mpirun, tmp_path, kind, opt_name, dtype, batch, steps, bucket_mb):
    code, output, _ = run_mpi(
        mpirun, "train_ddp.py", kind, opt_name, dtype, str(batch), str(steps), str(bucket_mb),
        str(tmp_path),
    )  # fmt: skip
    assert code == 0, output[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    stats = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    return ranks, stats


TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-6)}
TINY_BUCKETS = 1e-4  # ~100 bytes: about one bucket per parameter, so buckets overlap


@pytest.mark.parametrize(
    "kind, opt_name, dtype, bucket_mb",
    [
        ("convnet", "sgd", "float64", TINY_BUCKETS),
        ("convnet", "adam", "float64", TINY_BUCKETS),
        ("convnet", "adam", "float32", 25.0),
        ("conv_ae", "adam", "float64", 25.0),
        ("conv_ae_tied", "sgd", "float64", TINY_BUCKETS),
    ],
)
def test_two_ranks_match_one_process_with_twice_the_batch(
    mpirun, tmp_path, kind, opt_name, dtype, bucket_mb
):
    batch, steps = 4, 4
    ranks, stats = train_on_two_ranks(
        mpirun, tmp_path, kind, opt_name, dtype, batch, steps, bucket_mb
    )
    reference = reference_run(kind, opt_name, dtype, batch, steps)
    own_init = named_arrays(build(kind, dtype, INIT_SEED + 1))  # rank 1's before the copy
    for s, ref in enumerate(reference):
        for name, want in ref.items():
            a, b = ranks[0][f"{s}/{name}"], ranks[1][f"{s}/{name}"]
            assert np.array_equal(a, b), f"ranks differ after step {s} in {name}"
            np.testing.assert_allclose(a, want, **TOL[dtype], err_msg=f"step {s}, {name}")
            if s == 0:  # the wrapper replaced rank 1's own initial weights by rank 0's
                assert not np.array_equal(own_init[name], want) or name.endswith("bias")
        if s > 0:  # and training moved them
            assert any(not np.array_equal(ref[k], reference[0][k]) for k in ref)
    for st in stats:
        assert st["world_size"] == 2 and st["steps"] == steps and st["redone"] == 0
        assert st["warnings"] == []
        if bucket_mb == TINY_BUCKETS:  # several buckets, some sent during backward
            assert len(st["bucket_bytes"]) > 2
            assert st["early_buckets"] > 0
        else:
            assert len(st["bucket_bytes"]) == 1


def test_parameter_used_before_its_module_is_detected_and_averaged_right(mpirun, tmp_path):
    """EarlyUse touches fc.weight before the model runs: the bucket sent at fc's
    marker lacks that gradient; the end check must catch it, redo the averages and say
    so, and the result must still be the one-process result."""
    batch, steps = 4, 3
    ranks, stats = train_on_two_ranks(
        mpirun, tmp_path, "early_use", "sgd", "float64", batch, steps, TINY_BUCKETS
    )
    reference = reference_run("early_use", "sgd", "float64", batch, steps)
    for s, ref in enumerate(reference):
        for name, want in ref.items():
            a, b = ranks[0][f"{s}/{name}"], ranks[1][f"{s}/{name}"]
            assert np.array_equal(a, b), f"ranks differ after step {s} in {name}"
            np.testing.assert_allclose(a, want, **TOL["float64"], err_msg=f"step {s}, {name}")
    for st in stats:
        assert st["redone"] == 1 and st["overlap"] is False
    assert any("fc.weight" in w for st in stats for w in st["warnings"])


# ----------------------------------------------------------------------------- the wrapper's edges


@pytest.fixture(scope="module")
def checks(mpirun, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_checks")
    code, output, _ = run_mpi(mpirun, "ddp_checks.py", str(out))
    assert code == 0, output[-3000:]
    return [json.loads((out / f"checks{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize(
    "name, error, words",
    [
        ("direct_call_then_backward", "RuntimeError", "called directly"),
        ("backward_not_from_the_output", "RuntimeError", "did not finish averaging"),
        ("model_returns_no_tensor", "TypeError", "no floating-point Tensor"),
        ("not_a_module", "TypeError", "expected an nn.Module"),
        ("zero_bucket_cap", "ValueError", "bucket_cap_mb"),
        ("wrapped_twice", "ValueError", "already belongs"),
        ("models_differ_across_ranks", "ValueError", "different models"),
    ],
)
def test_misuse_raises_on_every_rank(checks, name, error, words):
    for r, result in enumerate(checks):
        assert result[name].get("error") == error, (r, result[name])
        assert words in result[name]["message"]


def test_no_sync_keeps_gradients_local_then_averages_their_sum(checks):
    for result in checks:
        v = result["no_sync_then_sync"]["value"]
        assert v["diff_local"] == 0.0  # inside no_sync: this rank's own gradient
        assert v["ranks_differ_locally"] > 1e-3  # (which differs between the ranks)
        assert v["diff_synced"] < 1e-12  # then: mean over ranks of the accumulated sum


def test_two_calls_then_one_backward_average_both(checks):
    for result in checks:
        assert result["two_calls_one_backward"]["value"] < 1e-12


def test_data_parallel_wraps_only_inside_a_job(checks):
    for result in checks:
        assert result["data_parallel_wraps"]["value"] == "DistributedDataParallel"


def test_evaluation_without_grad_needs_no_collective(checks):
    for result in checks:
        assert result["eval_without_grad"]["value"] == {"shape": [3, 3], "steps": 0}


def test_broadcast_optimizer_state(checks):
    for result in checks:
        v = result["broadcast_optimizer_state"]["value"]
        assert v["entries"] == 4 and v["size"] > 0 and v["spread"] == 0.0
        assert v["steps"] == [1, 1, 1, 1]


def test_collectives(checks):
    for result in checks:
        v = result["collectives"]["value"]
        assert v["sum"] == 3 and v["mean"] == 0.5
        assert v["max"] == [1, 0] and v["min_tensor"] == [0.0, 5.0]
        assert v["throughput"] == pytest.approx(30 / 2.0)  # 10 + 20 examples, slowest 2 s
        assert v["bad_op"] == "ValueError"


# ----------------------------------------------------------------------------- abort


def test_a_rank_that_raises_ends_the_job(mpirun):
    """Rank 1 raises while rank 0 waits in the all-reduce of backward: without the abort
    hook rank 0 waits forever (the test's timeout would fail it)."""
    code, output, seconds = run_mpi(mpirun, "abort.py", timeout=120)
    assert code != 0
    assert "rank 1 of 2 raised ValueError; aborting all 2 ranks" in output
    assert "rank 1 cannot read its batch" in output  # the traceback is shown
    assert "finished all steps" not in output
    assert seconds < 100


# ----------------------------------------------------------------------------- sampler (no MPI)


def _shards(n, replicas, **kw) -> list:
    return [
        np.array(list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw)))
        for r in range(replicas)
    ]


@pytest.mark.parametrize("n", [0, 1, 5, 12, 50, 101])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sampler_shards_disjoint_and_covering(n, replicas, shuffle):
    keep = _shards(n, replicas, shuffle=shuffle, seed=7, drop_last=False)
    cut = _shards(n, replicas, shuffle=shuffle, seed=7, drop_last=True)
    # equal shard sizes on every rank (the collectives need the same number of steps)
    assert len({len(s) for s in keep}) == 1 and len({len(s) for s in cut}) == 1
    assert len(keep[0]) == -(-n // replicas) and len(cut[0]) == n // replicas
    # drop_last: disjoint shards of the first replicas * (n // replicas) of the order
    flat = np.concatenate(cut)
    assert len(np.unique(flat)) == len(flat) == replicas * (n // replicas)
    # padding: every index somewhere; the repeats are the fewest that even the shards out
    flat = np.concatenate(keep)
    assert set(flat.tolist()) == set(range(n))
    assert len(flat) == n + ((-n) % replicas)
    if n % replicas == 0:
        assert sorted(flat.tolist()) == list(range(n))  # a partition
    for s in keep:
        assert len(s) == len(DistributedSampler(range(n), num_replicas=replicas, rank=0))


def test_sampler_epochs_and_seeds():
    def order(epoch, seed=0, rank=0):
        s = DistributedSampler(range(40), num_replicas=2, rank=rank, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert order(3) == order(3)  # every rank derives the same permutation
    assert order(3) != order(4)  # a new one each epoch
    assert order(3, seed=1) != order(3, seed=0)
    assert order(0) == order(0, rank=0)
    assert sorted(order(5) + order(5, rank=1)) == list(range(40))
    plain = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
    assert list(plain) == [1, 4, 7, 0]  # padded with the order's first index, like PyTorch


def test_sampler_matches_pytorch_without_shuffle():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, replicas, drop_last in [(10, 3, False), (10, 3, True), (2, 5, False), (17, 4, True)]:
        for r in range(replicas):
            theirs = torch_data.DistributedSampler(
                range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last
            )
            ours = DistributedSampler(
                range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last
            )
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_work_does_not_grow_with_num_replicas():
    s = DistributedSampler(range(3), num_replicas=10**12, rank=10**12 - 1, shuffle=False)
    assert list(s) == [(10**12 - 1) % 3] and len(s) == 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(num_replicas=2, rank=2), "rank must be an integer in [0, 2)"),
        (dict(num_replicas=0, rank=0), "num_replicas must be an integer >= 1"),
        (dict(num_replicas=2, rank=-1), "rank"),
        (dict(num_replicas=2, rank=True), "rank"),
        (dict(num_replicas=2, rank=0, seed=-1), "seed"),
    ],
)
def test_sampler_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace(")", r"\)")):
        DistributedSampler(range(4), **kwargs)


def test_sampler_bad_epoch():
    s = DistributedSampler(range(4), num_replicas=1, rank=0)
    with pytest.raises(ValueError, match="epoch"):
        s.set_epoch(-1)


# ----------------------------------------------------------------------------- one process, no MPI


@pytest.fixture
def outside_mpi(monkeypatch):
    """A plain process: no launcher variables (and MPI never started in this process)."""
    for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(v, raising=False)
    if dist.is_initialized():
        pytest.skip("MPI was started in this test process")


def test_single_process_without_mpi(outside_mpi, capsys):
    assert dist.rank() == 0 and dist.world_size() == 1 and dist.is_main_process()
    dist.barrier()
    dist.broadcast_parameters(build("convnet", "float64", 0))
    assert dist.all_reduce(2.5, "mean") == 2.5
    np.testing.assert_array_equal(dist.all_reduce(np.arange(3), "max"), np.arange(3))
    assert dist.throughput(30, 2.0) == 15.0
    dist.print0("from rank 0")
    assert capsys.readouterr().out == "from rank 0\n"
    assert dist.rank_zero_only(lambda: 7)() == 7
    assert DistributedSampler(range(5)).num_replicas == 1
    model = build("convnet", "float64", 0)
    assert dist.data_parallel(model) is model  # nothing to average with
    with pytest.raises(ValueError, match="root"):
        dist.broadcast_parameters([], root=1)
    with pytest.raises(TypeError, match="all_reduce"):
        dist.all_reduce("text")


def test_save_on_main_writes_a_checkpoint(outside_mpi, tmp_path):
    model = build("convnet", "float32", 0)
    dist.save_on_main(model.state_dict(), tmp_path / "model.npz")
    loaded = minigrad.load(tmp_path / "model.npz")
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k], v)


def test_init_without_mpi4py_says_what_to_install(monkeypatch):
    if dist.is_initialized():
        pytest.skip("MPI was started in this test process")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(ImportError, match=r"pip install \"minigrad\[mpi\]\""):
        dist.init()


# ----------------------------------------------------------------------------- the examples


def example(name: str) -> Path:
    """examples/<name>; the test skips where the examples are not next to the tests."""
    script = Path(__file__).resolve().parents[1] / "examples" / name
    if not script.exists():
        pytest.skip("examples/ is not next to the tests")
    return script


def test_example_trains_on_two_ranks(mpirun, tmp_path):
    """examples/conv_autoencoder.py under mpirun -n 2 with its usual flags: one header,
    the throughput of both ranks, and rank 0's pictures and checkpoint."""
    script = example("conv_autoencoder.py")
    flags = ["--dataset", "digits", "--epochs", "2", "--batch-size", "32", "--out", str(tmp_path)]
    code, out, _ = run_mpi(mpirun, str(script), *flags)
    assert code == 0, out[-3000:]
    assert out.count("conv_autoencoder: digits") == 1 and "on each of 2 ranks" in out, out
    # rank 0 alone reports (under mpirun a rank's stdout is a terminal: the bar redraws)
    assert out.count("test loss") == 2 and out.count("wrote ") == 1 and "ex/s" in out, out
    assert (tmp_path / "model.npz").exists() and (tmp_path / "reconstructions.png").exists()


def test_example_on_two_ranks_takes_the_steps_of_one_process_with_twice_the_batch(mpirun, tmp_path):
    """The examples' data parallelism end to end: conv_autoencoder.py on 2 ranks with
    --batch-size 16 ends with the weights of one process with --batch-size 32 (each step's
    global batch split between the ranks), to float32 rounding; a wrong shard (both ranks
    on the same slice, or a rank's slice dropped) moves them by far more."""
    script = example("conv_autoencoder.py")
    flags = ["--dataset", "digits", "--epochs", "2", "--limit", "320", "--threads", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    env = dict(child_env(), MPLBACKEND="Agg")
    alone = subprocess.run(
        [sys.executable, str(script), *flags, "--batch-size", "32", "--out", str(one)],
        cwd=SCRIPTS, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert alone.returncode == 0, alone.stdout[-2000:] + alone.stderr[-2000:]
    code, out, _ = run_mpi(mpirun, str(script), *flags, "--batch-size", "16", "--out", str(two))
    assert code == 0, out[-3000:]
    a, b = minigrad.load(str(one / "model.npz")), minigrad.load(str(two / "model.npz"))
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=2e-4, atol=2e-5, err_msg=k)
    # and training moved them: the comparison is not of two untouched initialisations
    first = json.loads((one / "history.json").read_text())["test_sq_err"]
    assert first[1] < first[0]


def test_example_with_its_own_loop_stops_under_mpirun(mpirun, tmp_path):
    """An example that is not data-parallel says so on rank 0 and stops, instead of
    running two identical copies that write the same files."""
    script = example("sequence.py")
    code, out, seconds = run_mpi(mpirun, str(script), "--out", str(tmp_path))
    assert code != 0
    assert out.count("sequence trains in one process only") == 1, out[-3000:]
    assert not any(tmp_path.iterdir())


def test_example_resume_without_a_checkpoint_stops_every_rank(mpirun, tmp_path):
    """--resume under mpirun: rank 0 reads the checkpoint for all; when there is none,
    every rank stops (none is left waiting for the broadcast) and the reason is said
    once."""
    script = example("conv_autoencoder.py")
    flags = ["--dataset", "digits", "--epochs", "1", "--resume", "--out", str(tmp_path)]
    code, out, _ = run_mpi(mpirun, str(script), *flags, timeout=120)
    assert code != 0
    assert out.count("no checkpoint at") == 1, out[-3000:]
