"""The MPI side: starting up, who am I, and the few collectives training needs.

mpi4py is imported only by ``init()`` (or by the first question asked inside an
``mpirun`` job), so that a script using these functions still runs as one ordinary
process on a machine without MPI.

A rank that raises while the others wait in a collective would leave them waiting
forever; ``init()`` therefore installs an exception hook that prints the traceback
and calls ``MPI_Abort`` on COMM_WORLD, which ends every rank of the job.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn, Union

import numpy as np

from minigrad.tensor import Tensor, unwrap

INSTALL_HINT = (
    'pip install "minigrad[mpi]" (brings mpi4py and Open MPI from PyPI), or build mpi4py '
    "against your system MPI: pip install --no-binary mpi4py mpi4py"
)

# Environment variables that MPI launchers set in every process they start
# (Open MPI, MPICH/Hydra and Intel MPI, PMIx-based launchers such as srun --mpi=pmix).
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS")

_comm: Any = None  # mpi4py's COMM_WORLD once init() ran
_MPI: Any = None  # the mpi4py.MPI module


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            f"minigrad.distributed needs mpi4py and an MPI library ({e}); {INSTALL_HINT}"
        ) from e
    return MPI


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (mpirun, mpiexec, srun) started this process."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


def init(num_threads: Union[int, str, None] = "auto") -> None:
    """Start MPI (once; later calls do nothing) and make a failing rank end the job.

    ``num_threads="auto"``: when ``OMP_NUM_THREADS`` is not set and several ranks share
    this host, each rank's kernels get (usable cores // ranks on this host) threads, so
    that the ranks do not fight over the cores. An int sets that count; None leaves the
    thread count alone.
    """
    global _comm, _MPI
    if _comm is not None:
        return
    MPI = _import_mpi()
    if not MPI.Is_initialized():  # mpi4py initializes on import unless told not to
        MPI.Init()
    _MPI, _comm = MPI, MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        _install_abort_hook()
    _set_threads(num_threads)


def _set_threads(num_threads: Union[int, str, None]) -> None:
    from minigrad.config import set_num_threads

    if num_threads is None:
        return
    if num_threads != "auto":
        set_num_threads(int(num_threads))
        return
    if "OMP_NUM_THREADS" in os.environ:
        return
    per_host = _ranks_on_this_host()
    if per_host > 1:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        # A rank bound to one core by the launcher sees one core: one thread.
        set_num_threads(max(1, min(cores, (os.cpu_count() or 1) // per_host)))


def _ranks_on_this_host() -> int:
    """From the launcher's environment (Open MPI, MPICH/Intel MPI), else by asking MPI
    (a collective: every rank is in init() at that point)."""
    for var in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    local = _comm.Split_type(_MPI.COMM_TYPE_SHARED)
    try:
        return local.Get_size()
    finally:
        local.Free()


def _install_abort_hook() -> None:
    previous = sys.excepthook

    def abort_on_exception(exc_type, exc, tb) -> None:
        try:
            n = _comm.Get_size()
            sys.stderr.write(
                f"minigrad.distributed: rank {_comm.Get_rank()} of {n} raised "
                f"{exc_type.__name__}; aborting all {n} ranks (MPI_Abort) so that the others "
                "do not wait for it forever\n"
            )
            previous(exc_type, exc, tb)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            _comm.Abort(1)

    sys.excepthook = abort_on_exception


def is_initialized() -> bool:
    return _comm is not None


def get_comm() -> Any:
    """mpi4py's COMM_WORLD (starting MPI if needed), for collectives not wrapped here."""
    init()
    return _comm


