"""minigrad: a small reverse-mode autograd engine over NumPy, with convolution
and pooling kernels in C/OpenMP.  ``import minigrad as mg``."""

__version__ = "0.1.0"

import os as _os

# Idle OpenMP threads spin by default; between our kernels NumPy's OpenBLAS runs
# matmuls on its own threads, and on a small machine the two pools then fight for
# the same cores (measured here: a small kernel went from 0.2 ms to 24 ms, and
# training epochs ran 20x slower).  Sleeping waits cost microseconds per kernel
# call instead.  This must be set before the kernels load libgomp; a value the
# user exported wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenBLAS's workers likewise spin for ~2^28 cycles after each NumPy matmul and
# take the second core from the next kernel (conv2d fwd+bwd at 2 threads: 16 ms
# alone, 27 ms right after a Linear-sized matmul).  Effective only when NumPy is
# first imported after minigrad.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as _np  # noqa: E402

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

# Subpackages users reach as mg.nn, mg.optim, mg.book_conv, mg.data, mg.models
# (mg.kernels: book_conv's old name, kept as an alias).
from minigrad import data, kernels, models, nn, optim  # noqa: E402
from minigrad.ops import book_conv  # noqa: E402
from minigrad.serialization import CheckpointError, load, save  # noqa: E402
