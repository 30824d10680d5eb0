"""Data-parallel training over MPI (``pip install "minigrad[mpi]"``), PyTorch-style.

Every process (rank) runs the same script on its own share of the data; after each
``backward()`` the gradients are averaged across the ranks, so every rank takes the same
optimizer step and the model stays identical everywhere::

    import minigrad.distributed as dist

    dist.init()                                   # MPI up; a failing rank aborts the job
    model = build_model()
    ddp = dist.DistributedDataParallel(model)     # copies rank 0's weights to every rank
    opt = optim.Adam(model.parameters())
    sampler = dist.DistributedSampler(train_set, shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                  # a new shuffle each epoch, the same on all
        for x, y in batches(train_set, sampler):  # this rank's shard; batch size per rank
            loss = F.cross_entropy(ddp(x), y)     # ddp.loss(x) calls model.loss(x) the same way
            opt.zero_grad()
            loss.backward()                       # gradients averaged over the ranks here
            opt.step()
    dist.print0("done")                           # printed once, by rank 0

Run it with ``mpirun -n 4 python train.py`` (one host) or ``mpirun -H a,b -n 8 ...``. The
same script runs without ``mpirun`` (and without mpi4py) as a single process: ``rank()`` is
0, ``world_size()`` 1 and ``is_main_process()`` True.

What lives where: ``comm`` (init, rank, barrier, broadcasts, all_reduce, abort),
``ddp`` (DistributedDataParallel and its bucketed, overlapped gradient averaging),
``sampler`` (DistributedSampler), ``rank_zero`` (printing and checkpointing on rank 0 only).
"""

from minigrad.distributed.comm import (
    abort,
    all_reduce,
    barrier,
    broadcast_optimizer_state,
    broadcast_parameters,
    get_comm,
    init,
    is_initialized,
    is_main_process,
    launched_by_mpi,
    rank,
    throughput,
    world_size,
)
from minigrad.distributed.ddp import DistributedDataParallel, data_parallel
from minigrad.distributed.rank_zero import print0, rank_zero_only, save_on_main
from minigrad.distributed.sampler import DistributedSampler

__all__ = [
    "DistributedDataParallel",
    "DistributedSampler",
    "abort",
    "all_reduce",
    "barrier",
    "broadcast_optimizer_state",
    "broadcast_parameters",
    "data_parallel",
    "get_comm",
    "init",
    "is_initialized",
    "is_main_process",
    "launched_by_mpi",
    "print0",
    "rank",
    "rank_zero_only",
    "save_on_main",
    "throughput",
    "world_size",
]
