"""How minigrad was built and how many threads its kernels use."""

from __future__ import annotations

import platform
import sys

import numpy as np

from minigrad._C import parallel as _parallel

get_num_threads = _parallel.get_num_threads
set_num_threads = _parallel.set_num_threads


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
        "openmp": _parallel.openmp_enabled(),
        "num_threads": _parallel.get_num_threads(),
        "max_threads": _parallel.max_threads(),
        "cflags": _parallel.build_cflags(),
        "blas": _blas(),
    }


def show_config() -> None:
    """Print version, OpenMP on/off, thread count, compiler flags and BLAS."""
    cfg = config()
    width = max(len(k) for k in cfg)
    for k, v in cfg.items():
        if k == "openmp":
            v = "on" if v else "off (serial build: the compiler had no OpenMP)"
        print(f"{k:<{width}} : {v}")
