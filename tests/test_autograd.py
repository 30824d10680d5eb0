"""The tape: recording order, diamonds, accumulation, retain_graph, grad mode,
deep graphs, detach, retain_grad, and custom ``Function`` subclasses."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function


def f64(values, requires_grad=True):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class Recorder(Function):
    """Identity that logs when its backward runs (to observe the tape's order)."""

    log: list = []

    @staticmethod
    def forward(ctx, a, name=""):
        ctx.name = name
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        Recorder.log.append((ctx.name, g.copy()))
        return g


def rec(t, name):
    return Recorder.apply(t, name=name)


# ---------------------------------------------------------------- order and diamonds


def test_backward_runs_in_reverse_recording_order():
    Recorder.log = []
    x = f64([1.0, 2.0])
    a = rec(x, "a")
    b = rec(a * 2, "b")
    c = rec(b + 1, "c")
    c.sum().backward()
    assert [name for name, _ in Recorder.log] == ["c", "b", "a"]


def test_diamond_node_runs_once_after_all_consumers():
    # x -> a -> (b, c) -> d: a's backward must run once, with the summed gradient.
    Recorder.log = []
    x = f64([1.0, 2.0, 3.0])
    a = rec(x, "a")
    b = rec(a * 3, "b")
    c = rec(a * a, "c")
    d = b + c
    d.sum().backward()
    names = [n for n, _ in Recorder.log]
    assert names.count("a") == 1
    assert names.index("a") > names.index("b") and names.index("a") > names.index("c")
    (g_a,) = [g for n, g in Recorder.log if n == "a"]
    np.testing.assert_allclose(g_a, 3 + 2 * x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy())


def test_same_tensor_used_twice_in_one_op():
    x = f64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    x.grad = None
    (x + x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0)


def test_wide_fan_out_and_in():
    x = f64(np.linspace(-1, 1, 5))
    terms = [x * float(k) for k in range(50)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    total.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), sum(range(50)))


def test_branch_without_gradient_path_is_skipped():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    unused = y * 5  # recorded but not reachable from the output
    out = (x * 2).sum()
    out.backward()
    assert y.grad is None and unused.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_constant_inputs_get_no_gradient():
    x = f64([1.0, 2.0])
    c = mg.tensor(np.array([3.0, 4.0]))  # requires_grad=False
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


# ---------------------------------------------------------------- accumulation and retention


def test_gradients_accumulate_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.numpy())


def test_retain_graph_allows_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(x.numpy()))


def test_second_backward_through_freed_graph_raises():
    x = f64([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_shared_subgraph_freed_by_other_output():
    x = f64([1.0, 2.0])
    h = x.exp()
    a, b = (h * 2).sum(), (h * 3).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        b.backward()


def test_backward_with_gradient_for_non_scalar():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    v = np.array([[1.0, 0.5], [-1.0, 2.0]])
    y.backward(v)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * v)
    x.grad = None
    (x * 2).backward(mg.tensor(v))  # a Tensor works as well
    np.testing.assert_allclose(x.grad.numpy(), 2 * v)


def test_backward_on_leaf_sets_its_gradient():
    x = f64([1.0, 2.0])
    x.backward(np.array([3.0, 4.0]))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_grad_is_a_tensor_with_leaf_dtype_and_shape():
    x = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    (x * 2).sum().backward()
    assert isinstance(x.grad, mg.Tensor)
    assert x.grad.dtype == np.float32 and x.grad.shape == (2, 3)
    assert not x.grad.requires_grad


def test_grad_does_not_alias_upstream_arrays():
    # Add passes g to both inputs; the accumulated grads must not share memory.
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.numpy()[0] = 100.0
    assert b.grad.numpy()[0] == 1.0


class Handout(Function):
    """Scales its input; backward returns a gradient it also keeps (in ``kept``),
    so the engine must copy it unless the class claims fresh gradients."""

    kept: list = []

    @staticmethod
    def forward(ctx, a):
        return a * 2.0

    @staticmethod
    def backward(ctx, g):
        out = g * 2.0
        Handout.kept.append(out)
        return out


class FreshHandout(Handout):
    fresh_grads = True


def test_leaf_gradient_is_copied_unless_backward_promises_fresh_arrays():
    for cls, adopted in [(Handout, False), (FreshHandout, True)]:
        Handout.kept = []
        x = f64([1.0, 2.0])
        cls.apply(x).backward(np.ones(2))
        (returned,) = Handout.kept
        assert (x.grad.numpy() is returned) is adopted
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
        # accumulating a second time never writes into the adopted array
        cls.apply(x).backward(np.ones(2))
        np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])
        np.testing.assert_array_equal(returned, [2.0, 2.0])


