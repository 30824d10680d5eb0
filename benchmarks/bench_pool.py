"""Pooling kernels against PyTorch's CPU pooling and a NumPy strided-view baseline.

    python3 benchmarks/bench_pool.py            # 1 and 2 threads
    python3 benchmarks/bench_pool.py --threads 2

Cases (float32, NCHW), forward and backward of max / avg / Lp (p = 2) pooling:
  A: (128, 32, 28, 28), window 2x2, stride 2
  B: (32, 64, 56, 56), window 3x3, stride 2, padding 1 (Lp pooling has no padding
     argument, so its B case runs without)

Columns: median milliseconds of minigrad (public op under no_grad for forward, the
kernel for backward), of PyTorch (same thread count; forward under no_grad,
backward through autograd) and of NumPy (single-threaded whatever the row says);
GB/s = bytes the op must move (inputs read + outputs written, indices included)
per second of minigrad's time; xfloor = minigrad's time over that byte count at
the copy bandwidth measured in the same run (np.copyto of the input); and the
ratios minigrad / PyTorch and minigrad / NumPy (below 1: minigrad is faster).

"max fwd" is the training forward (values and int64 indices, what backward
needs); "max fwd noidx" is inference (values only).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# Two OpenMP runtimes share this process (ours and the one bundled with PyTorch);
# spinning idle workers would steal the CPU from the other system's threads.
# minigrad before NumPy: importing it loads NumPy with OPENBLAS_THREAD_TIMEOUT=4 (unless
# already set), which OpenBLAS reads when it loads; see minigrad/__init__.py. OpenMP's
# wait policy is left at its default, the same for minigrad and torch (one libgomp).
import minigrad as mg  # noqa: E402

# isort: split

import numpy as np  # noqa: E402
from minigrad._C.core import isa, openmp_enabled  # noqa: E402

import minigrad.functional as F  # noqa: E402
from benchmarks._bench import (  # noqa: E402
    geomean,
    median_times,
    parse_args,
    print_table,
    set_threads,
    thread_counts,
    torch,
)
from minigrad._C import pool as K  # noqa: E402

CASES = [
    ("A", (128, 32, 28, 28), 2, 2, 0),
    ("B", (32, 64, 56, 56), 3, 2, 1),
]
REPEAT = int(os.environ.get("MG_BENCH_REPEAT", "9"))


# ------------------------------------------------------------------ NumPy baseline


def _windows(xp: np.ndarray, k: int, s: int) -> np.ndarray:
    v = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
    return v[:, :, ::s, ::s]


def _pad(x: np.ndarray, p: int, value: float) -> np.ndarray:
    if p == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def np_max_fwd(x, k, s, p):
    w = _windows(_pad(x, p, -np.inf), k, s)
    flat = w.reshape(w.shape[:4] + (k * k,))
    arg = flat.argmax(axis=-1)
    return np.take_along_axis(flat, arg[..., None], -1)[..., 0], arg


def np_max_fwd_noidx(x, k, s, p):
    return _windows(_pad(x, p, -np.inf), k, s).max(axis=(-2, -1))


def np_scatter(shape, k, s, p, contributions):
    """Sum per-tap contributions (callable tap -> (N, C, OH, OW)) back to the input."""
    n, c, h, w = shape
    gp = np.zeros((n, c, h + 2 * p, w + 2 * p), np.float32)
    for a in range(k):
        for b in range(k):
            g = contributions(a, b)
            oh, ow = g.shape[2:]
            gp[:, :, a : a + s * oh : s, b : b + s * ow : s] += g
    return gp[:, :, p : p + h, p : p + w]


def np_avg_fwd(x, k, s, p):
    return _windows(_pad(x, p, 0.0), k, s).mean(axis=(-2, -1))


def np_lp_fwd(x, k, s):
    return np.sqrt((_windows(x, k, s) ** 2).sum(axis=(-2, -1)))


# ------------------------------------------------------------------ one case


def run_case(name, shape, k, s, p, threads, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    nbytes = x.nbytes
    dst = np.empty_like(x)
    tx = torch.from_numpy(x) if torch is not None else None
    y, idx = K.max_pool2d_forward(x, k, s, p, 1, False, True, 1)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    out_b, idx_b = y.nbytes, idx.nbytes
    lp_p = 0  # lp_pool2d has no padding
    ylp = K.lp_pool2d_forward(x, 2, k, s, False, 1)
    gylp = rng.standard_normal(ylp.shape).astype(np.float32)
    _, np_arg = np_max_fwd(x, k, s, p)

    def torch_bwd(fn, g):
        if torch is None:
            return None
        xt = torch.from_numpy(x.copy()).requires_grad_()
        with torch.enable_grad():
            out = fn(xt)
        tg = torch.from_numpy(g)

        def call():
            xt.grad = None
            out.backward(tg, retain_graph=True)

        return call

    tf = torch.nn.functional if torch is not None else None
    gy_over_y = np.where(ylp == 0, 0, gylp / np.where(ylp == 0, 1, ylp)).astype(np.float32)
    rows_spec = [
        # label, bytes, minigrad, torch, numpy
        (
            "max fwd",
            nbytes + out_b + idx_b,
            lambda: F.max_pool2d(x, k, s, p, return_indices=True),
            (lambda: tf.max_pool2d(tx, k, s, p, return_indices=True)) if tf else None,
            lambda: np_max_fwd(x, k, s, p),
        ),
        (
            "max fwd noidx",
            nbytes + out_b,
            lambda: F.max_pool2d(x, k, s, p),
            (lambda: tf.max_pool2d(tx, k, s, p)) if tf else None,
            lambda: np_max_fwd_noidx(x, k, s, p),
        ),
        (
            "max bwd",
            out_b + idx_b + nbytes,
            lambda: K.max_pool2d_backward(gy, idx, shape[2:], mg.get_num_threads()),
            torch_bwd(lambda a: tf.max_pool2d(a, k, s, p), gy),
            lambda: np_scatter(shape, k, s, p, lambda a, b: np.where(np_arg == a * k + b, gy, 0)),
        ),
        (
            "avg fwd",
            nbytes + out_b,
            lambda: F.avg_pool2d(x, k, s, p),
            (lambda: tf.avg_pool2d(tx, k, s, p)) if tf else None,
            lambda: np_avg_fwd(x, k, s, p),
        ),
        (
            "avg bwd",
            out_b + nbytes,
            lambda: K.avg_pool2d_backward(
                gy, shape[2:], k, s, p, False, True, None, mg.get_num_threads()
            ),
            torch_bwd(lambda a: tf.avg_pool2d(a, k, s, p), gy),
            lambda: np_scatter(shape, k, s, p, lambda a, b: gy / (k * k)),
        ),
        (
            "lp2 fwd",
            nbytes + ylp.nbytes,
            lambda: F.lp_pool2d(x, 2, k, s),
            (lambda: tf.lp_pool2d(tx, 2, k, s)) if tf else None,
            lambda: np_lp_fwd(x, k, s),
        ),
        (
            "lp2 bwd",
            2 * ylp.nbytes + 2 * nbytes,
            lambda: K.lp_pool2d_backward(gylp, x, ylp, 2, k, s, False, mg.get_num_threads()),
            torch_bwd(lambda a: tf.lp_pool2d(a, 2, k, s), gylp),
            lambda: np_scatter(shape, k, s, lp_p, lambda a, b: gy_over_y) * x,
        ),
    ]
    rows = []
    for nt in threads:
        set_threads(nt)
        with mg.no_grad():
            for label, nb, f_mg, f_torch, f_np in rows_spec:
                fns = {"mg": f_mg, "torch": f_torch, "numpy": f_np}
                fns["copy"] = lambda: np.copyto(dst, x)
                t = median_times(fns, repeat=REPEAT)
                copy_bw = 2 * nbytes / t["copy"]
                rows.append(
                    {
                        "case": f"{name} {label}",
                        "thr": nt,
                        "mg ms": t["mg"] * 1e3,
                        "torch ms": t["torch"] * 1e3,
                        "numpy ms": t["numpy"] * 1e3,
                        "GB/s": nb / t["mg"] / 1e9,
                        "xfloor": t["mg"] / (nb / copy_bw),
                        "mg/torch": t["mg"] / t["torch"],
                        "mg/numpy": t["mg"] / t["numpy"],
                    }
                )
    return rows


def main() -> None:
    parse_args(__doc__)
    rng = np.random.default_rng(0)
    threads = thread_counts()
    print(
        f"minigrad pool kernels: ISA {isa()}, OpenMP {openmp_enabled()}, threads {threads}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, repeat {REPEAT}"
    )
    rows = []
    for name, shape, k, s, p in CASES:
        print(f"case {name}: x {shape} float32, kernel {k}, stride {s}, padding {p}", flush=True)
        rows += run_case(name, shape, k, s, p, threads, rng)
    rows.sort(key=lambda r: (r["thr"], r["case"]))
    print_table(
        rows,
        ["case", "thr", "mg ms", "torch ms", "numpy ms", "GB/s", "xfloor", "mg/torch", "mg/numpy"],
    )
    for nt in threads:
        sel = [r for r in rows if r["thr"] == nt]
        print(
            f"{nt} thread(s): geomean mg/torch {geomean([r['mg/torch'] for r in sel]):.3f}, "
            f"max mg/torch {max(r['mg/torch'] for r in sel):.3f}, "
            f"geomean mg/numpy {geomean([r['mg/numpy'] for r in sel]):.3f}, "
            f"worst forward xfloor {max(r['xfloor'] for r in sel if 'fwd' in r['case']):.2f}"
        )


if __name__ == "__main__":
    main()
