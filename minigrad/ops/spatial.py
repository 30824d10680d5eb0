"""What every op over batches of 1-d or 2-d signals shares: convolution and transpose
convolution, locally connected and tiled convolution, pooling, and the book's c, g, h.

* ``conv_output_size`` / ``transposed_size``: the one place a sliding window's output
  length (and its inverse, a transpose convolution's) is computed.
* ``Spatial``: the one adapter between a public op's arguments and the batched 2-d
  (N, C, H, W) arrays every C kernel takes.  It checks the input's rank and dtype,
  adds the batch axis of an unbatched input and the unit height of a 1-d one (to every
  operand alike), parses the op's int-or-tuple arguments for its dimensionality,
  applies the NaN policy (``minigrad.ops.checks``), calls the ``Function``, and gives
  the result back in the caller's layout.  Every error it raises starts with the name
  of the function the user called.

A 1-d op is its 2-d op on images of height one: (N, C, L) is viewed as (N, C, 1, L),
a kernel of size k as (1, k), stride s as (1, s), padding p as (0, p).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from minigrad.autograd import Function
from minigrad.ops.checks import (
    INDEX_MAX,
    int_tuple,
    physical_memory,
    reject_nan,
    reject_nan_through,
)
from minigrad.tensor import Tensor, as_tensor

IntOrTuple = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], str]

# --------------------------------------------------------------------------- sizes


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Union[int, tuple, str] = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a sliding window along one axis (PyTorch's rule)::

        floor((size + p_before + p_after - dilation * (kernel - 1) - 1) / stride) + 1

    ``padding`` is an int (both sides), a (before, after) pair, or 'valid' (0),
    'full' (dilation * (kernel - 1) each side: every partial overlap, the book's
    full convolution) or 'same' (the input length; stride 1).  ``ceil_mode``
    rounds up instead, as pooling may, but a last window must still start inside
    the input or its left padding.  The result is < 1 when the dilated window is
    wider than the padded input; callers say what is wrong."""
    if type(padding) is tuple:
        lo, hi = padding
    elif padding == "same":
        return size
    else:
        lo, hi = _padding_pair(padding, kernel, dilation)
    span = size + lo + hi - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    n = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (n - 1) * stride >= size + lo:
        n -= 1
    return n


def transposed_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Union[int, tuple] = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """The inverse of ``conv_output_size``: the output length of a transpose
    convolution (and of max unpooling, dilation 1), which is the smallest input
    length a convolution maps to ``size``, plus ``output_padding`` to pick one of
    the ``stride`` lengths it maps there::

        (size - 1) * stride - p_before - p_after + dilation * (kernel - 1) + 1 + output_padding
    """
    lo, hi = _padding_pair(padding, kernel, dilation)
    return (size - 1) * stride - lo - hi + dilation * (kernel - 1) + 1 + output_padding