def test_fresh_gradient_of_another_dtype_or_layout_is_still_copied():
    x = mg.tensor(np.ones((2, 3), np.float32), requires_grad=True)

    class Cast64(Function):
        fresh_grads = True

        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, g):
            return np.asfortranarray(g.astype(np.float64))

    Cast64.apply(x).backward(np.ones((2, 3), np.float32))
    assert x.grad.dtype == np.float32 and x.grad.numpy().flags.c_contiguous


def test_kernel_weight_gradient_is_handed_over_not_copied():
    # conv2d's backward allocates dW; the leaf keeps that array (no 2nd buffer).
    x = mg.tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    w = mg.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    y = mg.functional.conv2d(x, w)
    ctx = y.grad_fn
    returned = []
    original = ctx.fn.backward

    def spy(c, g):
        out = original(c, g)
        returned.extend(out)
        return out

    ctx.fn = type("Spy", (ctx.fn,), {"backward": staticmethod(spy)})
    y.sum().backward()
    assert w.grad.numpy() is returned[1] and x.grad.numpy() is returned[0]
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 1, 3, 3), 4.0))


def test_long_chain_does_not_hit_recursion_limit():
    x = f64([0.5])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    assert 10_000 > sys.getrecursionlimit() // 2  # the chain is deeper than recursion allows
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-9)


def test_deep_diamond_ladder():
    # Each rung uses the previous value twice: the gradient doubles per rung.
    x = f64([1.0])
    y = x
    for _ in range(200):
        y = (y + y) * 0.5 + y * 0.5
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.5**200], rtol=1e-9)


# ---------------------------------------------------------------- detach, retain_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = f64([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.numpy())
    (d * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())  # no term through d


def test_retain_grad_keeps_non_leaf_gradient():
    x = f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    y = (h * h).sum()
    y.retain_grad()
    y.backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(y.grad.numpy(), 1.0)
    np.testing.assert_allclose(x.grad.numpy(), 18 * x.numpy())


def test_non_leaf_without_retain_grad_has_no_grad():
    x = f64([1.0, 2.0])
    h = x * 3
    h.sum().backward()
    assert h.grad is None and not h.is_leaf and x.is_leaf


def test_requires_grad_flag_propagates():
    x = f64([1.0])
    c = f64([2.0], requires_grad=False)
    assert (x * c).requires_grad
    assert not (c * c).requires_grad
    assert (c * c).grad_fn is None


# ---------------------------------------------------------------- grad mode


def test_no_grad_context_records_nothing():
    x = f64([1.0, 2.0])
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_as_decorator_with_and_without_parentheses():
    @mg.no_grad()
    def f(t):
        assert not mg.is_grad_enabled()
        return t * 2

    @mg.no_grad
    def g(t):
        return t * 3

    x = f64([1.0])
    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f"
    assert mg.is_grad_enabled()


def test_no_grad_nested_and_enable_grad_inside():
    x = f64([1.0])
    with mg.no_grad():
        with mg.no_grad():
            assert not mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            y = x * 2
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])


