"""The ops behind Tensor's methods, in one namespace: ``x.exp()`` calls ``exp(x)``
from here, ``x + y`` calls ``add(x, y)``, ``x[i] = v`` calls ``index_put`` when the
write is recorded.

``tensor.py`` cannot import the ops (they import it, to build Tensors), so this
module hands itself to it with ``tensor.bind_ops`` when it loads, which
``minigrad/__init__.py`` makes the first thing it does.  Adding a Tensor method
that is an op: define the op in its family module, import it here, and write
the one-line method in ``tensor.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from minigrad import tensor as _tensor
from minigrad.ops.activation import (  # noqa: F401
    ReLU,
    Sigmoid,
    Tanh,
    leaky_relu,
    log_softmax,
    softmax,
    softplus,
)
from minigrad.ops.assign import bool_mask, fill, index_put, masked_fill  # noqa: F401
from minigrad.ops.elementwise import (  # noqa: F401
    Abs,
    Add,
    Cast,
    Div,
    Exp,
    Log,
    Mul,
    Neg,
    Pow,
    Sqrt,
    Sub,
    clamp,
    maximum,
    minimum,
    where,
)
from minigrad.ops.linalg import matmul  # noqa: F401
from minigrad.ops.reduce import amax, amin, extremum, mean, sum, var  # noqa: F401
from minigrad.ops.shape import (  # noqa: F401
    _plain_index as plain_index,
)
from minigrad.ops.shape import (  # noqa: F401
    broadcast_to,
    chunk,
    expand,
    flatten,
    getitem,
    permute,
    reshape,
    split,
    squeeze,
    transpose,
    unsqueeze,
)
from minigrad.ops.tensor_ops import (  # noqa: F401
    argmax,
    argmin,
    contiguous,
    lerp,
    norm,
    repeat,
    topk,
)

# Where the public function only calls ``apply``, the method calls ``apply`` itself:
# one Python call less on the engine's hottest path (benchmarks/bench_overhead.py).
add, sub, mul, div, pow, neg = Add.apply, Sub.apply, Mul.apply, Div.apply, Pow.apply, Neg.apply
exp, log, sqrt, abs = Exp.apply, Log.apply, Sqrt.apply, Abs.apply
relu, sigmoid, tanh = ReLU.apply, Sigmoid.apply, Tanh.apply


def cast(x: Any, dtype: np.dtype, copy: bool = False) -> Any:
    """``x`` in ``dtype`` (differentiable; a copy when ``copy``)."""
    return Cast.apply(x, dtype=dtype, copy=copy)


_tensor.bind_ops(sys.modules[__name__])
