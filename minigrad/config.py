"""How minigrad was built and how many threads its kernels use."""

from __future__ import annotations

import platform
import sys

import numpy as np

from minigrad._C import core as _core

get_num_threads = _core.get_num_threads
set_num_threads = _core.set_num_threads


def _blas() -> str:
    """The BLAS NumPy uses (minigrad's own kernels use none)."""
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name', '?')} {info.get('version', '')} (via NumPy, for matmul)".strip()
    except Exception:  # older NumPy, or a build without the dict mode
        return "unknown (NumPy's)"


def config() -> dict:
    """The build and run-time configuration as a dict (what ``show_config`` prints)."""
    from minigrad import __version__

    return {
        "minigrad": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "openmp": _core.openmp_enabled(),
        "num_threads": _core.get_num_threads(),
        "max_threads": _core.max_threads(),
        "isa": _core.isa(),
        "cflags": _core.build_cflags(),
        "blas": _blas(),
    }


def show_config() -> None:
    """Print version, OpenMP on/off, thread count, the vector path the kernels run,
    compiler flags and BLAS."""
    cfg = config()
    width = max(len(k) for k in cfg)
    for k, v in cfg.items():
        if k == "openmp":
            v = "on" if v else "off (serial build: the compiler had no OpenMP)"
        if k == "isa":
            best = _core.best_isa()
            v = f"{v} (the CPU's best: {best}; MINIGRAD_ISA caps it)" if v != best else v
        print(f"{k:<{width}} : {v}")