def test_grad_mode_restored_after_exception():
    with pytest.raises(KeyError):
        with mg.no_grad():
            raise KeyError("boom")
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def fails():
        raise ValueError("inner")

    with pytest.raises(ValueError):
        fails()
    assert mg.is_grad_enabled()
    with mg.no_grad():
        with pytest.raises(ValueError):
            with mg.enable_grad():
                raise ValueError("inner")
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_decorated_function_is_reentrant():
    @mg.no_grad()
    def depth(n):
        assert not mg.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(5) == 5
    assert mg.is_grad_enabled()


def test_one_no_grad_object_reused_and_nested():
    ng = mg.no_grad()
    with ng:
        with ng:
            assert not mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_set_grad_enabled():
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
        with mg.set_grad_enabled(True):
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    try:
        mg.set_grad_enabled(False)  # a plain call takes effect at once
        assert not mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def f():
        return mg.is_grad_enabled()

    assert mg.is_grad_enabled() and f() is False and mg.is_grad_enabled()


# ---------------------------------------------------------------- custom Functions


class Cube(Function):
    @staticmethod
    def forward(ctx, a, scale=1.0):
        ctx.save_for_backward(a)
        ctx.scale = scale
        return scale * a**3

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * 3 * ctx.scale * a**2


class Affine(Function):
    """a * w + b with optional b; skips work it is not asked for."""

    calls: list = []

    @staticmethod
    def forward(ctx, a, w, b=None):
        ctx.save_for_backward(a, w)
        ctx.has_b = b is not None
        return a * w + (b if b is not None else 0)

    @staticmethod
    def backward(ctx, g):
        a, w = ctx.saved_tensors
        Affine.calls.append(ctx.needs_input_grad)
        ga = g * w if ctx.needs_input_grad[0] else None
        gw = g * a if ctx.needs_input_grad[1] else None
        gb = g if ctx.has_b and ctx.needs_input_grad[2] else None
        return ga, gw, gb


def test_custom_function_with_options():
    x = f64([1.0, -2.0])
    assert mg.gradcheck(lambda t: Cube.apply(t, scale=0.5), [x])
    y = Cube.apply(x, scale=2.0)
    assert y.grad_fn is not None and "Cube" in repr(y)


def test_custom_function_needs_input_grad_and_none_inputs():
    Affine.calls = []
    a = f64([1.0, 2.0])
    w = f64([3.0, 4.0], requires_grad=False)
    out = Affine.apply(a, w, None)
    out.sum().backward()
    assert Affine.calls == [(True, False, False)]
    np.testing.assert_allclose(a.grad.numpy(), w.numpy())
    b = f64([0.5, 0.5])
    assert mg.gradcheck(lambda a, w, b: Affine.apply(a, w, b), [a, f64([3.0, 4.0]), b])


class WrongArity(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return (g,)  # one gradient for two inputs


class WrongShape(Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return np.ones((7, 7))


def test_backward_returning_wrong_number_of_gradients_is_an_error():
    a, b = f64([1.0]), f64([2.0])
    with pytest.raises(RuntimeError, match="WrongArity.backward returned 1 gradient"):
        WrongArity.apply(a, b).sum().backward()


def test_backward_returning_wrong_shape_is_an_error():
    a = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"WrongShape.backward.*shape \(7, 7\).*\(2,\)"):
        WrongShape.apply(a).sum().backward()


def test_integer_output_is_not_recorded():
    x = f64([1.5, 2.5])
    i = x.astype(np.int64)
    assert not i.requires_grad and i.dtype == np.int64


def test_gradcheck_catches_a_wrong_backward():
    class BadSquare(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # missing the factor 2

    with pytest.raises(mg.GradcheckError, match="numerical"):
        mg.gradcheck(lambda t: BadSquare.apply(t), [f64([1.0, 2.0])])


def test_gradcheck_requires_a_differentiable_input():
    with pytest.raises(ValueError, match="requires_grad"):
        mg.gradcheck(lambda t: t * 2, [f64([1.0], requires_grad=False)])


def test_grad_mode_is_per_thread():
    import threading

    inside, release = threading.Event(), threading.Event()

    def worker():
        with mg.no_grad():
            inside.set()
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    try:
        inside.wait(5)
        assert mg.is_grad_enabled()  # the other thread's no_grad does not leak here
        assert (f64([1.0]) * 2).requires_grad
    finally:
        release.set()
        th.join()


def test_grad_assigned_as_array_still_accumulates():
    x = f64([1.0, 2.0])
    x.grad = np.array([10.0, 10.0])
    (x * 2).sum().backward()
    assert isinstance(x.grad, mg.Tensor)
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 12.0])


