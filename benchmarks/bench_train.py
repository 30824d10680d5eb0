"""Training-step benchmark: one optimizer step (forward, backward, Adam) of each example
model in minigrad against the same model written in PyTorch, on MNIST-shaped batches.

Models (batch 64, 1x28x28 inputs, float32):
    conv-ae      ConvAutoencoder(1, channels=(16, 8)): two 3x3 stride-2 convolutions,
                 two transpose convolutions, sigmoid + MSE (examples/conv_autoencoder.py)
    deep-ae      DeepAutoencoder([784, 1000, 500, 250, 30]), sigmoid units, logistic
                 cross-entropy (examples/deep_autoencoder.py)
    lenet        conv 1->20 5x5, relu, maxpool 2, conv 20->50 5x5, relu, maxpool 2,
                 fc 800->500, relu, fc 500->10, cross-entropy
    cnn-conv     examples/cnn_classifier.py with a 5x5 conv first layer (16 channels)
    cnn-tiled    ... with a 5x5 tiled convolution (2x2 tiles) first layer
    cnn-local    ... with a 5x5 locally connected first layer
PyTorch has no tiled or locally connected layer: its versions unfold the input and
contract it with the per-location weights (torch.nn.functional.unfold + einsum), the
usual way to write them there.

Each library runs in its own process with its own defaults (threads: --threads, the
same for both, NumPy's OpenBLAS included), the two alternating run after run; each run
times --steps steps after warm-up and reports the median step, the process's peak
resident memory ("MB") and how far the steps raised it above the memory after imports
and model building ("step MB"). The table gives medians over the runs and mg/torch
(< 1: minigrad faster).

Run:  python benchmarks/bench_train.py                  (all models, 1 and 2 threads)
      python benchmarks/bench_train.py --threads 2 --runs 5 --models lenet conv-ae
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = ["conv-ae", "deep-ae", "lenet", "cnn-conv", "cnn-tiled", "cnn-local"]
BATCH = 64


# ---------------------------------------------------------------- minigrad models


def _mg_model(name: str):
    import numpy as np

    import minigrad as mg
    import minigrad.functional as F
    from minigrad import nn, optim
    from minigrad.models import ConvAutoencoder, DeepAutoencoder

    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from cnn_classifier import build

    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.random((BATCH, 1, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, BATCH)
    if name == "conv-ae":
        model = ConvAutoencoder(1, channels=(16, 8))
        loss = lambda: model.loss(x)  # noqa: E731
    elif name == "deep-ae":
        model = DeepAutoencoder([784, 1000, 500, 250, 30])
        loss = lambda: model.loss(x)  # noqa: E731
    else:
        if name == "lenet":
            model = nn.Sequential(
                nn.Conv2d(1, 20, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(20, 50, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(800, 500),
                nn.ReLU(),
                nn.Linear(500, 10),
            )
        else:
            model = build(name.split("-")[1], (1, 28, 28))
        loss = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss().backward()
        opt.step()

    return step


# ---------------------------------------------------------------- PyTorch models


def _torch_model(name: str):
    import numpy as np
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tf

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((BATCH, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, BATCH))

    class Unshared(tnn.Module):
        """Tiled (tiles=2) or locally connected (tiles=None) 5x5 convolution, padding 2."""

        def __init__(self, c_in, c_out, k, hw, tiles):
            super().__init__()
            th, tw = (tiles, tiles) if tiles else hw
            self.k, self.hw, self.t = k, hw, (th, tw)
            self.weight = tnn.Parameter(torch.randn(c_out, th, tw, c_in * k * k) * 0.1)
            self.bias = tnn.Parameter(torch.zeros(c_out, th, tw))

        def forward(self, v):
            (h, w), (th, tw) = self.hw, self.t
            cols = tf.unfold(v, self.k, padding=self.k // 2)  # (N, C k k, H W)
            cols = cols.view(v.shape[0], -1, h // th, th, w // tw, tw)
            z = torch.einsum("nkaibj,oijk->noaibj", cols, self.weight)
            z = z + self.bias[None, :, None, :, None, :]
            return z.reshape(v.shape[0], -1, h, w)

    if name == "conv-ae":
        model = tnn.Sequential(
            tnn.Conv2d(1, 16, 3, 2, 1),
            tnn.ReLU(),
            tnn.Conv2d(16, 8, 3, 2, 1),
            tnn.ReLU(),
            tnn.ConvTranspose2d(8, 16, 3, 2, 1, 1),
            tnn.ReLU(),
            tnn.ConvTranspose2d(16, 1, 3, 2, 1, 1),
        )
        loss = lambda: tf.mse_loss(torch.sigmoid(model(x)), x)  # noqa: E731
    elif name == "deep-ae":
        sizes = [784, 1000, 500, 250, 30]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [tnn.Linear(a, b), tnn.Sigmoid()]
        layers.pop()  # the code layer is linear
        rev = sizes[::-1]
        for a, b in zip(rev[:-1], rev[1:]):
            layers += [tnn.Linear(a, b), tnn.Sigmoid()]
        layers.pop()  # logits: the loss applies the sigmoid
        model = tnn.Sequential(tnn.Flatten(), *layers)
        flat = x.reshape(BATCH, -1)
        loss = lambda: tf.binary_cross_entropy_with_logits(model(x), flat)  # noqa: E731
    else:
        if name == "lenet":
            first, c1, k = tnn.Conv2d(1, 20, 5), 20, 5
            model = tnn.Sequential(
                first,
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Conv2d(c1, 50, k),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Flatten(),
                tnn.Linear(800, 500),
                tnn.ReLU(),
                tnn.Linear(500, 10),
            )
        else:
            kind = name.split("-")[1]
            if kind == "conv":
                first = tnn.Conv2d(1, 16, 5, padding=2)
            else:
                first = Unshared(1, 16, 5, (28, 28), 2 if kind == "tiled" else None)
            model = tnn.Sequential(
                first,
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Conv2d(16, 32, 3, padding=1),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Flatten(),
                tnn.Linear(32 * 7 * 7, 10),
            )
        loss = lambda: tf.cross_entropy(model(x), y)  # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss().backward()
        opt.step()

    return step


# ---------------------------------------------------------------- one worker process


def worker(lib: str, name: str, threads: int, steps: int) -> None:
    if lib == "mg":
        import minigrad as mg

        mg.set_num_threads(threads)
        step = _mg_model(name)
    else:
        import torch

        torch.set_num_threads(threads)
        step = _torch_model(name)
    base = _rss_mb()
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = _peak_rss_mb()
    print(json.dumps({"step": statistics.median(times), "rss_mb": peak, "step_mb": peak - base}))


def _peak_rss_mb() -> float:
    """This process's peak resident memory: /proc's VmHWM (getrusage's ru_maxrss would
    report the parent's peak too, which Linux carries across fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), to tell the steps' memory from the imports'."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def _run(lib, name, threads, steps, python):
    # minigrad's Linear layers are NumPy matmuls: NumPy's OpenBLAS gets the same thread
    # count as the kernels (torch.set_num_threads covers PyTorch's own BLAS)
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS=str(threads))
    cmd = [python, __file__, "--worker", lib, "--models", name, "--threads", str(threads)]
    cmd += ["--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if r.returncode != 0:
        raise RuntimeError(f"{lib} {name}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--runs", type=int, default=3, help="process pairs per model and count")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per process")
    ap.add_argument("--torch-python", default=sys.executable, help="interpreter for torch")
    ap.add_argument("--worker", choices=["mg", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    threads = [int(t) for t in str(args.threads).split(",") if t.strip()]
    if args.worker:
        worker(args.worker, args.models[0], threads[0], args.steps)
        return
    tv = subprocess.run(
        [args.torch_python, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"batch {BATCH}, float32; torch {tv} ({args.torch_python}); {args.runs} alternating "
        f"process pairs x {args.steps} timed steps; load average before: "
        f"{os.getloadavg()[0]:.1f}"
    )
    sys.path[:0] = [ROOT, HERE]
    from _bench import geomean, print_table

    rows = []
    for nt in threads:
        ratios = []
        for name in args.models:
            got = {"mg": [], "torch": []}
            for _ in range(args.runs):
                got["mg"].append(_run("mg", name, nt, args.steps, sys.executable))
                got["torch"].append(_run("torch", name, nt, args.steps, args.torch_python))
            med = {
                k: tuple(statistics.median(r[f] for r in v) for f in ("step", "rss_mb", "step_mb"))
                for k, v in got.items()
            }
            ratios.append(med["mg"][0] / med["torch"][0])
            rows.append(
                {
                    "model": name,
                    "thr": nt,
                    "mg ms": med["mg"][0] * 1e3,
                    "torch ms": med["torch"][0] * 1e3,
                    "mg/torch": med["mg"][0] / med["torch"][0],
                    "mg MB": med["mg"][1],
                    "torch MB": med["torch"][1],
                    "mg step MB": med["mg"][2],
                    "torch step MB": med["torch"][2],
                }
            )
        print(f"{nt} thread(s): geomean step mg/torch = {geomean(ratios):.3f}", flush=True)
    cols = ["model", "thr", "mg ms", "torch ms", "mg/torch", "mg MB", "torch MB"]
    cols += ["mg step MB", "torch step MB"]
    print_table(rows, cols)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
