"""Convolution benchmark: minigrad's c / h / g kernels against PyTorch's CPU convolution
(oneDNN) and a NumPy im2col + matmul baseline, float32, at 1 and 2 threads.

For every shape of issue 3 it times the forward pass, the input gradient and the weight
gradient (of conv2d, or of conv_transpose2d for the decoder shapes), each system in the
same run with interleaved repetitions, and prints medians, GFLOP/s and ratios:

    mg/torch  < 1 means minigrad is faster than PyTorch
    np/mg     > 1 means minigrad is faster than the NumPy baseline

Run:  python3 benchmarks/bench_conv.py            (1 and 2 threads; --threads 1,2,4 to choose)
      python3 benchmarks/bench_conv.py --quick    (fewer repetitions)
      python3 benchmarks/bench_conv.py --train-shapes  (the layers of bench_train.py's
          models, batch 64, instead of issue 3's shapes)
      python3 benchmarks/bench_conv.py --cpu-time (1 thread, process CPU time instead of
          wall time: on a machine shared with other jobs, wall time mostly measures the
          waits for a core, CPU time what the kernels themselves cost)
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# minigrad before NumPy: importing it loads NumPy with OPENBLAS_THREAD_TIMEOUT=4 (unless
# already set), which OpenBLAS reads when it loads; see minigrad/__init__.py. OpenMP's
# wait policy is left at its default, the same for minigrad and torch (one libgomp).
import minigrad as mg  # noqa: E402

# isort: split

import numpy as np  # noqa: E402
from _bench import (  # noqa: E402
    geomean,
    median_times,
    parse_args,
    print_table,
    set_threads,
    thread_counts,
    torch,
)

from minigrad._C import conv as C  # noqa: E402
from minigrad._C import core  # noqa: E402

# name, x shape, w shape, stride, padding, output_padding, transposed
SHAPES = [
    ("mnist c1 1->32", (128, 1, 28, 28), (32, 1, 3, 3), 1, 1, 0, False),
    ("32->64 s2", (128, 32, 28, 28), (64, 32, 3, 3), 2, 1, 0, False),
    ("64->64 14x14", (128, 64, 14, 14), (64, 64, 3, 3), 1, 1, 0, False),
    ("T 64->32 7->14", (128, 64, 7, 7), (64, 32, 3, 3), 2, 1, 1, True),
    ("T 32->1 14->28", (128, 32, 14, 14), (32, 1, 3, 3), 2, 1, 1, True),
    ("64->128 56x56", (32, 64, 56, 56), (128, 64, 3, 3), 1, 1, 0, False),
    ("LeNet 1->20 5x5", (256, 1, 28, 28), (20, 1, 5, 5), 1, 0, 0, False),
    ("LeNet 20->50 5x5", (256, 20, 12, 12), (50, 20, 5, 5), 1, 0, 0, False),
]
# The convolutions of benchmarks/bench_train.py's models at its batch of 64 (--train-shapes):
# small channel counts, where a training step's time goes outside the big shapes above.
TRAIN_SHAPES = [
    ("ae 1->16 s2", (64, 1, 28, 28), (16, 1, 3, 3), 2, 1, 0, False),
    ("ae 16->8 s2", (64, 16, 14, 14), (8, 16, 3, 3), 2, 1, 0, False),
    ("ae T 8->16 7->14", (64, 8, 7, 7), (8, 16, 3, 3), 2, 1, 1, True),
    ("ae T 16->1 14->28", (64, 16, 14, 14), (16, 1, 3, 3), 2, 1, 1, True),
    ("cnn 1->16 5x5 p2", (64, 1, 28, 28), (16, 1, 5, 5), 1, 2, 0, False),
    ("cnn 16->32 14x14", (64, 16, 14, 14), (32, 16, 3, 3), 1, 1, 0, False),
    ("lenet 1->20 5x5", (64, 1, 28, 28), (20, 1, 5, 5), 1, 0, 0, False),
    ("lenet 20->50 5x5", (64, 20, 12, 12), (50, 20, 5, 5), 1, 0, 0, False),
]
LARGE = {"32->64 s2", "64->64 14x14", "64->128 56x56", "LeNet 20->50 5x5"}


# ---------------------------------------------------------------- NumPy's BLAS threads


def _openblas_libs() -> list:
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line and ".so" in line}
    except OSError:
        return []
    return [ctypes.CDLL(p) for p in sorted(paths)]


def _numpy_blas_core() -> str:
    """The OpenBLAS kernel NumPy runs (OPENBLAS_CORETYPE=Haswell makes it AVX2)."""
    for lib in _openblas_libs():
        for sym in (
            "scipy_openblas_get_corename64_",
            "scipy_openblas_get_corename",
            "openblas_get_corename64_",
            "openblas_get_corename",
        ):
            if hasattr(lib, sym):
                fn = getattr(lib, sym)
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def _numpy_blas_threads(n: int) -> None:
    """Give NumPy's OpenBLAS the same thread count (no threadpoolctl needed)."""
    for lib in _openblas_libs():
        for sym in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            if hasattr(lib, sym):
                getattr(lib, sym)(ctypes.c_int(n))
                return


