"""Cost of the saved-array fingerprint (the guard against writes through t.numpy()).

The C-kernel ops (conv2d, conv_transpose2d, locally connected / tiled, lp and
weighted pooling, kernels.c/g/h) fingerprint the inputs and outputs they save at
forward time and check them again in backward: one extra read of each saved array
per pass.  This benchmark times forward + backward through the public op (the whole
tape) with the fingerprint on and off (``fingerprint_saved`` toggled on the
Function, calls interleaved), on the shapes of bench_conv, bench_pool and
bench_local, next to PyTorch's forward + backward of the same op.

    python3 benchmarks/bench_guard.py [--threads 1,2]

Columns: ms with the guard / without, guard cost (on/off - 1), PyTorch ms and
mg (guarded) / torch.  The last table is the fingerprint alone, in GB/s.
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _bench import (  # noqa: E402
    geomean,
    median_times,
    parse_args,
    print_table,
    set_threads,
    thread_counts,
    torch,
)
from bench_conv import SHAPES as CONV_SHAPES  # noqa: E402
from bench_local import C_IN, C_OUT, TILES, H, K, N, W  # noqa: E402
from bench_pool import CASES as POOL_CASES  # noqa: E402
from minigrad._C.fingerprint import fingerprint  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad.ops.conv import Conv2dFn, ConvTranspose2dFn  # noqa: E402
from minigrad.ops.local import _LocalConvFn  # noqa: E402
from minigrad.ops.pool import LpPool2dFn, WeightedAvgPool2dFn  # noqa: E402


def _arr(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def cases(rng):
    """(name, Function class, minigrad fn, torch fn or None, input arrays)."""
    out = []
    tF = torch.nn.functional if torch is not None else None
    for name, xs, ws, s, p, op, transposed in CONV_SHAPES:
        x, w = _arr(rng, xs), _arr(rng, ws) * 0.1
        if transposed:
            opts = {"bias": None, "stride": s, "padding": p, "output_padding": op}
            mgf = partial(F.conv_transpose2d, **opts)
            tf = tF and partial(tF.conv_transpose2d, **opts)
            out.append((f"conv_transpose2d {name}", ConvTranspose2dFn, mgf, tf, [x, w]))
        else:
            mgf = partial(F.conv2d, bias=None, stride=s, padding=p)
            tf = tF and partial(tF.conv2d, bias=None, stride=s, padding=p)
            out.append((f"conv2d {name}", Conv2dFn, mgf, tf, [x, w]))
    for name, shape, k, s, p in POOL_CASES:
        x = np.abs(_arr(rng, shape)) + 0.1
        out.append(
            (
                f"lp_pool2d {name} k{k} s{s}",
                LpPool2dFn,
                lambda x, k=k, s=s: F.lp_pool2d(x, 2.0, k, s),
                tF and partial(tF.lp_pool2d, norm_type=2.0, kernel_size=k, stride=s),
                [x],
            )
        )
        kw = np.full((k, k), 1.0 / (k * k), np.float32)
        out.append(
            (
                f"weighted_avg_pool2d {name} k{k} s{s} p{p}",
                WeightedAvgPool2dFn,
                lambda x, kw, k=k, s=s, p=p: F.weighted_avg_pool2d(x, k, s, p, weights=kw),
                None,
                [x, kw],
            )
        )
    x = _arr(rng, (N, C_IN, H, W))
    ho, wo = H, W  # stride 1, padding 1, 3x3
    out.append(
        (
            "locally_connected2d (bench_local)",
            _LocalConvFn,
            lambda x, w: F.locally_connected2d(x, w, None, 1, 1),
            None,
            [x, _arr(rng, (C_OUT, ho, wo, C_IN, K, K)) * 0.1],
        )
    )
    out.append(
        (
            "tiled_conv2d 2x2 (bench_local)",
            _LocalConvFn,
            lambda x, w: F.tiled_conv2d(x, w, None, 1, 1),
            None,
            [x, _arr(rng, (C_OUT, *TILES, C_IN, K, K)) * 0.1],
        )
    )
    return out


def _mg_step(cls, fn, arrays, guard):
    ins = [mg.tensor(a, requires_grad=True) for a in arrays]
    g = mg.tensor(np.ones(fn(*ins).shape, np.float32))

    def step():
        cls.fingerprint_saved = guard
        try:
            for t in ins:
                t.grad = None
            fn(*ins).backward(g)
        finally:
            cls.fingerprint_saved = True

    return step


def _torch_step(fn, arrays):
    if torch is None or fn is None:
        return None
    ins = [torch.tensor(a, requires_grad=True) for a in arrays]
    g = torch.ones_like(fn(*ins))

    def step():
        for t in ins:
            t.grad = None
        fn(*ins).backward(g)

    return step


def main() -> None:
    parse_args(__doc__)
    rng = np.random.default_rng(0)
    version = torch.__version__ if torch else "missing"
    print(f"load average before: {os.getloadavg()[0]:.1f}; torch: {version}")
    rows = []
    all_cases = cases(rng)
    for nt in thread_counts():
        set_threads(nt)
        for name, cls, fn, tfn, arrays in all_cases:
            t = median_times(
                {
                    "on": _mg_step(cls, fn, arrays, True),
                    "off": _mg_step(cls, fn, arrays, False),
                    "torch": _torch_step(tfn, arrays),
                },
                repeat=7,
                warmup=2,
            )
            rows.append(
                {
                    "op": name,
                    "thr": nt,
                    "guard ms": 1e3 * t["on"],
                    "no guard ms": 1e3 * t["off"],
                    "guard cost": t["on"] / t["off"] - 1,
                    "torch ms": 1e3 * t["torch"],
                    "mg/torch": t["on"] / t["torch"],
                }
            )
    print("forward + backward through the public op, median of 7 interleaved runs")
    print_table(
        rows, ["op", "thr", "guard ms", "no guard ms", "guard cost", "torch ms", "mg/torch"]
    )
    for nt in thread_counts():
        sel = [r for r in rows if r["thr"] == nt]
        costs = [r["guard cost"] for r in sel]
        print(
            f"{nt} thread(s): guard cost median {np.median(costs):+.1%}, max {max(costs):+.1%}; "
            f"geomean mg/torch (ops with a torch version) "
            f"{geomean([r['mg/torch'] for r in sel]):.3f}"
        )
    # The fingerprint alone.
    a = rng.standard_normal(32 * 64 * 56 * 56).astype(np.float32)
    fp_rows = []
    for nt in thread_counts():
        set_threads(nt)
        ts = []
        for _ in range(15):
            t0 = time.perf_counter()
            fingerprint(a)
            ts.append(time.perf_counter() - t0)
        c0 = time.perf_counter()
        for _ in range(15):
            a.copy()
        copy = (time.perf_counter() - c0) / 15
        med = float(np.median(ts))
        fp_rows.append(
            {
                "thr": nt,
                "MB": a.nbytes / 1e6,
                "ms": 1e3 * med,
                "GB/s": a.nbytes / med / 1e9,
                "copy GB/s": 2 * a.nbytes / copy / 1e9,
            }  # fmt: skip
        )
    print("\nthe fingerprint alone (a copy reads and writes: 2x bytes)")
    print_table(fp_rows, ["thr", "MB", "ms", "GB/s", "copy GB/s"])
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