class SeesNeeds(Function):
    seen: list = []

    @staticmethod
    def forward(ctx, a, b):
        SeesNeeds.seen.append(ctx.needs_input_grad)
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g, g


def test_needs_input_grad_is_known_in_forward():
    SeesNeeds.seen = []
    a, c = f64([1.0]), f64([2.0], requires_grad=False)
    SeesNeeds.apply(a, c)
    SeesNeeds.apply(c, 3.0)
    with mg.no_grad():
        SeesNeeds.apply(a, a)
    assert SeesNeeds.seen == [(True, False), (False, False), (False, False)]


class UsesTensorOpsInBackward(Function):
    """A backward written with Tensor ops (allowed): it must not be recorded."""

    seen: list = []

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * 2

    @staticmethod
    def backward(ctx, g):
        t = mg.tensor(g, requires_grad=True) * 2
        UsesTensorOpsInBackward.seen.append((mg.is_grad_enabled(), t.requires_grad))
        return t


def test_backward_runs_with_recording_off():
    UsesTensorOpsInBackward.seen = []
    x = f64([1.0, 2.0])
    UsesTensorOpsInBackward.apply(x).sum().backward()
    assert UsesTensorOpsInBackward.seen == [(False, False)]
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    assert mg.is_grad_enabled()


def test_backward_frees_the_graph_memory():
    import gc
    import weakref

    x = f64(np.ones(1000))
    h = x * 2
    ref = weakref.ref(h)
    y = (h.exp() * 3).sum()
    del h
    gc.collect()
    assert ref() is not None  # still held by the graph of y
    y.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None  # retain_graph keeps it
    y.backward()
    gc.collect()
    assert ref() is None  # freed although y itself is still alive
    np.testing.assert_allclose(x.grad.numpy(), 2 * 6 * np.exp(2.0))


# ------------------------------------------------------- the fresh_grads promise, op by op


def _fresh_cases():
    import minigrad.functional as F
    from minigrad import kernels

    r = np.random.default_rng(5)

    def t(*shape):
        return mg.tensor(r.standard_normal(shape), requires_grad=True)

    x4, x3 = t(2, 3, 6, 6), t(2, 3, 7)
    return {
        "conv2d": lambda: F.conv2d(x4, t(4, 3, 3, 3), t(4), padding=1),
        "conv2d location bias": lambda: F.conv2d(x4, t(4, 3, 3, 3), t(4, 4, 4)),
        "conv_transpose2d": lambda: F.conv_transpose2d(x4, t(3, 2, 3, 3), t(2), stride=2),
        "locally_connected2d": lambda: F.locally_connected2d(x4, t(2, 4, 4, 3, 3, 3), t(2, 4, 4)),
        "tiled_conv2d": lambda: F.tiled_conv2d(x4, t(2, 2, 2, 3, 3, 3), t(2, 2, 2)),
        "tiled_conv1d": lambda: F.tiled_conv1d(x3, t(2, 2, 3, 3), t(2, 2)),
        "linear": lambda: F.linear(t(5, 3, 4), t(2, 4), t(2)),
        "matmul": lambda: t(2, 3, 4) @ t(4, 5),
        "matmul 1-d": lambda: t(4) @ t(4, 5),
        "matmul broadcast": lambda: t(3, 4) @ t(2, 4, 5),
        "max_pool2d": lambda: F.max_pool2d(x4, 2),
        "adaptive_max_pool2d": lambda: F.adaptive_max_pool2d(x4, 4),
        "avg_pool2d": lambda: F.avg_pool2d(x4, 3, 2, 1),
        "adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(x4, (4, 5)),
        "lp_pool2d": lambda: F.lp_pool2d(x4.abs() + 0.5, 2.0, 2),
        "max_unpool2d": lambda: F.max_unpool2d(*F.max_pool2d(x4, 2, return_indices=True), 2),
        "weighted_avg_pool2d": lambda: F.weighted_avg_pool2d(x4, 3, 1, 1, weights=t(3, 3)),
        "kernels.c": lambda: kernels.c(t(4, 3, 3, 3), x4),
        "kernels.g": lambda: kernels.g(t(2, 4, 4, 4), x4, kernel_size=3),
        "kernels.h": lambda: kernels.h(t(4, 3, 3, 3), t(2, 4, 4, 4), input_size=6),
    }


