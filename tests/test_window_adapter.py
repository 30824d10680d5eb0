"""The one house of the window ops (minigrad/ops/spatial.py): one output-size rule,
one adapter for unbatched and 1-d inputs (one tape node, fresh gradients, the
caller's shapes), the NaN policy in one place (the book's c, g, h included), pooling
indices as a second, non-differentiable output guarded by the tape, and the
``minigrad.kernels`` -> ``minigrad.book_conv`` rename."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import book_conv
from minigrad.ops.spatial import conv_output_size, transposed_size

RNG = np.random.default_rng(21)


def leaf(*shape):
    return mg.tensor(RNG.standard_normal(shape), requires_grad=True)


# ----------------------------------------------------------------------- output sizes


def _count_windows(n, k, s, lo, hi, d, ceil_mode):
    """Window positions by enumeration, from PyTorch's documented rule: windows start
    every s positions of the padded input (p = 0, s, 2s, ...); floor mode keeps those
    whose dilated taps all fall inside it; ceil mode also keeps the one that would
    start less than a stride after the last such start, if it starts inside the input
    or its left padding."""
    span = n + lo + hi - d * (k - 1) - 1  # the last start of a full window
    if span < 0:  # no full window: refused (PyTorch's ceil mode makes one partial window)
        return 0
    count, p = 0, 0
    while p <= span or (ceil_mode and p < span + s and p - lo < n):
        count, p = count + 1, p + s
    return count


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_conv_output_size_counts_the_windows(ceil_mode):
    for n in range(1, 9):
        for k in range(1, 5):
            for s in range(1, 4):
                for lo, hi in [(0, 0), (1, 1), (2, 0), (0, 1)]:
                    if ceil_mode and max(lo, hi) > k // 2:  # pooling: padding <= k / 2
                        continue
                    for d in (1, 2):
                        want = _count_windows(n, k, s, lo, hi, d, ceil_mode)
                        got = max(conv_output_size(n, k, s, (lo, hi), d, ceil_mode), 0)
                        assert got == want, (n, k, s, lo, hi, d, ceil_mode)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_the_wrappers_count_windows_by_the_same_rule(ceil_mode):
    """minigrad._C.checks.window_count (the C wrappers' copy: their entry points may be
    called directly) agrees with the enumeration, as conv_output_size does."""
    from minigrad._C import checks

    for n in range(1, 9):
        for k in range(1, 5):
            for s in range(1, 4):
                for lo, hi in [(0, 0), (1, 1), (2, 0), (0, 1)]:
                    if ceil_mode and max(lo, hi) > k // 2:
                        continue
                    for d in (1, 2):
                        want = _count_windows(n, k, s, lo, hi, d, ceil_mode)
                        got = checks.window_count(n, k, s, lo, hi, d, ceil_mode)
                        assert got == want, (n, k, s, lo, hi, d, ceil_mode)


def test_conv_output_size_strings_and_torch():
    assert conv_output_size(7, 3, 1, "same") == 7
    assert conv_output_size(7, 3, 1, "valid") == 5
    assert conv_output_size(7, 3, 2, "full", dilation=2) == (7 + 8 - 5) // 2 + 1
    torch = pytest.importorskip("torch")
    for n, k, s, p, d, cm in [
        (28, 3, 2, 1, 1, True),
        (9, 2, 3, 1, 2, True),
        (10, 4, 3, 2, 1, False),
    ]:
        y = torch.nn.functional.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=cm)
        assert conv_output_size(n, k, s, p, d, cm) == y.shape[-1]


def test_transposed_size_is_the_smallest_input_a_convolution_maps_there():
    for out in range(1, 6):
        for k in range(1, 4):
            for s in range(1, 4):
                for p in range(0, 2):
                    for d in (1, 2):
                        n = transposed_size(out, k, s, p, d)
                        if n < 1:
                            continue
                        assert conv_output_size(n, k, s, p, d) == out
                        assert n == 1 or conv_output_size(n - 1, k, s, p, d) < out


# ----------------------------------------------------------------------- the adapter


UNBATCHED_AND_1D = {
    # name: (op on the caller's tensors, the same op on batched 2-d tensors, shapes)
    "conv1d": (
        lambda x, w: F.conv1d(x, w, padding=1, stride=2),
        lambda x, w: F.conv2d(x[:, :, None], w[:, :, None], padding=(0, 1), stride=(1, 2))[:, :, 0],
        [(2, 3, 9), (4, 3, 3)],
    ),
    "conv2d unbatched": (
        lambda x, w: F.conv2d(x, w, padding=1),
        lambda x, w: F.conv2d(x[None], w, padding=1)[0],
        [(3, 5, 6), (4, 3, 3, 3)],
    ),
    "conv_transpose1d unbatched": (
        lambda x, w: F.conv_transpose1d(x, w, stride=2),
        lambda x, w: F.conv_transpose2d(x[None, :, None], w[:, :, None], stride=(1, 2))[0, :, 0],
        [(3, 5), (3, 2, 3)],
    ),
    "tiled_conv1d": (
        lambda x, w: F.tiled_conv1d(x, w, padding=1),
        lambda x, w: F.tiled_conv2d(x[:, :, None], w.reshape(2, 1, 2, 3, 1, 3), padding=(0, 1))[
            :, :, 0
        ],
        [(2, 3, 8), (2, 2, 3, 3)],
    ),
    "max_pool1d unbatched": (
        lambda x: F.max_pool1d(x, 2),
        lambda x: F.max_pool2d(x[None, :, None], (1, 2))[0, :, 0],
        [(3, 8)],
    ),
    "lp_pool1d": (
        lambda x: F.lp_pool1d(x.abs() + 0.1, 2, 3),
        lambda x: F.lp_pool2d(x[:, :, None].abs() + 0.1, 2, (1, 3))[:, :, 0],
        [(2, 3, 9)],
    ),
}


@pytest.mark.parametrize("name", list(UNBATCHED_AND_1D))
def test_adapter_matches_the_batched_2d_op_in_one_node_with_fresh_grads(name):
    op, ref, shapes = UNBATCHED_AND_1D[name]
    ins = [leaf(*s) for s in shapes]
    y = op(*ins)
    want = ref(*ins)
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12)
    # one node: the kernel's Function, named as such (not a reshape)
    assert y.grad_fn is not None and "Reshape" not in type(y.grad_fn).__name__
    assert y._ctx.fn.fresh_grads
    g = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(g))
    got = [t.grad.numpy().copy() for t in ins]
    for t in ins:
        t.grad = None
    ref(*ins).backward(mg.tensor(g))
    for a, t in zip(got, ins):
        assert a.shape == t.shape
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert mg.gradcheck(op, [mg.tensor(t.numpy(), requires_grad=True) for t in ins])


def test_one_tensor_in_two_roles_is_viewed_in_each_roles_shape():
    x = leaf(3, 4)  # unbatched 1-d input (C=3, L=4) and a location bias (C_out=3, L_out=4)
    w = mg.tensor(np.zeros((3, 3, 1)))  # k = 1, so L_out = 4
    y = F.conv1d(x, w, x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 4)))


def test_adapter_errors_speak_in_the_callers_shapes():
    with pytest.raises(ValueError, match=r"conv1d: bias must have shape \(4,\) .* or \(4, 4\)"):
        F.conv1d(leaf(2, 3, 9), leaf(4, 3, 3), leaf(4, 1, 4), stride=2)
    with pytest.raises(ValueError, match=r"max_pool1d: kernel_size \(dilated extent \(9,\)\)"):
        F.max_pool1d(leaf(2, 3, 8), 9)


def test_a_saved_input_changed_in_place_is_caught_through_the_adapter():
    x, w = leaf(2, 3, 9), leaf(4, 3, 3)
    y = F.conv1d(x, w)
    with mg.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Conv2dFn\.backward: .*modified by an in-place"):
        y.sum().backward()
    x, w = leaf(3, 9), leaf(4, 3, 3)
    y = F.conv1d(x, w)
    w.numpy()[0, 0, 0] += 1.0  # invisible to version counters: the fingerprint sees it
    with pytest.raises(RuntimeError, match=r"Conv2dFn\.backward: .*could not see"):
        y.sum().backward()


# ----------------------------------------------------------------------- pooling indices


@pytest.mark.parametrize(
    "pool",
    [
        lambda x: F.max_pool2d(x, 2, return_indices=True),
        lambda x: F.max_pool2d(x[0], 2, return_indices=True),
        lambda x: F.max_pool1d(x[:, :, 0], 2, return_indices=True),
        lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True),
        lambda x: F.adaptive_max_pool1d(x[:, :, 0], 2, return_indices=True),
    ],
)
def test_pooling_indices_are_a_second_output_that_the_tape_guards(pool):
    x = leaf(2, 3, 6, 6)
    y, idx = pool(x)
    assert idx.dtype == np.int64 and not idx.requires_grad and idx.grad_fn is None
    assert y.requires_grad
    y.sum().backward(retain_graph=True)  # fine while the indices are as forward left them
    idx.zero_()  # changes what backward would scatter to
    with pytest.raises(RuntimeError, match=r"MaxPool2dFn\.backward|AdaptiveMaxPool2dFn"):
        y.sum().backward()


def test_max_unpool_guards_its_indices():
    x = leaf(1, 2, 6, 6)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    z = F.max_unpool2d(y, idx, 2)
    z.sum().backward(retain_graph=True)
    idx.fill_(0)
    with pytest.raises(RuntimeError, match=r"MaxUnpool2dFn\.backward: .*in-place"):
        z.sum().backward()


def test_max_pool_without_indices_or_grad_keeps_the_values_only_kernel_path():
    x = mg.tensor(RNG.standard_normal((1, 2, 4, 4)))
    y = F.max_pool2d(x, 2)
    assert isinstance(y, mg.Tensor) and y.shape == (1, 2, 2, 2)


# ----------------------------------------------------------------------- NaN, c/g/h


@pytest.mark.parametrize(
    "name,call,bad",
    [
        ("book_conv.c", lambda K, V, G: book_conv.c(K, V), "V"),
        ("book_conv.c", lambda K, V, G: book_conv.c(K, V), "K"),
        ("book_conv.g", lambda K, V, G: book_conv.g(G, V), "G"),
        ("book_conv.h", lambda K, V, G: book_conv.h(K, G), "G"),
    ],
)
def test_book_operations_refuse_nan_as_conv2d_does(name, call, bad):
    arrays = {
        "K": RNG.standard_normal((4, 3, 3, 3)),
        "V": RNG.standard_normal((2, 3, 6, 6)),
        "G": RNG.standard_normal((2, 4, 4, 4)),
    }
    arrays[bad][1, 2, 1, 1] = np.nan
    t = {k: mg.tensor(v) for k, v in arrays.items()}
    with pytest.raises(
        ValueError, match=rf"{name}: {bad} contains NaN \(first at index \(1, 2, 1, 1\)\)"
    ):
        call(t["K"], t["V"], t["G"])


def test_the_old_module_name_is_an_alias_and_says_it_is_not_the_c_kernels():
    from minigrad import kernels

    assert kernels.c is book_conv.c and kernels.g is book_conv.g and kernels.h is book_conv.h
    assert "NOT the C kernels" in kernels.__doc__
    assert mg.book_conv is book_conv
