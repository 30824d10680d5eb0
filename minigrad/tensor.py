"""``Tensor``: an ``np.ndarray`` plus what autograd needs (``grad``, the node that
made it, a version counter), and the factory functions (``tensor``, ``zeros``,
``randn``, ...).

Dtypes.  Python floats become float32 (as in PyTorch); a NumPy array keeps its
dtype, so float64 stays float64.  Ops follow NumPy's promotion rules: mixing a
float32 and a float64 Tensor gives a float64 result, and Python scalars never
widen a Tensor (``x32 * 2.0`` stays float32); NumPy scalars behave as Python
scalars here (as in PyTorch: ``x32 * np.float64(2)`` stays float32), while
arrays, even 0-d ones, promote as in NumPy.  Each input's gradient is returned
in that input's own dtype.  The convolution and pooling kernels are stricter:
they refuse mixed dtypes with a ``TypeError`` rather than silently copying a
large array to another precision.

Storage and versions.  Several Tensors may share one array: ``t.data``,
``t.detach()`` and the results of view ops (reshape/view, transpose, permute,
basic indexing, squeeze, unsqueeze, expand: any op whose result shares memory
with its input) see the same memory, and share one version counter
(``t._version``).  Every in-place op bumps it; an op that saves an array for
backward remembers the version, and backward refuses to compute a gradient
from changed values (``tape.py``).

In-place ops follow PyTorch.  ``+=``, ``add_``, ``t[i] = v``, ``copy_``, ...
write into the array, so every alias sees the change.  Outside the graph
(under ``no_grad``, on ``.data`` / ``detach()``, on tensors that do not take
part in autograd) they just write.  On a leaf that requires grad they raise.
On a tensor with history they are recorded: the op runs out of place on the
old value, its result is copied in, and the tensor takes the result's node
(its history is *rebased*), so ``y = x * 2; y += 1; y.sum().backward()`` works.
In-place ops on a view that takes part in autograd are refused (PyTorch would
rewrite the base's history; minigrad does not, and will not guess).

Imports go one way: ``tape`` <- ``tensor`` <- ``autograd`` (Function) <- ``ops``.
The ops build Tensors, so this module cannot import them; Tensor's op methods
(``x.exp()``, ``x + y``, ``x.sum()``) call them through ``_ops``, which
``minigrad.ops.methods`` binds once when it is loaded (``bind_ops``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from minigrad import tape
from minigrad.device import CPU, as_device, device
from minigrad.rng import Generator, get_rng
from minigrad.tape import _state

ArrayLike = Union["Tensor", np.ndarray, Sequence, float, int]

MaxResult = namedtuple("MaxResult", ["values", "indices"])
TopKResult = namedtuple("TopKResult", ["values", "indices"])

_ops: Any = None  # minigrad.ops.methods, bound by bind_ops (see the module docstring)


def bind_ops(namespace: Any) -> None:
    """Give Tensor's op methods the ops they call (done once, by ``minigrad.ops.methods``)."""
    global _ops
    _ops = namespace


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

    ``t.numpy()`` is the underlying ``np.ndarray``; ``t.data`` is PyTorch's: the
    same values as a Tensor outside the graph.  ``grad`` (a Tensor or None) is
    filled by ``backward()`` for leaves with ``requires_grad=True``.

    ``Tensor(data)`` wraps data as ``mg.tensor`` does (an array keeps its dtype
    and memory); ``Tensor(2, 3)`` is PyTorch's uninitialized float32 tensor of
    that size.
    """

    # _data: the array.  _vc: the storage's version counter (tape.py), shared by every
    # Tensor viewing the same memory.  _ctx: the node that made this
    # tensor (None for a leaf), _out: which of that node's outputs it is (None when
    # the node has one).  _view_of: the tensor this one is a view of, set only when
    # a view op made it (unset otherwise: read it through ``_base``).  The engine reads
    # ``_requires_grad`` directly (``requires_grad`` is a property whose setter checks
    # the dtype, like ``requires_grad_``).
    __slots__ = (
        "_data",
        "grad",
        "_requires_grad",
        "_ctx",
        "_out",
        "_vc",
        "_view_of",
        "_retains_grad",
        "__weakref__",
    )
    # NumPy must hand ``ndarray <op> Tensor`` to our reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(
        self, *data: Any, requires_grad: bool = False, dtype: Any = None, device: Any = None
    ) -> None:
        as_device(device, "Tensor")
        vc = None
        if not data:
            arr = np.empty(0, dtype=np.float32 if dtype is None else _dtype(dtype, "Tensor"))
        elif all(type(n) is int for n in data):  # Tensor(2, 3): a size, as in PyTorch
            dt = np.float32 if dtype is None else _dtype(dtype, "Tensor")
            arr = np.empty(_shape_args(data, "Tensor"), dtype=dt)
        elif len(data) == 1:
            arr = _to_array(data[0], dtype)
            if isinstance(data[0], Tensor) and arr is data[0]._data:
                vc = data[0]._vc  # the same memory: the same version counter
        else:
            raise TypeError(
                f"Tensor(): expected one data argument (an array, a list, a number) or "
                f"integer sizes, got {len(data)} arguments"
            )
        self._data = arr
        self.grad: Tensor | None = None
        self._ctx: tape.Context | None = None
        self._out = None
        self._vc = [0, -1, None] if vc is None else vc
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any) -> Tensor:
        """Fast path for op results: no dtype conversion, no checks, new storage."""
        t = object.__new__(cls)
        t._data = array if type(array) is np.ndarray else np.asarray(array)
        t.grad = None
        t._ctx = None
        t._out = None
        t._vc = [0, -1, None]  # a new storage's version counter (see tape.py)
        t._retains_grad = False
        t._requires_grad = False
        return t

    def _alias(self) -> Tensor:
        """A Tensor on the same storage (array and version counter), outside the graph:
        what ``.data`` and ``detach()`` return."""
        t = object.__new__(Tensor)
        t._data = self._data
        t.grad = None
        t._ctx = None
        t._out = None
        t._vc = self._vc
        t._retains_grad = False
        t._requires_grad = False
        return t

    # ------------------------------------------------------------------ basics
    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: the same values as a Tensor outside the graph, sharing
        this tensor's array and version counter (``p.data -= lr * p.grad`` and
        ``p.data.copy_(w)`` change ``p``).  ``t.numpy()`` gives the NumPy array itself."""
        return self._alias()

    @data.setter
    def data(self, value: ArrayLike) -> None:
        # ``t.data = other`` makes t use other's values (as in PyTorch).  It is also what
        # Python runs after ``t.data -= x``, with the tensor the in-place op returned:
        # then there is nothing left to do.
        if isinstance(value, Tensor):
            if value._data is self._data:
                return
            self._data, self._vc = value._data, value._vc
        else:
            self._data, self._vc = _to_array(value), [0, -1, None]

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

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def device(self) -> device:
        """Always ``device('cpu')``: minigrad has no GPU backend."""
        return CPU

    is_cuda = False

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> tape.Context | None:
        return self._ctx

    @property
    def _base(self) -> Tensor | None:
        """The tensor this one is a view of (PyTorch's ``_base``), or None."""
        return getattr(self, "_view_of", None)

    @property
    def _version(self) -> int:
        """How many in-place ops changed this tensor's storage (PyTorch's ``_version``)."""
        return self._vc[0]

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

    def numpy(self, force: bool = False) -> np.ndarray:
        """The underlying array (shared memory, as in PyTorch; ``force=True`` copies).

        Writing into it changes the tensor without bumping its version counter, so
        the saved-array guard cannot see such a write (except for the C-kernel ops,
        which fingerprint what they save): change tensors with in-place ops instead."""
        return self._data.copy() if force else self._data

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
        """The same data (and version counter), cut from the graph."""
        return self._alias()

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

    def backward(
        self,
        gradient: ArrayLike | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        A scalar output needs no ``gradient``; any other output needs one of its
        own shape (the vector in the vector-Jacobian product).  Higher-order
        gradients (``create_graph=True``) are not supported.
        """
        if create_graph:
            raise NotImplementedError(
                "backward(create_graph=True): minigrad computes first-order gradients only"
            )
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
            g = np.asarray(unwrap(gradient))
            if g.shape != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {g.shape}, expected the output's shape "
                    f"{self.shape}"
                )
            g = g.astype(self.dtype, copy=False)
        if self._ctx is None:  # a leaf: d self / d self is the identity
            self._accumulate_grad(g)
            return
        tape.run_backward(self, g, retain_graph=bool(retain_graph))

    # ------------------------------------------------------------------ dtype and device
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """PyTorch's ``to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(other)`` (other's dtype), with ``non_blocking`` and ``copy`` accepted.
        Returns self when nothing changes (unless ``copy=True``); the only device is
        the CPU (a GPU raises)."""
        dtype, dev, copy = _parse_to(args, kwargs, "to")
        as_device(dev, "to")
        if dtype is None or dtype == self._data.dtype:
            return self.clone() if copy else self
        return _ops.cast(self, dtype)

    def cpu(self) -> Tensor:
        """Self: every tensor lives on the CPU."""
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        """Raises: minigrad has no GPU backend."""
        as_device("cuda", "cuda()")
        return self  # pragma: no cover - as_device raised

    def type(self, dtype: Any = None) -> Union[str, Tensor]:
        """With no argument, the type's name (``'minigrad.FloatTensor'``); else ``to(dtype)``."""
        if dtype is None:
            return "minigrad." + _TYPE_NAMES.get(self._data.dtype, f"Tensor[{self._data.dtype}]")
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor in ``other``'s dtype."""
        return self.to(other.dtype)

    def astype(self, dtype: Any) -> Tensor:
        """NumPy's spelling of ``to(dtype)``."""
        return _ops.cast(self, np.dtype(dtype))

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def half(self) -> Tensor:
        """Refused: minigrad computes in float32 and float64 only."""
        return self.to(np.float16)

    def clone(self) -> Tensor:
        """A differentiable copy with its own memory."""
        return _ops.cast(self, self._data.dtype, copy=True)

    def contiguous(self) -> Tensor:
        """Self if the array is C-contiguous, else a differentiable C-contiguous copy."""
        return self if self._data.flags.c_contiguous else _ops.contiguous(self)

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    # new tensors like this one (same dtype unless given; on the CPU)
    def _new(self, factory: Any, args: tuple, dtype: Any, device: Any, requires_grad: bool):
        """``factory(*args, ...)`` with this tensor's dtype unless ``dtype`` is given."""
        dtype = self.dtype if dtype is None else dtype
        return factory(*args, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(
        self, data: ArrayLike, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new(tensor, (data,), dtype, device, requires_grad)

    def new_zeros(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new(zeros, size, dtype, device, requires_grad)

    def new_ones(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new(ones, size, dtype, device, requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        return self._new(full, (size, fill_value), dtype, device, requires_grad)

    def new_empty(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        return self._new(empty, size, dtype, device, requires_grad)

    # ------------------------------------------------------------------ in place
    def _inplace(self, op: str, kernel: Any, fn: Any, *operands: Any, cast: bool = False) -> Tensor:
        """Run ``op`` in place (PyTorch's rules; see the module docstring).

        ``kernel(array, *operand_arrays)`` writes the new values into ``array``
        (a ufunc is called with ``out=array``); it is used outside the graph.
        ``fn(tensor, *operands)`` is the out-of-place op, recorded when this
        in-place op takes part in autograd.  The result must fit the tensor's
        dtype by NumPy's ``same_kind`` rule (``int_t += 0.5`` raises), unless
        ``cast`` (assignments: ``fill_``, ``copy_``, ``t[i] = v`` convert).
        """
        recording = self._check_inplace(op, operands)
        data = self._data
        if not recording:
            arrays = [unwrap(o) for o in operands]
            try:
                if isinstance(kernel, np.ufunc):
                    kernel(data, *arrays, out=data, casting="unsafe" if cast else "same_kind")
                else:
                    kernel(data, *arrays)
            except (TypeError, ValueError) as e:
                _inplace_error(op, data, kernel, arrays, e)
            tape.bump(self._vc)
            return self
        # Recorded: the op runs on a Tensor standing for the old value (same array,
        # same history); its node becomes this tensor's node.
        old = object.__new__(Tensor)
        old._data, old._ctx, old._out, old._vc = data, self._ctx, self._out, self._vc
        old._requires_grad, old.grad, old._retains_grad = self._requires_grad, None, False
        # ``y.mul_(y)``: the operand is the old value too (else the node would feed itself).
        r = fn(old, *[old if o is self else o for o in operands])
        if r.shape != data.shape:
            raise RuntimeError(
                f"{op}: output with shape {data.shape} doesn't match the broadcast shape {r.shape}"
            )
        if not cast and not np.can_cast(r.dtype, data.dtype, casting="same_kind"):
            raise RuntimeError(
                f"{op}: result type {r.dtype} can't be cast to the desired output type "
                f"{data.dtype} (an in-place result must fit the tensor's dtype)"
            )
        ctx = r._ctx
        if ctx is not None and ctx.saved_tensors:
            tape.privatize(ctx, data)  # its backward needs the values we overwrite
        np.copyto(data, r._data, casting="unsafe")
        stamp = tape.bump(self._vc)
        if ctx is not None:
            tape._last_rebase[0] = ctx.seq
            tape.adopt_output(ctx, old, r._data, data, stamp)
            ctx.rebased_from = old
            self._ctx, self._out, self._requires_grad = ctx, r._out, True
        return self

    def _check_inplace(self, op: str, operands: Sequence = ()) -> bool:
        """Raise if ``op`` may not write into this tensor (PyTorch's rules); else say
        whether the write takes part in autograd (is recorded)."""
        enabled = _state.enabled
        recording = enabled and (
            self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in operands)
        )
        if enabled:
            if self._requires_grad and self._ctx is None:
                raise RuntimeError(
                    f"{op}: a leaf Variable that requires grad is being used in an in-place "
                    f"operation. Do it under mg.no_grad() (an optimizer step, an "
                    f"initialiser), or on .data / .detach()."
                )
            base = getattr(self, "_view_of", None)
            if base is not None and (recording or base._requires_grad):
                raise RuntimeError(
                    f"{op}: in-place operation on a view (a result of view/reshape/"
                    f"transpose/indexing/...) of a tensor that takes part in autograd. "
                    f"minigrad does not rewrite the base tensor's history for it, so it "
                    f"refuses rather than compute wrong gradients: apply the op to the base "
                    f"tensor, use the out-of-place form, or clone() the view first."
                )
        if not self._data.flags.writeable:
            raise RuntimeError(
                f"{op}: this tensor's memory is read-only (e.g. a result of expand/"
                f"broadcast_to, where many elements share one memory location); clone() it"
            )
        return recording

    def add_(self, other: ArrayLike, *, alpha: Any = 1) -> Tensor:
        return self._inplace("add_", np.add, _ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other: ArrayLike, *, alpha: Any = 1) -> Tensor:
        return self._inplace("sub_", np.subtract, _ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other: ArrayLike) -> Tensor:
        return self._inplace("mul_", np.multiply, _ops.mul, other)

    def div_(self, other: ArrayLike) -> Tensor:
        return self._inplace("div_", np.true_divide, _ops.div, other)

    def pow_(self, exponent: ArrayLike) -> Tensor:
        return self._inplace("pow_", np.power, _ops.pow, exponent)

    def addcmul_(self, tensor1: ArrayLike, tensor2: ArrayLike, *, value: Any = 1) -> Tensor:
        """self += value * tensor1 * tensor2."""
        return self._inplace("addcmul_", np.add, _ops.add, tensor1 * tensor2 * value)

    def addcdiv_(self, tensor1: ArrayLike, tensor2: ArrayLike, *, value: Any = 1) -> Tensor:
        """self += value * tensor1 / tensor2."""
        return self._inplace("addcdiv_", np.add, _ops.add, tensor1 / tensor2 * value)

    def lerp_(self, end: ArrayLike, weight: Any) -> Tensor:
        """self += weight * (end - self)."""
        return self._inplace("lerp_", _lerp, _ops.lerp, end, weight)

    def neg_(self) -> Tensor:
        return self._inplace("neg_", np.negative, _ops.neg)

    def exp_(self) -> Tensor:
        return self._inplace("exp_", np.exp, _ops.exp)

    def log_(self) -> Tensor:
        return self._inplace("log_", np.log, _ops.log)

    def sqrt_(self) -> Tensor:
        return self._inplace("sqrt_", np.sqrt, _ops.sqrt)

    def abs_(self) -> Tensor:
        return self._inplace("abs_", np.absolute, _ops.abs)

    def tanh_(self) -> Tensor:
        return self._inplace("tanh_", np.tanh, _ops.tanh)

    def sigmoid_(self) -> Tensor:
        return self._inplace("sigmoid_", _via(_ops.sigmoid), _ops.sigmoid)

    def relu_(self) -> Tensor:
        return self._inplace("relu_", _relu_kernel, _ops.relu)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        lo, hi = unwrap(min), unwrap(max)
        return self._inplace(
            "clamp_",
            lambda a: np.clip(a, lo, hi, out=a, casting="same_kind"),
            lambda t: _ops.clamp(t, lo, hi),
        )

    clip_ = clamp_

    def clamp_min_(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp_(min=min)

    def clamp_max_(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp_(max=max)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Every element := ``value`` (a number or a one-element tensor, which then
        gets the sum of the gradient)."""
        if isinstance(value, Tensor) and value.numel() != 1:
            raise RuntimeError(
                f"fill_: only a number or a one-element tensor can fill a tensor, got shape "
                f"{value.shape}"
            )
        return self._inplace("fill_", _fill_kernel, _ops.fill, value, cast=True)

    def copy_(self, src: ArrayLike, non_blocking: bool = False) -> Tensor:
        """Copy ``src`` (broadcast to this shape, converted to this dtype) into self;
        differentiable with respect to ``src``."""
        if not isinstance(src, Tensor):
            src = np.asarray(src)
        return self._inplace("copy_", _fill_kernel, _ops.fill, src, cast=True)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None):
        """Fill with samples of N(mean, std^2) from ``generator`` (default: mg's own)."""
        self._check_inplace("normal_")  # before drawing: a refused call uses no randomness
        values = get_rng(generator).normal(mean, std, self._data.shape)
        return self._inplace("normal_", _fill_kernel, _ops.fill, values, cast=True)

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator: Generator | None = None):
        """Fill with samples of U[from_, to) from ``generator`` (default: mg's own)."""
        self._check_inplace("uniform_")  # before drawing: a refused call uses no randomness
        values = get_rng(generator).uniform(from_, to, self._data.shape)
        return self._inplace("uniform_", _fill_kernel, _ops.fill, values, cast=True)

    def masked_fill_(self, mask: ArrayLike, value: Any) -> Tensor:
        """Elements where ``mask`` (boolean, broadcastable) is true := ``value``."""
        m = _ops.bool_mask(mask, self._data.shape, "masked_fill_")
        return self._inplace(
            "masked_fill_",
            lambda a, v: np.copyto(a, v, casting="unsafe", where=m),
            lambda t, v: _ops.masked_fill(t, m, v),
            value,
            cast=True,
        )

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value``: writes into the tensor (recorded as ``index_put`` when
        it takes part in autograd)."""
        idx = _ops.plain_index(index)

        def put(a: np.ndarray, v: Any) -> None:
            a[idx] = v

        self._inplace(
            "assignment t[index] = value",
            put,
            lambda t, v: _ops.index_put(t, idx, v),
            value,
            cast=True,
        )

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_
    __ipow__ = pow_
    # No __imatmul__: ``a @= b`` rebinds a to a @ b, as in PyTorch.

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # comparisons: not differentiable, give boolean tensors
    def __lt__(self, other):
        return Tensor._wrap(self._data < unwrap(other))

    def __le__(self, other):
        return Tensor._wrap(self._data <= unwrap(other))

    def __gt__(self, other):
        return Tensor._wrap(self._data > unwrap(other))

    def __ge__(self, other):
        return Tensor._wrap(self._data >= unwrap(other))

    def __eq__(self, other):  # type: ignore[override]
        return Tensor._wrap(self._data == unwrap(other))

    def __ne__(self, other):  # type: ignore[override]
        return Tensor._wrap(self._data != unwrap(other))

    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne

    def equal(self, other: ArrayLike) -> bool:
        """True when ``other`` has the same shape and elements (PyTorch's ``equal``)."""
        o = unwrap(other)
        return np.shape(o) == self.shape and bool(np.all(self._data == o))

    def allclose(self, other: ArrayLike, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
        return allclose(self, other, rtol, atol, equal_nan)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Whether every element (along ``dim``) is true; a boolean tensor."""
        return Tensor._wrap(np.all(self._data, axis=dim, keepdims=keepdim))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Whether some element (along ``dim``) is true; a boolean tensor."""
        return Tensor._wrap(np.any(self._data, axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------ methods
    def add(self, other, *, alpha=1):
        return _ops.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return _ops.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other):
        return _ops.mul(self, other)

    def div(self, other):
        return _ops.div(self, other)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def neg(self):
        return _ops.neg(self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def square(self):
        return _ops.mul(self, self)

    def clamp(self, min=None, max=None):  # noqa: A002
        return _ops.clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min):  # noqa: A002
        return _ops.clamp(self, min, None)

    def clamp_max(self, max):  # noqa: A002
        return _ops.clamp(self, None, max)

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def where(self, condition, other):
        """``self`` where ``condition`` is true, else ``other`` (PyTorch's Tensor.where)."""
        return _ops.where(condition, self, other)

    def masked_fill(self, mask, value):
        """A copy with ``value`` where ``mask`` (boolean, broadcastable) is true."""
        return _ops.masked_fill(self, mask, value)

    def lerp(self, end, weight):
        return _ops.lerp(self, end, weight)

    def relu(self):
        return _ops.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        return _ops.leaky_relu(self, negative_slope)

    def softplus(self, beta: float = 1.0, threshold: float = 20.0):
        return _ops.softplus(self, beta, threshold)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def tanh(self):
        return _ops.tanh(self)

    def softmax(self, dim: int = -1):
        return _ops.softmax(self, dim)

    def log_softmax(self, dim: int = -1):
        return _ops.log_softmax(self, dim)

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

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
        return _ops.var(self, dim, correction, keepdim, axis=axis, keepdims=keepdims)

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
        ``(values, indices)`` pair; ``max(other)`` the elementwise maximum;
        ``max(axis=...)`` NumPy's values only."""
        if isinstance(dim, Tensor):
            return _ops.maximum(self, dim)
        return _ops.extremum(self, dim, axis, _keepdim(keepdim, keepdims), "max")

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):
            return _ops.minimum(self, dim)
        return _ops.extremum(self, dim, axis, _keepdim(keepdim, keepdims), "min")

    def amax(self, dim=None, keepdim=False):
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return _ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return _ops.argmin(self, dim, keepdim)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        return _ops.topk(self, k, dim, largest, sorted)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False):
        return _ops.norm(self, p, dim, keepdim)

    def reshape(self, *shape):
        return _ops.reshape(self, *shape)

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return _ops.reshape(self, *other.shape)

    reshape_as = view_as

    def expand_as(self, other: Tensor) -> Tensor:
        return _ops.expand(self, *other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0: int = None, dim1: int = None):
        return _ops.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        """The transpose of a matrix (a vector or scalar unchanged), as in PyTorch."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with <= 2 dimensions, got {self.ndim}")
        return _ops.transpose(self, 0, 1) if self.ndim == 2 else self

    def permute(self, *dims):
        return _ops.permute(self, *dims)

    @property
    def T(self):
        return _ops.permute(self, *reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return _ops.unsqueeze(self, dim)

    def expand(self, *sizes):
        return _ops.expand(self, *sizes)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    def repeat(self, *sizes):
        return _ops.repeat(self, *sizes)

    def matmul(self, other):
        return _ops.matmul(self, other)

    mm = matmul

    def split(self, split_size_or_sections, dim: int = 0):
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return _ops.chunk(self, chunks, dim)


# ---------------------------------------------------------------------- in-place helpers


def _lerp(a: np.ndarray, end: Any, weight: Any) -> None:
    a += np.asarray(weight, dtype=a.dtype) * (end - a)


def _fill_kernel(a: np.ndarray, src: Any) -> None:
    np.copyto(a, src, casting="unsafe")


def _relu_kernel(a: np.ndarray) -> None:
    np.maximum(a, 0, out=a, casting="same_kind")


def _via(fn: Any) -> Any:
    """An in-place kernel from an out-of-place op: compute, check the dtype, copy in."""

    def kernel(a: np.ndarray, *operands: Any) -> None:
        r = fn(Tensor._wrap(a), *operands)._data
        if not np.can_cast(r.dtype, a.dtype, casting="same_kind"):
            raise RuntimeError(
                f"result type {r.dtype} can't be cast to the desired output type {a.dtype} "
                f"(an in-place result must fit the tensor's dtype)"
            )
        np.copyto(a, r, casting="unsafe")

    return kernel


def _inplace_error(op: str, data: np.ndarray, kernel: Any, arrays: list, e: Exception) -> None:
    """NumPy's complaint about an in-place write, in PyTorch's words."""
    if isinstance(e, TypeError) and "cast" in str(e).lower():
        raise RuntimeError(
            f"{op}: result type {_result_dtype(kernel, data, arrays)} can't be cast to the "
            f"desired output type {data.dtype} (an in-place result must fit the tensor's "
            f"dtype; use the out-of-place op)"
        ) from None
    shapes = [np.shape(a) for a in arrays]
    try:
        joint = np.broadcast_shapes(data.shape, *shapes)
    except ValueError:
        joint = None
    if joint is not None and joint != data.shape:
        raise RuntimeError(
            f"{op}: output with shape {data.shape} doesn't match the broadcast shape {joint}"
        ) from None
    raise RuntimeError(f"{op}: {e} (tensor of shape {data.shape}, operands {shapes})") from None


def _result_dtype(kernel: Any, data: np.ndarray, arrays: list) -> Any:
    """The dtype the out-of-place op would give (for error messages)."""
    try:
        if isinstance(kernel, np.ufunc):
            return kernel(data.reshape(-1)[:1], *[np.asarray(a) for a in arrays]).dtype
    except Exception:  # noqa: BLE001 - only for the message
        pass
    return np.result_type(data, *arrays)


# ---------------------------------------------------------------------- helpers


def unwrap(x: Any) -> Any:
    """The array inside a Tensor; anything else unchanged.  The one way to unwrap.
    (Not ``getattr(x, "data", x)``: a Tensor's ``.data`` is a Tensor, and an
    ndarray's own ``.data`` is a memoryview.)"""
    return x._data if isinstance(x, Tensor) else x


def _keepdim(keepdim: bool, keepdims: bool | None) -> bool:
    """PyTorch's ``keepdim``, unless NumPy's ``keepdims`` alias is given."""
    return bool(keepdims) if keepdims is not None else bool(keepdim)


_TYPE_NAMES = {
    np.dtype(np.float32): "FloatTensor",
    np.dtype(np.float64): "DoubleTensor",
    np.dtype(np.int64): "LongTensor",
    np.dtype(np.int32): "IntTensor",
    np.dtype(np.int16): "ShortTensor",
    np.dtype(np.int8): "CharTensor",
    np.dtype(np.uint8): "ByteTensor",
    np.dtype(np.bool_): "BoolTensor",
}


def _dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` as a NumPy dtype; float16 (half) is refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dt == np.float16:
        raise TypeError(
            f"{op}: float16 (half) is not supported: minigrad computes in float32 and "
            f"float64 (its C kernels have no half-precision version)"
        )
    return dt


_DEVICE_NAMES = ("cpu", "cuda", "mps", "xpu", "xla", "hip", "vulkan", "meta", "mtia", "ipu")


def _parse_to(args: tuple, kwargs: dict, op: str) -> tuple:
    """(dtype or None, device-like or None, copy) from PyTorch's ``to`` signatures."""
    dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"{op}() got unexpected keyword arguments {sorted(kwargs)}")
    flags = []
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, device) or (isinstance(a, str) and a.partition(":")[0] in _DEVICE_NAMES):
            dev = a
        elif isinstance(a, bool):
            flags.append(a)  # positional non_blocking, copy
        elif isinstance(a, int):
            dev = a  # a CUDA device index: as_device refuses it
        else:
            dtype = a
    if len(flags) > 1:
        copy = copy or flags[1]
    return (None if dtype is None else _dtype(dtype, op)), dev, copy


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
        arr = arr.astype(_dtype(dtype, "tensor"), copy=False)
    return arr


def as_tensor(x: ArrayLike, dtype: Any = None, device: Any = None) -> Tensor:
    """``x`` itself if it is a Tensor (of ``dtype``, when given), else a Tensor sharing
    ``x``'s memory where it can (an array of the right dtype)."""
    as_device(device, "as_tensor")
    if isinstance(x, Tensor) and (dtype is None or x.dtype == np.dtype(dtype)):
        return x
    return Tensor(x, dtype=dtype)


def from_numpy(a: np.ndarray) -> Tensor:
    """A Tensor sharing ``a``'s memory (writes to either show in both), as in PyTorch."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected an np.ndarray, got {type(a).__name__}")
    return Tensor._wrap(a)


def allclose(a: ArrayLike, b: ArrayLike, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    """|a - b| <= atol + rtol |b| everywhere (PyTorch's and NumPy's allclose)."""
    return bool(np.allclose(unwrap(a), unwrap(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---------------------------------------------------------------------- factories


def _made(arr: np.ndarray, requires_grad: bool, device: Any, op: str) -> Tensor:
    as_device(device, op)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: ArrayLike, dtype: Any = None, device: Any = None, requires_grad: bool = False):
    """A new leaf Tensor holding a copy of ``data``."""
    arr = _to_array(data, dtype)
    if isinstance(data, (Tensor, np.ndarray)) and arr is unwrap(data):
        arr = arr.copy()
    return _made(arr, requires_grad, device, "tensor")


def _shape_args(shape: tuple, op: str) -> tuple:
    """``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` as a tuple of non-negative ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"{op}: size must be integers, got {tuple(shape)}")
    if any(n < 0 for n in shape):
        raise ValueError(f"{op}: size must be non-negative, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    return np.dtype(np.float32) if dtype is None else _dtype(dtype, op)


def zeros(*size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    arr = np.zeros(_shape_args(size, "zeros"), dtype=_float_dtype(dtype, "zeros"))
    return _made(arr, requires_grad, device, "zeros")


def ones(*size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    arr = np.ones(_shape_args(size, "ones"), dtype=_float_dtype(dtype, "ones"))
    return _made(arr, requires_grad, device, "ones")


def empty(*size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uninitialized memory of the given size (as in PyTorch: fill it before use)."""
    arr = np.empty(_shape_args(size, "empty"), dtype=_float_dtype(dtype, "empty"))
    return _made(arr, requires_grad, device, "empty")


def full(
    size, fill_value: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``size`` filled with ``fill_value``; the dtype follows the value (bool, int64,
    float32) unless given, as in PyTorch."""
    if dtype is None:
        v = unwrap(fill_value)
        dtype = np.bool_ if isinstance(v, bool) else np.int64 if isinstance(v, int) else None
    arr = np.full(_shape_args((size,), "full"), unwrap(fill_value), _float_dtype(dtype, "full"))
    return _made(arr, requires_grad, device, "full")


def eye(
    n: int,
    m: int | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The n x m identity matrix (m = n by default)."""
    (n, m) = _shape_args((n, n if m is None else m), "eye")
    return _made(np.eye(n, m, dtype=_float_dtype(dtype, "eye")), requires_grad, device, "eye")


def linspace(
    start: float,
    end: float,
    steps: int,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    (steps,) = _shape_args((steps,), "linspace")
    arr = np.linspace(unwrap(start), unwrap(end), steps).astype(_float_dtype(dtype, "linspace"))
    return _made(arr, requires_grad, device, "linspace")


def randn(
    *size,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Standard normal samples from ``generator`` (default: minigrad's, see ``manual_seed``)."""
    arr = get_rng(generator).standard_normal(_shape_args(size, "randn"))
    return _made(arr.astype(_float_dtype(dtype, "randn")), requires_grad, device, "randn")


def rand(
    *size,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    generator: Generator | None = None,
) -> Tensor:
    """Uniform samples in [0, 1) from ``generator`` (default: minigrad's)."""
    arr = get_rng(generator).random(_shape_args(size, "rand"))
    return _made(arr.astype(_float_dtype(dtype, "rand")), requires_grad, device, "rand")


def randint(
    low: int,
    high: int | None = None,
    size: Any = None,
    *,
    dtype: Any = None,
    device: Any = None,
    generator: Generator | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` means low = 0), int64
    unless ``dtype`` says otherwise."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError(
                "randint: size is required, e.g. randint(10, (3,)) or randint(0, 10, (3,))"
            )
        low, high, size = 0, low, high
    elif high is None:
        raise TypeError("randint: high is required")
    if not high > low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    arr = get_rng(generator).integers(low, high, _shape_args((size,), "randint"))
    dt = np.dtype(np.int64) if dtype is None else _dtype(dtype, "randint")
    return _made(arr.astype(dt), requires_grad, device, "randint")


def randperm(
    n: int,
    *,
    dtype: Any = None,
    device: Any = None,
    generator: Generator | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 unless ``dtype`` says otherwise)."""
    (n,) = _shape_args((n,), "randperm")
    arr = get_rng(generator).permutation(n)
    dt = np.dtype(np.int64) if dtype is None else _dtype(dtype, "randperm")
    return _made(arr.astype(dt), requires_grad, device, "randperm")


def arange(
    start, end=None, step=1, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    a = np.arange(start, end, step)
    if dtype is None and a.dtype == np.float64:
        a = a.astype(np.float32)
    elif dtype is not None:
        a = a.astype(_dtype(dtype, "arange"))
    return _made(a, requires_grad, device, "arange")


def _like(t: ArrayLike, dtype: Any) -> tuple:
    a = unwrap(t)
    return np.shape(a), (np.asarray(a).dtype if dtype is None else dtype)


def zeros_like(t: ArrayLike, dtype: Any = None, device: Any = None, requires_grad=False):
    shape, dt = _like(t, dtype)
    return zeros(shape, dtype=dt, device=device, requires_grad=requires_grad)


def ones_like(t: ArrayLike, dtype: Any = None, device: Any = None, requires_grad=False):
    shape, dt = _like(t, dtype)
    return ones(shape, dtype=dt, device=device, requires_grad=requires_grad)


def empty_like(t: ArrayLike, dtype: Any = None, device: Any = None, requires_grad=False):
    shape, dt = _like(t, dtype)
    return empty(shape, dtype=dt, device=device, requires_grad=requires_grad)


def full_like(
    t: ArrayLike, fill_value: float, dtype: Any = None, device: Any = None, requires_grad=False
) -> Tensor:
    shape, dt = _like(t, dtype)
    return full(shape, fill_value, dtype=dt, device=device, requires_grad=requires_grad)


def randn_like(t: ArrayLike, dtype: Any = None, device: Any = None, requires_grad=False):
    shape, dt = _like(t, dtype)
    return randn(shape, dtype=dt, device=device, requires_grad=requires_grad)


def rand_like(t: ArrayLike, dtype: Any = None, device: Any = None, requires_grad=False):
    shape, dt = _like(t, dtype)
    return rand(shape, dtype=dt, device=device, requires_grad=requires_grad)


# PyTorch's legacy typed constructors: FloatTensor(2, 3), LongTensor([1, 2]), ...
def _typed(name: str, dt: Any) -> Any:
    def make(*data: Any) -> Tensor:
        t = Tensor(*data, dtype=dt)
        if t.dtype != dt:
            t = Tensor._wrap(t._data.astype(dt))
        return t

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"``{name}(2, 3)`` (a size) or ``{name}(data)``: a {np.dtype(dt)} Tensor."
    return make


FloatTensor = _typed("FloatTensor", np.float32)
DoubleTensor = _typed("DoubleTensor", np.float64)
LongTensor = _typed("LongTensor", np.int64)
IntTensor = _typed("IntTensor", np.int32)
BoolTensor = _typed("BoolTensor", np.bool_)
ByteTensor = _typed("ByteTensor", np.uint8)
