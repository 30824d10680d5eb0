"""nn.Module mechanics beyond registration: forward hooks and their handles,
buffers as Tensors, submodule lookup, the new containers, and nn.utils."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

# ----------------------------------------------------------------------------- hooks


def test_forward_hooks_see_inputs_and_outputs_in_order_and_can_be_removed():
    lin = nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: seen.append(("pre", m, args[0].shape)))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append(("post", m, out.shape)))
    x = mg.randn(4, 3)
    lin(x)
    assert seen == [("pre", lin, (4, 3)), ("post", lin, (4, 2))]
    h1.remove()
    h1.remove()  # a second remove does nothing
    lin(x)
    assert seen[2:] == [("post", lin, (4, 2))]
    with h2:
        pass  # leaving the with block removes the hook
    lin(x)
    assert len(seen) == 3


def test_hooks_replace_inputs_and_outputs():
    lin = nn.Linear(2, 2, bias=False).double()
    x = mg.tensor(np.array([[1.0, 2.0]]))
    plain = lin(x).numpy()
    lin.register_forward_pre_hook(lambda m, args: args[0] * 2)  # a bare value: one argument
    lin.register_forward_hook(lambda m, args, out: out + 1)
    lin.register_forward_hook(lambda m, args, out: None)  # None keeps the output
    np.testing.assert_allclose(lin(x).numpy(), 2 * plain + 1)


def test_hooks_with_kwargs_prepend_and_always_call():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            if factor < 0:
                raise ValueError("negative")
            return x * factor

    m = Scale()
    order = []
    m.register_forward_pre_hook(lambda mod, a: order.append("second"))
    m.register_forward_pre_hook(lambda mod, a: order.append("first"), prepend=True)

    def kw_hook(mod, args, kwargs):
        order.append(dict(kwargs))
        return args, {"factor": kwargs.get("factor", 1.0) * 10}

    m.register_forward_pre_hook(kw_hook, with_kwargs=True)
    out = m(mg.tensor([1.0]), factor=2.0)
    assert out.item() == 20.0 and order == ["first", "second", {"factor": 2.0}]
    calls = []
    m.register_forward_hook(lambda mod, a, k, o: calls.append((k, o)), with_kwargs=True)
    m.register_forward_hook(lambda mod, a, o: calls.append(o), always_call=True)
    with pytest.raises(ValueError, match="negative"):
        m(mg.tensor([1.0]), factor=-1.0)
    assert calls == [None]  # only the always_call hook ran, with no output
    m.register_forward_pre_hook(lambda mod, a, k: "bad", with_kwargs=True)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        m(mg.tensor([1.0]))
    with pytest.raises(TypeError, match="hook must be callable"):
        m.register_forward_hook(3)


def test_hook_on_a_submodule_captures_activations():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    acts = {}
    model[1].register_forward_hook(lambda m, a, o: acts.__setitem__("relu", o.numpy().copy()))
    x = mg.randn(5, 4)
    model(x)
    np.testing.assert_array_equal(acts["relu"], np.maximum(model[0](x).numpy(), 0))


# ----------------------------------------------------------------------------- buffers, lookup


def test_buffers_are_tensors_kept_by_identity():
    m = nn.Module()
    t = mg.zeros(3)
    m.register_buffer("stat", t)
    assert m.stat is t and isinstance(m.stat, mg.Tensor)
    m.register_buffer("arr", np.ones(2))
    assert isinstance(m.arr, mg.Tensor)
    m.arr = np.full(2, 3.0)  # assigning to a buffer name keeps it a buffer
    assert isinstance(m.arr, mg.Tensor) and list(m.state_dict()) == ["stat", "arr"]
    with pytest.raises(TypeError, match="buffer 'stat' must be a Tensor"):
        m.stat = [1, 2, 3]
    m.double()
    assert m.stat.dtype == np.float64


def test_get_submodule_and_parameter():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert model.get_submodule("1.1") is model[1][1]
    assert model.get_submodule("") is model
    assert model.get_parameter("1.1.weight") is model[1][1].weight
    with pytest.raises(AttributeError, match="no submodule '7'"):
        model.get_submodule("1.7")
    with pytest.raises(AttributeError, match="no parameter 'scale'"):
        model.get_parameter("0.scale")
    with pytest.raises(KeyError, match="without '.'"):
        model.add_module("a.b", nn.ReLU())
