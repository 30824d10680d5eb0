"""Run under mpirun: train a small model with DistributedDataParallel and write every
rank's parameters after every step to OUT/rank<r>.npz (and its stats to OUT/rank<r>.json).

    mpirun -n 2 python train_ddp.py KIND OPTIMIZER DTYPE BATCH STEPS BUCKET_MB OUT
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
from ddp_setup import INIT_SEED, build, data, loss_of, make_optimizer, named_arrays

import minigrad.distributed as dist

kind, opt_name, dtype, batch, steps, bucket_mb, out = sys.argv[1:]
batch, steps, bucket_mb, out = int(batch), int(steps), float(bucket_mb), Path(out)

dist.init()
r = dist.rank()
# Every rank starts from different weights: the wrapper must copy rank 0's.
model = build(kind, dtype, INIT_SEED + r)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
opt = make_optimizer(opt_name, model)
x, y = data(dtype)
sampler = dist.DistributedSampler(x, shuffle=True, seed=3)
sampler.set_epoch(1)
mine = sampler.indices()

saved = {f"0/{k}": v for k, v in named_arrays(model).items()}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for s in range(steps):
        idx = mine[s * batch : (s + 1) * batch]
        loss = loss_of(kind, ddp, x[idx], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        saved.update({f"{s + 1}/{k}": v for k, v in named_arrays(model).items()})
np.savez(out / f"rank{r}.npz", **saved)
stats = {k: v for k, v in ddp.stats.items()}
stats["warnings"] = [str(w.message) for w in caught]
stats["world_size"] = dist.world_size()
(out / f"rank{r}.json").write_text(json.dumps(stats))