def conv_padding(
    padding: Padding, kernel: Sequence[int], dilation: Sequence[int] = (1, 1)
) -> tuple[int, int, int, int]:
    """A 2-d convolution's padding as (top, bottom, left, right): an int or (p_h, p_w)
    pads both sides alike; 'valid' is none; 'full' is dilation * (k - 1) on each side
    (every partial overlap of kernel and input is an output: the book's full
    convolution); 'same' keeps the input size at stride 1, the odd zero of an even
    kernel going at the end (bottom / right), as in PyTorch.  A string serves any
    number of axes (one (before, after) pair per entry of ``kernel``: nn's padding
    modes use it for 1-d layers too)."""
    if not isinstance(padding, str):
        ph, pw = int_tuple(padding, 2, "padding")
        return (ph, ph, pw, pw)
    out = []
    for k, d in zip(kernel, dilation):
        extent = d * (k - 1)
        lo = {"valid": 0, "full": extent, "same": extent // 2}[padding]
        out += [lo, extent - lo if padding == "same" else lo]
    return tuple(out)  # type: ignore[return-value]


def _padding_pair(padding: Union[int, tuple, str], kernel: int, dilation: int) -> tuple:
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return dilation * (kernel - 1), dilation * (kernel - 1)
    if isinstance(padding, tuple):
        return padding
    return padding, padding


# --------------------------------------------------------------------------- the adapter

_LAYOUTS = {1: ("(N, C, L)", "(C, L)"), 2: ("(N, C, H, W)", "(C, H, W)")}


class Spatial:
    """One call of a window op, from the user's arguments to the caller's layout.

    ``Spatial(op, ndim, input)`` takes the caller's input (ndim = 1 or 2 spatial
    axes, with or without the batch axis when ``unbatched`` allows); ``.x`` is
    that Tensor and ``.shape`` the (N, C, H, W) shape the kernels see it in.
    ``operand`` takes weights and biases the same way (``shape_of`` gives their
    kernel-side shape), ``ints`` / ``padding`` / ``output_size`` / ``sizes`` parse
    and check the geometry, and ``call`` runs the Function under the NaN policy on
    views of the arrays in those shapes, returning the result in the caller's.
    """

    __slots__ = ("op", "ndim", "unbatched", "x", "shape", "named", "views", "nan_scan", "what")

    def __init__(
        self,
        op: str,
        ndim: int,
        input: Any,
        *,
        unbatched: bool = True,
        layouts: tuple[str, str] | None = None,
        nan_scan: str = "inputs",
        name: str = "input",
    ) -> None:
        self.op, self.ndim, self.nan_scan, self.what = op, ndim, nan_scan, name
        x = as_tensor(input)
        shape = x._data.shape
        if x._data.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} must have dtype float32 or float64, got {x.dtype}")
        if len(shape) != ndim + 2 and not (unbatched and len(shape) == ndim + 1):
            batched, single = layouts or _LAYOUTS[ndim]
            also = f" or {ndim + 1}-d {single} (one unbatched example)" if unbatched else ""
            raise ValueError(
                f"{op}: {name} must be {ndim + 2}-d {batched}{also}, got shape {shape}"
            )
        if 0 in shape[len(shape) - ndim - 1 :]:
            raise ValueError(
                f"{op}: {name} must not be empty (only the batch may be 0), got shape {shape}"
            )
        self.x, self.named, self.views = x, {name: x}, {}
        self.unbatched = len(shape) == ndim + 1
        if self.unbatched:
            shape = (1, *shape)
        if ndim == 1:
            shape = (*shape[:2], 1, shape[2])
        self.shape = shape
        if shape != x._data.shape:
            self.views[id(x)] = shape

    def operand(
        self,
        name: str,
        value: Any,
        layouts: tuple[str, str] | None = None,
        unit_axes: tuple[int, ...] = (),
    ) -> Tensor:
        """A weight or bias: a Tensor of the input's dtype, of the rank its
        ``layouts`` (1-d op, 2-d op) give when given; a 1-d op's operand is seen by
        the kernels with unit axes at ``unit_axes`` (positions in the 2-d layout)."""
        t = as_tensor(value)
        if t.dtype != self.x.dtype:
            raise TypeError(
                f"{self.op}: {name} has dtype {t.dtype}, expected {self.x.dtype} (the "
                f"{self.what}'s)"
            )
        if layouts is not None:
            layout = layouts[self.ndim - 1]
            rank = layout.count(",") + 1
            if t.ndim != rank:
                raise ValueError(
                    f"{self.op}: {name} must be {rank}-d {layout}, got shape {t.shape}"
                )
        self.named[name] = t
        if self.ndim == 1 and unit_axes:
            shape = list(t.shape)
            for a in unit_axes:
                shape.insert(a, 1)
            if self.views.get(id(t), shape) != tuple(shape):  # one Tensor in two roles
                t = t[...]  # (a view node of its own, so each role has its shape)
            self.views[id(t)] = tuple(shape)
        return t

    def shape_of(self, t: Any) -> tuple:
        """The shape the kernels see an operand (or the input) in."""
        return self.views.get(id(t), np.shape(t))

    def view(self, a: Any, shape: tuple) -> Any:
        """Have ``call`` hand ``a`` (a Tensor or array argument) to the Function in
        ``shape``."""
        if a.shape != shape:
            self.views[id(a)] = shape
        return a

    def ints(
        self, name: str, value: IntOrTuple, minimum: int | None = None, fill: int = 1
    ) -> tuple[int, int]:
        """An int-or-tuple argument as (height, width).  A 2-d op also takes a
        1-tuple (PyTorch expands it); a 1-d op's value is the width, the height
        being ``fill`` (1 for kernel, stride and dilation, 0 for padding)."""
        if self.ndim == 1:
            return (fill, int_tuple(value, 1, f"{self.op}: {name}", minimum)[0])
        if isinstance(value, (tuple, list)) and len(value) == 1 and isinstance(value[0], int):
            value = value[0]  # a nested [[1, 2]] stays nested, for int_tuple to refuse
        return int_tuple(value, 2, f"{self.op}: {name}", minimum)  # type: ignore[return-value]

    def sizes(self, name: str, value: Sequence[int]) -> tuple[int, int]:
        """A requested size (``output_size``) as (height, width): a sequence of ndim
        ints, or ndim + 2 with batch and channels first (as PyTorch accepts).
        Entries must be ints >= 1 (a float is refused, not truncated)."""
        n = self.ndim
        if not isinstance(value, (tuple, list, np.ndarray)) or len(value) not in (n, n + 2):
            raise ValueError(
                f"{self.op}: {name} must be a sequence of {n} ints (or {n + 2} with batch "
                f"and channels), got {value!r}"
            )
        vals = int_tuple(tuple(value)[-n:], n, f"{self.op}: {name}", 1)
        return (1, vals[0]) if n == 1 else vals  # type: ignore[return-value]

    def padding(
        self,
        padding: Padding,
        kernel: Sequence[int],
        stride: tuple,
        dilation: tuple,
        symmetric: bool = False,
    ) -> tuple[int, int, int, int]:
        """Padding as (top, bottom, left, right) (see ``conv_padding``), checked:
        ints >= 0; 'same' needs stride 1, and odd kernels when the op pads both
        sides alike (``symmetric``)."""
        if not isinstance(padding, str):
            ph, pw = self.ints("padding", padding, 0, fill=0)
            return (ph, ph, pw, pw)
        if padding not in ("valid", "same", "full"):
            raise ValueError(
                f"{self.op}: padding must be an int, a tuple, 'valid', 'same' or 'full', "
                f"got {padding!r}"
            )
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(
                f"{self.op}: padding='same' needs stride 1, got stride={self.shown(stride)}"
            )
        if padding == "same" and symmetric and any(k % 2 == 0 for k in kernel):
            raise ValueError(
                f"{self.op}: padding='same' needs stride 1 and odd kernel sizes, got kernel "
                f"{self.shown(kernel)}"
            )
        return conv_padding(padding, kernel, dilation)

    def output_size(
        self,
        kernel: Sequence[int],
        stride: Sequence[int],
        pad: Sequence[int],
        dilation: Sequence[int] = (1, 1),
        ceil_mode: bool = False,
        what: str = "kernel",
        channels: int | None = None,
    ) -> tuple[int, int]:
        """(H_out, W_out) of windows ``kernel`` over the input padded by ``pad``
        (top, bottom, left, right); a ValueError when a window is wider than the
        padded input, or when the output (of ``channels``, default the input's) is
        too large (see ``check_plane``)."""
        in_hw = self.shape[2:]
        out = (
            conv_output_size(in_hw[0], kernel[0], stride[0], pad[0:2], dilation[0], ceil_mode),
            conv_output_size(in_hw[1], kernel[1], stride[1], pad[2:4], dilation[1], ceil_mode),
        )
        if min(out) < 1:
            extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
            padded = tuple(n + pad[2 * i] + pad[2 * i + 1] for i, n in enumerate(in_hw))
            raise ValueError(
                f"{self.op}: {what} (dilated extent {self.shown(extent)}) is larger than the "
                f"padded input ({self.shown(padded)}); check {what}, padding and dilation"
            )
        return self.check_plane(out, channels)

    def check_plane(self, hw: tuple, channels: int | None = None) -> tuple:
        """Refuse, before anything is allocated, an output plane of more positions
        than the kernels index (2**31 - 1: no real image comes near), or an output
        (N, channels, *hw) larger than this machine's memory."""
        if hw[0] * hw[1] > INDEX_MAX:
            raise ValueError(
                f"{self.op}: the output plane {self.shown(hw)} would have more than "
                "2**31 - 1 positions; check the sizes, strides and paddings"
            )
        c = self.shape[1] if channels is None else channels
        need = self.shape[0] * c * hw[0] * hw[1] * self.x._data.itemsize
        if need > physical_memory():
            raise ValueError(
                f"{self.op}: the output {(self.shape[0], c, *self.shown(hw))} would need "
                f"{need / 2**30:.0f} GiB, more than this machine's memory "
                f"({physical_memory() / 2**30:.0f} GiB); check the sizes"
            )
        return hw

    def shown(self, hw: Sequence[Any]) -> tuple:
        """A (height, width) pair as the caller sees it: (width,) for a 1-d op."""
        return tuple(hw[1:]) if self.ndim == 1 else tuple(hw)

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn.apply(*args, **kwargs)`` under the NaN policy, on the arrays in the
        kernels' shapes and with the result in the caller's (one node on the tape).

        NaN policy (see ``minigrad.ops.checks``): ``nan_scan='inputs'`` scans the
        caller's operands before the kernel runs; ``'output'`` (the memory-bound
        pooling kernels) scans the smaller result and searches the operands only
        when it holds a NaN.  Either way the message names the operand and the
        first NaN's index in the shape the caller passed."""
        named = self.named
        if self.nan_scan == "inputs":
            reject_nan(self.op, **{k: t._data for k, t in named.items()})
        drop = (self.ndim == 1, self.unbatched)
        try:
            if self.views or any(drop):
                shapes = tuple(self.views.get(id(a)) for a in args)
                out = _viewed(fn).apply(*args, shapes=shapes, drop=drop, **kwargs)
            else:
                out = fn.apply(*args, **kwargs)
        except (ValueError, TypeError) as e:  # the kernels' own checks: say who called
            msg = str(e)
            if msg.startswith(self.op + ":"):
                raise
            head, sep, rest = msg.partition(": ")
            if sep and "2d" in head and " " not in head:  # a kernel's name (conv2d_forward)
                msg = rest
            raise type(e)(f"{self.op}: {msg}") from None
        if self.nan_scan == "output":
            first = out[0] if type(out) is tuple else out
            reject_nan_through(self.op, first._data, **{k: t._data for k, t in named.items()})
        return out


