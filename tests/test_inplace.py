"""In-place ops and the saved-array guard.

* In-place ops really mutate (every alias sees it), follow PyTorch's rules
  (leaf that requires grad, views, dtypes), and are differentiable on tensors
  with history (gradchecked).
* The guard: for EVERY Function that saves an input or output for backward
  (the GUARD table below), changing that input/output in place after the forward
  pass makes backward raise, naming the op; for the C-kernel ops a write through
  NumPy (invisible to version counters) raises too.  ``test_every_saving_function_
  is_in_the_table`` fails when a new Function saves arrays without a row here:
  add one (the op, which arguments it saves, whether it fingerprints).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels, nn
from minigrad.autograd import Function

torch = None  # the torch comparisons import it lazily (pytest.importorskip)


def leaf(*shape, low=-1.0, high=1.0, seed=0):
    r = np.random.default_rng(seed + sum(shape))
    return mg.tensor(r.uniform(low, high, shape), requires_grad=True)


# ---------------------------------------------------------------- mutation and aliases


def test_iadd_under_no_grad_changes_the_parameter_and_every_alias():
    p = nn.Parameter(mg.tensor(np.array([1.0, 2.0, 3.0])))
    data_alias, detached, array = p.data, p.detach(), p.numpy()
    view = p.data[1:]
    p.grad = mg.tensor(np.array([1.0, 1.0, 1.0]))
    ref = p
    with mg.no_grad():
        p -= 0.5 * p.grad
    assert p is ref and isinstance(p, nn.Parameter)
    expected = [0.5, 1.5, 2.5]
    for alias in (p, data_alias, detached, view):
        np.testing.assert_array_equal(alias.numpy(), expected[3 - alias.shape[0] :])
    np.testing.assert_array_equal(array, expected)
    assert p._version == data_alias._version == view._version == 1


def test_p_data_in_place_as_in_pytorch():
    p = nn.Parameter(mg.tensor(np.zeros(4)))
    g = mg.tensor(np.array([1.0, 2.0, 3.0, 4.0]))
    p.data -= 0.1 * g  # Python: d = p.data; d -= ...; p.data = d
    np.testing.assert_allclose(p.numpy(), [-0.1, -0.2, -0.3, -0.4])
    p.data.copy_(mg.tensor(np.arange(4.0)))
    np.testing.assert_array_equal(p.numpy(), [0, 1, 2, 3])
    mg.manual_seed(0)
    p.data.normal_(0, 0.02)
    assert 0 < p.numpy().std() < 0.1 and p.requires_grad and p.is_leaf
    p.data.uniform_(-1, 1)
    assert np.all(np.abs(p.numpy()) <= 1)
    p.data.zero_()
    np.testing.assert_array_equal(p.numpy(), 0)
    p.data.fill_(3)
    np.testing.assert_array_equal(p.numpy(), 3)


def test_in_place_methods_mutate_and_return_self():
    base = np.array([0.5, 1.5, 2.5])
    cases = [
        (lambda t: t.add_(2.0), base + 2),
        (lambda t: t.add_(mg.tensor(base), alpha=2), base * 3),
        (lambda t: t.sub_(1.0), base - 1),
        (lambda t: t.sub_(mg.tensor(base), alpha=0.5), base * 0.5),
        (lambda t: t.mul_(3.0), base * 3),
        (lambda t: t.div_(2.0), base / 2),
        (lambda t: t.pow_(2), base**2),
        (lambda t: t.neg_(), -base),
        (lambda t: t.exp_(), np.exp(base)),
        (lambda t: t.log_(), np.log(base)),
        (lambda t: t.sqrt_(), np.sqrt(base)),
        (lambda t: t.abs_(), base),
        (lambda t: t.tanh_(), np.tanh(base)),
        (lambda t: t.sigmoid_(), 1 / (1 + np.exp(-base))),
        (lambda t: t.sub_(1).relu_(), np.maximum(base - 1, 0)),
        (lambda t: t.clamp_(1.0, 2.0), np.clip(base, 1, 2)),
        (lambda t: t.clamp_min_(1.0), np.maximum(base, 1)),
        (lambda t: t.clamp_max_(1.0), np.minimum(base, 1)),
        (lambda t: t.masked_fill_(mg.tensor([True, False, True]), -1.0), [-1, 1.5, -1]),
        (lambda t: t.addcmul_(mg.tensor(base), mg.tensor(base), value=2), base + 2 * base**2),
        (lambda t: t.addcdiv_(mg.tensor(base), mg.tensor(base), value=2), base + 2),
        (lambda t: t.lerp_(mg.tensor(np.zeros(3)), 0.25), base * 0.75),
        (lambda t: t.copy_(np.array([7.0])), [7.0, 7.0, 7.0]),
        (lambda t: t.fill_(mg.tensor(4.0)), [4.0, 4.0, 4.0]),
    ]
    for op, expected in cases:
        t = mg.tensor(base.copy())
        alias = t.detach()
        assert op(t) is t
        np.testing.assert_allclose(t.numpy(), expected)
        np.testing.assert_allclose(alias.numpy(), expected)
        assert t._version >= 1


def test_augmented_assignment_operators_keep_identity():
    t = mg.tensor(np.array([2.0, 4.0]))
    ref = t
    t += 1
    t -= mg.tensor([1.0, 1.0])
    t *= 2
    t /= 4
    t **= 2
    assert t is ref
    np.testing.assert_allclose(t.numpy(), [1.0, 4.0])
    # ``@=`` rebinds, as in PyTorch (no in-place matmul)
    m = mg.eye(2)
    alias = m
    m @= mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert m is not alias and np.array_equal(alias.numpy(), np.eye(2))


def test_setitem_forms():
    t = mg.zeros(2, 3)
    alias = t.data
    t[0, 1] = 5.0
    t[1] = mg.tensor([1.0, 2.0, 3.0])
    t[[0, 1], [0, 0]] = -1.0
    t[mg.tensor([[False, False, True], [False, False, False]])] = 9.0
    np.testing.assert_array_equal(alias.numpy(), [[-1, 5, 9], [-1, 2, 3]])
    i = mg.zeros(3, dtype=mg.int64)
    i[0] = 2.7  # assignments convert, as PyTorch's do
    assert i.tolist() == [2, 0, 0]


# ---------------------------------------------------------------- PyTorch's rules


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t.add_(1),
        lambda t: t.mul_(2),
        lambda t: t.zero_(),
        lambda t: t.fill_(2.0),
        lambda t: t.copy_([5.0, 6.0]),
        lambda t: t.normal_(),
        lambda t: t.clamp_(0, 1),
        lambda t: t.__setitem__(0, 1.0),
        lambda t: t.__iadd__(1.0),
    ],
)
def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad(op):
    w = mg.zeros(2, requires_grad=True)
    state = mg.default_generator.get_state()["bit_generator"]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used"):
        op(w)
    assert w._version == 0 and np.array_equal(w.numpy(), [0, 0])
    assert mg.default_generator.get_state()["bit_generator"] == state  # no randomness used
    with mg.no_grad():
        op(w)  # an optimizer step, an initialiser
    assert w._version == 1 and w.is_leaf and w.requires_grad
    op(w.detach())  # outside the graph: allowed
    op(w.data)


def test_dtype_rules_follow_pytorch():
    i = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type float64 can't be cast.*int64"):
        i += 0.5
    with pytest.raises(RuntimeError, match="can't be cast"):
        i /= 2
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.exp_()
    b = mg.tensor([True, False])
    with pytest.raises(RuntimeError, match="can't be cast.*bool"):
        b += 1
    assert i.tolist() == [1, 2] and i._version == 0
    i += 3
    assert i.tolist() == [4, 5] and i.dtype == np.int64
    f = mg.tensor(np.array([1.0], np.float32))
    f += mg.tensor(np.array([0.5]))  # float64 into float32: same kind, allowed
    assert f.dtype == np.float32 and f.item() == 1.5
    # a recorded in-place op obeys the same rule
    w = mg.tensor(np.array([0.5, 0.5]), requires_grad=True)
    j = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        j.add_(w)


def test_shape_rule_follows_pytorch():
    t = mg.zeros(3)
    with pytest.raises(
        RuntimeError, match=r"output with shape \(3,\) doesn't match the broadcast shape \(2, 3\)"
    ):
        t += mg.ones(2, 3)
    x = mg.tensor(np.zeros(3), requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(mg.tensor(np.ones((2, 3)), requires_grad=True))


def test_read_only_expanded_tensor_refuses_in_place():
    e = mg.zeros(1, 3).expand(4, 3)
    with pytest.raises(RuntimeError, match="read-only"):
        e.add_(1)


def test_views_share_the_version_counter():
    x = mg.tensor(np.arange(6.0), requires_grad=True)
    y = x * 1
    views = [
        y.view(2, 3),
        y.reshape(3, 2),
        y[1:4],
        y[None],
        y.view(2, 3).t(),
        y.unsqueeze(0),
        y.view(2, 3).transpose(0, 1),
        y.view(1, 6).squeeze(0),
        y.view(2, 3).permute(1, 0),
        y.detach(),
        y.data,
    ]
    with mg.no_grad():
        y.add_(1)
    assert all(v._version == 1 for v in views)
    copies = [y[[0, 1]], y.view(2, 3).t().reshape(6), y.clone(), y * 1]
    assert all(c._version == 0 for c in copies)


def test_in_place_on_a_view_in_the_graph_raises():
    x = mg.tensor(np.arange(4.0), requires_grad=True)
    y = x * 2
    for v in (y[1:3], y.view(2, 2), x.view(2, 2)):
        with pytest.raises(RuntimeError, match="in-place operation on a view"):
            v.mul_(2)
    with mg.no_grad():
        v = x[1:3]
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        v.add_(1)  # a no_grad view of a leaf that requires grad, changed with grad on
    buf = mg.zeros(4)
    buf[1:3].add_(1)  # views outside autograd are fine
    np.testing.assert_array_equal(buf.numpy(), [0, 1, 1, 0])
    w = mg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        buf[1:3].copy_(w)  # would make buf depend on w behind its back


def test_a_view_changed_after_it_was_taken_refuses_backward():
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    y = x * 2
    v = y[0:2]
    y.mul_(3)  # v's values change, its history does not
    with pytest.raises(RuntimeError, match="GetItem.backward: the result of this view op"):
        v.sum().backward()


# ---------------------------------------------------------------- differentiable in-place


def test_differentiable_in_place_rebases_history():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    y += 1
    assert y.grad_fn.fn.__name__ == "Add" and not y.is_leaf
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_nodes_recorded_before_an_in_place_op_keep_the_old_history():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    z = y + 3  # Add saves nothing: it must still route to y's *old* history
    y *= 5
    (z + y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [12.0, 12.0])  # 2 + 2 * 5
    x.grad = None
    y = x * 2
    z = y + 3
    y *= 5
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_in_place_on_a_tensor_without_grad_joins_the_graph():
    w = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    acc = mg.zeros(2, dtype=mg.float64)
    acc += w * w
    acc[0] = w[1] * 10
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 4.0 + 10.0])  # acc[0] was overwritten


def test_in_place_mul_keeps_what_its_own_backward_needs():
    # mul_ saves the old value for the other operand's gradient: it must be a copy.
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = mg.tensor(np.array([3.0, 5.0]), requires_grad=True)
    y = x * 1
    y.mul_(w)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


INPLACE_GRADCHECK = {
    "add_": lambda y, w: y.add_(w, alpha=2),
    "sub_": lambda y, w: y.sub_(w),
    "mul_": lambda y, w: y.mul_(w),
    "div_": lambda y, w: y.div_(w + 3),
    "pow_": lambda y, w: y.abs_().add_(0.5).pow_(w),
    "iadd": lambda y, w: y.__iadd__(w),
    "imul": lambda y, w: y.__imul__(w),
    "exp_": lambda y, w: y.exp_() * w,
    "log_": lambda y, w: y.abs_().add_(0.5).log_().mul_(w),
    "sqrt_": lambda y, w: y.abs_().add_(0.5).sqrt_() * w,
    "tanh_": lambda y, w: y.tanh_() * w,
    "sigmoid_": lambda y, w: y.sigmoid_() * w,
    "relu_": lambda y, w: y.relu_() * w,
    "neg_": lambda y, w: y.neg_().mul_(w),
    "clamp_": lambda y, w: y.clamp_(-0.25, 0.4).mul_(w),
    "addcmul_": lambda y, w: y.addcmul_(w, y * 1, value=0.5),
    "addcdiv_": lambda y, w: y.addcdiv_(w, w * w + 1, value=0.5),
    "lerp_": lambda y, w: y.lerp_(w, 0.3),
    "copy_": lambda y, w: y.copy_(w * 3),
    "fill_": lambda y, w: y.fill_(w.sum()).mul_(w),
    "masked_fill_": lambda y, w: y.masked_fill_(mg.tensor([True, False, True, False]), w[0]),
    "setitem": lambda y, w: (y.__setitem__(slice(1, 3), w[:2] * 2), y)[1],
    "mul_ by itself": lambda y, w: y.mul_(y).mul_(w),
    "iadd itself": lambda y, w: y.__iadd__(y) * w,
    "setitem advanced": lambda y, w: (y.__setitem__([0, 3], w[1:3]), y)[1],
}


@pytest.mark.parametrize("name", list(INPLACE_GRADCHECK))
def test_differentiable_in_place_ops_gradcheck(name):
    op = INPLACE_GRADCHECK[name]
    x = mg.tensor(np.array([0.3, -0.7, 1.1, -0.2]), requires_grad=True)
    w = mg.tensor(np.array([0.9, 1.3, -0.4, 0.6]), requires_grad=True)
    assert mg.gradcheck(lambda x, w: op(x * 1.5, w) * 1.0, [x, w])


# In-place changes of an array a recorded op saved: PyTorch raises, so must we.
RAISES_AS_IN_PYTORCH = {
    "exp_ then mul_": lambda y, w: y.exp_().mul_(w),
    "sqrt_ then add_": lambda y, w: y.abs_().add_(0.5).sqrt_().add_(w),
    "sigmoid_ then mul_": lambda y, w: y.sigmoid_().mul_(w),
    "relu_ then mul_": lambda y, w: y.relu_().mul_(w),
    "tanh_ then setitem": lambda y, w: (y.tanh_().__setitem__(0, w[0]), y)[1],
    "mul then add_ its input": lambda y, w: (y * w, y.add_(1))[0],
}


# A deliberate difference: an in-place op whose operand is the tensor itself saves that
# operand, which the same op then overwrites, so PyTorch refuses to differentiate
# y.mul_(y); minigrad's in-place op keeps a private copy of what its own backward needs.
DIFFERENTIATES_WHERE_PYTORCH_REFUSES = {"mul_ by itself"}


@pytest.mark.parametrize("name", list(INPLACE_GRADCHECK) + list(RAISES_AS_IN_PYTORCH))
def test_differentiable_in_place_matches_pytorch(name):
    """Values and gradients equal PyTorch's; where PyTorch's guard raises, ours does."""
    torch = pytest.importorskip("torch")
    op = INPLACE_GRADCHECK.get(name) or RAISES_AS_IN_PYTORCH[name]
    xa, wa = np.array([0.3, -0.7, 1.1, -0.2]), np.array([0.9, 1.3, -0.4, 0.6])
    gy = np.array([1.0, -2.0, 0.5, 3.0])
    xt, wt = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    x, w = mg.tensor(xa, requires_grad=True), mg.tensor(wa, requires_grad=True)
    ot = _torch_version(name, torch)(xt * 1.5, wt)
    out = op(x * 1.5, w)
    try:
        ot.backward(torch.tensor(gy))
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e)
        if name in DIFFERENTIATES_WHERE_PYTORCH_REFUSES:
            out.backward(mg.tensor(gy))  # correct: gradchecked above
            return
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            out.backward(mg.tensor(gy))
        return
    assert name not in DIFFERENTIATES_WHERE_PYTORCH_REFUSES
    assert name not in RAISES_AS_IN_PYTORCH
    out.backward(mg.tensor(gy))
    np.testing.assert_allclose(out.numpy(), ot.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12, atol=1e-15)


def _torch_version(name, torch):
    special = {
        "masked_fill_": lambda y, w: y.masked_fill_(torch.tensor([True, False, True, False]), w[0]),
        "setitem advanced": lambda y, w: (y.__setitem__([0, 3], w[1:3]), y)[1],
    }
    return special.get(name) or INPLACE_GRADCHECK.get(name) or RAISES_AS_IN_PYTORCH[name]


# ---------------------------------------------------------------- a hand-written SGD loop


def test_hand_written_sgd_loop_trains():
    """``with mg.no_grad(): p -= lr * p.grad`` (the loop of PyTorch's tutorials) must
    train; before in-place ops existed it silently rebound the name and did nothing."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3

    def run(step: Callable) -> float:
        mg.manual_seed(0)
        model = nn.Linear(3, 1).double()
        for _ in range(60):
            loss = F.mse_loss(model(mg.tensor(X)).reshape(-1), mg.tensor(y))
            model.zero_grad()
            loss.backward()
            with mg.no_grad():
                for p in model.parameters():
                    step(p)
        return float(F.mse_loss(model(mg.tensor(X)).reshape(-1), mg.tensor(y)).item())

    def sgd(p):
        p -= 0.1 * p.grad

    def sgd_data(p):
        p.data -= 0.1 * p.grad

    def no_op(p):
        pass

    start = run(no_op)
    assert run(sgd) < 1e-3 < start
    assert run(sgd_data) < 1e-3


# ---------------------------------------------------------------- the guard, op by op


@dataclass
class Guard:
    """One Function that saves arrays: how to call it, which inputs (by position in
    ``make()``'s list) and whether its output it saves, and whether it fingerprints
    (then a write through NumPy is caught too)."""

    fn: str  # the Function's class name, as the error names it
    make: Callable  # () -> (call, [input tensors]); call(*inputs) -> output Tensor
    saved: tuple  # input positions whose arrays backward reads
    saves_output: bool = False
    fingerprint: bool = False
    unsaved: tuple = field(default=())  # inputs NOT saved (a private copy is): no error


def _t(*shape, low=-1.0, high=1.0, seed=0):
    return leaf(*shape, low=low, high=high, seed=seed)


def _bool_t(*shape):
    return mg.tensor(np.random.default_rng(3).random(shape) > 0.5)


GUARD = {
    "mul": Guard("Mul", lambda: (lambda a, b: a * b, [_t(3), _t(3, seed=1)]), (0, 1)),
    "div": Guard("Div", lambda: (lambda a, b: a / b, [_t(3), _t(3, low=1, high=2)]), (0, 1)),
    "pow": Guard("Pow", lambda: (lambda a, b: a**b, [_t(3, low=0.5, high=2), _t(3)]), (0, 1), True),
    "exp": Guard("Exp", lambda: (lambda a: a.exp(), [_t(3)]), (), True),
    "log": Guard("Log", lambda: (lambda a: a.log(), [_t(3, low=0.5, high=2)]), (0,)),
    "sqrt": Guard("Sqrt", lambda: (lambda a: a.sqrt(), [_t(3, low=0.5, high=2)]), (), True),
    "abs": Guard("Abs", lambda: (lambda a: a.abs(), [_t(3)]), (0,)),
    "clamp": Guard("Clamp", lambda: (lambda a: a.clamp(-0.5, 0.5), [_t(3)]), (0,)),
    "maximum": Guard("Maximum", lambda: (mg.maximum, [_t(3), _t(3, seed=1)]), (0, 1)),
    "minimum": Guard("Minimum", lambda: (mg.minimum, [_t(3), _t(3, seed=1)]), (0, 1)),
    "where": Guard(
        "Where", lambda: (lambda c, a, b: mg.where(c, a, b), [_bool_t(3), _t(3), _t(3)]), (0,)
    ),
    "relu": Guard("ReLU", lambda: (F.relu, [_t(3)]), (), True),
    "leaky_relu": Guard("LeakyReLU", lambda: (F.leaky_relu, [_t(3)]), (0,)),
    "sigmoid": Guard("Sigmoid", lambda: (F.sigmoid, [_t(3)]), (), True),
    "tanh": Guard("Tanh", lambda: (F.tanh, [_t(3)]), (), True),
    "softmax": Guard("Softmax", lambda: (lambda a: F.softmax(a, -1), [_t(2, 3)]), (), True),
    "log_softmax": Guard(
        "LogSoftmax", lambda: (lambda a: F.log_softmax(a, -1), [_t(2, 3)]), (), True
    ),
    "amax": Guard("Amax", lambda: (lambda a: a.amax(1), [_t(2, 3)]), (0,), True),
    "norm": Guard("Norm", lambda: (lambda a: a.norm(dim=1), [_t(2, 3)]), (0,)),
    "matmul": Guard("MatMul", lambda: (lambda a, b: a @ b, [_t(2, 3), _t(3, 4)]), (0, 1)),
    "linear": Guard(
        "LinearFn", lambda: (F.linear, [_t(2, 3), _t(4, 3), _t(4)]), (0, 1), unsaved=(2,)
    ),
    "binary_cross_entropy": Guard(
        "BinaryCrossEntropy",
        lambda: (
            lambda p, t: F.binary_cross_entropy(p, t, reduction="none"),
            [_t(4, low=0.1, high=0.9), _t(4, low=0, high=1, seed=2)],
        ),
        (0, 1),
    ),
    "bce_with_logits": Guard(
        "BCEWithLogits",
        lambda: (
            lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
            [_t(4), _t(4, low=0, high=1, seed=2)],
        ),
        (0, 1),
    ),
    "kl_div": Guard(
        "KLDivPointwise",
        lambda: (
            lambda q, p: F.kl_div(q, p, reduction="none"),
            [_t(4, low=-2, high=-0.1), _t(4, low=0.1, high=1, seed=2)],
        ),
        (0, 1),
    ),
    "conv2d": Guard(
        "Conv2dFn",
        lambda: (F.conv2d, [_t(2, 3, 6, 6), _t(4, 3, 3, 3, seed=1), _t(4, seed=2)]),
        (0, 1),
        fingerprint=True,
        unsaved=(2,),
    ),
    "conv_transpose2d": Guard(
        "ConvTranspose2dFn",
        lambda: (
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
            [_t(2, 3, 4, 4), _t(3, 2, 3, 3, seed=1), _t(2, seed=2)],
        ),
        (0, 1),
        fingerprint=True,
        unsaved=(2,),
    ),
    "locally_connected2d": Guard(
        "_LocalConvFn",
        lambda: (
            F.locally_connected2d,
            [_t(2, 3, 6, 6), _t(2, 4, 4, 3, 3, 3, seed=1), _t(2, 4, 4, seed=2)],
        ),
        (1,),
        fingerprint=True,
        unsaved=(0, 2),  # the kernel packs a private copy of the input
    ),
    "tiled_conv2d": Guard(
        "_LocalConvFn",
        lambda: (
            F.tiled_conv2d,
            [_t(2, 3, 6, 6), _t(2, 2, 2, 3, 3, 3, seed=1), _t(2, 2, 2, seed=2)],
        ),
        (1,),
        fingerprint=True,
        unsaved=(0, 2),
    ),
    "lp_pool2d": Guard(
        "LpPool2dFn",
        lambda: (lambda x: F.lp_pool2d(x, 2.0, 2), [_t(2, 3, 6, 6, low=0.5, high=2)]),
        (0,),
        True,
        fingerprint=True,
    ),
    "weighted_avg_pool2d": Guard(
        "WeightedAvgPool2dFn",
        lambda: (
            lambda x, k: F.weighted_avg_pool2d(x, 3, 1, 1, weights=k),
            [_t(2, 3, 6, 6), _t(3, 3, seed=1)],
        ),
        (1,),
        fingerprint=True,
        unsaved=(0,),  # a padded private copy of the input is saved
    ),
    "gelu": Guard("GELU", lambda: (F.gelu, [_t(3)]), (0,)),
    "gelu_tanh": Guard("GELU", lambda: (lambda a: F.gelu(a, approximate="tanh"), [_t(3)]), (0,)),
    "elu": Guard("ELU", lambda: (F.elu, [_t(3)]), (0,)),
    "silu": Guard("SiLU", lambda: (F.silu, [_t(3)]), (0,)),
    "batch_norm": Guard(
        "BatchNorm",
        lambda: (
            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
            [_t(4, 3), _t(3, seed=1), _t(3, seed=2)],
        ),
        (1,),
        unsaved=(0, 2),  # the standardized copy of x is saved, not x
    ),
    "layer_norm": Guard(
        "LayerNorm",
        lambda: (lambda x, w, b: F.layer_norm(x, (3,), w, b), [_t(4, 3), _t(3, seed=1), _t(3)]),
        (1,),
        unsaved=(0, 2),
    ),
    # The indices these save are an output (max pooling) or an input Tensor (unpooling):
    # tests/test_window_adapter.py changes them in place and checks that backward refuses.
    "max_pool2d": Guard(
        "MaxPool2dFn", lambda: (lambda x: F.max_pool2d(x, 2), [_t(2, 3, 6, 6)]), ()
    ),
    "adaptive_max_pool2d": Guard(
        "AdaptiveMaxPool2dFn", lambda: (lambda x: F.adaptive_max_pool2d(x, 3), [_t(2, 3, 6, 6)]), ()
    ),
    "max_unpool2d": Guard(
        "MaxUnpool2dFn",
        lambda: (
            lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
            [_t(1, 2, 4, 4)],
        ),
        (),
    ),
    "kernels.c": Guard(
        "_C_",
        lambda: (kernels.c, [_t(4, 3, 3, 3), _t(2, 3, 6, 6, seed=1)]),
        (0, 1),
        fingerprint=True,
    ),
    "kernels.g": Guard(
        "_G_",
        lambda: (
            lambda G, V: kernels.g(G, V, kernel_size=3),
            [_t(2, 4, 4, 4), _t(2, 3, 6, 6, seed=1)],
        ),
        (0, 1),
        fingerprint=True,
    ),
    "kernels.h": Guard(
        "_H_",
        lambda: (
            lambda K, G: kernels.h(K, G, input_size=6),
            [_t(4, 3, 3, 3), _t(2, 4, 4, 4, seed=1)],
        ),
        (0, 1),
        fingerprint=True,
    ),
}

# Functions that save only arrays they made themselves (nothing a caller can change),
# or none: not in GUARD, but listed so that the coverage test below sees every Function.
SAVES_ONLY_PRIVATE = {
    "Var": "the centred copy a - mean",
    "Softplus": "beta * a, a new array",
    "Dropout": "its random mask",
    "FeatureDropout": "its random per-channel mask",
    "NLLPerSample": "per-sample weights built by nll_loss",
    "SoftmaxCrossEntropyPerSample": "softmax probabilities and weights it computed",
    "TakeAlong": "the argmax indices max(dim) computed",
    "GetItem": "its own copy of the index",
}


def _change(t):
    """Change a leaf in place, as an optimizer step would (allowed under no_grad)."""
    with mg.no_grad():
        if t.dtype == np.bool_:
            t.copy_(~t.numpy())
        else:
            t.mul_(1.5)


def _run(case: Guard):
    call, ins = case.make()
    out = call(*ins)
    g = np.random.default_rng(9).standard_normal(out.shape)
    return call, ins, out, g


@pytest.mark.parametrize("name", list(GUARD))
def test_guard_unchanged_inputs_backward_fine(name):
    _, _, out, g = _run(GUARD[name])
    out.backward(mg.tensor(g.astype(out.dtype)))


@pytest.mark.parametrize(
    "name,k", [(n, k) for n, c in GUARD.items() for k in c.saved], ids=lambda v: str(v)
)
def test_guard_saved_input_changed_in_place(name, k):
    case = GUARD[name]
    _, ins, out, g = _run(case)
    _change(ins[k])
    with pytest.raises(
        RuntimeError,
        match=rf"{case.fn}\.backward: .*modified by an in-place operation: saved argument \d+ "
        rf"\(input {k} of .* is at version 1; expected version 0",
    ):
        out.backward(mg.tensor(g.astype(out.dtype)))


@pytest.mark.parametrize("name", [n for n, c in GUARD.items() if c.saves_output])
def test_guard_saved_output_changed_in_place(name):
    case = GUARD[name]
    _, _, out, g = _run(case)
    out.data.add_(0.5)  # through .data: same storage, same counter
    with pytest.raises(RuntimeError, match=rf"{case.fn}\.backward: .*output 0 of {case.fn}"):
        out.backward(mg.tensor(g.astype(out.dtype)))


@pytest.mark.parametrize(
    "name,k",
    [(n, k) for n, c in GUARD.items() if c.fingerprint for k in c.saved],
    ids=lambda v: str(v),
)
def test_guard_fingerprinted_input_changed_through_numpy(name, k):
    case = GUARD[name]
    _, ins, out, g = _run(case)
    ins[k].numpy().reshape(-1)[-1] += 0.25  # no version counter sees this
    with pytest.raises(RuntimeError, match=rf"{case.fn}\.backward: .*could not see"):
        out.backward(mg.tensor(g.astype(out.dtype)))


@pytest.mark.parametrize("name", [n for n, c in GUARD.items() if c.fingerprint and c.saves_output])
def test_guard_fingerprinted_output_changed_through_numpy(name):
    _, _, out, g = _run(GUARD[name])
    out.numpy().reshape(-1)[0] += 0.25
    with pytest.raises(RuntimeError, match="could not see"):
        out.backward(mg.tensor(g.astype(out.dtype)))


@pytest.mark.parametrize(
    "name,k", [(n, k) for n, c in GUARD.items() for k in c.unsaved], ids=lambda v: str(v)
)
def test_guard_unsaved_input_changed_gives_the_original_gradient(name, k):
    """An input the op does not save (a private copy is) may change after forward:
    backward neither raises nor uses the new values."""
    case = GUARD[name]
    _, ins, out, g = _run(case)
    out.backward(mg.tensor(g.astype(out.dtype)))
    expected = [None if t.grad is None else t.grad.numpy().copy() for t in ins]
    _, ins, out, g = _run(case)
    _change(ins[k])
    out.backward(mg.tensor(g.astype(out.dtype)))
    for e, t in zip(expected, ins):
        if e is not None:
            np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-12, atol=1e-14)


