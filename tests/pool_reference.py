"""Naive NumPy references for the pooling ops, written from the definitions
(Deep Learning book, section 9.3; PyTorch's documented size and divisor rules),
independently of the C kernels: plain loops over every output and every tap of
its window, on small shapes.  All work in float64 on (N, C, H, W) arrays.
"""

from __future__ import annotations

import math

import numpy as np


def out_size(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Number of windows: floor/ceil((n + 2p - d(k-1) - 1) / s) + 1, where with
    ceil_mode the last window has to start before n + p (PyTorch's rule)."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _taps(o: int, k: int, s: int, p: int, d: int = 1) -> list[int]:
    """Input positions of window o along one axis (may be outside the input)."""
    return [o * s - p + t * d for t in range(k)]


def max_pool2d(x, k, s, p, d=(1, 1), ceil_mode=False):
    """y = max over the window (padding never wins); idx = flat h*W + w of the first
    maximum in row-major order, NaN counting as the largest value."""
    N, C, H, W = x.shape
    OH = out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    y = np.empty((N, C, OH, OW))
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    best, arg = None, -1
                    for h in _taps(i, k[0], s[0], p[0], d[0]):
                        for w in _taps(j, k[1], s[1], p[1], d[1]):
                            if not (0 <= h < H and 0 <= w < W):
                                continue
                            v = x[n, c, h, w]
                            if best is None or (not np.isnan(best) and (v > best or np.isnan(v))):
                                best, arg = v, h * W + w
                    if best is None:
                        raise ValueError("a window holds only padding")
                    y[n, c, i, j], idx[n, c, i, j] = best, arg
    return y, idx


def max_pool2d_backward(gy, idx, H, W):
    """dL/dx: each output's gradient goes to the element its index names."""
    N, C = gy.shape[:2]
    gx = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            for o, i in zip(gy[n, c].ravel(), idx[n, c].ravel()):
                gx[n, c, i] += o
    return gx.reshape(N, C, H, W)


def _avg_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """Yield (i, j, [(h, w) valid], divisor) for average pooling."""
    OH = out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    for i in range(OH):
        for j in range(OW):
            hs = _taps(i, k[0], s[0], p[0])
            ws = _taps(j, k[1], s[1], p[1])
            cells = [(h, w) for h in hs for w in ws if 0 <= h < H and 0 <= w < W]
            if divisor_override:
                div = divisor_override
            elif count_include_pad:  # window clipped to the padded input
                div = sum(1 for h in hs if h < H + p[0]) * sum(1 for w in ws if w < W + p[1])
            else:
                div = len(cells)
            yield i, j, cells, div


def avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None):
    N, C, H, W = x.shape
    OH = out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    y = np.zeros((N, C, OH, OW))
    for i, j, cells, div in _avg_windows(
        H, W, k, s, p, ceil_mode, count_include_pad, divisor_override
    ):
        for h, w in cells:
            y[:, :, i, j] += x[:, :, h, w]
        y[:, :, i, j] /= div
    return y


def avg_pool2d_backward(
    gy, H, W, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    gx = np.zeros(gy.shape[:2] + (H, W))
    for i, j, cells, div in _avg_windows(
        H, W, k, s, p, ceil_mode, count_include_pad, divisor_override
    ):
        for h, w in cells:
            gx[:, :, h, w] += gy[:, :, i, j] / div
    return gx


def lp_pool2d(x, norm, k, s, ceil_mode=False):
    """y = (sum_window x^p * (kH kW / elements present))^(1/p)  (PyTorch's definition:
    the rescaling only matters for windows cut short by ceil_mode)."""
    N, C, H, W = x.shape
    OH, OW = out_size(H, k[0], s[0], 0, 1, ceil_mode), out_size(W, k[1], s[1], 0, 1, ceil_mode)
    y = np.zeros((N, C, OH, OW))
    for i, j, cells, _ in _avg_windows(H, W, k, s, (0, 0), ceil_mode, False, None):
        acc = sum(x[:, :, h, w] ** norm for h, w in cells)
        y[:, :, i, j] = (acc * (k[0] * k[1] / len(cells))) ** (1.0 / norm)
    return y


def lp_pool2d_backward(gy, x, norm, k, s, ceil_mode=False):
    """dy/dx = scale x^(p-1) y^(1-p); 0 for a window whose y is 0."""
    N, C, H, W = x.shape
    y = lp_pool2d(x, norm, k, s, ceil_mode)
    gx = np.zeros_like(x)
    for i, j, cells, _ in _avg_windows(H, W, k, s, (0, 0), ceil_mode, False, None):
        scale = k[0] * k[1] / len(cells)
        yo = y[:, :, i, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(yo == 0, 0.0, gy[:, :, i, j] * scale * yo ** (1 - norm))
        for h, w in cells:
            gx[:, :, h, w] += f * x[:, :, h, w] ** (norm - 1)
    return gx


def _adaptive_ranges(n: int, m: int) -> list[range]:
    return [range((o * n) // m, -(-((o + 1) * n) // m)) for o in range(m)]


def adaptive_avg_pool2d(x, out_hw):
    N, C, H, W = x.shape
    y = np.zeros((N, C) + tuple(out_hw))
    for i, rh in enumerate(_adaptive_ranges(H, out_hw[0])):
        for j, rw in enumerate(_adaptive_ranges(W, out_hw[1])):
            y[:, :, i, j] = x[:, :, rh.start : rh.stop, rw.start : rw.stop].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(gy, H, W):
    gx = np.zeros(gy.shape[:2] + (H, W))
    for i, rh in enumerate(_adaptive_ranges(H, gy.shape[2])):
        for j, rw in enumerate(_adaptive_ranges(W, gy.shape[3])):
            gx[:, :, rh.start : rh.stop, rw.start : rw.stop] += gy[:, :, i, j, None, None] / (
                len(rh) * len(rw)
            )
    return gx


def adaptive_max_pool2d(x, out_hw):
    N, C, H, W = x.shape
    y = np.zeros((N, C) + tuple(out_hw))
    idx = np.zeros((N, C) + tuple(out_hw), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i, rh in enumerate(_adaptive_ranges(H, out_hw[0])):
                for j, rw in enumerate(_adaptive_ranges(W, out_hw[1])):
                    best, arg = None, -1
                    for h in rh:
                        for w in rw:
                            v = x[n, c, h, w]
                            if best is None or v > best:
                                best, arg = v, h * W + w
                    y[n, c, i, j], idx[n, c, i, j] = best, arg
    return y, idx


def max_unpool2d(x, idx, H, W):
    """y = 0 but y[idx] = x, inputs written in order (a later duplicate wins)."""
    N, C = x.shape[:2]
    y = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            for v, i in zip(x[n, c].ravel(), idx[n, c].ravel()):
                y[n, c, i] = v
    return y.reshape(N, C, H, W)


def max_unpool2d_backward(gy, idx):
    """d y[idx[k]] / d x[k] = 1 for the input that was written last there, else 0."""
    N, C = gy.shape[:2]
    gx = np.zeros(idx.shape)
    flat_g = gy.reshape(N, C, -1)
    for n in range(N):
        for c in range(C):
            last = {}
            for k, i in enumerate(idx[n, c].ravel()):
                last[i] = k
            g = gx[n, c].reshape(-1)
            for k, i in enumerate(idx[n, c].ravel()):
                g[k] = flat_g[n, c, i] if last[i] == k else 0.0
            gx[n, c] = g.reshape(idx.shape[2:])
    return gx


def weighted_avg_pool2d(x, K, s, p):
    """y[i, j] = sum_{a, b} K[a, b] x[i sH + a - pH, j sW + b - pW] (zeros outside)."""
    N, C, H, W = x.shape
    kh, kw = K.shape
    OH, OW = out_size(H, kh, s[0], p[0]), out_size(W, kw, s[1], p[1])
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            for a in range(kh):
                for b in range(kw):
                    h, w = i * s[0] + a - p[0], j * s[1] + b - p[1]
                    if 0 <= h < H and 0 <= w < W:
                        y[:, :, i, j] += K[a, b] * x[:, :, h, w]
    return y


def gaussian_window(kh, kw, sigma_h, sigma_w):
    """K[a, b] proportional to exp(-(dh^2 / 2 sh^2 + dw^2 / 2 sw^2)), dh, dw the
    offsets from the window centre, normalized to sum 1."""
    K = np.zeros((kh, kw))
    for a in range(kh):
        for b in range(kw):
            dh, dw = a - (kh - 1) / 2, b - (kw - 1) / 2
            K[a, b] = math.exp(-(dh * dh / (2 * sigma_h**2) + dw * dw / (2 * sigma_w**2)))
    return K / K.sum()