class _Viewed(Function):
    """A Function on (N, C, H, W) arrays (``fn``) applied to arrays of the caller's
    shapes: forward views argument i in ``shapes[i]`` (None: as given), runs
    ``fn.forward`` and views each result without the unit height of a 1-d op and
    the batch axis of an unbatched input (``drop``); backward views the gradients
    the other way, runs ``fn.backward`` and returns each input's gradient in that
    input's shape.

    One node per call, sharing its ctx with ``fn``, and made per ``fn`` by
    ``_viewed`` (a subclass of the same name and flags): the tape's messages and
    ``grad_fn`` name fn, and what fn saves is what the tape guards.  As views of
    fn's fresh arrays, the gradients stay fresh."""

    fn: Any = None  # the Function viewed (set on each subclass)

    @classmethod
    def forward(cls, ctx, *args, shapes=(), drop=(False, False), **kwargs):
        ctx.viewed_in = tuple(None if s is None else a.shape for a, s in zip(args, shapes))
        args = tuple(a if s is None else a.reshape(s) for a, s in zip(args, shapes))
        outs4 = cls.fn.forward(ctx, *args, **kwargs)
        multi = type(outs4) is tuple
        outs4 = outs4 if multi else (outs4,)
        drop_h, drop_n = drop
        outs = []
        for y in outs4:
            shape = y.shape[1:] if drop_n else y.shape
            outs.append(y.reshape((*shape[:-2], shape[-1]) if drop_h else shape))
        ctx.viewed_out = tuple(y.shape for y in outs4)
        _keep_caller_views(ctx, outs4, outs)
        return tuple(outs) if multi else outs[0]

    @classmethod
    def backward(cls, ctx, *grads):
        grads = tuple(None if g is None else g.reshape(s) for g, s in zip(grads, ctx.viewed_out))
        back = getattr(ctx, "viewed_saved", None)
        if back is None:
            gin = cls.fn.backward(ctx, *grads)
        else:  # fn reads its saved outputs in its own shapes (the guard has run by now)
            saved = ctx.saved_tensors
            ctx.saved_tensors = tuple(a if s is None else a.reshape(s) for a, s in zip(saved, back))
            try:
                gin = cls.fn.backward(ctx, *grads)
            finally:
                ctx.saved_tensors = saved
        if not isinstance(gin, tuple):
            gin = (gin,)
        return tuple(
            g if g is None or s is None else g.reshape(s) for g, s in zip(gin, ctx.viewed_in)
        )


def _keep_caller_views(ctx: Any, outs4: tuple, outs: list) -> None:
    """Where fn saved one of its outputs, keep instead the caller's view of it (the
    array the output Tensor holds, which the tape's guard recognizes by identity);
    ``_Viewed.backward`` hands fn its own shapes again."""
    saved = ctx.saved_tensors
    mine = {id(y): o for y, o in zip(outs4, outs)}
    if any(id(a) in mine for a in saved):
        ctx.viewed_saved = tuple(a.shape if id(a) in mine else None for a in saved)
        ctx.save_for_backward(*(mine.get(id(a), a) for a in saved))


_VIEWED: dict = {}


def _viewed(fn: Any) -> Any:
    """The ``_Viewed`` subclass for ``fn``: fn's name, docstring and flags."""
    cls = _VIEWED.get(fn)
    if cls is None:
        attrs = {
            "fn": fn,
            "__doc__": fn.__doc__,
            "__module__": fn.__module__,
            "fresh_grads": fn.fresh_grads,
            "fingerprint_saved": fn.fingerprint_saved,
        }
        cls = _VIEWED[fn] = type(fn.__name__, (_Viewed,), attrs)
    return cls
