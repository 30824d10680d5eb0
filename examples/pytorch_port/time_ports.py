"""Time the ported scripts against the originals: minigrad vs PyTorch, same flags.

Runs ``mnist_main.py`` / ``vae_main.py`` here (with this interpreter, minigrad) and the
original pytorch/examples scripts (with ``--torch-python``, an interpreter that has torch
and torchvision), alternating, each as its own process in a fresh folder whose
``../data`` holds ``MNIST/raw``, as the scripts expect. Each output line is stamped as it
arrives; one epoch's seconds are from the first "Train Epoch" line (after the first
batch) to the end of the test pass (the "Test set" line), so imports and data loading are
left out. The process's whole wall time is reported too. Thread counts are pinned
(``--threads``, for OpenMP, OpenBLAS and MKL alike).

    python examples/pytorch_port/time_ports.py --torch-python /path/to/venv/bin/python \\
        --originals /path/to/pytorch-examples --data /tmp/mnist-root --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PORTS = {"mnist": "mnist_main.py", "vae": "vae_main.py"}
TEST_LINE = {"mnist": "Test set: Average loss", "vae": "====> Test set loss"}


def run(python, script, flags, epochs, data, threads, env_extra):
    """Run one script; returns (seconds an epoch, wall seconds, the last test line)."""
    with tempfile.TemporaryDirectory(prefix="port-time-") as top:
        os.symlink(os.path.abspath(data), os.path.join(top, "data"))
        cwd = os.path.join(top, "run")
        os.makedirs(os.path.join(cwd, "results"))
        env = dict(os.environ, **env_extra)
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [python, "-u", script, *flags],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        first_train = test_done = None
        result = ""
        lines = []
        for line in proc.stdout:
            now = time.perf_counter() - start
            lines.append(line)
            if line.startswith("Train Epoch") and first_train is None:
                first_train = now
            if any(key in line for key in TEST_LINE.values()):
                test_done, result = now, line.strip()
        wall = time.perf_counter() - start
        if proc.wait() != 0 or first_train is None or test_done is None:
            sys.stderr.write("".join(lines[-20:]))
            raise SystemExit(f"{script} failed (exit {proc.returncode})")
        return (test_done - first_train) / epochs, wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="interpreter with torch+torchvision")
    parser.add_argument("--originals", required=True, help="a pytorch/examples checkout")
    parser.add_argument("--data", required=True, help="folder holding MNIST/raw")
    parser.add_argument("--scripts", default="mnist,vae")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    minigrad_root = os.path.dirname(os.path.dirname(HERE))
    sides = {
        "minigrad": (sys.executable, {"PYTHONPATH": minigrad_root}),
        "pytorch": (args.torch_python, {}),
    }
    times: dict = {}
    for name in args.scripts.split(","):
        flags = ["--epochs", str(args.epochs), "--log-interval", "100"]
        for r in range(args.rounds):
            order = ["minigrad", "pytorch"] if r % 2 == 0 else ["pytorch", "minigrad"]
            for side in order:
                python, env = sides[side]
                script = (
                    os.path.join(HERE, PORTS[name])
                    if side == "minigrad"
                    else os.path.join(args.originals, name, "main.py")
                )
                epoch, wall, result = run(
                    python, script, flags, args.epochs, args.data, args.threads, env
                )
                times.setdefault((name, side), []).append((epoch, wall, result))
                print(
                    f"{name:5s} {side:8s} round {r}: {epoch:7.1f} s/epoch  "
                    f"process {wall:7.1f} s  | {result}",
                    flush=True,
                )
    print(f"\nmedians, {args.threads} thread(s), {args.epochs} epoch(s):")
    for name in args.scripts.split(","):
        med = {
            side: statistics.median(e for e, _, _ in times[(name, side)])
            for side in ("minigrad", "pytorch")
        }
        ratio = med["minigrad"] / med["pytorch"]
        print(
            f"{name:5s} minigrad {med['minigrad']:7.1f} s  pytorch {med['pytorch']:7.1f} s  "
            f"minigrad/pytorch {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
