"""``Tensor``: an ``np.ndarray`` plus what autograd needs (``grad``, the node that
made it), and the factory functions (``tensor``, ``zeros``, ``randn``, ...).

Dtypes.  Python floats become float32 (as in PyTorch); a NumPy array keeps its
dtype, so float64 stays float64.  Ops follow NumPy's promotion rules: mixing a
float32 and a float64 Tensor gives a float64 result, and Python scalars never
widen a Tensor (``x32 * 2.0`` stays float32); NumPy scalars behave as Python
scalars here (as in PyTorch: ``x32 * np.float64(2)`` stays float32), while
arrays, even 0-d ones, promote as in NumPy.  Each input's gradient is returned
in that input's own dtype.  The convolution and pooling kernels are stricter:
they refuse mixed dtypes with a ``TypeError`` rather than silently copying a
large array to another precision.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from minigrad import autograd
from minigrad.rng import get_rng

ArrayLike = Union["Tensor", np.ndarray, Sequence, float, int]

MaxResult = namedtuple("MaxResult", ["values", "indices"])


class _Size(int):
    """``t.size`` is NumPy's element count and, called, PyTorch's ``size(dim)``."""

    def __new__(cls, shape: tuple) -> _Size:
        obj = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        obj._shape = shape
        return obj

    def __call__(self, dim: int | None = None) -> Union[tuple, int]:
        return self._shape if dim is None else self._shape[dim]


class Tensor:
    """An n-dimensional array that records the ops applied to it.

    ``data`` is the underlying ``np.ndarray``; ``grad`` (a Tensor or None) is
    filled by ``backward()`` for leaves with ``requires_grad=True``.
    """

    # ``_requires_grad`` is read by the engine directly (``requires_grad`` is a
    # property whose setter checks the dtype, like ``requires_grad_``).
    __slots__ = ("_data", "grad", "_requires_grad", "_ctx", "_retains_grad", "__weakref__")
    # NumPy must hand ``ndarray <op> Tensor`` to our reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: autograd.Context | None = None
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any) -> Tensor:
        """Fast path for op results: no dtype conversion, no checks."""
        t = cls.__new__(cls)
        t._data = array if type(array) is np.ndarray else np.asarray(array)
        t.grad = None
        t._ctx = None
        t._retains_grad = False
        t._requires_grad = False
        return t

    # ------------------------------------------------------------------ basics
    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: the same values as a Tensor outside the graph, sharing
        this tensor's array (``p.data -= lr * p.grad`` and ``p.data.copy_(w)`` change
        ``p``).  ``t.numpy()`` gives the NumPy array itself."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: ArrayLike) -> None:
        # ``t.data = other`` rebinds t to other's values (as in PyTorch); it is also what
        # Python runs for ``t.data -= x`` when the in-place operator returned a new Tensor.
        self._data = value._data if isinstance(value, Tensor) else _to_array(value)

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> _Size:
        return _Size(self._data.shape)

    def numel(self) -> int:
        return int(self._data.size)

    def dim(self) -> int:
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Context | None:
        return self._ctx

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and dtype != self._data.dtype:
            if copy is False:  # NumPy 2's protocol: copy=False means never copy
                raise ValueError(
                    f"a tensor of dtype {self._data.dtype} cannot be viewed as {np.dtype(dtype)} "
                    f"without a copy, and copy=False was given"
                )
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def numpy(self) -> np.ndarray:
        """The underlying array (shared memory, as in PyTorch)."""
        return self._data

    def item(self) -> Union[float, int, bool]:
        if self._data.size != 1:
            raise ValueError(
                f"item(): only a tensor with one element can be converted to a Python "
                f"scalar, this one has shape {self.shape}"
            )
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self._data.reshape(()))

    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        if self._data.size == 1 and spec:  # f"{loss:.4f}" on a one-element tensor
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __index__(self) -> int:
        if self._data.size != 1 or self._data.dtype.kind not in "iub":
            raise TypeError(
                f"only integer tensors with one element can be used as an index, "
                f"this one has dtype {self._data.dtype} and shape {self.shape}"
            )
        return int(self._data.reshape(()))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self._data.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.fn.__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded so that it gets a gradient."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not np.issubdtype(self._data.dtype, np.floating):
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, "
                f"this one has dtype {self._data.dtype} (convert with .float() or .double())"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach() instead")
        self._requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retains_grad = True

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self._data)

    def _accumulate_grad(self, g: np.ndarray, fresh: bool = False) -> None:
        grad = self.grad
        if grad is None:
            if fresh and g.flags.c_contiguous and g.flags.writeable and g.dtype == self._data.dtype:
                self.grad = Tensor._wrap(g)  # nobody else holds it (Function.fresh_grads)
                return
            # A copy: g may be a broadcast view or shared with another input.
            self.grad = Tensor._wrap(np.array(g, dtype=self._data.dtype, order="C", copy=True))
        elif isinstance(grad, Tensor):
            grad._data = grad._data + g
        else:  # the user assigned an array to .grad
            self.grad = Tensor._wrap(np.asarray(grad, dtype=self._data.dtype) + g)

    def backward(self, gradient: ArrayLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        A scalar output needs no ``gradient``; any other output needs one of its
        own shape (the vector in the vector-Jacobian product).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph "
                "(did you compute it under no_grad(), or from inputs without requires_grad=True?)"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs; "
                    f"this output has shape {self.shape}, so pass gradient= of that shape"
                )
            g = np.ones(self.shape, dtype=self.dtype)
        else:
            g = np.asarray(gradient._data if isinstance(gradient, Tensor) else gradient)
            if g.shape != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {g.shape}, expected the output's shape "
                    f"{self.shape}"
                )
            g = g.astype(self.dtype, copy=False)
        if self._ctx is None:  # a leaf: d self / d self is the identity
            self._accumulate_grad(g)
            return
        autograd.run_backward(self, g, retain_graph=retain_graph)

    # ------------------------------------------------------------------ conversions
    def astype(self, dtype: Any) -> Tensor:
        from minigrad.ops.elementwise import Cast

        return Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def to(self, dtype: Any) -> Tensor:
        return self.astype(dtype)

    def long(self) -> Tensor:
        return Tensor(self._data.astype(np.int64))

    def clone(self) -> Tensor:
        from minigrad.ops.elementwise import Cast

        return Cast.apply(self, dtype=self.dtype, copy=True)

    # ------------------------------------------------------------------ in place (no grad)
    # In-place writes are not recorded, so they are refused where they could
    # corrupt a gradient: on tensors that require grad, unless under no_grad
    # (initialisers, optimizer steps), as PyTorch refuses them.
    def _check_in_place(self, op: str) -> None:
        if autograd._state.enabled and (self._requires_grad or self._ctx is not None):
            raise RuntimeError(
                f"{op}: in-place change of a tensor that requires grad is not "
                f"differentiable; do it under mg.no_grad(), or on .detach() / a copy"
            )

    def zero_(self) -> Tensor:
        self._check_in_place("zero_")
        self._data[...] = 0
        return self

    def fill_(self, value: float) -> Tensor:
        self._check_in_place("fill_")
        self._data[...] = value
        return self

    def copy_(self, src: ArrayLike) -> Tensor:
        self._check_in_place("copy_")
        self._data[...] = src._data if isinstance(src, Tensor) else np.asarray(src)
        return self

    def __setitem__(self, index, value) -> None:
        """``t[index] = value``: writes into ``data`` (same rule as the methods above)."""
        self._check_in_place("assignment t[index] = value")
        self._data[_sh._plain_index(index)] = value._data if isinstance(value, Tensor) else value

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _ew.Add.apply(self, other)

    def __radd__(self, other):
        return _ew.Add.apply(other, self)

    def __sub__(self, other):
        return _ew.Sub.apply(self, other)

    def __rsub__(self, other):
        return _ew.Sub.apply(other, self)

    def __mul__(self, other):
        return _ew.Mul.apply(self, other)

    def __rmul__(self, other):
        return _ew.Mul.apply(other, self)

    def __truediv__(self, other):
        return _ew.Div.apply(self, other)

    def __rtruediv__(self, other):
        return _ew.Div.apply(other, self)

    def __pow__(self, other):
        return _ew.Pow.apply(self, other)

    def __rpow__(self, other):
        return _ew.Pow.apply(other, self)

    def __neg__(self):
        return _ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _la.matmul(self, other)

    def __rmatmul__(self, other):
        return _la.matmul(other, self)

    def __getitem__(self, index):
        return _sh.getitem(self, index)

    # comparisons: not differentiable, give boolean tensors
    def __lt__(self, other):
        return Tensor._wrap(self._data < _raw(other))

    def __le__(self, other):
        return Tensor._wrap(self._data <= _raw(other))

    def __gt__(self, other):
        return Tensor._wrap(self._data > _raw(other))

    def __ge__(self, other):
        return Tensor._wrap(self._data >= _raw(other))

    def __eq__(self, other):  # type: ignore[override]
        return Tensor._wrap(self._data == _raw(other))

    def __ne__(self, other):  # type: ignore[override]
        return Tensor._wrap(self._data != _raw(other))

    # ------------------------------------------------------------------ methods
    def add(self, other):
        return _ew.Add.apply(self, other)

    def sub(self, other):
        return _ew.Sub.apply(self, other)

    def mul(self, other):
        return _ew.Mul.apply(self, other)

    def div(self, other):
        return _ew.Div.apply(self, other)

    def pow(self, exponent):
        return _ew.Pow.apply(self, exponent)

    def neg(self):
        return _ew.Neg.apply(self)

    def exp(self):
        return _ew.Exp.apply(self)

    def log(self):
        return _ew.Log.apply(self)

    def sqrt(self):
        return _ew.Sqrt.apply(self)

    def abs(self):
        return _ew.Abs.apply(self)

    def clamp(self, min=None, max=None):
        return _ew.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return _ew.maximum(self, other)

    def minimum(self, other):
        return _ew.minimum(self, other)

    def relu(self):
        return _act.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        return _act.leaky_relu(self, negative_slope)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0):
        return _act.softplus(self, beta, threshold)

    def sigmoid(self):
        return _act.sigmoid(self)

    def tanh(self):
        return _act.tanh(self)

    def softmax(self, dim: int = -1):
        return _act.softmax(self, dim)

    def log_softmax(self, dim: int = -1):
        return _act.log_softmax(self, dim)

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _red.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _red.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(
        self,
        dim=None,
        unbiased=True,
        keepdim=False,
        *,
        correction=None,
        axis=None,
        keepdims=None,
        ddof=None,
    ):
        """PyTorch's ``unbiased``/``correction`` or NumPy's ``ddof`` (default 1)."""
        if correction is None:
            correction = ddof if ddof is not None else int(bool(unbiased))
        return _red.var(self, dim, correction, keepdim, axis=axis, keepdims=keepdims)

    def std(
        self,
        dim=None,
        unbiased=True,
        keepdim=False,
        *,
        correction=None,
        axis=None,
        keepdims=None,
        ddof=None,
    ):
        return self.var(
            dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof
        ).sqrt()

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """``max()`` is the largest element; ``max(dim)`` is PyTorch's
        ``(values, indices)`` pair; ``max(axis=...)`` is NumPy's values only."""
        return _red.extremum(self, dim, axis, _red._keepdim(keepdim, keepdims), "max")

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _red.extremum(self, dim, axis, _red._keepdim(keepdim, keepdims), "min")

    def amax(self, dim=None, keepdim=False):
        return _red.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _red.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return Tensor._wrap(np.argmax(self._data, axis=dim, keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        return Tensor._wrap(np.argmin(self._data, axis=dim, keepdims=keepdim))

    def reshape(self, *shape):
        return _sh.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _sh.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int = None, dim1: int = None):
        return _sh.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _sh.permute(self, *dims)

    @property
    def T(self):
        return _sh.permute(self, *reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        return _sh.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return _sh.unsqueeze(self, dim)

    def expand(self, *sizes):
        return _sh.expand(self, *sizes)

    def broadcast_to(self, shape):
        return _sh.broadcast_to(self, shape)

    def matmul(self, other):
        return _la.matmul(self, other)

    def split(self, split_size_or_sections, dim: int = 0):
        return _sh.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return _sh.chunk(self, chunks, dim)


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Python numbers and lists: float32 for floats; arrays keep their dtype."""
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if dtype is not None:
        arr = arr.astype(np.dtype(dtype), copy=False)
    return arr


def as_tensor(x: ArrayLike, dtype: Any = None) -> Tensor:
    """``x`` itself if it is a Tensor (of ``dtype``, when given), else a new Tensor."""
    if isinstance(x, Tensor) and (dtype is None or x.dtype == np.dtype(dtype)):
        return x
    return Tensor(x, dtype=dtype)


# ---------------------------------------------------------------------- factories


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data``."""
    t = Tensor(data, dtype=dtype)
    if isinstance(data, (Tensor, np.ndarray)) and t._data is _raw(data):
        t._data = t._data.copy()
    if requires_grad:
        t.requires_grad_(True)
    return t


def _shape_args(shape: tuple, op: str) -> tuple:
    """``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` as a tuple of non-negative ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"{op}: size must be integers, got {tuple(shape)}")
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: size must be non-negative, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def zeros(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape_args(shape, "zeros"), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape_args(shape, "ones"), dtype=dtype), requires_grad=requires_grad)


def full(shape, fill_value: float, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(
        np.full(_shape_args((shape,), "full"), fill_value, dtype=dtype), requires_grad=requires_grad
    )


def randn(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minigrad's generator (see ``manual_seed``)."""
    a = get_rng().standard_normal(_shape_args(shape, "randn")).astype(dtype)
    return Tensor(a, requires_grad=requires_grad)


def rand(*shape, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from minigrad's generator."""
    a = get_rng().random(_shape_args(shape, "rand")).astype(dtype)
    return Tensor(a, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    a = np.arange(start, end, step)
    if dtype is None and a.dtype == np.float64:
        a = a.astype(np.float32)
    return Tensor(a, dtype=dtype, requires_grad=requires_grad)


def zeros_like(t: ArrayLike, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(_raw(t))
    return zeros(a.shape, dtype=a.dtype if dtype is None else dtype, requires_grad=requires_grad)


def ones_like(t: ArrayLike, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(_raw(t))
    return ones(a.shape, dtype=a.dtype if dtype is None else dtype, requires_grad=requires_grad)


def full_like(
    t: ArrayLike, fill_value: float, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    a = np.asarray(_raw(t))
    return full(
        a.shape, fill_value, dtype=a.dtype if dtype is None else dtype, requires_grad=requires_grad
    )


def randn_like(t: ArrayLike, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(_raw(t))
    return randn(a.shape, dtype=a.dtype if dtype is None else dtype, requires_grad=requires_grad)


def rand_like(t: ArrayLike, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(_raw(t))
    return rand(a.shape, dtype=a.dtype if dtype is None else dtype, requires_grad=requires_grad)


autograd._Tensor = Tensor  # Function.apply wraps its results without importing us

# The op modules import Tensor, so they are bound here, after the class exists.
from minigrad.ops import activation as _act  # noqa: E402
from minigrad.ops import elementwise as _ew  # noqa: E402
from minigrad.ops import linalg as _la  # noqa: E402
from minigrad.ops import reduce as _red  # noqa: E402
from minigrad.ops import shape as _sh  # noqa: E402
