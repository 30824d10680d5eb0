"""Small shared helpers for the ratio benchmarks: timing, thread control, tables.

Every benchmark measures minigrad, PyTorch's CPU kernel and a NumPy baseline
side by side in one process, interleaving repetitions so that a noisy neighbour
slows all three alike, and reports medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import minigrad as mg

try:  # torch is a benchmark-only dependency
    import torch
except ImportError:  # pragma: no cover - reported in the table instead
    torch = None


def set_threads(n: int) -> None:
    """Give minigrad and PyTorch the same thread count."""
    mg.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def median_times(
    fns: dict[str, Callable[[], object] | None],
    repeat: int = 7,
    warmup: int = 2,
    min_time: float = 0.0,
) -> dict[str, float]:
    """Median seconds per call of each function, repetitions interleaved.

    ``min_time`` > 0 loops a call until that many seconds pass, for tiny ops.
    A ``None`` entry (a missing system) gives ``nan``.
    """
    live = {k: f for k, f in fns.items() if f is not None}
    for f in live.values():
        for _ in range(warmup):
            f()
    samples: dict[str, list[float]] = {k: [] for k in live}
    for _ in range(repeat):
        for k, f in live.items():
            n = 0
            t0 = time.perf_counter()
            while True:
                f()
                n += 1
                dt = time.perf_counter() - t0
                if dt >= min_time:
                    break
            samples[k].append(dt / n)
    return {k: (statistics.median(samples[k]) if k in samples else float("nan")) for k in fns}


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        vals = []
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2 or 4, got {text!r}")
    return vals


_threads: list[int] | None = None  # set by parse_args(--threads)


def parse_args(doc: str | None, flags: dict[str, str] | None = None) -> argparse.Namespace:
    """The command line every benchmark takes: --help (the script's docstring),
    --threads 1,2 and the script's own on/off ``flags``; an unknown flag is an
    error rather than silently ignored."""
    global _threads
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--threads",
        type=_int_list,
        help="comma-separated thread counts (default: MG_BENCH_THREADS, else 1,2)",
    )
    for flag, text in (flags or {}).items():
        ap.add_argument(flag, action="store_true", help=text)
    args = ap.parse_args()
    _threads = args.threads
    return args


def thread_counts() -> list[int]:
    """Thread counts to measure: --threads, else MG_BENCH_THREADS=1,2,4, else 1 and 2."""
    if _threads:
        return list(_threads)
    env = os.environ.get("MG_BENCH_THREADS")
    if env:
        return _int_list(env)
    return [1, 2]


def print_table(rows: list[dict[str, object]], columns: list[str]) -> None:
    """Print rows of dicts as an aligned plain-text (also Markdown-friendly) table."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            if v != v:  # nan
                return "-"
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x == x and x > 0]
    if not xs:
        return float("nan")
    prod = 1.0
    for x in xs:
        prod *= x
    return prod ** (1.0 / len(xs))
