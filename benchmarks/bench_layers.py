"""The layers and optimizers added for PyTorch users, against PyTorch eager, at 1
and 2 threads: forward + backward of one layer-sized call (float32), and one
optimizer step over about 1M parameters.

Cases:
  batchnorm2d_train  F.batch_norm, batch statistics, (64, 32, 28, 28), affine
  batchnorm2d_eval   the same with running statistics
  layernorm          F.layer_norm over the last 512 of (128, 512), affine
  nearest_x2         F.interpolate nearest, (32, 64, 14, 14) -> 28 x 28
  bilinear_x2        F.interpolate bilinear, the same sizes
  gelu / silu        (64, 64, 14, 14)
  embedding          10000 x 128 table, (64, 32) indices
  rmsprop / adagrad / adadelta   one step over 1.05M parameters in 4 tensors

    python3 benchmarks/bench_layers.py [--threads 1,2]
"""

from __future__ import annotations

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


def fwd_bwd(mg_fn, torch_fn, *arrays):
    """Two closures running fn forward and backward (sum of output * a fixed
    upstream gradient) on copies of ``arrays`` that require grad."""
    ours_in = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    up = np.random.default_rng(1).standard_normal(mg_fn(*ours_in).shape).astype(np.float32)
    up_mg = mg.tensor(up)

    def ours():
        for t in ours_in:
            t.grad = None
        mg_fn(*ours_in).backward(up_mg)

    theirs = None
    if torch is not None:
        th_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
        up_t = torch.from_numpy(up)

        def theirs():
            for t in th_in:
                t.grad = None
            torch_fn(*th_in).backward(up_t)

    return ours, theirs


def batchnorm_case(rng, training):
    x = rng.standard_normal((64, 32, 28, 28)).astype(np.float32)
    w, b = rng.standard_normal(32).astype(np.float32), rng.standard_normal(32).astype(np.float32)
    rm, rv = mg.zeros(32), mg.ones(32)
    trm, trv = (torch.zeros(32), torch.ones(32)) if torch is not None else (None, None)
    return fwd_bwd(
        lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training),
        lambda x, w, b: torch.nn.functional.batch_norm(x, trm, trv, w, b, training=training),
        x,
        w,
        b,
    )


def layernorm_case(rng):
    x = rng.standard_normal((128, 512)).astype(np.float32)
    w, b = rng.standard_normal(512).astype(np.float32), rng.standard_normal(512).astype(np.float32)
    return fwd_bwd(
        lambda x, w, b: F.layer_norm(x, (512,), w, b),
        lambda x, w, b: torch.nn.functional.layer_norm(x, (512,), w, b),
        x,
        w,
        b,
    )


def resample_case(rng, mode):
    x = rng.standard_normal((32, 64, 14, 14)).astype(np.float32)
    return fwd_bwd(
        lambda x: F.interpolate(x, scale_factor=2, mode=mode),
        lambda x: torch.nn.functional.interpolate(x, scale_factor=2, mode=mode),
        x,
    )


def activation_case(rng, name):
    x = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
    return fwd_bwd(getattr(F, name), lambda x: getattr(torch.nn.functional, name)(x), x)


def embedding_case(rng):
    w = rng.standard_normal((10000, 128)).astype(np.float32)
    idx = rng.integers(0, 10000, (64, 32))
    return fwd_bwd(
        lambda w: F.embedding(mg.tensor(idx), w),
        lambda w: torch.nn.functional.embedding(torch.from_numpy(idx), w),
        w,
    )


def optimizer_case(rng, name, **kw):
    shapes = [(512, 1024), (1024,), (1024, 512), (512,)]  # about 1.05M parameters
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [nn.Parameter(a.copy()) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = mg.tensor(g)
    ours = getattr(optim, name)(params, **kw).step
    theirs = None
    if torch is not None:
        tps = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
        for p, g in zip(tps, grads):
            p.grad = torch.from_numpy(g)
        theirs = getattr(torch.optim, name)(tps, **kw).step
    return ours, theirs


CASES = {
    "batchnorm2d_train": lambda r: batchnorm_case(r, True),
    "batchnorm2d_eval": lambda r: batchnorm_case(r, False),
    "layernorm": layernorm_case,
    "nearest_x2": lambda r: resample_case(r, "nearest"),
    "bilinear_x2": lambda r: resample_case(r, "bilinear"),
    "gelu": lambda r: activation_case(r, "gelu"),
    "silu": lambda r: activation_case(r, "silu"),
    "embedding": embedding_case,
    "rmsprop": lambda r: optimizer_case(r, "RMSprop", momentum=0.9, centered=True),
    "adagrad": lambda r: optimizer_case(r, "Adagrad"),
    "adadelta": lambda r: optimizer_case(r, "Adadelta"),
}


def main() -> None:
    parse_args(__doc__)
    rng = np.random.default_rng(0)
    rows = []
    ratios: dict[int, list[float]] = {}
    for nt in thread_counts():
        set_threads(nt)
        for name, make in CASES.items():
            ours, theirs = make(rng)
            t = median_times({"minigrad": ours, "torch": theirs}, repeat=9, warmup=2)
            ratio = t["minigrad"] / t["torch"]
            rows.append(
                {
                    "case": name,
                    "threads": nt,
                    "minigrad ms": 1e3 * t["minigrad"],
                    "torch ms": 1e3 * t["torch"],
                    "mg/torch": ratio,
                }
            )
            ratios.setdefault(nt, []).append(ratio)
    print_table(rows, ["case", "threads", "minigrad ms", "torch ms", "mg/torch"])
    for nt, r in ratios.items():
        print(f"geomean minigrad/torch at {nt} thread(s): {geomean(r):.2f}")


if __name__ == "__main__":
    main()
