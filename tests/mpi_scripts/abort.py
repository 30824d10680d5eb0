"""Run under mpirun: rank 1 raises in its third training step while rank 0 goes on into
backward's all-reduce. The job must end (MPI_Abort) with rank 1's error, not hang."""

import sys

from ddp_setup import INIT_SEED, build, data, loss_of, make_optimizer

import minigrad.distributed as dist

dist.init()
model = build("convnet", "float32", INIT_SEED)
ddp = dist.DistributedDataParallel(model)
opt = make_optimizer("sgd", model)
x, y = data("float32")
for step in range(5):
    if dist.rank() == 1 and step == 2:
        raise ValueError("rank 1 cannot read its batch (test failure injected)")
    loss = loss_of("convnet", ddp, x[:4], y[:4])
    opt.zero_grad()
    loss.backward()
    opt.step()
print("rank", dist.rank(), "finished all steps: the abort did not happen", flush=True)
sys.exit(3)
