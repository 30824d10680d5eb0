"""minigrad: a small reverse-mode autograd engine over NumPy, with convolution
and pooling kernels in C/OpenMP.  ``import minigrad as mg``."""

__version__ = "0.1.0"

import os as _os

# OpenBLAS's workers spin for ~2^28 cycles after each NumPy matmul and take the second
# core from the next kernel (conv2d fwd+bwd at 2 threads: 16 ms alone, 27 ms right
# after a Linear-sized matmul); OPENBLAS_THREAD_TIMEOUT=4 lets them sleep. OpenBLAS
# reads it once, when NumPy loads, so it is set only for that load and the environment
# is put back (child processes and libraries loaded later keep their defaults). A value
# the user exported wins; NumPy imported before minigrad keeps its own setting.
# OpenMP's wait policy is deliberately left alone: minigrad's kernels and PyTorch share
# one libgomp in a process (whichever loaded it first), so OMP_WAIT_POLICY=PASSIVE here
# made PyTorch 1.5-3x slower. libgomp's default (spin briefly, then sleep) does not hold
# a core for long; `export OMP_WAIT_POLICY=PASSIVE` is the opt-in for a machine where
# minigrad alone shares very few cores with NumPy's threads.
_saved = _os.environ.get("OPENBLAS_THREAD_TIMEOUT")
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
try:
    import numpy as _np  # noqa: E402
finally:
    if _saved is None:
        _os.environ.pop("OPENBLAS_THREAD_TIMEOUT", None)

from minigrad import functional  # noqa: E402
from minigrad.autograd import (  # noqa: E402
    Function,
    GradcheckError,
    enable_grad,
    gradcheck,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minigrad.config import config, get_num_threads, set_num_threads, show_config  # noqa: E402
from minigrad.functional import (  # noqa: E402
    abs,
    cat,
    chunk,
    clamp,
    clip,
    exp,
    flatten,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    pad,
    permute,
    reshape,
    sigmoid,
    split,
    sqrt,
    squeeze,
    stack,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from minigrad.ops.checks import get_nan_check, set_nan_check  # noqa: E402
from minigrad.ops.reduce import amax, amin, max, min  # noqa: E402
from minigrad.rng import manual_seed  # noqa: E402
from minigrad.tensor import (  # noqa: E402
    Tensor,
    arange,
    as_tensor,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)

float32 = _np.float32
float64 = _np.float64
int64 = _np.int64

# Subpackages users reach as mg.nn, mg.optim, mg.kernels, mg.data, mg.models.
from minigrad import data, kernels, models, nn, optim  # noqa: E402
from minigrad.serialization import CheckpointError, load, save  # noqa: E402
