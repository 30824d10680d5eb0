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
from minigrad.autograd import Function, GradcheckError, gradcheck  # noqa: E402
from minigrad.config import config, get_num_threads, set_num_threads, show_config  # noqa: E402
from minigrad.device import accelerator, backends, cuda, device  # noqa: E402
from minigrad.functional import (  # noqa: E402
    abs,
    cat,
    chunk,
    clamp,
    clip,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    maximum,
    mean,
    minimum,
    pad,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
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

# First: binds the ops behind Tensor's methods (tensor.py cannot import them, see there).
from minigrad.ops import methods as _methods  # noqa: E402, F401, I001
from minigrad.ops.assign import masked_fill  # noqa: E402
from minigrad.ops.checks import get_nan_check, set_nan_check  # noqa: E402
from minigrad.ops.reduce import amax, amin  # noqa: E402
from minigrad.ops.tensor_ops import (  # noqa: E402
    argmax,
    argmin,
    gather,
    lerp,
    max,
    min,
    norm,
    topk,
)
from minigrad.rng import (  # noqa: E402
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from minigrad.tape import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minigrad.tensor import (  # noqa: E402
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    Tensor,
    allclose,
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)

# dtypes, under NumPy's and PyTorch's names
float32 = _np.float32
float64 = _np.float64
int64 = _np.int64
int32 = _np.int32
int16 = _np.int16
int8 = _np.int8
uint8 = _np.uint8
float = _np.float32  # noqa: A001 - PyTorch's names
double = _np.float64
long = _np.int64
int = _np.int32  # noqa: A001
bool = _np.bool_  # noqa: A001

# Subpackages users reach as mg.nn, mg.optim, mg.book_conv, mg.data, mg.models
# (mg.kernels: book_conv's old name, kept as an alias).
from minigrad import data, kernels, memory, models, nn, optim  # noqa: E402
from minigrad.ops import book_conv  # noqa: E402
from minigrad.serialization import CheckpointError, load, save  # noqa: E402
