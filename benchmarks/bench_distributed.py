"""Data-parallel training of the conv autoencoder (examples/conv_autoencoder.py's model,
channels 16, 8; Adam; MSE of the sigmoid output) on 1 and 2 ranks, one thread each:
throughput, scaling efficiency, the all-reduce time per step, and from those and the model
size an estimate of the efficiency at 8 and 64 ranks over a 10 Gb/s network. PyTorch's
DistributedDataParallel (gloo, over loopback TCP) on the same model is measured in the same
run as the reference.

    python benchmarks/bench_distributed.py                  # driver: launches every run
    python benchmarks/bench_distributed.py --steps 80 --repeat 5 --batch-size 64

Each configuration is a fresh job (1 rank: a plain process, the model without any
wrapper; 2 ranks: mpirun -n 2 with the wrapper), repeated ``--repeat`` times in turn with
the others so that a noisy neighbour slows all alike; medians are reported. The batch size
is per rank (as in the examples), so 2 ranks process twice the examples per step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

NETWORK_BYTES_PER_S = 10e9 / 8  # 10 Gb/s
NETWORK_LATENCY_S = 25e-6  # per message on 10 GbE with TCP: an assumption, not measured here


# ----------------------------------------------------------------------------- data


def load_images(n: int, root: str | None) -> tuple:
    """(first n MNIST training images, name); the shipped 8x8 digits when MNIST is absent."""
    from minigrad import data as D

    root = root or os.environ.get("MINIGRAD_DATA") or str(REPO.parent / "shared" / "data")
    try:
        train = D.MNIST(root, train=True)
        name = "MNIST"
    except (FileNotFoundError, ValueError):
        train, name = D.Digits(), "digits (MNIST not found)"
    n = min(n, len(train))
    return np.ascontiguousarray(train[np.arange(n)][0], dtype=np.float32), name


# ----------------------------------------------------------------------------- workers


def worker_minigrad(args) -> dict | None:
    import minigrad as mg
    import minigrad.distributed as dist
    from minigrad import optim
    from minigrad.models import ConvAutoencoder

    wrapped = args.ranks > 1 or args.wrap
    if wrapped:
        dist.init(num_threads=1)
    mg.set_num_threads(1)
    r, n = dist.rank(), dist.world_size()
    steps = args.warmup + args.steps
    x, data_name = load_images(steps * args.batch_size * n, args.data)
    mg.manual_seed(0)
    model = ConvAutoencoder(1, channels=[16, 8])
    caller = dist.DistributedDataParallel(model) if wrapped else model
    opt = optim.Adam(model.parameters(), lr=2e-3)
    order = dist.DistributedSampler(x, num_replicas=n, rank=r, seed=0).indices()
    times = []
    for s in range(steps):
        if s == args.warmup:
            dist.barrier()
            if wrapped:
                caller.reset_stats()
            start = time.perf_counter()
        t0 = time.perf_counter()
        batch = x[order[s * args.batch_size : (s + 1) * args.batch_size]]
        loss = caller.loss(mg.tensor(batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    window = time.perf_counter() - start
    result = {
        "system": "minigrad",
        "ranks": n,
        "wrapped": wrapped,
        "data": data_name,
        "params": int(sum(p.numpy().size for p in model.parameters())),
        "step_ms": 1e3 * statistics.median(times[args.warmup :]),
        "examples_per_s": dist.throughput(args.steps * args.batch_size, window),
        "final_loss": float(loss.item()),
    }
    if wrapped:
        st = caller.stats
        result.update(
            ddp_ms_per_step=1e3 * dist.all_reduce(st["comm_seconds"], "max") / args.steps,
            wait_ms_per_step=1e3 * dist.all_reduce(st["wait_seconds"], "max") / args.steps,
            buckets=len(st["bucket_bytes"]),
            gradient_bytes=int(sum(st["bucket_bytes"])),
        )
        if n > 1:
            result.update(allreduce_micro(result["gradient_bytes"]))
    return result if r == 0 else None


def allreduce_micro(nbytes: int, repeat: int = 300) -> dict:
    """Median seconds of a blocking Allreduce of the gradient's size, and of one float."""
    import minigrad.distributed as dist

    comm, MPI = dist.get_comm(), dist.comm._MPI

    def median_call(size: int) -> float:
        send = np.ones(size, dtype=np.float32)
        recv = np.empty_like(send)
        ts = []
        for _ in range(repeat):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(send, recv, op=MPI.SUM)
            ts.append(time.perf_counter() - t0)
        return dist.all_reduce(statistics.median(ts), "max")

    return {
        "allreduce_grad_ms": 1e3 * median_call(nbytes // 4),
        "allreduce_1float_ms": 1e3 * median_call(1),
    }


def worker_torch(args) -> dict | None:
    import torch
    import torch.distributed as tdist
    import torch.nn as tnn
    from torch.nn.parallel import DistributedDataParallel as TorchDDP

    torch.set_num_threads(1)
    r = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
    n = args.ranks
    if n > 1:
        tdist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=r, world_size=n
        )
    steps = args.warmup + args.steps
    x, data_name = load_images(steps * args.batch_size * n, args.data)
    torch.manual_seed(0)
    model = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, 2, 1),
        tnn.ReLU(),
        tnn.Conv2d(16, 8, 3, 2, 1),
        tnn.ReLU(),
        tnn.ConvTranspose2d(8, 16, 3, 2, 1, 1),
        tnn.ReLU(),
        tnn.ConvTranspose2d(16, 1, 3, 2, 1, 1),
    )
    caller = TorchDDP(model) if n > 1 else model
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    order = np.random.default_rng(0).permutation(len(x))[r::n]
    times = []
    for s in range(steps):
        if s == args.warmup:
            if n > 1:
                tdist.barrier()
            start = time.perf_counter()
        t0 = time.perf_counter()
        batch = torch.from_numpy(x[order[s * args.batch_size : (s + 1) * args.batch_size]])
        loss = torch.nn.functional.mse_loss(torch.sigmoid(caller(batch)), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    window = time.perf_counter() - start
    count = torch.tensor([args.steps * args.batch_size, 0.0], dtype=torch.float64)
    if n > 1:
        slowest = torch.tensor([window], dtype=torch.float64)
        tdist.all_reduce(count)
        tdist.all_reduce(slowest, op=tdist.ReduceOp.MAX)
        window = float(slowest[0])
        tdist.destroy_process_group()
    result = {
        "system": "torch",
        "ranks": n,
        "data": data_name,
        "step_ms": 1e3 * statistics.median(times[args.warmup :]),
        "examples_per_s": float(count[0]) / window,
        "final_loss": float(loss.item()),
    }
    return result if r == 0 else None


# ----------------------------------------------------------------------------- driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(system: str, ranks: int, args, wrap: bool = False, spin: bool = False) -> dict:
    from minigrad.distributed.launch import mpirun_command

    cmd = [sys.executable, __file__, "--worker", system, "--ranks", str(ranks)]
    cmd += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    cmd += ["--batch-size", str(args.batch_size), "--port", str(free_port())]
    if args.data:
        cmd += ["--data", args.data]
    if wrap:
        cmd.append("--wrap")
    if ranks > 1 or wrap:
        cmd = mpirun_command(ranks) + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if spin:  # wait for the other ranks in a busy loop, as MPI_Waitall does
        env["MINIGRAD_MPI_SPIN_SECONDS"] = "inf"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[0][len("RESULT ") :])