# ---------------------------------------------------------------- NumPy im2col baseline


def _np_cols(x, kh, kw, s, p):
    """(N*Ho*Wo, C*kh*kw) unfolded input."""
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]
    N, Cc, Ho, Wo = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, Cc * kh * kw), (Ho, Wo)


def np_conv(x, w, s, p):
    cols, (Ho, Wo) = _np_cols(x, w.shape[2], w.shape[3], s, p)
    y = cols @ w.reshape(w.shape[0], -1).T
    return np.ascontiguousarray(y.reshape(x.shape[0], Ho, Wo, -1).transpose(0, 3, 1, 2))


def np_conv_grad_weight(x, gy, kh, kw, s, p):
    cols, _ = _np_cols(x, kh, kw, s, p)
    g = gy.transpose(0, 2, 3, 1).reshape(-1, gy.shape[1])
    return (g.T @ cols).reshape(gy.shape[1], x.shape[1], kh, kw)


def np_conv_grad_input(gy, w, in_hw, s, p):
    N, Co, Ho, Wo = gy.shape
    _, Ci, kh, kw = w.shape
    g = gy.transpose(0, 2, 3, 1).reshape(-1, Co)
    dcols = (g @ w.reshape(Co, -1)).reshape(N, Ho, Wo, Ci, kh, kw)
    H, W = in_hw
    dxp = np.zeros((N, Ci, H + 2 * p + s, W + 2 * p + s), gy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += dcols[..., i, j].transpose(
                0, 3, 1, 2
            )
    return dxp[:, :, p : p + H, p : p + W]


# ---------------------------------------------------------------- one shape


def _passes(xs, ws, s, p, op, transposed, rng):
    """Callables (mg, torch, numpy) for forward, grad-input, grad-weight; and GFLOP."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32) * 0.1
    kh, kw = ws[2:]
    conf = ((s, s), (p, p, p, p), (1, 1), 1)
    nt = mg.get_num_threads
    if not transposed:
        # conv: x -> y; the underlying convolution's input is x
        y = C.conv2d_forward(x, w, None, *conf, 1)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        flops = 2.0 * y.size * ws[1] * kh * kw
        mg_f = {
            "forward": lambda: C.conv2d_forward(x, w, None, *conf, nt()),
            "grad-input": lambda: C.conv2d_backward_input(gy, w, xs[2:], *conf, nt()),
            "grad-weight": lambda: C.conv2d_backward_weight(x, gy, (kh, kw), *conf, nt()),
        }
        np_f = {
            "forward": lambda: np_conv(x, w, s, p),
            "grad-input": lambda: np_conv_grad_input(gy, w, xs[2:], s, p),
            "grad-weight": lambda: np_conv_grad_weight(x, gy, kh, kw, s, p),
        }
    else:
        # conv_transpose(x) = h(w, x): the underlying convolution maps the output (big)
        # back onto x (small)
        H = (xs[2] - 1) * s - 2 * p + (kh - 1) + op + 1
        W = (xs[3] - 1) * s - 2 * p + (kw - 1) + op + 1
        pad = (p, max(0, p - op), p, max(0, p - op))
        tconf = ((s, s), pad, (1, 1), 1)
        y = C.conv2d_backward_input(x, w, (H, W), *tconf, 1)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        flops = 2.0 * x.size * ws[1] * kh * kw
        mg_f = {
            "forward": lambda: C.conv2d_backward_input(x, w, (H, W), *tconf, nt()),
            "grad-input": lambda: C.conv2d_forward(gy, w, None, *tconf, nt()),
            "grad-weight": lambda: C.conv2d_backward_weight(gy, x, (kh, kw), *tconf, nt()),
        }
        np_f = {
            "forward": lambda: np_conv_grad_input(x, w, (H, W), s, p),
            "grad-input": lambda: np_conv(gy, w, s, p)[:, :, : xs[2], : xs[3]],
            "grad-weight": lambda: np_conv_grad_weight(gy, x, kh, kw, s, p),
        }
    t_f = {k: None for k in mg_f}
    if torch is not None:
        tx, tw, tgy = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(gy)
        aten = torch.ops.aten.convolution_backward
        st, pd, dl = [s, s], [p, p], [1, 1]
        opad = [op, op] if transposed else [0, 0]

        def bwd(mask):
            return lambda: aten(tgy, tx, tw, None, st, pd, dl, transposed, opad, 1, mask)

        if transposed:
            fwd = lambda: torch.nn.functional.conv_transpose2d(tx, tw, None, s, p, op)  # noqa: E731
        else:
            fwd = lambda: torch.nn.functional.conv2d(tx, tw, None, s, p)  # noqa: E731
        t_f = {
            "forward": fwd,
            "grad-input": bwd([True, False, False]),
            "grad-weight": bwd([False, True, False]),
        }
    return mg_f, t_f, np_f, flops / 1e9


def _cpu_median_times(fns: dict, repeat: int, warmup: int) -> dict:
    """Like _bench.median_times, in process CPU seconds (meaningful for one thread)."""
    live = {k: f for k, f in fns.items() if f is not None}
    for f in live.values():
        for _ in range(warmup):
            f()
    samples: dict = {k: [] for k in live}
    for _ in range(repeat):
        for k, f in live.items():
            t0 = time.process_time()
            f()
            samples[k].append(time.process_time() - t0)
    return {k: statistics.median(samples[k]) if k in samples else float("nan") for k in fns}


def main() -> None:
    args = parse_args(
        __doc__,
        {
            "--quick": "fewer repetitions",
            "--cpu-time": "process CPU time at 1 thread (robust to other load)",
            "--train-shapes": "the convolutions of bench_train.py's models instead",
        },
    )
    shapes = TRAIN_SHAPES if args.train_shapes else SHAPES
    quick, cpu_time = args.quick, args.cpu_time
    repeat = 3 if quick else 5
    timer = _cpu_median_times if cpu_time else median_times
    threads = [1] if cpu_time else thread_counts()
    rng = np.random.default_rng(0)
    print(
        f"minigrad vector path: {mg.config()['isa']}; OpenMP: {mg.config()['openmp']}; "
        f"torch: {torch.__version__ if torch else 'missing'}; NumPy's OpenBLAS core: "
        f"{_numpy_blas_core()} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '')!r}); "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}; "
        f"load average before: {os.getloadavg()[0]:.1f}; timing: "
        f"{'median process CPU time' if cpu_time else 'median wall time'}"
    )
    # The machine's GEMM peak at each thread count: minigrad's own sgemm on 2048^3 (the
    # ceiling a convolution's GF/s can be read against; "% peak" in the table).
    peak = {}
    big = rng.standard_normal((2048, 2048)).astype(np.float32)
    for nt in threads:
        t = timer({"gemm": lambda nt=nt: core.gemm(big, big, num_threads=nt)}, repeat=3, warmup=1)
        peak[nt] = 2 * 2048**3 / t["gemm"] / 1e9
        print(f"GEMM peak (minigrad sgemm 2048^3), {nt} thread(s): {peak[nt]:.0f} GF/s")
    rows, totals = [], {}
    for name, xs, ws, s, p, op, transposed in shapes:
        mg_f, t_f, np_f, gflop = _passes(xs, ws, s, p, op, transposed, rng)
        for nt in threads:
            set_threads(nt)
            _numpy_blas_threads(nt)
            tot = {"mg": 0.0, "torch": 0.0, "numpy": 0.0}
            for pss in ("forward", "grad-input", "grad-weight"):
                t = timer(
                    {"mg": mg_f[pss], "torch": t_f[pss], "numpy": np_f[pss]},
                    repeat=repeat,
                    warmup=1,
                )
                for k in tot:
                    tot[k] += t[k]
                rows.append(_row(name, pss, nt, t, gflop, peak[nt]))
            rows.append(_row(name, "fwd+bwd", nt, tot, 3 * gflop, peak[nt]))
            totals[(name, nt)] = tot
    cols = [
        "shape",
        "pass",
        "thr",
        "mg ms",
        "mg GF/s",
        "% peak",
        "torch ms",
        "torch GF/s",
        "numpy ms",
        "mg/torch",
        "np/mg",
    ]
    print_table(rows, cols)
    print()
    for nt in threads:
        r = [totals[(n, nt)]["mg"] / totals[(n, nt)]["torch"] for n, *_ in shapes]
        q = [totals[(n, nt)]["numpy"] / totals[(n, nt)]["mg"] for n, *_ in shapes]
        print(
            f"{nt} thread(s), fwd+bwd: geomean mg/torch = {geomean(r):.3f}, worst mg/torch = "
            f"{max(r):.3f}, smallest np/mg = {min(q):.2f}"
        )
    print(
        f"load average after: {os.getloadavg()[0]:.1f} (on 2 cores, a load above ~2 means "
        "other processes share them and 2-thread timings mostly measure waiting)"
    )
    if 1 in threads and 2 in threads:
        for n, *_ in shapes:
            sp = totals[(n, 1)]["mg"] / totals[(n, 2)]["mg"]
            print(f"2-thread speed-up {n:18s} {sp:.2f}x" + ("  (large)" if n in LARGE else ""))


def _row(name, pss, nt, t, gflop, peak):
    return {
        "shape": name,
        "pass": pss,
        "thr": nt,
        "mg ms": t["mg"] * 1e3,
        "mg GF/s": gflop / t["mg"],
        "% peak": 100 * gflop / t["mg"] / peak,
        "torch ms": t["torch"] * 1e3,
        "torch GF/s": gflop / t["torch"],
        "numpy ms": t["numpy"] * 1e3,
        "mg/torch": t["mg"] / t["torch"],
        "np/mg": t["numpy"] / t["mg"],
    }


if __name__ == "__main__":
    main()
