# cython: language_level=3
"""Thread-count controls and the NaN scan, kept under their old module name for the ops
that import them from here; they live in (and share the state of) minigrad._C.core."""

from minigrad._C.core import (  # noqa: F401
    build_cflags,
    get_num_threads,
    has_nan,
    max_threads,
    openmp_enabled,
    set_num_threads,
)
