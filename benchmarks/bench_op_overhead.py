"""Python overhead of the kernel-backed ops (conv, pooling, local) on tiny inputs,
against PyTorch eager.

At these sizes (one 2-channel 6x6 image, a 3x3 kernel) the C kernels take a few
microseconds, so the time per call is the ops layer: argument parsing, the
unbatched / 1-d adapter, the NaN scan, the tape node, the backward dispatch.
``bench_overhead.py`` measures the same for the elementwise ops.

Each row times forward + backward (``y.sum().backward()``) of one public op,
median of interleaved repetitions, for minigrad and PyTorch at one thread.

    python3 benchmarks/bench_op_overhead.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402

# isort: split

import numpy as np  # noqa: E402

import minigrad.functional as F  # noqa: E402
from benchmarks._bench import (  # noqa: E402
    geomean,
    median_times,
    parse_args,
    print_table,
    set_threads,
    torch,
)

REPEAT = int(os.environ.get("MG_BENCH_REPEAT", "9"))


def cases(rng):
    x4 = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x3 = rng.standard_normal((1, 2, 8)).astype(np.float32)
    w4 = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    w3 = rng.standard_normal((2, 2, 3)).astype(np.float32)
    wt = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    wl = rng.standard_normal((2, 4, 4, 2, 3, 3)).astype(np.float32)
    # name, minigrad call, torch call (None where torch lacks the op), arrays needing grad
    return [
        ("conv2d", lambda x, w: F.conv2d(x, w, padding=1), "conv2d", (x4, w4)),
        ("conv2d unbatched", lambda x, w: F.conv2d(x, w), "conv2d", (x4[0], w4)),
        ("conv1d", lambda x, w: F.conv1d(x, w, padding=1), "conv1d", (x3, w3)),
        ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2), None, (x4, wt)),
        ("max_pool2d", lambda x: F.max_pool2d(x, 2), "max_pool2d", (x4,)),
        ("max_pool1d", lambda x: F.max_pool1d(x, 2), "max_pool1d", (x3,)),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), "avg_pool2d", (x4,)),
        ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, 2), None, (x4,)),
        ("lp_pool2d", lambda x: F.lp_pool2d(x, 2, 2), "lp_pool2d", (x4,)),
        ("locally_connected2d", lambda x, w: F.locally_connected2d(x, w), None, (x4, wl)),
    ]


def torch_call(name, arrays):
    tf = torch.nn.functional
    if name == "conv2d unbatched":
        return lambda x, w: tf.conv2d(x, w)
    if name == "conv2d" or name == "conv1d":
        return lambda x, w: getattr(tf, name)(x, w, padding=1)
    if name == "conv_transpose2d":
        return lambda x, w: tf.conv_transpose2d(x, w, stride=2)
    if name in ("max_pool2d", "max_pool1d", "avg_pool2d"):
        return lambda x: getattr(tf, name)(x, 2)
    if name == "adaptive_avg_pool2d":
        return lambda x: tf.adaptive_avg_pool2d(x, 2)
    if name == "lp_pool2d":
        return lambda x: tf.lp_pool2d(x, 2, 2)
    return None


def step_fn(fn, arrays, lib):
    if lib == "mg":
        ts = [mg.tensor(a, requires_grad=True) for a in arrays]
    else:
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]

    def step():
        for t in ts:
            t.grad = None
        fn(*ts).sum().backward()

    return step


def main() -> None:
    parse_args(__doc__)
    set_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for name, f_mg, _, arrays in cases(rng):
        f_t = torch_call(name, arrays) if torch is not None else None
        fns = {
            "mg": step_fn(f_mg, arrays, "mg"),
            "torch": step_fn(f_t, arrays, "torch") if f_t is not None else None,
        }
        t = median_times(fns, repeat=REPEAT, warmup=20, min_time=0.05)
        rows.append(
            {
                "op (fwd+bwd, tiny)": name,
                "mg us": t["mg"] * 1e6,
                "torch us": t["torch"] * 1e6,
                "mg/torch": t["mg"] / t["torch"],
            }
        )
    print(f"1 thread, median of {REPEAT} interleaved runs, microseconds per forward+backward")
    print_table(rows, ["op (fwd+bwd, tiny)", "mg us", "torch us", "mg/torch"])
    ratios = [r["mg/torch"] for r in rows if r["mg/torch"] == r["mg/torch"]]
    print(f"geomean mg/torch over rows with torch: {geomean(ratios):.2f}")
    print(f"geomean mg us over all rows: {geomean([r['mg us'] for r in rows]):.1f}")


if __name__ == "__main__":
    main()
