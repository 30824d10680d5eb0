"""The book's three convolution operations as differentiable functions (Goodfellow et
al., Deep Learning, sec. 9.5), in its notation: K a kernel, V an input, G the gradient
of a loss with respect to a convolution's output Z, s the stride.

* ``c(K, V, s)``: the strided convolution, eq. 9.8,
  Z[n, i, j, k] = sum_{l, m, p} V[n, l, j*s + m, k*s + p] K[i, l, m, p]
* ``g(G, V, s)``: its gradient with respect to the kernel, eq. 9.11,
  g[i, l, m, p] = sum_{n, j, k} G[n, i, j, k] V[n, l, j*s + m, k*s + p]
* ``h(K, G, s)``: its gradient with respect to the input, eq. 9.13 (the transpose
  convolution), h[n, l, a, b] = sum over the (i, m, p, j, k) with j*s + m = a and
  k*s + p = b of K[i, l, m, p] G[n, i, j, k]

All three are bilinear, and each one's gradient is made of the other two - which is
why these three suffice to train any convolutional network or autoencoder:

    Z = c(K, V):  dK = g(G_Z, V),        dV = h(K, G_Z)
    A = g(G, V):  dG = c(G_A, V),        dV = h(G_A, G)
    B = h(K, G):  dK = g(G, G_B),        dG = c(K, G_B)

Batched NCHW layout (V (N, C_in, H, W), K (C_out, C_in, kH, kW), G (N, C_out, H_out,
W_out)); ``padding`` zero-pads V as in F.conv2d. A stride-s convolution maps several
input sizes to one output size, so g and h take the kernel or input size they should
produce (by default the smallest that fits, i.e. (H_out - 1)*s + k - 2p).

These are ops like F.conv2d (they run the same C kernels, ``minigrad._C.conv``, under
the same argument checks and NaN policy); this module is also reachable under its
old name ``minigrad.kernels``, which is not the C kernels.

Example (differentiating through g, as in a meta-gradient)::

    from minigrad import book_conv
    dK = book_conv.g(G, V, 2)      # a Tensor; dK.sum().backward() reaches G and V
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from minigrad._C import conv as _C
from minigrad._C.core import get_num_threads
from minigrad.autograd import Function
from minigrad.ops.checks import int_tuple
from minigrad.ops.spatial import Spatial, transposed_size
from minigrad.tensor import Tensor

__all__ = ["c", "g", "h"]

IntOrPair = Union[int, Sequence[int]]

_V = ("(N, C_in, W)", "(N, C_in, H, W)")
_K = ("(C_out, C_in, kW)", "(C_out, C_in, kH, kW)")
_G = ("(N, C_out, W_out)", "(N, C_out, H_out, W_out)")


def _arr(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


class _C_(Function):
    """Z = c(K, V)"""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, K, V, conf):
        K, V = _arr(K), _arr(V)
        ctx.save_for_backward(K, V)
        ctx.conf = conf
        return _C.conv2d_forward(V, K, None, *conf, get_num_threads())

    @staticmethod
    def backward(ctx, gz):
        K, V = ctx.saved_tensors
        gz, nt = _arr(gz), get_num_threads()
        need_K, need_V = ctx.needs_input_grad[:2]
        dK = _C.conv2d_backward_weight(V, gz, K.shape[2:], *ctx.conf, nt) if need_K else None
        dV = _C.conv2d_backward_input(gz, K, V.shape[2:], *ctx.conf, nt) if need_V else None
        return dK, dV


class _G_(Function):
    """A = g(G, V): the kernel gradient."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, G, V, conf, k_hw):
        G, V = _arr(G), _arr(V)
        ctx.save_for_backward(G, V)
        ctx.conf = conf
        return _C.conv2d_backward_weight(V, G, k_hw, *conf, get_num_threads())

    @staticmethod
    def backward(ctx, ga):
        G, V = ctx.saved_tensors
        ga, nt = _arr(ga), get_num_threads()
        need_G, need_V = ctx.needs_input_grad[:2]
        dG = _C.conv2d_forward(V, ga, None, *ctx.conf, nt) if need_G else None
        dV = _C.conv2d_backward_input(G, ga, V.shape[2:], *ctx.conf, nt) if need_V else None
        return dG, dV


