"""Per-op overhead of the autograd engine on tiny tensors, against PyTorch eager.

The graph is a chain of 20 elementwise ops on shape-(8,) tensors, summed to a
scalar, then differentiated.  At this size the arithmetic is negligible, so the
time per op is the bookkeeping: building the node, wrapping the result, walking
the tape.  One repetition = forward + backward of the whole chain, measured for
minigrad, PyTorch (same thread count) and a NumPy baseline that does the same
forward and hand-written backward arithmetic with no tape at all (the floor for
any Python engine over NumPy).

    python3 benchmarks/bench_overhead.py            # table at 1 and 2 threads
    python3 benchmarks/bench_overhead.py --profile  # cProfile of minigrad's hot path
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _bench import geomean, median_times, print_table, set_threads, thread_counts, torch  # noqa: E402

import minigrad as mg  # noqa: E402

N_OPS = 20  # ops in the chain (the final sum included)
SHAPE = (8,)


def chain(x, w):
    """19 elementwise ops mixing unary/binary, tensor/scalar, then a sum: 20 ops.

    Written with methods and operators only, so the same code runs on minigrad
    and torch tensors."""
    h = x * w  # 1
    h = h + 1.0  # 2
    h = h.tanh()  # 3
    h = h * x  # 4
    h = h - w  # 5
    h = h.sigmoid()  # 6
    h = h * 2.0  # 7
    h = h + x  # 8
    h = h.exp()  # 9
    h = h / (w * w + 1.0)  # 10, 11, 12
    h = -h  # 13
    h = h.relu()  # 14
    h = h + w  # 15
    h = h * h  # 16
    h = h.sqrt()  # 17
    h = h - 0.5  # 18
    h = h * w  # 19
    return h.sum()  # 20


def numpy_step(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same chain with hand-derived backward: the cost of the arithmetic alone."""
    h1 = x * w
    h2 = h1 + 1.0
    h3 = np.tanh(h2)
    h4 = h3 * x
    h5 = h4 - w
    h6 = 1 / (1 + np.exp(-h5))
    h7 = h6 * 2.0
    h8 = h7 + x
    h9 = np.exp(h8)
    d = w * w + 1.0
    h10 = h9 / d
    h13 = -h10
    h14 = np.maximum(h13, 0)
    h15 = h14 + w
    h16 = h15 * h15
    h17 = np.sqrt(h16)
    h18 = h17 - 0.5
    h19 = h18 * w
    out = h19.sum()
    g19 = np.ones_like(h19)
    gw = g19 * h18
    g17 = g19 * w
    g16 = g17 / (2 * h17)
    g15 = g16 * 2 * h15
    gw = gw + g15
    g13 = g15 * (h14 > 0)
    g10 = -g13
    g9 = g10 / d
    gw = gw + (-g10 * h9 / (d * d)) * 2 * w
    g8 = g9 * h9
    gx = g8.copy()
    g6 = g8 * 2.0
    g5 = g6 * h6 * (1 - h6)
    gw = gw - g5
    gx = gx + g5 * h3
    g2 = g5 * x * (1 - h3 * h3)
    gx = gx + g2 * w
    gw = gw + g2 * x
    return out, gx, gw


def make_minigrad(dtype):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal(SHAPE).astype(dtype), requires_grad=True)
    w = mg.tensor(rng.standard_normal(SHAPE).astype(dtype), requires_grad=True)

    def step():
        x.grad = w.grad = None
        chain(x, w).backward()

    return step, (x, w)


def make_torch(dtype):
    if torch is None:
        return None
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal(SHAPE).astype(dtype), requires_grad=True)
    w = torch.tensor(rng.standard_normal(SHAPE).astype(dtype), requires_grad=True)

    def step():
        x.grad = w.grad = None
        chain(x, w).backward()

    return step


def make_forward_only(lib: str, dtype):
    """The chain's forward alone, recording the graph (grad mode on)."""
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal(SHAPE).astype(dtype), rng.standard_normal(SHAPE).astype(dtype)
    if lib == "torch":
        if torch is None:
            return None
        x, w = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    else:
        x, w = mg.tensor(xa, requires_grad=True), mg.tensor(wa, requires_grad=True)
    return lambda: chain(x, w)


def make_numpy(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(dtype)
    w = rng.standard_normal(SHAPE).astype(dtype)
    return lambda: numpy_step(x, w)


def check_same_gradients() -> None:
    """The three implementations must agree, or the timing compares different work."""
    step, (x, w) = make_minigrad(np.float64)
    step()
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    _, gx, gw = numpy_step(xa, wa)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-10)
    if torch is not None:
        xt = torch.tensor(xa, requires_grad=True)
        wt = torch.tensor(wa, requires_grad=True)
        chain(xt, wt).backward()
        np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-10)


def run_table(repeat: int) -> None:
    rows = []
    for nt in thread_counts():
        set_threads(nt)
        for dtype in (np.float32, np.float64):
            fns = {
                "minigrad": make_minigrad(dtype)[0],
                "torch": make_torch(dtype),
                "numpy": make_numpy(dtype),
            }
            t = median_times(fns, repeat=repeat, warmup=50, min_time=0.05)
            rows.append(
                {
                    "threads": nt,
                    "dtype": np.dtype(dtype).name,
                    "minigrad us/op": 1e6 * t["minigrad"] / N_OPS,
                    "torch us/op": 1e6 * t["torch"] / N_OPS,
                    "numpy us/op": 1e6 * t["numpy"] / N_OPS,
                    "mg/torch": t["minigrad"] / t["torch"],
                    "mg/numpy": t["minigrad"] / t["numpy"],
                }
            )
        fwd = {
            "minigrad": make_forward_only("minigrad", np.float32),
            "torch": make_forward_only("torch", np.float32),
        }
        t = median_times(fwd, repeat=repeat, warmup=50, min_time=0.05)
        rows.append(
            {
                "threads": nt,
                "dtype": "float32, forward only",
                "minigrad us/op": 1e6 * t["minigrad"] / N_OPS,
                "torch us/op": 1e6 * t["torch"] / N_OPS,
                "mg/torch": t["minigrad"] / t["torch"],
            }
        )
    cols = [
        "threads",
        "dtype",
        "minigrad us/op",
        "torch us/op",
        "numpy us/op",
        "mg/torch",
        "mg/numpy",
    ]
    print(
        f"forward+backward of a {N_OPS}-op elementwise chain on shape {SHAPE}, "
        f"median of {repeat} interleaved runs; us/op = time per op (forward + backward, "
        f"unless the row says forward only)"
    )
    print_table(rows, cols)
    full = [r["mg/torch"] for r in rows if "forward" not in r["dtype"]]
    print(f"geomean minigrad/torch, forward+backward rows: {geomean(full):.2f}x (goal: <= 2x)")


def run_profile() -> None:
    step, _ = make_minigrad(np.float32)
    for _ in range(100):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3000):
        step()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", action="store_true", help="cProfile minigrad's step")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    check_same_gradients()
    if args.profile:
        run_profile()
    else:
        run_table(args.repeat)


if __name__ == "__main__":
    main()