def _all_functions():
    seen, todo = [], list(Function.__subclasses__())
    while todo:
        c = todo.pop()
        seen.append(c)
        todo.extend(c.__subclasses__())
    return [c for c in seen if c.__module__.startswith("minigrad.")]


def test_every_saving_function_is_in_the_table():
    """Every Function of minigrad whose forward calls save_for_backward has a GUARD row
    (or is listed as saving only private arrays).  A new op failing here: add it."""
    guarded = {c.fn for c in GUARD.values()}
    missing = []
    for cls in _all_functions():
        src = inspect.getsource(cls.forward)
        if "save_for_backward" in src and cls.__name__ not in guarded | set(SAVES_ONLY_PRIVATE):
            missing.append(f"{cls.__module__}.{cls.__name__}")
    assert not missing, (
        f"Functions that save arrays for backward but have no row in tests/test_inplace.py's "
        f"GUARD table: {missing}"
    )


def test_fingerprinted_functions_are_exactly_the_c_kernel_ops():
    flagged = {c.__name__ for c in _all_functions() if c.fingerprint_saved}
    assert flagged == {c.fn for c in GUARD.values() if c.fingerprint}


def test_numpy_writes_are_invisible_to_unfingerprinted_ops():
    """What stays undetectable (as in PyTorch): a write through NumPy into an array an
    ordinary op saved.  The gradient then uses the new values; documented, not hidden."""
    a, b = _t(3), _t(3, seed=1)
    y = a * b
    b.numpy()[:] = 10.0
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [10.0, 10.0, 10.0])


def test_guard_error_message_names_everything():
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    msg = str(e.value)
    for part in (
        "Exp.backward",
        "saved argument 0",
        "output 0 of Exp",
        "float64",
        "(2,)",
        "version 1",
        "expected version 0",
        "Hint",
        "clone()",
    ):
        assert part in msg, part
