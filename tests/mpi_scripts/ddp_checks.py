"""Run under mpirun -n 2: exercise DistributedDataParallel's edges and the collectives,
and write what happened (errors raised, largest differences, values) to
OUT/checks<rank>.json for tests/test_distributed.py to judge.

    mpirun -n 2 python ddp_checks.py OUT
"""

import copy
import json
import sys
import traceback
from pathlib import Path

import numpy as np
from ddp_setup import INIT_SEED, ConvNet, build, data, loss_of

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn, optim

out = Path(sys.argv[1])
dist.init()
r, n = dist.rank(), dist.world_size()
x, y = data("float64")
results: dict = {}


def check(fn):
    """Run one check on every rank; record its result or the error it raised."""
    try:
        results[fn.__name__] = {"value": fn()}
    except Exception as e:  # recorded for the test to judge
        results[fn.__name__] = {
            "error": type(e).__name__,
            "message": str(e),
            "where": traceback.format_exc(limit=3),
        }
    dist.barrier()
    return fn


def grads(model) -> dict:
    return {
        k: (None if p.grad is None else p.grad.numpy().copy()) for k, p in model.named_parameters()
    }


def max_diff(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def error_of(fn):
    try:
        fn()
    except Exception as e:
        return type(e).__name__
    return None


def my_batch(step: int, b: int = 4):
    i = np.arange(b) + b * (2 * step + r)  # rank-specific examples
    return x[i], y[i]


@check
def direct_call_then_backward():
    model = build("convnet", "float64", INIT_SEED)
    dist.DistributedDataParallel(model)
    xb, yb = my_batch(0)
    loss = loss_of("convnet", model, xb, yb)  # the model, not the wrapper
    loss.backward()


@check
def no_sync_then_sync():
    """Local accumulation of batch A, then a synced backward of batch B: the gradient is
    the mean over ranks of (g_A + g_B), computed here without the wrapper."""
    model = build("convnet", "float64", INIT_SEED)
    ddp = dist.DistributedDataParallel(model)
    plain = copy.deepcopy(model)  # a copy is a plain model again
    (xa, ya), (xb, yb) = my_batch(0), my_batch(1)
    with ddp.no_sync():
        loss_of("convnet", ddp, xa, ya).backward()
    local_after_no_sync = grads(model)
    loss_of("convnet", ddp, xb, yb).backward()
    loss_of("convnet", plain, xa, ya).backward()
    loss_of("convnet", plain, xb, yb).backward()
    expected = {k: dist.all_reduce(g, "mean") for k, g in grads(plain).items()}
    # what the first backward left must be this rank's own gradient (not averaged)
    plain2 = copy.deepcopy(plain)
    plain2.zero_grad()
    loss_of("convnet", plain2, xa, ya).backward()
    return {
        "diff_synced": max_diff(grads(model), expected),
        "diff_local": max_diff(local_after_no_sync, grads(plain2)),
        "ranks_differ_locally": float(
            dist.all_reduce(float(np.abs(grads(plain2)["fc.bias"]).sum()), "max")
            - dist.all_reduce(float(np.abs(grads(plain2)["fc.bias"]).sum()), "min")
        ),
    }


@check
def two_calls_one_backward():
    model = build("convnet", "float64", INIT_SEED)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    plain = copy.deepcopy(model)
    (xa, ya), (xb, yb) = my_batch(0), my_batch(1)
    (loss_of("convnet", ddp, xa, ya) + 2 * loss_of("convnet", ddp, xb, yb)).backward()
    (loss_of("convnet", plain, xa, ya) + 2 * loss_of("convnet", plain, xb, yb)).backward()
    expected = {k: dist.all_reduce(g, "mean") for k, g in grads(plain).items()}
    return max_diff(grads(model), expected)


class Peeking(ConvNet):
    """Keeps its logits: a backward from them skips the end of the averaging."""

    def forward(self, x):
        self.logits = super().forward(x)
        return self.logits


@check
def backward_not_from_the_output():
    model = Peeking().double()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-4)
    xb, yb = my_batch(0)
    ddp(mg.tensor(xb))
    model.logits.sum().backward()  # reaches fc's marker, never the end
    ddp(mg.tensor(xb))  # the next call must say so


@check
def data_parallel_wraps():
    return type(dist.data_parallel(build("convnet", "float64", 0))).__name__


@check
def eval_without_grad():
    model = build("convnet", "float64", INIT_SEED)
    ddp = dist.DistributedDataParallel(model)
    with mg.no_grad():
        out = ddp(mg.tensor(x[:3]))
    return {"shape": list(out.shape), "steps": ddp.stats["steps"]}


class ReturnsArray(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(x.reshape(x.shape[0], -1)).numpy()


@check
def model_returns_no_tensor():
    ddp = dist.DistributedDataParallel(ReturnsArray().double())
    ddp(mg.tensor(x[:2]))


@check
def not_a_module():
    dist.DistributedDataParallel(lambda t: t)


@check
def zero_bucket_cap():
    dist.DistributedDataParallel(build("convnet", "float64", 0), bucket_cap_mb=0)


@check
def wrapped_twice():
    model = build("convnet", "float64", 0)
    dist.DistributedDataParallel(model)
    dist.DistributedDataParallel(model)


@check
def models_differ_across_ranks():
    model = nn.Linear(3 + r, 2)  # rank 1's weight has another shape
    dist.broadcast_parameters(model)


@check
def broadcast_optimizer_state():
    model = build("convnet", "float64", INIT_SEED)
    opt = optim.Adam(model.parameters(), lr=0.01)
    if r == 0:  # only rank 0 has taken a step (as if it alone loaded a checkpoint)
        loss_of("convnet", model, *my_batch(0)).backward()
        opt.step()
    dist.broadcast_optimizer_state(opt)
    state = opt.state_dict()["state"]
    flat = np.concatenate([np.ravel(v) for s in state.values() for v in s.values()])
    sizes = [dist.all_reduce(flat.size, "max"), dist.all_reduce(flat.size, "min")]
    if sizes[0] != sizes[1]:
        return {"entries": len(state), "sizes": sizes}
    # every rank must now hold rank 0's state: the elementwise max and min over ranks agree
    spread = dist.all_reduce(flat, "max") - dist.all_reduce(flat, "min")
    return {
        "entries": len(state),
        "size": flat.size,
        "spread": float(np.abs(spread).max()),
        "steps": [s["step"] for s in state.values()],
    }


@check
def collectives():
    return {
        "sum": dist.all_reduce(r + 1, "sum"),
        "mean": dist.all_reduce(float(r), "mean"),
        "max": dist.all_reduce(np.array([r, -r]), "max").tolist(),
        "min_tensor": dist.all_reduce(mg.tensor([float(r), 5.0]), "min").tolist(),
        "throughput": dist.throughput(10 * (r + 1), 1.0 + r),
        "bad_op": error_of(lambda: dist.all_reduce(1.0, "prod")),
    }


results["world_size"] = {"value": n}
(out / f"checks{r}.json").write_text(json.dumps(results))
