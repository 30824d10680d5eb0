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
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from minigrad.ops.assign import bool_mask, fill, index_put, masked_fill  # noqa: F401
from minigrad.ops.elementwise import (  # noqa: F401
    Cast,
    abs,
    add,
    clamp,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
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


def cast(x: Any, dtype: np.dtype, copy: bool = False) -> Any:
    """``x`` in ``dtype`` (differentiable; a copy when ``copy``)."""
    return Cast.apply(x, dtype=dtype, copy=copy)


_tensor.bind_ops(sys.modules[__name__])
