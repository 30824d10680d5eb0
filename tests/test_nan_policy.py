"""The C-kernel ops refuse NaN inputs, naming the argument and the first bad index;
``mg.set_nan_check(False)`` lets NaN through (PyTorch's behaviour)."""

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

rng = np.random.default_rng(0)


def _x(shape=(2, 3, 6, 6)):
    return rng.standard_normal(shape)


CASES = {
    # name: (function of (x, w), x shape, w shape, argument whose NaN we plant)
    "conv2d-input": (lambda x, w: F.conv2d(x, w, padding=1), (2, 3, 6, 6), (4, 3, 3, 3), "input"),
    "conv2d-weight": (lambda x, w: F.conv2d(x, w), (2, 3, 6, 6), (4, 3, 3, 3), "weight"),
    "conv1d-input": (lambda x, w: F.conv1d(x, w), (2, 3, 9), (4, 3, 3), "input"),
    "conv_transpose1d-weight": (
        lambda x, w: F.conv_transpose1d(x, w),
        (2, 3, 5),
        (3, 2, 3),
        "weight",
    ),
    "conv_transpose2d-input": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        (2, 3, 4, 4),
        (3, 2, 3, 3),
        "input",
    ),
    "max_pool2d-input": (lambda x, w: F.max_pool2d(x, 2), (2, 3, 6, 6), None, "input"),
    "avg_pool2d-input": (lambda x, w: F.avg_pool2d(x, 3, 1, 1), (2, 3, 6, 6), None, "input"),
    "lp_pool2d-input": (lambda x, w: F.lp_pool2d(x, 2, 2), (2, 3, 6, 6), None, "input"),
    "adaptive_avg_pool2d-input": (
        lambda x, w: F.adaptive_avg_pool2d(x, 2),
        (2, 3, 6, 6),
        None,
        "input",
    ),
    "tiled_conv2d-input": (
        lambda x, w: F.tiled_conv2d(x, w, padding=1),
        (2, 3, 6, 6),
        (4, 2, 2, 3, 3, 3),
        "input",
    ),
    "tiled_conv2d-weight": (
        lambda x, w: F.tiled_conv2d(x, w, padding=1),
        (2, 3, 6, 6),
        (4, 2, 2, 3, 3, 3),
        "weight",
    ),
    "locally_connected2d-input": (
        lambda x, w: F.locally_connected2d(x, w),
        (2, 3, 6, 6),
        (4, 4, 4, 3, 3, 3),
        "input",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_input_is_refused_with_its_name_and_index(case, dtype):
    fn, xshape, wshape, bad = CASES[case]
    x = _x(xshape).astype(dtype)
    w = None if wshape is None else rng.standard_normal(wshape).astype(dtype)
    target = x if bad == "input" else w
    where = tuple(n // 2 for n in target.shape)
    target[where] = np.nan
    op = case.split("-")[0]
    with pytest.raises(
        ValueError,
        match=rf"{op}.*{bad} contains NaN.*{where}".replace("(", r"\(").replace(")", r"\)"),
    ):
        fn(mg.tensor(x), None if w is None else mg.tensor(w))


@pytest.mark.parametrize(
    "op",
    [
        lambda b: F.conv2d(mg.tensor(_x()), mg.tensor(_x((4, 3, 3, 3))), mg.tensor(b)),
        lambda b: F.conv_transpose1d(mg.tensor(_x((2, 3, 5))), mg.tensor(_x((3, 4, 3))), b),
        lambda b: F.tiled_conv2d(
            mg.tensor(_x()), mg.tensor(_x((4, 1, 2, 3, 3, 3))), np.repeat(b[:, None, None], 2, 2)
        ),
    ],
)
def test_nan_bias_is_refused(op):
    b = np.zeros(4)
    b[2] = np.nan
    with pytest.raises(ValueError, match=r"bias contains NaN \(first at index \(2"):
        op(b)


@pytest.mark.parametrize("case", ["conv2d-input", "max_pool2d-input", "tiled_conv2d-input"])
def test_nan_passes_through_when_the_check_is_off(case):
    fn, xshape, wshape, _ = CASES[case]
    x = _x(xshape)
    w = None if wshape is None else rng.standard_normal(wshape)
    x[(0, 0) + (1,) * (x.ndim - 2)] = np.nan
    mg.set_nan_check(False)
    try:
        y = fn(mg.tensor(x), None if w is None else mg.tensor(w)).numpy()
    finally:
        mg.set_nan_check(True)
    assert mg.get_nan_check()
    assert np.isnan(y[0]).any()  # the poisoned image's outputs carry the NaN ...
    assert not np.isnan(y[1]).any()  # ... and the other image's do not


def test_infinities_are_not_refused():
    # inf is a legitimate value for max pooling (and rejecting it is not the card's rule)
    x = _x()
    x[0, 0, 0, 0] = np.inf
    assert np.isinf(F.max_pool2d(mg.tensor(x), 2).numpy()[0, 0, 0, 0])


def test_pooling_refuses_only_nan_that_reaches_a_window():
    # Pooling scans its output (cheaper than a second pass over the input): a NaN in
    # a row that no window reads (the 5th row under 2x2 stride-2 pooling) is harmless.
    x = _x((1, 1, 5, 4))
    x[0, 0, 4, 1] = np.nan
    assert np.isfinite(F.max_pool2d(mg.tensor(x), 2).numpy()).all()
    x[0, 0, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"input contains NaN \(first at index \(0, 0, 3, 1\)\)"):
        F.max_pool2d(mg.tensor(x), 2)


@pytest.mark.parametrize(
    "op,x_shape,w_shape",
    [
        (F.conv2d, (2, 5, 5), (3, 2, 3, 3)),
        (F.conv1d, (2, 7), (3, 2, 3)),
        (F.conv_transpose2d, (2, 5, 5), (2, 3, 3, 3)),
        (F.conv_transpose1d, (2, 7), (2, 3, 3)),
        (F.locally_connected2d, (2, 5, 5), (3, 3, 3, 2, 3, 3)),
        (F.tiled_conv1d, (2, 7), (3, 2, 2, 3)),
    ],
)
def test_nan_in_an_unbatched_input_is_named_by_the_callers_index(op, x_shape, w_shape):
    # The op adds a batch axis internally; the index must still read as the caller's.
    x = np.zeros(x_shape, np.float32)
    bad = (1, 2, 3)[: len(x_shape)]
    x[bad] = np.nan
    w = np.ones(w_shape, np.float32)
    with pytest.raises(ValueError, match=r"input contains NaN \(first at index \(1, 2(, 3)?\)\)"):
        op(x, w)