@pytest.mark.parametrize("name", list(_fresh_cases()))
def test_fresh_grads_functions_return_arrays_nobody_else_holds(name):
    """A Function with fresh_grads = True has its gradients adopted as .grad without a
    copy, so none may share memory with the incoming gradient, an input, anything
    ctx saved, or another returned gradient."""
    y = _fresh_cases()[name]()
    ctx = y.grad_fn
    assert ctx.fn.fresh_grads, f"{name}: {ctx.fn.__name__} is not marked fresh_grads"
    held = [t.numpy() for t in ctx.inputs if isinstance(t, mg.Tensor)]
    held += [a for a in (ctx.saved_tensors or ()) if isinstance(a, np.ndarray)]
    held += [a for a in vars(ctx).values() if isinstance(a, np.ndarray)]
    g = np.random.default_rng(0).standard_normal(y.shape)
    held.append(g)
    returned = ctx.fn.backward(ctx, g)
    returned = [
        a for a in (returned if isinstance(returned, tuple) else (returned,)) if a is not None
    ]
    assert returned
    for i, a in enumerate(returned):
        assert isinstance(a, np.ndarray)
        assert not any(np.shares_memory(a, h) for h in held), f"{name}: gradient {i} aliases"
        assert not any(np.shares_memory(a, b) for b in returned[i + 1 :])


# ------------------------------------------------------- several outputs


class SinCos(Function):
    """(sin a, cos a): two differentiable outputs."""

    materialized: list = []

    @staticmethod
    def forward(ctx, a, materialize=True):
        ctx.set_materialize_grads(materialize)
        s, c = np.sin(a), np.cos(a)
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx, gs, gc):
        s, c = ctx.saved_tensors
        SinCos.materialized.append((gs is not None, gc is not None))
        out = 0
        if gs is not None:
            out = out + gs * c
        if gc is not None:
            out = out - gc * s
        return out


class TopTwo(Function):
    """The largest element per row and its index: a value and a marked integer-free
    index output (float, marked non-differentiable, to test the marking)."""

    @staticmethod
    def forward(ctx, a):
        idx = np.argmax(a, axis=1)
        ctx.save_for_backward(idx)
        pos = idx.astype(a.dtype)  # float, so only the marking makes it non-differentiable
        ctx.mark_non_differentiable(pos)
        ctx.shape = a.shape
        return a[np.arange(a.shape[0]), idx], pos

    @staticmethod
    def backward(ctx, gv, gpos):
        assert gpos is None  # never a gradient for a non-differentiable output
        (idx,) = ctx.saved_tensors
        g = np.zeros(ctx.shape)
        g[np.arange(len(idx)), idx] = gv
        return g


def test_function_with_two_outputs_gradcheck_and_reference():
    x = f64([0.3, -1.2, 2.0])
    assert mg.gradcheck(lambda t: SinCos.apply(t)[0] * 2 + SinCos.apply(t)[1] ** 2, [x])
    s, c = SinCos.apply(x)
    assert s.grad_fn is c.grad_fn and s.requires_grad and c.requires_grad
    (s * 3 + c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.cos(x.numpy()) - np.sin(x.numpy()))