class _H_(Function):
    """B = h(K, G): the input gradient (transpose convolution)."""

    fresh_grads = True  # backward returns newly allocated arrays only
    fingerprint_saved = True  # a C kernel reads the saved inputs in backward

    @staticmethod
    def forward(ctx, K, G, conf, in_hw):
        K, G = _arr(K), _arr(G)
        ctx.save_for_backward(K, G)
        ctx.conf = conf
        return _C.conv2d_backward_input(G, K, in_hw, *conf, get_num_threads())

    @staticmethod
    def backward(ctx, gb):
        K, G = ctx.saved_tensors
        gb, nt = _arr(gb), get_num_threads()
        need_K, need_G = ctx.needs_input_grad[:2]
        dK = _C.conv2d_backward_weight(gb, G, K.shape[2:], *ctx.conf, nt) if need_K else None
        dG = _C.conv2d_forward(gb, K, None, *ctx.conf, nt) if need_G else None
        return dK, dG


def _conf(a: Spatial, s: IntOrPair, padding: IntOrPair) -> tuple:
    """(stride, (top, bottom, left, right), dilation, groups) for the C kernels."""
    sh, sw = a.ints("s", s, 1)
    ph, pw = a.ints("padding", padding, 0, fill=0)
    return ((sh, sw), (ph, ph, pw, pw), (1, 1), 1)


def _size(a: Spatial, name: str, value: IntOrPair | None, default: tuple, given: str) -> tuple:
    """kernel_size / input_size as given, else ``default``, the smallest that fits."""
    if value is not None:
        return int_tuple(value, 2, f"{a.op}: {name}", 1)
    if min(default) < 1:
        raise ValueError(
            f"{a.op}: no {name.split('_')[0]} size fits {given} (it would be {default}); "
            f"check the shapes, or pass {name}"
        )
    return default


def c(K: object, V: object, s: IntOrPair = 1, padding: IntOrPair = 0) -> Tensor:
    """The book's c(K, V, s): strided convolution of V (N, C_in, H, W) with K
    (C_out, C_in, kH, kW), eq. 9.8. Same as F.conv2d(V, K, stride=s, padding=padding)."""
    a = Spatial("book_conv.c", 2, V, unbatched=False, name="V")
    k = a.operand("K", K, _K)
    conf = _conf(a, s, padding)
    a.output_size(k.shape[2:], *conf[:3], channels=k.shape[0])
    return a.call(_C_, k, a.x, conf)


def g(
    G: object,
    V: object,
    s: IntOrPair = 1,
    padding: IntOrPair = 0,
    kernel_size: IntOrPair | None = None,
) -> Tensor:
    """The book's g(G, V, s): gradient of a convolution's loss with respect to its kernel
    (eq. 9.11), from the output gradient G (N, C_out, H_out, W_out) and input V."""
    a = Spatial("book_conv.g", 2, V, unbatched=False, name="V")
    gt = a.operand("G", G, _G)
    conf = _conf(a, s, padding)
    (sh, sw), (pt, pb, pl, pr) = conf[:2]
    out_hw, in_hw = gt.shape[2:], a.x.shape[2:]
    # the kernel k for which conv_output_size(in, k, s, p) is out: in + 2p = (out - 1)*s + k
    default = (
        in_hw[0] - transposed_size(out_hw[0], 1, sh, (pt, pb)) + 1,
        in_hw[1] - transposed_size(out_hw[1], 1, sw, (pl, pr)) + 1,
    )
    given = f"G's size {tuple(out_hw)} and V's {tuple(in_hw)} at stride {(sh, sw)}"
    k_hw = _size(a, "kernel_size", kernel_size, default, f"{given} and padding {(pt, pl)}")
    return a.call(_G_, gt, a.x, conf, k_hw)


def h(
    K: object,
    G: object,
    s: IntOrPair = 1,
    padding: IntOrPair = 0,
    input_size: IntOrPair | None = None,
) -> Tensor:
    """The book's h(K, G, s): gradient of a convolution's loss with respect to its input
    (eq. 9.13) - the transpose convolution of G (N, C_out, H_out, W_out) with K."""
    a = Spatial("book_conv.h", 2, G, unbatched=False, name="G", layouts=(_G[1], ""))
    k = a.operand("K", K, _K)
    conf = _conf(a, s, padding)
    (sh, sw), (pt, pb, pl, pr) = conf[:2]
    out_hw, k_hw = a.x.shape[2:], k.shape[2:]
    default = (
        transposed_size(out_hw[0], k_hw[0], sh, (pt, pb)),
        transposed_size(out_hw[1], k_hw[1], sw, (pl, pr)),
    )
    given = f"G's size {tuple(out_hw)} and K's {tuple(k_hw)} at stride {(sh, sw)}"
    in_hw = _size(a, "input_size", input_size, default, f"{given} and padding {(pt, pl)}")
    a.check_plane(in_hw, k.shape[1])
    return a.call(_H_, k, a.x, conf, in_hw)
