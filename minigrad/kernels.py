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

Example (differentiating through g, as in a meta-gradient)::

    from minigrad import kernels
    dK = kernels.g(G, V, 2)        # a Tensor; dK.sum().backward() reaches G and V
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from minigrad._C import conv as _C
from minigrad._C.parallel import get_num_threads
from minigrad.autograd import Function
from minigrad.ops.checks import int_tuple
from minigrad.tensor import Tensor, as_tensor

__all__ = ["c", "g", "h"]

IntOrPair = Union[int, Sequence[int]]


def _conf(s: IntOrPair, padding: IntOrPair) -> tuple:
    """(stride, (top, bottom, left, right), dilation, groups) for the C kernels."""
    sh, sw = int_tuple(s, 2, "kernels: s")
    ph, pw = int_tuple(padding, 2, "kernels: padding")
    return ((sh, sw), (ph, ph, pw, pw), (1, 1), 1)


def _arr(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def _default_size(out_hw: Sequence[int], k_or_in: Sequence[int], conf: tuple, what: str):
    """Smallest kernel (what='kernel') or input (what='input') size consistent with an
    output of size out_hw: in + 2p = (out - 1)*s + k."""
    (sh, sw), (pt, pb, pl, pr) = conf[0], conf[1]
    base = ((out_hw[0] - 1) * sh - pt - pb, (out_hw[1] - 1) * sw - pl - pr)
    if what == "kernel":  # k = in + 2p - (out - 1)*s
        size = (k_or_in[0] - base[0], k_or_in[1] - base[1])
        fn, given = "g", f"G's size {tuple(out_hw)} and V's {tuple(k_or_in)}"
    else:  # in = (out - 1)*s + k - 2p
        size = (k_or_in[0] + base[0], k_or_in[1] + base[1])
        fn, given = "h", f"G's size {tuple(out_hw)} and K's {tuple(k_or_in)}"
    if min(size) < 1:
        raise ValueError(
            f"kernels.{fn}: no {what} size fits {given} at stride {conf[0]} and padding "
            f"{(pt, pl)} (it would be {size}); check the shapes, or pass {what}_size"
        )
    return size


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


def _t(x: object) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def c(K: object, V: object, s: IntOrPair = 1, padding: IntOrPair = 0) -> Tensor:
    """The book's c(K, V, s): strided convolution of V (N, C_in, H, W) with K
    (C_out, C_in, kH, kW), eq. 9.8. Same as F.conv2d(V, K, stride=s, padding=padding)."""
    return _C_.apply(_t(K), _t(V), _conf(s, padding))


def g(
    G: object,
    V: object,
    s: IntOrPair = 1,
    padding: IntOrPair = 0,
    kernel_size: IntOrPair | None = None,
) -> Tensor:
    """The book's g(G, V, s): gradient of a convolution's loss with respect to its kernel
    (eq. 9.11), from the output gradient G (N, C_out, H_out, W_out) and input V."""
    G, V = _t(G), _t(V)
    conf = _conf(s, padding)
    if kernel_size is None:
        k_hw = _default_size(G.shape[2:], V.shape[2:], conf, "kernel")
    else:
        k_hw = int_tuple(kernel_size, 2, "kernels: kernel_size")
    return _G_.apply(G, V, conf, k_hw)


def h(
    K: object,
    G: object,
    s: IntOrPair = 1,
    padding: IntOrPair = 0,
    input_size: IntOrPair | None = None,
) -> Tensor:
    """The book's h(K, G, s): gradient of a convolution's loss with respect to its input
    (eq. 9.13) - the transpose convolution of G (N, C_out, H_out, W_out) with K."""
    K, G = _t(K), _t(G)
    conf = _conf(s, padding)
    if input_size is None:
        in_hw = _default_size(G.shape[2:], K.shape[2:], conf, "input")
    else:
        in_hw = int_tuple(input_size, 2, "kernels: input_size")
    return _H_.apply(K, G, conf, in_hw)