def test_unused_output_gets_zeros_or_none():
    x = f64([0.5, 1.0])
    SinCos.materialized = []
    s, _ = SinCos.apply(x)
    s.sum().backward()
    assert SinCos.materialized == [(True, True)]  # zeros for the unused cos
    np.testing.assert_allclose(x.grad.numpy(), np.cos(x.numpy()))
    x.grad = None
    SinCos.materialized = []
    _, c = SinCos.apply(x, materialize=False)
    c.sum().backward()
    assert SinCos.materialized == [(False, True)]
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.numpy()))


def test_both_outputs_feed_one_consumer_and_retain_grad():
    x = f64([0.5, 1.0])
    s, c = SinCos.apply(x)
    c.retain_grad()
    (s * c).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), np.sin(x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), np.cos(2 * x.numpy()))


def test_backward_from_the_second_output_as_root():
    x = f64([0.5, 1.0])
    _, c = SinCos.apply(x)
    c.backward(mg.tensor(np.ones(2)))
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.numpy()))


def test_non_differentiable_output():
    x = f64([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]])
    v, pos = TopTwo.apply(x)
    assert v.requires_grad and not pos.requires_grad and pos.grad_fn is None
    assert pos.dtype == np.float64 and pos.tolist() == [1.0, 0.0]
    (v * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2, 0], [2, 0, 0]])
    assert mg.gradcheck(lambda t: TopTwo.apply(t)[0], [f64([[1.0, 3.0, 2.0]])])


def test_in_place_on_one_output_of_several():
    x = f64([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]])
    v, pos = TopTwo.apply(x)
    v += 1  # rebases v only (TopTwo saved no output)
    (v * v).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 8, 0], [12, 0, 0]])
    s, c = SinCos.apply(f64([0.3, 0.9]))
    s += 1  # SinCos saved s: as in PyTorch, backward must refuse
    with pytest.raises(RuntimeError, match="output 0 of SinCos"):
        (s * c).sum().backward()


def test_changed_saved_output_of_several_raises():
    x = f64([0.3, 0.9])
    s, c = SinCos.apply(x)
    with mg.no_grad():
        c.mul_(2)
    with pytest.raises(RuntimeError, match=r"SinCos.backward: .*output 1 of SinCos"):
        s.sum().backward()


def test_saved_tensors_after_free_raises():
    x = f64([0.3])
    y = Cube.apply(x)
    ctx = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (a,) = ctx.saved_tensors
    with pytest.raises(RuntimeError, match="second time"):
        ctx.saved_tensors[0]


# ------------------------------------------------------- the import layers


def _minigrad_imports(module) -> set:
    """Every minigrad module ``module``'s source imports, at any depth of the file."""
    import ast
    import inspect

    found = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minigrad"):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("minigrad")}
    return found


def test_core_imports_go_one_way():
    """memory <- tape <- tensor <- autograd <- ops: no module imports one above it, not
    even inside a function (the old circle was held together by late imports)."""
    from minigrad import autograd, device, memory, rng, tape, tensor

    def above(imports, allowed):
        return {m for m in imports if not any(m.startswith(a) for a in allowed)}

    assert above(_minigrad_imports(memory), ("minigrad._C",)) == set()
    assert above(_minigrad_imports(tape), ("minigrad._C", "minigrad.memory")) == set()
    assert above(_minigrad_imports(device), ()) == set()
    assert above(_minigrad_imports(rng), ("minigrad.device",)) == set()
    allowed_tensor = ("minigrad.tape", "minigrad.device", "minigrad.rng", "minigrad._C")
    allowed_tensor += ("minigrad.memory",)
    assert above(_minigrad_imports(tensor), allowed_tensor) == set()
    assert above(_minigrad_imports(autograd), allowed_tensor + ("minigrad.tensor",)) == set()
