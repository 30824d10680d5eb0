"""Naive NumPy convolutions written straight from the book's equations (Goodfellow et al.,
Deep Learning, sec. 9.5), kept apart from the kernels they check: no im2col, no GEMM,
just the sums over kernel taps, in float64.

Notation: V input (N, C_in, H, W), K kernel (C_out, C_in/groups, kH, kW), Z output,
G = dL/dZ. Zero padding is done explicitly (np.pad) and a dilated tap m reads row
y*s + m*d of the padded input.
"""

from __future__ import annotations

import numpy as np


def _pad(V: np.ndarray, pad: tuple[int, int, int, int]) -> np.ndarray:
    pt, pb, pl, pr = pad
    return np.pad(V, ((0, 0), (0, 0), (pt, pb), (pl, pr)))


def out_size(n: int, k: int, s: int, p0: int, p1: int, d: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv2d(V, K, bias=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Eq. 9.8 with padding, dilation and groups:
    Z[n,i,y,x] = sum_{l,m,k} Vp[n, G(i)+l, y*s_h + m*d_h, x*s_w + k*d_w] K[i,l,m,k]."""
    V, K = np.asarray(V, np.float64), np.asarray(K, np.float64)
    N, C_in, H, W = V.shape
    C_out, C_in_g, kh, kw = K.shape
    (sh, sw), (dh, dw) = stride, dilation
    Ho = out_size(H, kh, sh, pad[0], pad[1], dh)
    Wo = out_size(W, kw, sw, pad[2], pad[3], dw)
    Vp = _pad(V, pad)
    C_out_g = C_out // groups
    Z = np.zeros((N, C_out, Ho, Wo))
    for i in range(C_out):
        first = (i // C_out_g) * C_in_g  # first input channel of output i's group
        for y in range(Ho):
            for x in range(Wo):
                total = np.zeros(N)
                for l in range(C_in_g):
                    for m in range(kh):
                        for k in range(kw):
                            total += (
                                Vp[:, first + l, y * sh + m * dh, x * sw + k * dw] * K[i, l, m, k]
                            )
                Z[:, i, y, x] = total
    if bias is not None:
        b = np.asarray(bias, np.float64)
        Z += b[:, None, None] if b.ndim == 1 else b
    return Z


def conv2d_grad_weight(G, V, kernel_hw, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Eq. 9.11, with G(i) the first input channel of output i's group:
    dK[i,l,m,k] = sum_{n,y,x} G[n,i,y,x] Vp[n, G(i)+l, y*s_h + m*d_h, x*s_w + k*d_w]."""
    G, V = np.asarray(G, np.float64), np.asarray(V, np.float64)
    N, C_out, Ho, Wo = G.shape
    C_in = V.shape[1]
    kh, kw = kernel_hw
    (sh, sw), (dh, dw) = stride, dilation
    Vp = _pad(V, pad)
    C_in_g, C_out_g = C_in // groups, C_out // groups
    dK = np.zeros((C_out, C_in_g, kh, kw))
    for i in range(C_out):
        first = (i // C_out_g) * C_in_g
        for l in range(C_in_g):
            for m in range(kh):
                for k in range(kw):
                    total = 0.0
                    for y in range(Ho):
                        for x in range(Wo):
                            total += np.dot(
                                G[:, i, y, x], Vp[:, first + l, y * sh + m * dh, x * sw + k * dw]
                            )
                    dK[i, l, m, k] = total
    return dK


def conv2d_grad_input(K, G, input_hw, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Eq. 9.13: every output unit (n,i,y,x) sends K[i,l,m,k] G[n,i,y,x] back to the padded
    input position it read, (n, G(i)+l, y*s_h + m*d_h, x*s_w + k*d_w); the padding is cut off."""
    K, G = np.asarray(K, np.float64), np.asarray(G, np.float64)
    N, C_out, Ho, Wo = G.shape
    _, C_in_g, kh, kw = K.shape
    H, W = input_hw
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = pad
    C_out_g = C_out // groups
    dVp = np.zeros((N, C_in_g * groups, H + pt + pb, W + pl + pr))
    for i in range(C_out):
        first = (i // C_out_g) * C_in_g
        for y in range(Ho):
            for x in range(Wo):
                for l in range(C_in_g):
                    for m in range(kh):
                        for k in range(kw):
                            dVp[:, first + l, y * sh + m * dh, x * sw + k * dw] += (
                                K[i, l, m, k] * G[:, i, y, x]
                            )
    return dVp[:, :, pt : pt + H, pl : pl + W]


def conv_transpose2d(
    X, K, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1, dilation=(1, 1)
):
    """The transpose convolution is h applied to X, with K read in PyTorch's transpose layout
    (C_in, C_out/groups, kH, kW), i.e. as the kernel of the convolution it transposes."""
    H, W = X.shape[2:]
    kh, kw = K.shape[2:]
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    # Scatter X back through the taps onto a padded (Ho, Wo) canvas; the last
    # output_padding rows/columns are reached by no tap unless the padding covers them.
    ph, pw = padding
    Y = conv2d_grad_input(K, X, (Ho, Wo), stride, (ph, ph, pw, pw), dilation, groups)
    if bias is not None:
        b = np.asarray(bias, np.float64)
        Y = Y + (b[:, None, None] if b.ndim == 1 else b)
    return Y