def ring_allreduce_seconds(p: int, nbytes: int, bandwidth: float, latency: float) -> float:
    """Ring all-reduce: 2(p-1) steps (reduce-scatter, then all-gather), each moving
    nbytes/p and paying one message latency."""
    return 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def tree_allreduce_seconds(p: int, nbytes: int, bandwidth: float, latency: float) -> float:
    """Recursive doubling (what MPI picks for small messages): log2(p) exchanges of the
    whole buffer."""
    return math.ceil(math.log2(p)) * (latency + nbytes / bandwidth)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=60, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--data", help="folder with MNIST (default: $MINIGRAD_DATA, else ../shared/data)"
    )
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch's DDP reference")
    p.add_argument("--worker", choices=["minigrad", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--wrap", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        result = (worker_minigrad if args.worker == "minigrad" else worker_torch)(args)
        if result is not None:
            print("RESULT " + json.dumps(result), flush=True)
        if args.worker == "torch":  # gloo's threads can abort the interpreter's shutdown
            sys.stdout.flush()
            os._exit(0)
        return

    try:
        import torch  # noqa: F401

        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    # (system, ranks, wrapped in DDP, waiting ranks spin instead of sleeping between polls)
    configs = [("minigrad", 1, False, False), ("minigrad", 1, True, False)]
    configs += [("minigrad", 2, True, False), ("minigrad", 2, True, True)]
    if have_torch:
        configs += [("torch", 1, False, False), ("torch", 2, False, False)]
    runs: dict = {c: [] for c in configs}
    for rep in range(args.repeat):
        for c in configs:
            runs[c].append(launch(c[0], c[1], args, wrap=c[2], spin=c[3]))
            rate = runs[c][-1]["examples_per_s"]
            print(f"  repeat {rep + 1}/{args.repeat}: {c} {rate:.0f} ex/s", file=sys.stderr)
    report(runs, configs, args)


def report(runs: dict, configs: list, args) -> None:
    def med(c, key):
        return statistics.median(r[key] for r in runs[c])

    one, one_wrapped, two = configs[0], configs[1], configs[2]
    first = runs[one][0]
    print(
        f"conv autoencoder (channels 16, 8; {first['params']:,} parameters), {first['data']}, "
        f"batch {args.batch_size} per rank, 1 thread per rank, {args.steps} timed steps, "
        f"median of {args.repeat} runs\n"
    )
    head = ["system", "ranks", "wrapper", "step ms", "examples/s", "speed-up", "efficiency"]
    widths = [10, 5, 10, 8, 11, 8, 10]
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths)))
    efficiency = {}
    for c in configs:
        base = (c[0], 1, False, False)
        thr, base_thr = med(c, "examples_per_s"), med(base, "examples_per_s")
        speedup = thr / base_thr
        efficiency[c] = speedup / c[1]
        wrapper = ("DDP" if c[2] or c[1] > 1 else "-") + (", spin" if c[3] else "")
        cells = [c[0], c[1], wrapper, f"{med(c, 'step_ms'):.2f}", f"{thr:,.0f}"]
        cells += [f"{speedup:.2f}", f"{speedup / c[1]:.1%}"]
        print(" ".join(f"{v:>{w}}" for v, w in zip(cells, widths)))
    if ("torch", 2, False, False) in efficiency:
        ratio = efficiency[two] / efficiency[("torch", 2, False, False)]
        print(f"\n2-rank efficiency, minigrad / PyTorch: {ratio:.2f}")

    grad_bytes = runs[two][0]["gradient_bytes"]
    ar_grad = med(two, "allreduce_grad_ms") / 1e3
    ar_one = med(two, "allreduce_1float_ms") / 1e3
    wrapper_2 = med(two, "ddp_ms_per_step") / 1e3
    wait_2 = med(two, "wait_ms_per_step") / 1e3
    wrapper_1 = med(one_wrapped, "ddp_ms_per_step") / 1e3
    compute = med(one, "step_ms") / 1e3
    print(f"\ngradient: {grad_bytes:,} bytes in {runs[two][0]['buckets']} bucket(s)")
    print(
        f"2 ranks here (shared memory), blocking Allreduce (median of 300): of the gradient "
        f"{ar_grad * 1e6:.1f} us, of one float {ar_one * 1e6:.1f} us"
    )
    print(
        f"wrapper's time inside backward, per step: {wrapper_2 * 1e3:.3f} ms on 2 ranks (blocked "
        f"in the final wait {wait_2 * 1e3:.3f} ms; both include waiting for the slower rank), "
        f"{wrapper_1 * 1e3:.3f} ms on 1 rank (no peer: packing, bookkeeping, unpacking)"
    )
    t_wrapper = wrapper_1  # the wrapper's own work, without waiting for a peer
    print("\nestimate, weak scaling (batch per rank fixed), no overlap counted:")
    print("  t_step(p) = t_compute + t_wrapper + t_allreduce(p); efficiency = t_compute / t_step")
    print(
        f"  t_compute = {compute * 1e3:.2f} ms (1 rank, measured), t_wrapper = "
        f"{t_wrapper * 1e3:.3f} ms (1 rank, measured)"
    )
    print(
        "  ring: t_allreduce = 2(p-1)/p * bytes / B + 2(p-1) * a; recursive doubling: "
        "log2(p) * (a + bytes / B)"
    )
    print(
        f"  B = 10 Gb/s, a = {NETWORK_LATENCY_S * 1e6:.0f} us per message (assumed for TCP "
        f"on 10 GbE; here, in shared memory, one float takes {ar_one * 1e6:.1f} us)"
    )
    print(f"  {'ranks':>5} {'ring ms':>8} {'efficiency':>10} {'rec.dbl ms':>10} {'efficiency':>10}")
    for ranks in (2, 8, 64):
        ring = ring_allreduce_seconds(ranks, grad_bytes, NETWORK_BYTES_PER_S, NETWORK_LATENCY_S)
        tree = tree_allreduce_seconds(ranks, grad_bytes, NETWORK_BYTES_PER_S, NETWORK_LATENCY_S)
        e_ring = compute / (compute + t_wrapper + ring)
        e_tree = compute / (compute + t_wrapper + tree)
        print(
            f"  {ranks:>5} {ring * 1e3:>8.3f} {e_ring:>10.1%} {tree * 1e3:>10.3f} {e_tree:>10.1%}"
        )
    # the gradient size at which a 64-rank ring all-reduce costs as much as the compute
    even = (compute - 2 * 63 * NETWORK_LATENCY_S) * NETWORK_BYTES_PER_S / (2 * 63 / 64)
    print(
        f"  on 64 ranks the ring all-reduce would take as long as the compute for a gradient "
        f"of {even / 1e6:,.1f} MB (this model's: {grad_bytes / 1e3:.1f} kB)"
    )


if __name__ == "__main__":
    main()
