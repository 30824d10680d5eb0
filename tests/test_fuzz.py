"""Fuzzing every public kernel-backed op (issue 16).

Valid configurations -- shapes, strides, paddings (ints, pairs, 'valid'/'same'/'full'),
dilations, groups, tiles, ceil_mode, indices, float32 and float64, batch 1-64 or
unbatched, and inputs laid out contiguous, misaligned (``buf[1:].view(np.float32)``),
negative-stride, strided or read-only -- are compared, forward AND backward, with the
independent float64 NumPy references of tests/conv_reference.py, pool_reference.py and
local_reference.py. float32 results are held to a tolerance that a wrong index breaks.

Invalid configurations -- every argument out of range, wrong ranks and dtypes, empty
dimensions, sizes whose products overflow, NaN -- must raise a ValueError or TypeError
that names the argument. They run in a child process under an address-space limit and
a timeout, so an op that crashes, hangs or allocates without bound fails the test
instead of taking pytest (or the machine) down with it.

Example counts: each test's base count times (the hypothesis profile's max_examples /
100); ``--hypothesis-profile=long`` (tests/conftest.py) runs 20x more.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time

import conv_reference as cref  # tests/ is on sys.path under pytest
import local_reference as lref
import numpy as np
import pool_reference as pref
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels as K
from minigrad.tensor import Tensor

SCALE = float(os.environ.get("MINIGRAD_FUZZ_SCALE", settings.default.max_examples / 100))


def fuzz(base: int):
    """Settings for a fuzz test of ``base`` examples under the default profile."""
    return settings(
        max_examples=max(1, int(base * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ----------------------------------------------------------------------------- inputs

LAYOUTS = ["contiguous", "misaligned", "reversed", "strided", "readonly"]


def laid_out(a: np.ndarray, kind: str) -> np.ndarray:
    """An array equal to ``a`` whose memory is laid out as ``kind`` says."""
    if kind == "misaligned":  # inside a byte buffer, one byte off its element alignment
        buf = np.zeros(a.nbytes + 1, np.uint8)
        out = buf[1:].view(a.dtype).reshape(a.shape)
        out[...] = a
        assert not out.flags.aligned
        return out
    if kind == "reversed":  # negative strides along the last axis
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    if kind == "strided":  # every other element of a wider array
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    out = a.copy()
    if kind == "readonly":
        out.flags.writeable = False
    return out


class Case:
    """One example: a seeded generator, the dtype, and the leaves it made (kept to check
    that no op writes into its inputs)."""

    def __init__(self, draw, dtype=None):
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
        self.dtype = dtype or draw(st.sampled_from([np.float32, np.float64]), label="dtype")
        self.leaves = []

    def leaf(self, shape, low=-1.0, high=1.0, values=None, grad=True):
        """(float64 copy for the reference, Tensor on a drawn layout)."""
        a = self.rng.uniform(low, high, shape) if values is None else np.asarray(values)
        a = a.astype(self.dtype)  # the reference sees exactly the kernel's numbers
        kind = self.draw(st.sampled_from(LAYOUTS), label="layout")
        t = Tensor(laid_out(a, kind), requires_grad=grad)
        self.leaves.append((t, a.copy()))
        return a.astype(np.float64), t

    def upstream(self, y: Tensor) -> np.ndarray:
        return self.rng.standard_normal(y.shape).astype(self.dtype)

    def untouched(self):
        for t, a in self.leaves:
            np.testing.assert_array_equal(t.numpy(), a, err_msg="an op wrote into its input")


def batch_size(draw, unbatched_ok=True):
    """None (unbatched input) or a batch size in 1..64, mostly small."""
    options = [st.integers(1, 4), st.sampled_from([7, 16, 64])]
    if unbatched_ok:
        options.append(st.none())
    return draw(st.one_of(*options), label="batch")


def close(got, want, dtype, terms=1, what=""):
    """float64: to rounding; float32: rtol 1e-4 plus 2e-6 per summed term -- far below
    what one wrong tap (an O(0.1-1) change) would do."""
    got = got.numpy() if isinstance(got, Tensor) else np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    if dtype == np.float64:
        rtol, atol = 1e-9, 1e-11 * terms
    else:
        rtol, atol = 1e-4, 2e-6 * terms
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, err_msg=what)


def grad_of(t: Tensor) -> np.ndarray:
    assert t.grad is not None, "no gradient reached an input that requires one"
    return t.grad.numpy()


def batched(a: np.ndarray, n) -> np.ndarray:
    return a[None] if n is None else a


def unbatch(a: np.ndarray, n) -> np.ndarray:
    return a[0] if n is None else a


def shape_nc(n, *rest):
    return tuple(rest) if n is None else (n, *rest)


# ----------------------------------------------------------------------------- convolution


def conv_padding(draw, k, d, allow_same=True):
    """A padding argument and its (top, bottom, left, right) zeros."""
    mode = draw(
        st.sampled_from(["int", "pair", "valid", "full"] + (["same"] if allow_same else []))
    )
    ext = [di * (ki - 1) for ki, di in zip(k, d)]
    if mode == "int":
        p = draw(st.integers(0, 3))
        return p, (p, p, p, p)
    if mode == "pair":
        ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        return (ph, pw), (ph, ph, pw, pw)
    if mode == "valid":
        return "valid", (0, 0, 0, 0)
    if mode == "full":
        return "full", (ext[0], ext[0], ext[1], ext[1])
    return "same", (ext[0] // 2, ext[0] - ext[0] // 2, ext[1] // 2, ext[1] - ext[1] // 2)


def size_for(draw, extent, pad_sum, extra=7):
    """An input length the (dilated) kernel fits in once padded."""
    return draw(st.integers(max(1, extent - pad_sum), max(1, extent - pad_sum) + extra))


@fuzz(120)
@given(st.data())
def test_conv2d_and_conv1d(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="conv1d")
    g = d_(st.integers(1, 3), label="groups")
    cin, cout = g * d_(st.integers(1, 3)), g * d_(st.integers(1, 3))
    k = (1 if one_d else d_(st.integers(1, 4)), d_(st.integers(1, 4)))
    dil = (1 if one_d else d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    s = (1 if one_d else d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    padding, pad = conv_padding(d_, k, dil)
    if padding == "same":
        s = (1, 1)
    if one_d:  # conv1d pads along L only
        if not isinstance(padding, str):
            padding = padding if isinstance(padding, int) else padding[1]
            pad = (0, 0, padding, padding)
        else:
            pad = (0, 0, pad[2], pad[3])
    H = 1 if one_d else size_for(d_, dil[0] * (k[0] - 1) + 1, pad[0] + pad[1])
    W = size_for(d_, dil[1] * (k[1] - 1) + 1, pad[2] + pad[3])
    n = batch_size(d_)
    x64, x = c.leaf(shape_nc(n, cin, W) if one_d else shape_nc(n, cin, H, W))
    wshape = (cout, cin // g, k[1]) if one_d else (cout, cin // g, *k)
    w64, w = c.leaf(wshape)
    X, Wt = batched(x64, n), w64
    if one_d:
        X, Wt = X[:, :, None, :], w64[:, :, None, :]
    Ho = cref.out_size(H, k[0], s[0], pad[0], pad[1], dil[0])
    Wo = cref.out_size(W, k[1], s[1], pad[2], pad[3], dil[1])
    bias_kind = d_(st.sampled_from([None, "channel", "location"]), label="bias")
    b64 = b = None
    if bias_kind == "channel":
        b64, b = c.leaf((cout,))
    elif bias_kind == "location":
        b64, b = c.leaf((cout, Wo) if one_d else (cout, Ho, Wo))
    B = None if b64 is None else (b64[:, None, :] if one_d and b64.ndim == 2 else b64)
    if one_d:
        y = F.conv1d(x, w, b, s[1], padding, dil[1], g)
    else:
        y = F.conv2d(x, w, b, s, padding, dil, g)
    want = cref.conv2d(X, Wt, B, s, pad, dil, g)
    terms = (cin // g) * k[0] * k[1]
    squeeze = (lambda a: a[:, :, 0]) if one_d else (lambda a: a)
    close(y, unbatch(squeeze(want), n), c.dtype, terms, "forward")
    G = c.upstream(y)
    y.backward(Tensor(G))
    G4 = batched(G.astype(np.float64), n)
    if one_d:
        G4 = G4[:, :, None, :]
    gx = cref.conv2d_grad_input(Wt, G4, (H, W), s, pad, dil, g)
    gw = cref.conv2d_grad_weight(G4, X, k, s, pad, dil, g)
    n_terms = X.shape[0] * Ho * Wo
    close(grad_of(x), unbatch(squeeze(gx), n), c.dtype, cout * terms, "grad input")
    close(grad_of(w), gw[:, :, 0] if one_d else gw, c.dtype, n_terms, "grad weight")
    if b is not None:
        gb = G4.sum(axis=(0, 2, 3)) if bias_kind == "channel" else G4.sum(axis=0)
        close(grad_of(b), gb[:, 0] if one_d and gb.ndim == 3 else gb, c.dtype, n_terms, "bias")
    c.untouched()


@fuzz(120)
@given(st.data())
def test_conv_transpose2d_and_1d(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="conv_transpose1d")
    g = d_(st.integers(1, 3), label="groups")
    cin, cout_g = g * d_(st.integers(1, 3)), d_(st.integers(1, 3))
    k = (1 if one_d else d_(st.integers(1, 4)), d_(st.integers(1, 4)))
    s = (1 if one_d else d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    dil = (1 if one_d else d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    p = (0 if one_d else d_(st.integers(0, 3)), d_(st.integers(0, 3)))
    op = tuple(d_(st.integers(0, max(si, di) - 1)) for si, di in zip(s, dil))
    if one_d:
        op = (0, op[1])
    hw = [0, 0]
    for a in (0, 1):  # smallest input whose output is non-empty
        lo = 1
        while (lo - 1) * s[a] - 2 * p[a] + dil[a] * (k[a] - 1) + op[a] + 1 < 1:
            lo += 1
        hw[a] = 1 if (one_d and a == 0) else d_(st.integers(lo, lo + 5))
    H, W = hw
    Ho, Wo = (
        (n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
        for n, si, pi, di, ki, oi in zip(hw, s, p, dil, k, op)
    )
    use_size = all(o < si for o, si in zip(op, s)) and d_(st.booleans(), label="output_size")
    n = batch_size(d_)
    x64, x = c.leaf(shape_nc(n, cin, W) if one_d else shape_nc(n, cin, H, W))
    w64, w = c.leaf((cin, cout_g, k[1]) if one_d else (cin, cout_g, *k))
    cout = g * cout_g
    bias_kind = d_(st.sampled_from([None, "channel", "location"]), label="bias")
    b64 = b = None
    if bias_kind == "channel":
        b64, b = c.leaf((cout,))
    elif bias_kind == "location":
        b64, b = c.leaf((cout, Wo) if one_d else (cout, Ho, Wo))
    X, Wt = batched(x64, n), w64
    B = b64
    if one_d:
        X, Wt = X[:, :, None, :], w64[:, :, None, :]
        B = None if b64 is None else (b64[:, None, :] if b64.ndim == 2 else b64)
    if one_d:
        kw = {"output_size": (Wo,)} if use_size else {"output_padding": op[1]}
        y = F.conv_transpose1d(x, w, b, s[1], p[1], groups=g, dilation=dil[1], **kw)
    else:
        kw = {"output_size": (Ho, Wo)} if use_size else {"output_padding": op}
        y = F.conv_transpose2d(x, w, b, s, p, groups=g, dilation=dil, **kw)
    want = cref.conv_transpose2d(X, Wt, B, s, p, op, g, dil)
    sq = (lambda a: a[:, :, 0]) if one_d else (lambda a: a)
    terms = cin * k[0] * k[1]
    close(y, unbatch(sq(want), n), c.dtype, terms, "forward")
    G = c.upstream(y)
    y.backward(Tensor(G))
    G4 = batched(G.astype(np.float64), n)
    if one_d:
        G4 = G4[:, :, None, :]
    pad4 = (p[0], p[0], p[1], p[1])
    # adjoint of the transpose: dL/dx = conv2d(G, w), cut to the input size
    gx = cref.conv2d(G4, Wt, None, s, pad4, dil, g)[:, :, :H, :W]
    gw = cref.conv2d_grad_weight(X, G4, k, s, pad4, dil, g)
    close(grad_of(x), unbatch(sq(gx), n), c.dtype, cout_g * k[0] * k[1], "grad input")
    close(grad_of(w), gw[:, :, 0] if one_d else gw, c.dtype, X.shape[0] * H * W, "grad weight")
    if b is not None:
        gb = G4.sum(axis=(0, 2, 3)) if bias_kind == "channel" else G4.sum(axis=0)
        close(grad_of(b), gb[:, 0] if one_d and gb.ndim == 3 else gb, c.dtype, G4.size, "bias")
    c.untouched()


@fuzz(90)
@given(st.data())
def test_book_kernels_c_g_h(data):
    """mg.kernels.c, g, h (eq. 9.8, 9.11, 9.13) and their gradients, each made of the
    other two (bilinearity)."""
    d_ = data.draw
    c = Case(d_)
    which = d_(st.sampled_from(["c", "g", "h"]), label="op")
    n = d_(st.integers(1, 5))
    cin, cout = d_(st.integers(1, 3)), d_(st.integers(1, 3))
    k = (d_(st.integers(1, 4)), d_(st.integers(1, 4)))
    s = (d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    p = (d_(st.integers(0, 2)), d_(st.integers(0, 2)))
    H = size_for(d_, k[0], 2 * p[0])
    W = size_for(d_, k[1], 2 * p[1])
    pad4 = (p[0], p[0], p[1], p[1])
    Ho, Wo = (
        cref.out_size(H, k[0], s[0], p[0], p[0], 1),
        cref.out_size(W, k[1], s[1], p[1], p[1], 1),
    )
    stride = s if d_(st.booleans()) or s[0] != s[1] else s[0]
    if which == "c":
        k64, kt = c.leaf((cout, cin, *k))
        v64, vt = c.leaf((n, cin, H, W))
        y = K.c(kt, vt, stride, p)
        close(y, cref.conv2d(v64, k64, None, s, pad4), c.dtype, cin * k[0] * k[1], "c")
        G = c.upstream(y)
        y.backward(Tensor(G))
        close(grad_of(kt), cref.conv2d_grad_weight(G, v64, k, s, pad4), c.dtype, n * Ho * Wo)
        close(grad_of(vt), cref.conv2d_grad_input(k64, G, (H, W), s, pad4), c.dtype, cout * 16)
    elif which == "g":
        # default kernel size: the largest that the strides leave consistent
        k_def = (H + 2 * p[0] - (Ho - 1) * s[0], W + 2 * p[1] - (Wo - 1) * s[1])
        given_k = d_(st.booleans(), label="kernel_size given")
        kk = k if given_k else k_def
        g64, gt = c.leaf((n, cout, Ho, Wo))
        v64, vt = c.leaf((n, cin, H, W))
        y = K.g(gt, vt, stride, p, kernel_size=k if given_k else None)
        close(y, cref.conv2d_grad_weight(g64, v64, kk, s, pad4), c.dtype, n * Ho * Wo, "g")
        A = c.upstream(y)
        y.backward(Tensor(A))
        close(grad_of(gt), cref.conv2d(v64, A, None, s, pad4), c.dtype, cin * kk[0] * kk[1])
        close(grad_of(vt), cref.conv2d_grad_input(A, g64, (H, W), s, pad4), c.dtype, 64)
    else:
        in_def = ((Ho - 1) * s[0] + k[0] - 2 * p[0], (Wo - 1) * s[1] + k[1] - 2 * p[1])
        given_in = d_(st.booleans(), label="input_size given") or min(in_def) < 1
        hw = (H, W) if given_in else in_def
        k64, kt = c.leaf((cout, cin, *k))
        g64, gt = c.leaf((n, cout, Ho, Wo))
        y = K.h(kt, gt, stride, p, input_size=(H, W) if given_in else None)
        close(y, cref.conv2d_grad_input(k64, g64, hw, s, pad4), c.dtype, cout * 16, "h")
        B = c.upstream(y)
        y.backward(Tensor(B))
        close(grad_of(kt), cref.conv2d_grad_weight(g64, B, k, s, pad4), c.dtype, n * Ho * Wo)
        close(grad_of(gt), cref.conv2d(B, k64, None, s, pad4), c.dtype, cin * k[0] * k[1])
    c.untouched()


# ----------------------------------------------------------------------------- pooling


def pool_window(draw, one_d, max_k=4, dilation=True):
    k = (1 if one_d else draw(st.integers(1, max_k)), draw(st.integers(1, max_k)))
    s = (1 if one_d else draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (0 if one_d else draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (1, 1)
    if dilation:
        d = (1 if one_d else draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return k, s, p, d


def pool_input(c, n, C, H, W, one_d, ties, positive=False):
    """Distinct values (one argmax per window), or few levels (ties everywhere)."""
    shape = shape_nc(n, C, W) if one_d else shape_nc(n, C, H, W)
    size = math.prod(shape)
    if ties:
        vals = c.rng.integers(0, 3, shape).astype(np.float64)
    else:
        vals = (c.rng.permutation(size).reshape(shape) + 1.0) / size
        if not positive:
            vals = 2 * vals - 1
    return c.leaf(shape, values=vals)


def as4(a, n, one_d):
    a = batched(a, n)
    return a[:, :, None, :] if one_d else a


def from4(a, n, one_d):
    return unbatch(a[:, :, 0] if one_d else a, n)


def spatial(draw, k, p, d, one_d, extra=6):
    H = 1 if one_d else size_for(draw, d[0] * (k[0] - 1) + 1, 2 * p[0], extra)
    W = size_for(draw, d[1] * (k[1] - 1) + 1, 2 * p[1], extra)
    return H, W


@fuzz(150)
@given(st.data())
def test_max_pool(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="max_pool1d")
    k, s, p, dil = pool_window(d_, one_d)
    default_stride = d_(st.booleans(), label="stride None")
    if default_stride:
        s = k
    H, W = spatial(d_, k, p, dil, one_d)
    n, C = batch_size(d_), d_(st.integers(1, 3))
    ceil_mode = d_(st.booleans(), label="ceil_mode")
    ret = d_(st.booleans(), label="return_indices")
    ties = d_(st.booleans(), label="ties")
    x64, x = pool_input(c, n, C, H, W, one_d, ties)
    try:
        y_ref, i_ref = pref.max_pool2d(as4(x64, n, one_d), k, s, p, dil, ceil_mode)
    except ValueError:  # a window of padding only: the op must refuse it too
        with pytest.raises(ValueError, match="padding"):
            call_max_pool(x, one_d, k, None if default_stride else s, p, dil, ceil_mode, ret)
        return
    out = call_max_pool(x, one_d, k, None if default_stride else s, p, dil, ceil_mode, ret)
    y, idx = out if ret else (out, None)
    close(y, from4(y_ref, n, one_d), c.dtype, 1, "forward")
    if ret:
        np.testing.assert_array_equal(idx.numpy(), from4(i_ref, n, one_d))
        assert idx.numpy().dtype == np.int64
    G = c.upstream(y)
    y.backward(Tensor(G))
    gx = pref.max_pool2d_backward(as4(G.astype(np.float64), n, one_d), i_ref, H, W)
    close(grad_of(x), from4(gx, n, one_d), c.dtype, k[0] * k[1], "grad input")
    c.untouched()


def call_max_pool(x, one_d, k, s, p, d, ceil_mode, ret):
    if one_d:
        return F.max_pool1d(x, k[1], None if s is None else s[1], p[1], d[1], ceil_mode, ret)
    return F.max_pool2d(x, k, s, p, d, ceil_mode, ret)


@fuzz(120)
@given(st.data())
def test_avg_pool(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="avg_pool1d")
    k, s, p, _ = pool_window(d_, one_d, dilation=False)
    H, W = spatial(d_, k, p, (1, 1), one_d)
    n, C = batch_size(d_), d_(st.integers(1, 3))
    ceil_mode, cip = d_(st.booleans(), label="ceil_mode"), d_(st.booleans(), label="include_pad")
    div = None if one_d else d_(st.one_of(st.none(), st.integers(1, 9), st.integers(-3, -1)))
    x64, x = c.leaf(shape_nc(n, C, W) if one_d else shape_nc(n, C, H, W))
    if one_d:
        y = F.avg_pool1d(x, k[1], s[1], p[1], ceil_mode, cip)
    else:
        y = F.avg_pool2d(x, k, s, p, ceil_mode, cip, div)
    X = as4(x64, n, one_d)
    close(y, from4(pref.avg_pool2d(X, k, s, p, ceil_mode, cip, div), n, one_d), c.dtype, 16)
    G = c.upstream(y)
    y.backward(Tensor(G))
    gx = pref.avg_pool2d_backward(
        as4(G.astype(np.float64), n, one_d), H, W, k, s, p, ceil_mode, cip, div
    )
    close(grad_of(x), from4(gx, n, one_d), c.dtype, 16, "grad input")
    c.untouched()


@fuzz(100)
@given(st.data())
def test_lp_pool(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="lp_pool1d")
    k, s, _, _ = pool_window(d_, one_d, dilation=False)
    default_stride = d_(st.booleans(), label="stride None")
    if default_stride:
        s = k
    H, W = spatial(d_, k, (0, 0), (1, 1), one_d)
    n, C = batch_size(d_), d_(st.integers(1, 3))
    norm = d_(st.sampled_from([1, 2, 3, 1.5, 4.0]), label="norm_type")
    ceil_mode = d_(st.booleans(), label="ceil_mode")
    # positive inputs: x^p of a negative x is NaN for a fractional p, as in PyTorch
    x64, x = c.leaf(shape_nc(n, C, W) if one_d else shape_nc(n, C, H, W), 0.1, 1.0)
    st_arg = None if default_stride else (s[1] if one_d else s)
    if one_d:
        y = F.lp_pool1d(x, norm, k[1], st_arg, ceil_mode)
    else:
        y = F.lp_pool2d(x, norm, k, st_arg, ceil_mode)
    X = as4(x64, n, one_d)
    close(y, from4(pref.lp_pool2d(X, norm, k, s, ceil_mode), n, one_d), c.dtype, 16, "fwd")
    G = c.upstream(y)
    y.backward(Tensor(G))
    gx = pref.lp_pool2d_backward(as4(G.astype(np.float64), n, one_d), X, norm, k, s, ceil_mode)
    close(grad_of(x), from4(gx, n, one_d), c.dtype, 64, "grad input")
    c.untouched()


@fuzz(100)
@given(st.data())
def test_adaptive_pools(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="1d")
    kind = d_(st.sampled_from(["avg", "max"]), label="kind")
    H = 1 if one_d else d_(st.integers(1, 12))
    W = d_(st.integers(1, 12))
    oh = 1 if one_d else d_(st.integers(1, H + 3))
    ow = d_(st.integers(1, W + 3))
    n, C = batch_size(d_), d_(st.integers(1, 3))
    ret = kind == "max" and d_(st.booleans(), label="return_indices")
    x64, x = pool_input(c, n, C, H, W, one_d, ties=d_(st.booleans(), label="ties"))
    if one_d:
        size = ow if d_(st.booleans()) else (ow,)
    else:
        size = d_(st.sampled_from([(oh, ow), (None, ow), (oh, None)]), label="output_size")
        oh, ow = (H if size[0] is None else oh), (W if size[1] is None else ow)
        if oh == ow and d_(st.booleans(), label="int output_size"):
            size = oh
    X = as4(x64, n, one_d)
    fn = getattr(F, f"adaptive_{kind}_pool{'1d' if one_d else '2d'}")
    out = fn(x, size, return_indices=True) if ret else fn(x, size)
    y, idx = out if ret else (out, None)
    G = c.upstream(y)
    G4 = as4(G.astype(np.float64), n, one_d)
    if kind == "avg":
        close(y, from4(pref.adaptive_avg_pool2d(X, (oh, ow)), n, one_d), c.dtype, 16, "fwd")
        gx = pref.adaptive_avg_pool2d_backward(G4, H, W)
    else:
        y_ref, i_ref = pref.adaptive_max_pool2d(X, (oh, ow))
        close(y, from4(y_ref, n, one_d), c.dtype, 1, "forward")
        if ret:
            np.testing.assert_array_equal(idx.numpy(), from4(i_ref, n, one_d))
        gx = pref.max_pool2d_backward(G4, i_ref, H, W)
    y.backward(Tensor(G))
    close(grad_of(x), from4(gx, n, one_d), c.dtype, 16, "grad input")
    c.untouched()


@fuzz(100)
@given(st.data())
def test_max_unpool(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="max_unpool1d")
    k, s, p, _ = pool_window(d_, one_d, dilation=False)
    H, W = spatial(d_, k, p, (1, 1), one_d)
    n, C = batch_size(d_), d_(st.integers(1, 3))
    src64, src = pool_input(c, n, C, H, W, one_d, ties=d_(st.booleans()))
    with mg.no_grad():
        _, idx = call_max_pool(src, one_d, k, s, p, (1, 1), False, True)
    x64, x = c.leaf(idx.shape)  # any values, put where the indices say
    Hd = (idx.shape[-2] - 1) * s[0] - 2 * p[0] + k[0] if not one_d else 1
    Wd = (idx.shape[-1] - 1) * s[1] - 2 * p[1] + k[1]
    explicit = (H, W) != (Hd, Wd) or d_(st.booleans(), label="output_size")
    if one_d:
        kw = {"output_size": (W,)} if explicit else {}
        y = F.max_unpool1d(x, idx, k[1], s[1], p[1], **kw)
    else:
        kw = {"output_size": (H, W)} if explicit else {}
        y = F.max_unpool2d(x, idx, k, s, p, **kw)
    I4 = as4(idx.numpy(), n, one_d)
    want = pref.max_unpool2d(as4(x64, n, one_d), I4, H, W)
    close(y, from4(want, n, one_d), c.dtype, 1, "forward")
    G = c.upstream(y)
    y.backward(Tensor(G))
    gx = pref.max_unpool2d_backward(as4(G.astype(np.float64), n, one_d), I4)
    close(grad_of(x), from4(gx, n, one_d), c.dtype, 1, "grad input")
    c.untouched()


def weighted_pool_backward(x, Kw, G, s, p):
    """dL/dx and dL/dK of y[i,j] = sum_ab K[a,b] xpad[i s + a, j s + b], by loops."""
    N, C, H, W = x.shape
    kh, kw = Kw.shape
    gx, gK = np.zeros_like(x), np.zeros_like(Kw)
    for i in range(G.shape[2]):
        for j in range(G.shape[3]):
            for a in range(kh):
                for b in range(kw):
                    h, w = i * s[0] + a - p[0], j * s[1] + b - p[1]
                    if 0 <= h < H and 0 <= w < W:
                        gx[:, :, h, w] += Kw[a, b] * G[:, :, i, j]
                        gK[a, b] += np.sum(G[:, :, i, j] * x[:, :, h, w])
    return gx, gK


@fuzz(80)
@given(st.data())
def test_weighted_avg_pool2d(data):
    d_ = data.draw
    c = Case(d_)
    k, s, p, _ = pool_window(d_, False, dilation=False)
    default_stride = d_(st.booleans(), label="stride None")
    if default_stride:
        s = k
    H, W = spatial(d_, k, p, (1, 1), False)
    n, C = batch_size(d_), d_(st.integers(1, 3))
    x64, x = c.leaf(shape_nc(n, C, H, W))
    learned = d_(st.booleans(), label="weights given")
    if learned:
        k64, kt = c.leaf(k)
        y = F.weighted_avg_pool2d(x, k, None if default_stride else s, p, weights=kt)
    else:
        sigma = d_(st.one_of(st.none(), st.floats(0.3, 3.0)), label="sigma")
        kt, k64 = (
            None,
            pref.gaussian_window(
                *k, *((sigma, sigma) if sigma else [0.3 * ((v - 1) * 0.5 - 1) + 0.8 for v in k])
            ),
        )
        y = F.weighted_avg_pool2d(x, k, None if default_stride else s, p, sigma=sigma)
    X = batched(x64, n)
    close(y, unbatch(pref.weighted_avg_pool2d(X, k64, s, p), n), c.dtype, 16, "forward")
    G = c.upstream(y)
    y.backward(Tensor(G))
    gx, gK = weighted_pool_backward(X, k64, batched(G.astype(np.float64), n), s, p)
    close(grad_of(x), unbatch(gx, n), c.dtype, 16, "grad input")
    if learned:
        close(grad_of(kt), gK, c.dtype, X.size, "grad weights")
    c.untouched()


# ----------------------------------------------------------------------------- local / tiled


@fuzz(120)
@given(st.data())
def test_locally_connected_and_tiled(data):
    d_ = data.draw
    c = Case(d_)
    one_d = d_(st.booleans(), label="1d")
    tiled = d_(st.booleans(), label="tiled")
    k = (1 if one_d else d_(st.integers(1, 4)), d_(st.integers(1, 4)))
    s = (1 if one_d else d_(st.integers(1, 3)), d_(st.integers(1, 3)))
    mode = d_(st.sampled_from(["int", "valid", "full", "same"] + ([] if one_d else ["pair"])))
    if mode == "same" and (k[0] % 2 == 0 or k[1] % 2 == 0):
        mode = "valid"
    if mode == "same":
        s = (1, 1)
    ph = 0 if one_d else d_(st.integers(0, k[0] - 1))
    pw = d_(st.integers(0, k[1] - 1))
    padding, pad = {
        "int": (pw, (0 if one_d else pw, pw)),
        "pair": ((ph, pw), (ph, pw)),
        "valid": ("valid", (0, 0)),
        "full": ("full", (0 if one_d else k[0] - 1, k[1] - 1)),
        "same": ("same", (0 if one_d else (k[0] - 1) // 2, (k[1] - 1) // 2)),
    }[mode]
    if mode == "int" and not one_d and pw > k[0] - 1:
        padding, pad = "valid", (0, 0)
    H = 1 if one_d else size_for(d_, k[0], 2 * pad[0])
    W = size_for(d_, k[1], 2 * pad[1])
    Ho, Wo = lref.output_size(H, W, k, s, pad)
    th = 1 if one_d else (d_(st.integers(1, 3)) if tiled else Ho)
    tw = d_(st.integers(1, 3)) if tiled else Wo
    n = batch_size(d_)
    cin, cout = d_(st.integers(1, 3)), d_(st.integers(1, 3))
    x64, x = c.leaf(shape_nc(n, cin, W) if one_d else shape_nc(n, cin, H, W))
    wshape = (cout, tw, cin, k[1]) if one_d else (cout, th, tw, cin, *k)
    w64, w = c.leaf(wshape)
    with_bias = d_(st.booleans(), label="bias")
    b64 = b = None
    if with_bias:
        b64, b = c.leaf((cout, tw) if one_d else (cout, th, tw))
    name = ("tiled_conv" if tiled else "locally_connected") + ("1d" if one_d else "2d")
    y = getattr(F, name)(
        x, w, b, s[1] if one_d and d_(st.booleans()) else s if not one_d else s[1], padding
    )
    X = as4(x64, n, one_d)
    W6 = w64.reshape(cout, th, tw, cin, *k)
    B3 = None if b64 is None else b64.reshape(cout, th, tw)
    ref_fwd = lref.tiled_conv2d if tiled else lref.locally_connected2d
    close(y, from4(ref_fwd(X, W6, B3, s, pad), n, one_d), c.dtype, cin * k[0] * k[1], "fwd")
    G = c.upstream(y)
    y.backward(Tensor(G))
    ref_bwd = lref.tiled_conv2d_backward if tiled else lref.locally_connected2d_backward
    gx, gw, gb = ref_bwd(X, W6, as4(G.astype(np.float64), n, one_d), s, pad)
    close(grad_of(x), from4(gx, n, one_d), c.dtype, cout * k[0] * k[1], "grad input")
    close(grad_of(w), gw.reshape(wshape), c.dtype, X.shape[0] * Ho * Wo, "grad weight")
    if b is not None:
        close(grad_of(b), gb.reshape(b64.shape), c.dtype, X.shape[0] * Ho * Wo, "grad bias")
    c.untouched()


# ----------------------------------------------------------------------------- inf


@fuzz(60)
@given(st.data())
def test_infinities_pass_through_like_the_reference(data):
    """inf is a legitimate input (only NaN is refused): no crash, and the result is the
    reference's, infinities and the NaN of inf - inf included."""
    d_ = data.draw
    c = Case(d_)
    op = d_(st.sampled_from(["conv2d", "max_pool2d", "avg_pool2d", "local", "tiled"]))
    n, C, H, W = d_(st.integers(1, 3)), d_(st.integers(1, 2)), d_(st.integers(3, 7)), 6
    vals = c.rng.uniform(-1, 1, (n, C, H, W))
    mask = c.rng.random(vals.shape) < 0.15
    vals[mask] = c.rng.choice([np.inf, -np.inf], mask.sum())
    x64, x = c.leaf(vals.shape, values=vals, grad=False)
    with np.errstate(invalid="ignore"):
        if op == "conv2d":
            w64, w = c.leaf((2, C, 2, 3), grad=False)
            got, want = F.conv2d(x, w, None, 1, 1), cref.conv2d(x64, w64, None, (1, 1), (1,) * 4)
        elif op == "max_pool2d":
            got, want = F.max_pool2d(x, 2, 1, 1), pref.max_pool2d(x64, (2, 2), (1, 1), (1, 1))[0]
        elif op == "avg_pool2d":
            got, want = F.avg_pool2d(x, 3, 2, 1), pref.avg_pool2d(x64, (3, 3), (2, 2), (1, 1))
        else:
            tiled = op == "tiled"
            Ho, Wo = H - 1, W - 2
            w64, w = c.leaf((2, 2 if tiled else Ho, 2 if tiled else Wo, C, 2, 3), grad=False)
            fn = F.tiled_conv2d if tiled else F.locally_connected2d
            rf = lref.tiled_conv2d if tiled else lref.locally_connected2d
            got, want = fn(x, w), rf(x64, w64, None, (1, 1), (0, 0))
    got = got.numpy().astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(want) * np.sign(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- invalid

RNG = np.random.default_rng(16)


def _arr(shape, dtype=np.float64):
    return RNG.uniform(-1, 1, shape).astype(dtype)


X4, X3 = _arr((2, 3, 8, 8)), _arr((2, 3, 10))
W4, W3 = _arr((4, 3, 3, 3)), _arr((4, 3, 3))
WT4, WT3 = _arr((3, 4, 3, 3)), _arr((3, 4, 3))
WL2, WL1 = _arr((4, 6, 6, 3, 3, 3)), _arr((4, 8, 3, 3))
WTI2, WTI1 = _arr((4, 2, 2, 3, 3, 3)), _arr((4, 2, 3, 3))
G4 = _arr((2, 4, 6, 6))


def _pooled(one_d):
    x = X3 if one_d else X4
    with mg.no_grad():
        y, i = (F.max_pool1d if one_d else F.max_pool2d)(mg.tensor(x), 2, return_indices=True)
    return y.numpy(), i.numpy()


# op name -> (function, its valid keyword arguments); an invalid call replaces one.
def _ops():
    P2, P1 = _pooled(False), _pooled(True)
    return {
        "conv2d": (
            F.conv2d,
            dict(input=X4, weight=W4, bias=_arr(4), stride=1, padding=1, dilation=1, groups=1),
        ),
        "conv1d": (
            F.conv1d,
            dict(input=X3, weight=W3, bias=_arr(4), stride=1, padding=1, dilation=1, groups=1),
        ),
        "conv_transpose2d": (
            F.conv_transpose2d,
            dict(
                input=X4,
                weight=WT4,
                bias=_arr(4),
                stride=2,
                padding=1,
                output_padding=1,
                groups=1,
                dilation=1,
            ),
        ),
        "conv_transpose1d": (
            F.conv_transpose1d,
            dict(
                input=X3,
                weight=WT3,
                bias=_arr(4),
                stride=2,
                padding=1,
                output_padding=1,
                groups=1,
                dilation=1,
            ),
        ),
        "max_pool2d": (
            F.max_pool2d,
            dict(
                input=X4,
                kernel_size=3,
                stride=2,
                padding=1,
                dilation=1,
                ceil_mode=False,
                return_indices=True,
            ),
        ),
        "max_pool1d": (
            F.max_pool1d,
            dict(
                input=X3,
                kernel_size=3,
                stride=2,
                padding=1,
                dilation=1,
                ceil_mode=False,
                return_indices=True,
            ),
        ),
        "avg_pool2d": (
            F.avg_pool2d,
            dict(
                input=X4,
                kernel_size=3,
                stride=2,
                padding=1,
                ceil_mode=True,
                count_include_pad=True,
                divisor_override=None,
            ),
        ),
        "avg_pool1d": (F.avg_pool1d, dict(input=X3, kernel_size=3, stride=2, padding=1)),
        "lp_pool2d": (F.lp_pool2d, dict(input=np.abs(X4), norm_type=2, kernel_size=2, stride=2)),
        "lp_pool1d": (F.lp_pool1d, dict(input=np.abs(X3), norm_type=2, kernel_size=2, stride=2)),
        "adaptive_avg_pool2d": (F.adaptive_avg_pool2d, dict(input=X4, output_size=(3, 5))),
        "adaptive_avg_pool1d": (F.adaptive_avg_pool1d, dict(input=X3, output_size=4)),
        "adaptive_max_pool2d": (F.adaptive_max_pool2d, dict(input=X4, output_size=(3, 5))),
        "adaptive_max_pool1d": (F.adaptive_max_pool1d, dict(input=X3, output_size=4)),
        "max_unpool2d": (
            F.max_unpool2d,
            dict(input=P2[0], indices=P2[1], kernel_size=2, stride=2, padding=0),
        ),
        "max_unpool1d": (
            F.max_unpool1d,
            dict(input=P1[0], indices=P1[1], kernel_size=2, stride=2, padding=0),
        ),
        "weighted_avg_pool2d": (
            F.weighted_avg_pool2d,
            dict(input=X4, kernel_size=3, stride=2, padding=1, weights=_arr((3, 3))),
        ),
        "locally_connected2d": (
            F.locally_connected2d,
            dict(input=X4, weight=WL2, bias=_arr((4, 6, 6)), stride=1, padding=0),
        ),
        "locally_connected1d": (
            F.locally_connected1d,
            dict(input=X3, weight=WL1, bias=_arr((4, 8)), stride=1, padding=0),
        ),
        "tiled_conv2d": (
            F.tiled_conv2d,
            dict(input=X4, weight=WTI2, bias=_arr((4, 2, 2)), stride=1, padding=1),
        ),
        "tiled_conv1d": (
            F.tiled_conv1d,
            dict(input=X3, weight=WTI1, bias=_arr((4, 2)), stride=1, padding=1),
        ),
        "kernels.c": (K.c, dict(K=W4, V=X4, s=1, padding=0)),
        "kernels.g": (K.g, dict(G=G4, V=X4, s=1, padding=0, kernel_size=3)),
        "kernels.h": (K.h, dict(K=W4, G=G4, s=1, padding=0, input_size=8)),
    }


ARRAY_ARGS = {"input", "weight", "bias", "weights", "indices", "K", "V", "G"}
HUGE = [2**31, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, 10**30]


def bad_int(draw, name):
    """An out-of-range or ill-typed value for a size-like argument (0 is a valid
    padding or output_padding, so those get only negative and huge ones)."""
    zero = [] if name in ("padding", "output_padding") else [0]
    return draw(
        st.one_of(
            st.sampled_from(zero + [-1, -(2**63), -(2**70)] + HUGE),
            st.integers(-(2**80), -1),
            st.sampled_from(
                [
                    1.5,
                    2.0,
                    np.float64(2.0),
                    float("nan"),
                    float("inf"),
                    True,
                    "2",
                    1j,
                    b"\x01",
                    object(),
                ]
            ),
            st.sampled_from([(), (1, 2, 3, 4, 5), (1, -1), (2**64, 1), (1, 2.5), [[1, 2]]]),
        ),
        label=f"bad {name}",
    )


def bad_array(draw, name, good):
    """A wrong rank, dtype, emptiness or a NaN, for an array argument."""
    a = np.asarray(good)
    how = draw(
        st.sampled_from(["rank-", "rank+", "dtype", "empty", "nan", "list", "scalar"]),
        label=f"bad {name}",
    )
    if how == "rank-":  # two axes fewer: one fewer would be a valid unbatched input
        return a.reshape(a.shape[:-3] + (-1,)) if a.ndim >= 3 else a.reshape(-1)[:1].reshape(())
    if how == "rank+":
        return a[..., None, None] if name != "indices" else a[None]
    if how == "dtype":
        dt = draw(
            st.sampled_from(
                [
                    np.float16,
                    np.int32,
                    np.int64,
                    np.complex128,
                    np.bool_,
                    object,
                    np.float32,
                    np.uint8,
                ]
            )
        )
        if name == "indices":
            dt = draw(st.sampled_from([np.float64, np.float32, np.complex64, object]))
        return a.astype(dt)
    if how == "empty":
        axis = draw(st.integers(0 if a.ndim == 1 else 1, a.ndim - 1))
        return np.take(a, [], axis=axis)
    if how == "nan" and a.dtype.kind == "f":
        b = a.copy()
        b.flat[0] = np.nan
        return b
    if how == "nan" and name == "indices":  # an index outside the plane
        b = a.copy()
        b.flat[draw(st.integers(0, b.size - 1))] = draw(st.sampled_from([-1, 10**6, 2**62]))
        return b
    if how == "list":
        return "not an array"
    return np.float64(1.0)


# An error about argument A may name it, or the other argument it conflicts with.
ALSO = {
    "padding": ("kernel", "output_size", "padding", "grad_output", "input_size"),
    "dilation": ("kernel", "padding", "window", "output_padding"),
    "stride": ("output_padding", "padding", "output_size", "kernel", "s"),
    "s": ("stride", "padding", "kernel", "input_size", "grad_output"),
    "groups": ("channels",),
    "output_padding": ("stride",),
    "input_size": ("grad_output", "G", "output plane"),  # h's output is input_size
    "kernel_size": ("padding", "window", "input", "output", "kernel"),
    "bias": ("channels",),
    "weight": ("channels", "kernel", "groups", "input"),
    "weights": ("kernel_size",),
    "input": ("channels", "weight", "kernel", "output", "window", "padding", "V", "G"),
    "indices": ("output",),
    "K": ("weight", "kernel", "channels", "input"),
    "V": ("input", "kernel", "channels", "G"),
    "G": ("grad_output", "channels", "kernel", "input"),
    "output_size": ("output plane",),  # "the output plane (2**40,) would have ..."
    "norm_type": (),
    "divisor_override": (),
}

INVALID_STATS = {"examples": 0, "refused": 0, "known gap": 0}


# ----------------------------------------------------------------------------- known gaps
# Bugs this fuzz found in the op layer (minigrad/ops/*.py) that are not fixed yet. The
# invalid-call fuzz skips examples of these classes (counted as "known gap"), and
# test_known_gap_still_open reproduces each one as a strict xfail: once a fix is merged
# its reproducer passes, the xfail turns into a failure, and the entry is to be deleted
# (so the fuzz covers that class again). Fixed by the ops merge and deleted here (the
# fuzz covers them again): adaptive output_size mis-parsed (1.5, '2', True); NaN through
# the book's c/g/h; sizes past 64 bits accepted; True taken as 1; complex/bool/object
# window weights; max_unpool's negative padding; an empty channel axis in pooling; a
# MemoryError from conv_transpose's huge stride; kernels.h's input_size message
# (docs/hardening.md lists them). The nested-list entry's old reproducer (tiled_conv1d)
# passes now, but the fuzz still finds the class in the 2-d pooling ops, so it stays.


def _int_at_least(v, lo):
    vals = v if isinstance(v, (tuple, list)) else (v,)
    return any(isinstance(i, int) and not isinstance(i, bool) and i >= lo for i in vals)


def _has_nan(v):
    return isinstance(v, np.ndarray) and v.dtype.kind == "f" and bool(np.isnan(v).any())


def _raises_naming(fn, *names):
    try:
        fn()
    except (TypeError, ValueError) as e:
        assert all(n in str(e) for n in names), str(e)
        return
    except Exception as e:  # MemoryError, OverflowError, ...: the gap is still there
        raise AssertionError(f"{type(e).__name__}: {e}") from e
    raise AssertionError("accepted")


_X4, _X3 = _arr((2, 3, 8, 8)), _arr((2, 3, 10))
_XN = _X4.copy()
_XN[0, 0, 0, 0] = np.nan

KNOWN_GAPS = {
    # id: (what, matches (op, arg, bad value), reproducer that passes once fixed, where fixed)
}


@pytest.mark.parametrize("gap", sorted(KNOWN_GAPS))
def test_known_gap_still_open(gap):
    """Strict xfail: passing means the gap is fixed -- delete its KNOWN_GAPS entry."""
    what, _, reproduce, where = KNOWN_GAPS[gap]
    try:
        reproduce()
    except AssertionError as e:
        pytest.xfail(f"known gap ({where}): {what} [{e}]")
    pytest.fail(f"fixed: delete the KNOWN_GAPS entry {gap!r} so the fuzz covers it again")


def invalid_call(data):
    d_ = data.draw
    ops = _ops()
    name = d_(st.sampled_from(sorted(ops)), label="op")
    fn, kwargs = ops[name]
    arg = d_(
        st.sampled_from(
            sorted(
                k for k in kwargs if k not in ("ceil_mode", "return_indices", "count_include_pad")
            )
        ),
        label="argument",
    )
    kwargs = dict(kwargs)
    if arg in ARRAY_ARGS:
        kwargs[arg] = bad_array(d_, arg, kwargs[arg])
    elif arg == "norm_type":
        kwargs[arg] = d_(st.sampled_from([0, -1, float("inf"), float("nan"), "2", 1j, None]))
    elif arg == "divisor_override":
        kwargs[arg] = d_(st.sampled_from([0, 1.5, True, "2", 2**64, 1j]))
    else:
        kwargs[arg] = bad_int(d_, arg)
    if any(match(name, arg, kwargs[arg]) for _, match, _, _ in KNOWN_GAPS.values()):
        INVALID_STATS["known gap"] += 1
        return
    wrap = {
        k: (
            Tensor(v)
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and d_(st.booleans())
            else v
        )
        for k, v in kwargs.items()
    }
    INVALID_STATS["examples"] += 1
    t0 = time.perf_counter()
    try:
        out = fn(**wrap)
    except (ValueError, TypeError) as e:
        msg = str(e)
        INVALID_STATS["refused"] += 1
        names = (arg,) + ALSO.get(arg, ())
        assert any(n in msg for n in names), (
            f"{name}: the error for a bad {arg} names none of {names}: {type(e).__name__}: {msg}"
        )
    else:
        assert acceptable(name, arg, kwargs[arg]), f"{name}: accepted {arg}={kwargs[arg]!r:.300}"
        for o in out if isinstance(out, tuple) else (out,):
            assert isinstance(o, Tensor), f"{name}: returned {type(o).__name__}"
    took = time.perf_counter() - t0
    assert took < 5.0, f"{name}: a bad {arg} took {took:.1f} s"


# ops with one float array: any float dtype of the input is theirs
SINGLE_ARRAY = {n for n in _ops() if "pool" in n}


def acceptable(op: str, arg: str, v: object) -> bool:
    """The few values bad_int/bad_array draw that are legitimate for some op."""
    if arg in ("stride", "s"):  # a stride past the input: one window, as in PyTorch
        vals = v if isinstance(v, tuple) else (v,)
        return all(
            isinstance(i, int) and not isinstance(i, bool) and 1 <= i < 2**63 for i in vals
        ) and len(vals) in (1, 2)
    if arg == "input" and op in SINGLE_ARRAY:  # float32 is as good as float64
        return isinstance(v, np.ndarray) and v.dtype == np.float32
    if arg == "weights":  # real window weights are cast to the input's dtype
        return isinstance(v, np.ndarray) and v.dtype.kind in "iuf" and v.shape == (3, 3)
    return False


@fuzz(500)
@given(st.data())
def invalid_calls(data):
    invalid_call(data)


def _child_limits():  # runs in the child, before exec
    gib = 2**30
    if os.environ.get("MINIGRAD_UNDER_SANITIZER") != "1":  # ASan maps terabytes of shadow
        resource.setrlimit(resource.RLIMIT_AS, (6 * gib, 6 * gib))
    resource.setrlimit(resource.RLIMIT_CPU, (600, 600))


@pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")
def test_invalid_calls_raise_naming_the_argument():
    """Every argument of every op out of range, one at a time, in a child process limited
    to 6 GiB of address space and 10 minutes: a crash, a hang, an allocation past the
    limit (MemoryError) or an error that does not name the argument fails."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_fuzz as t\n"
        "t.invalid_calls()\n"
        "print('invalid examples:', t.INVALID_STATS)\n"
    )
    # the child imports the minigrad this suite imported (installed, or a checkout built
    # in place), never an unbuilt checkout that happens to be the working directory
    root = os.path.dirname(os.path.dirname(os.path.abspath(mg.__file__)))
    env = dict(os.environ, MINIGRAD_FUZZ_SCALE=str(SCALE), PYTHONPATH=root)
    r = subprocess.run(
        [sys.executable, "-c", code, here],
        cwd=here,  # not the checkout: `-c` puts the working directory on sys.path
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        preexec_fn=_child_limits,
    )
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-5000:]}\n{r.stderr[-8000:]}"
    print(r.stdout.strip())
