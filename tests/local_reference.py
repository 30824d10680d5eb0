"""Naive NumPy references for locally connected and tiled convolution, written
straight from the book's equations (Deep Learning, eq. 9.9 and 9.10), with
plain loops over output locations and no code shared with the C kernels.

All in float64.  Indices are 0-based; V is the zero-padded input, s the stride:

    eq. 9.9:   Z[n,i,j,k] = sum_{l,m,o} V[n, l, j*s_h+m, k*s_w+o] W[i, j, k, l, m, o]
    eq. 9.10:  Z[n,i,j,k] = sum_{l,m,o} V[n, l, j*s_h+m, k*s_w+o] K[i, j%t_h, k%t_w, l, m, o]

The backward references differentiate L = sum(Z * G) by hand (the book's
eq. 9.11-9.13 generalised to unshared weights).
"""

from __future__ import annotations

import numpy as np


def _pad(x: np.ndarray, padding: tuple) -> np.ndarray:
    ph, pw = padding
    return np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def output_size(h: int, w: int, kernel: tuple, stride: tuple, padding: tuple) -> tuple:
    return (h + 2 * padding[0] - kernel[0]) // stride[0] + 1, (
        w + 2 * padding[1] - kernel[1]
    ) // stride[1] + 1


# ----------------------------------------------------------------------------- eq. 9.9


def locally_connected2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple, padding: tuple
) -> np.ndarray:
    """x (N, C_in, H, W), w (C_out, H_out, W_out, C_in, kH, kW), b (C_out, H_out, W_out)."""
    V = _pad(x, padding)
    c_out, h_out, w_out, c_in, kh, kw = w.shape
    sh, sw = stride
    Z = np.zeros((x.shape[0], c_out, h_out, w_out))
    for j in range(h_out):
        for k in range(w_out):
            patch = V[:, :, j * sh : j * sh + kh, k * sw : k * sw + kw]  # (N, l, m, o)
            Z[:, :, j, k] = np.einsum("nlmo,ilmo->ni", patch, w[:, j, k])
            if b is not None:
                Z[:, :, j, k] += b[:, j, k]
    return Z


def locally_connected2d_backward(
    x: np.ndarray, w: np.ndarray, G: np.ndarray, stride: tuple, padding: tuple
) -> tuple:
    """(dL/dx, dL/dw, dL/db) for L = sum(locally_connected2d(x, w, b) * G)."""
    V = _pad(x, padding)
    c_out, h_out, w_out, c_in, kh, kw = w.shape
    sh, sw = stride
    dV = np.zeros_like(V)
    dW = np.zeros(w.shape)
    for j in range(h_out):
        for k in range(w_out):
            rows, cols = slice(j * sh, j * sh + kh), slice(k * sw, k * sw + kw)
            g = G[:, :, j, k]  # (N, i)
            dV[:, :, rows, cols] += np.einsum("ni,ilmo->nlmo", g, w[:, j, k])
            dW[:, j, k] = np.einsum("ni,nlmo->ilmo", g, V[:, :, rows, cols])
    ph, pw = padding
    dx = dV[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dW, G.sum(axis=0)


# ----------------------------------------------------------------------------- eq. 9.10


def tiled_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple, padding: tuple
) -> np.ndarray:
    """x (N, C_in, H, W), w (C_out, t_h, t_w, C_in, kH, kW), b (C_out, t_h, t_w)."""
    V = _pad(x, padding)
    c_out, th, tw, c_in, kh, kw = w.shape
    sh, sw = stride
    h_out, w_out = output_size(x.shape[2], x.shape[3], (kh, kw), stride, padding)
    Z = np.zeros((x.shape[0], c_out, h_out, w_out))
    for j in range(h_out):
        for k in range(w_out):
            patch = V[:, :, j * sh : j * sh + kh, k * sw : k * sw + kw]
            Z[:, :, j, k] = np.einsum("nlmo,ilmo->ni", patch, w[:, j % th, k % tw])
            if b is not None:
                Z[:, :, j, k] += b[:, j % th, k % tw]
    return Z


def tiled_conv2d_backward(
    x: np.ndarray, w: np.ndarray, G: np.ndarray, stride: tuple, padding: tuple
) -> tuple:
    """(dL/dx, dL/dw, dL/db) for L = sum(tiled_conv2d(x, w, b) * G)."""
    V = _pad(x, padding)
    c_out, th, tw, c_in, kh, kw = w.shape
    sh, sw = stride
    h_out, w_out = G.shape[2:]
    dV = np.zeros_like(V)
    dW = np.zeros(w.shape)
    db = np.zeros((c_out, th, tw))
    for j in range(h_out):
        for k in range(w_out):
            rows, cols = slice(j * sh, j * sh + kh), slice(k * sw, k * sw + kw)
            g = G[:, :, j, k]
            dV[:, :, rows, cols] += np.einsum("ni,ilmo->nlmo", g, w[:, j % th, k % tw])
            dW[:, j % th, k % tw] += np.einsum("ni,nlmo->ilmo", g, V[:, :, rows, cols])
            db[:, j % th, k % tw] += g.sum(axis=0)
    ph, pw = padding
    dx = dV[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dW, db


# ----------------------------------------------------------------------------- conv2d


def conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple, padding: tuple
) -> np.ndarray:
    """Plain convolution (cross-correlation, eq. 9.6), w (C_out, C_in, kH, kW)."""
    V = _pad(x, padding)
    c_out, c_in, kh, kw = w.shape
    sh, sw = stride
    h_out, w_out = output_size(x.shape[2], x.shape[3], (kh, kw), stride, padding)
    Z = np.zeros((x.shape[0], c_out, h_out, w_out))
    for j in range(h_out):
        for k in range(w_out):
            patch = V[:, :, j * sh : j * sh + kh, k * sw : k * sw + kw]
            Z[:, :, j, k] = np.einsum("nlmo,ilmo->ni", patch, w)
    if b is not None:
        Z += b[None, :, None, None]
    return Z
