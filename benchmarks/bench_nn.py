"""Training-loop pieces of ``minigrad.nn`` / ``minigrad.optim`` against PyTorch eager
and a tape-free NumPy baseline, at 1 and 2 threads.

Cases (float32):
  mlp_step   one step of a 784-256-10 ReLU MLP on a batch of 128: forward,
             cross-entropy, backward, Adam update (the shape of an MNIST epoch)
  xent       cross_entropy forward + backward on (512, 1000) logits
  adam       one Adam step over 1M parameters in 4 tensors (optimizer arithmetic)

NumPy baseline: the same arithmetic written out by hand (forward, backward,
update), no tape, no objects: the floor for any Python engine over NumPy.
minigrad's dense layers use NumPy's matmul, so the BLAS thread count is set
too (through the bundled OpenBLAS, when it can be found).

    python3 benchmarks/bench_nn.py
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import sys

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

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad import nn, optim  # noqa: E402


def _blas_setter():
    """NumPy's bundled OpenBLAS thread setter, or None."""
    libs = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in (
            "scipy_openblas_set_num_threads64_",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            fn = getattr(lib, name, None)
            if fn is not None:
                return fn
    return None


_SET_BLAS = _blas_setter()


def threads(n: int) -> None:
    set_threads(n)
    if _SET_BLAS is not None:
        _SET_BLAS(n)


# --------------------------------------------------------------------------- cases


def mlp_case(rng):
    B, D, H, C = 128, 784, 256, 10
    x = rng.standard_normal((B, D)).astype(np.float32)
    y = rng.integers(0, C, B)

    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xt = mg.tensor(x)

    def ours():
        opt.zero_grad()
        F.cross_entropy(model(xt), y).backward()
        opt.step()

    theirs = None
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3, foreach=False)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tx), ty).backward()
            topt.step()

    params = [p.numpy().copy() for p in model.parameters()]
    adam = _NumpyAdam(params)

    def numpy_baseline():
        W1, b1, W2, b2 = params
        z = x @ W1.T + b1
        h = np.maximum(z, 0)
        logits = h @ W2.T + b2
        e = np.exp(logits - logits.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        p[np.arange(B), y] -= 1
        g = p / B
        gW2, gb2 = g.T @ h, g.sum(0)
        gh = (g @ W2) * (z > 0)
        gW1, gb1 = gh.T @ x, gh.sum(0)
        adam.step([gW1, gb1, gW2, gb2])

    return ours, theirs, numpy_baseline


class _NumpyAdam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.p, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        for p, g, m, v in zip(self.p, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            # Python floats: a NumPy float64 scalar would widen the float32 arrays
            denom = np.sqrt(v) / math.sqrt(1 - self.b2**self.t) + self.eps
            p -= (self.lr / (1 - self.b1**self.t)) * m / denom


def xent_case(rng):
    N, C = 512, 1000
    logits = rng.standard_normal((N, C)).astype(np.float32)
    y = rng.integers(0, C, N)
    xt = mg.tensor(logits, requires_grad=True)

    def ours():
        xt.grad = None
        F.cross_entropy(xt, y).backward()

    theirs = None
    if torch is not None:
        tx = torch.from_numpy(logits.copy()).requires_grad_(True)
        ty = torch.from_numpy(y)

        def theirs():
            tx.grad = None
            torch.nn.functional.cross_entropy(tx, ty).backward()

    def numpy_baseline():
        s = logits - logits.max(1, keepdims=True)
        lse = np.log(np.exp(s).sum(1, keepdims=True))
        logp = s - lse
        _ = -logp[np.arange(N), y].mean()
        g = np.exp(logp)
        g[np.arange(N), y] -= 1
        return g / N

    return ours, theirs, numpy_baseline


def adam_case(rng):
    shapes = [(512, 1024), (1024,), (1024, 512), (512,)]  # about 1.05M parameters
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [nn.Parameter(a.copy()) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = mg.tensor(g)
    opt = optim.Adam(params, lr=1e-3)

    theirs = None
    if torch is not None:
        tps = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
        for p, g in zip(tps, grads):
            p.grad = torch.from_numpy(g)
        topt = torch.optim.Adam(tps, lr=1e-3)
        theirs = topt.step

    adam = _NumpyAdam([a.copy() for a in arrays])
    return opt.step, theirs, lambda: adam.step(grads)


CASES = {"mlp_step": mlp_case, "xent": xent_case, "adam": adam_case}


def main() -> None:
    parse_args(__doc__)
    rng = np.random.default_rng(0)
    rows = []
    ratios: dict[int, list[float]] = {}
    for nt in thread_counts():
        threads(nt)
        for name, make in CASES.items():
            ours, theirs, base = make(rng)
            t = median_times(
                {"minigrad": ours, "torch": theirs, "numpy": base},
                repeat=9,
                warmup=3,
                min_time=0.05,
            )
            rows.append(
                {
                    "case": name,
                    "threads": nt,
                    "minigrad ms": 1e3 * t["minigrad"],
                    "torch ms": 1e3 * t["torch"],
                    "numpy ms": 1e3 * t["numpy"],
                    "mg/torch": t["minigrad"] / t["torch"],
                    "mg/numpy": t["minigrad"] / t["numpy"],
                }
            )
            ratios.setdefault(nt, []).append(t["minigrad"] / t["torch"])
    print_table(
        rows, ["case", "threads", "minigrad ms", "torch ms", "numpy ms", "mg/torch", "mg/numpy"]
    )
    for nt, r in ratios.items():
        print(f"geomean minigrad/torch at {nt} thread(s): {geomean(r):.2f}")
    if _SET_BLAS is None:
        print("note: could not set NumPy's BLAS thread count; it used its default")


if __name__ == "__main__":
    main()