def _active() -> bool:
    """True when this process is part of an MPI job (initializing MPI if a launcher
    started it); False for a plain single process, which then needs no mpi4py."""
    if _comm is None and launched_by_mpi():
        init()
    return _comm is not None


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 outside an MPI job)."""
    return _comm.Get_rank() if _active() else 0


def world_size() -> int:
    """The number of ranks in the job (1 outside an MPI job)."""
    return _comm.Get_size() if _active() else 1


def is_main_process() -> bool:
    """Whether this is rank 0, the one that prints, logs and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank got here."""
    if _active():
        _comm.Barrier()


def abort(message: str = "", code: int = 1) -> NoReturn:
    """End every rank of the job now (``MPI_Abort``), after printing ``message``. Use it
    where one rank alone finds a fatal condition: a plain ``sys.exit`` on one rank
    would leave the others waiting in their next collective."""
    if message:
        sys.stderr.write(f"rank {rank()}: {message}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    if _active():
        _comm.Abort(code)
    raise SystemExit(code)


# ----------------------------------------------------------------------------- broadcasts


def _arrays(module_or_tensors: Any) -> list:
    """(name, array) for every parameter and buffer of a Module, or for each Tensor /
    array of an iterable (named by position)."""
    if hasattr(module_or_tensors, "named_parameters"):
        out = [(n, p.numpy()) for n, p in module_or_tensors.named_parameters()]
        out += [(n, np.asarray(b)) for n, b in module_or_tensors.named_buffers()]
        return out
    if isinstance(module_or_tensors, (Tensor, np.ndarray)):
        raise TypeError(
            "broadcast_parameters: expected a Module or an iterable of Tensors, got a single "
            f"{type(module_or_tensors).__name__} (wrap it in a list)"
        )
    return [(str(i), unwrap(t)) for i, t in enumerate(module_or_tensors)]


def _check_root(root: int) -> None:
    n = world_size()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < n:
        raise ValueError(f"root: expected a rank in [0, {n}), got {root!r}")


def _check_same_everywhere(what: str, signature: list) -> None:
    """Raise the same error on every rank when the ranks disagree about ``signature``
    (a broadcast of differently shaped arrays would corrupt memory or hang)."""
    mine = repr(signature)
    every = _comm.allgather(mine)
    if any(s != every[0] for s in every):
        bad = next(r for r, s in enumerate(every) if s != every[0])
        raise ValueError(
            f"{what}: the ranks hold different models: rank 0 has {every[0][:300]}, "
            f"rank {bad} has {every[bad][:300]}"
        )


def broadcast_parameters(module_or_tensors: Any, root: int = 0) -> None:
    """Overwrite every rank's parameters and buffers with rank ``root``'s, in place
    (Parameter objects, ties and optimizers keep holding the same arrays)."""
    _check_root(root)
    if not _active():
        return
    arrays = _arrays(module_or_tensors)
    _check_same_everywhere("broadcast_parameters", [(n, a.shape, str(a.dtype)) for n, a in arrays])
    for _, a in arrays:
        if a.flags.c_contiguous and a.flags.writeable:
            _comm.Bcast(a, root=root)
        else:  # MPI needs one contiguous block: go through a copy
            tmp = np.ascontiguousarray(a)
            _comm.Bcast(tmp, root=root)
            a[...] = tmp


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimizer state (moments, step counts, learning
    rates): after resuming from a checkpoint that only ``root`` loaded. The state of
    optimizers that saw the same averaged gradients is already identical everywhere."""
    _check_root(root)
    if not _active():
        return
    state = optimizer.state_dict() if _comm.Get_rank() == root else None
    state = _comm.bcast(state, root=root)
    if _comm.Get_rank() != root:
        optimizer.load_state_dict(state)


# ----------------------------------------------------------------------------- reductions

_OPS = ("sum", "mean", "max", "min")


def all_reduce(value: Any, op: str = "sum") -> Any:
    """The ``op`` ("sum", "mean", "max" or "min") of ``value`` over all ranks, on every
    rank: a Python number for a number, a new array for an array or Tensor."""
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
    scalar = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    if not scalar and not isinstance(value, (np.ndarray, Tensor)):
        raise TypeError(
            f"all_reduce: expected a number, an array or a Tensor, got {type(value).__name__}"
        )
    arr = np.array(unwrap(value), order="C")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"all_reduce: expected a numeric dtype, got {arr.dtype}")
    if op == "mean" and arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    n = world_size()
    if n > 1:
        mpi_op = {"sum": _MPI.SUM, "mean": _MPI.SUM, "max": _MPI.MAX, "min": _MPI.MIN}[op]
        _comm.Allreduce(_MPI.IN_PLACE, arr, op=mpi_op)
        if op == "mean":
            arr /= n
    return arr.item() if scalar else arr


def throughput(count: float, seconds: float) -> float:
    """Examples per second of the whole job: every rank's ``count`` added up, over the
    slowest rank's ``seconds`` (what the job as a whole achieved)."""
    total = all_reduce(float(count), "sum")
    slowest = all_reduce(float(seconds), "max")
    return total / slowest if slowest > 0 else float("inf")
