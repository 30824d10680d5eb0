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


# ----------------------------------------------------------------------------- containers


def test_module_list_edits_renumber_like_pytorch():
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2)
    ml = nn.ModuleList([a])
    ml += [b]
    ml.insert(0, c)
    assert list(ml) == [c, a, b] and ml[-1] is b
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    del ml[0]
    assert list(ml) == [a, b] and list(ml._modules) == ["0", "1"]
    ml[1] = c
    assert ml[1] is c and isinstance(ml[:1], nn.ModuleList) and list(ml[:1]) == [a]
    with pytest.raises(IndexError, match="out of range for 2 modules"):
        ml[2]  # noqa: B018
    seq = nn.Sequential(a).extend([b])
    assert len(seq) == 2


def test_module_dict():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "reg": nn.Linear(4, 1)})
    heads["aux"] = nn.Linear(4, 2)
    assert list(heads) == ["cls", "reg", "aux"] and "reg" in heads and len(heads) == 3
    assert [k for k, _ in heads.items()] == list(heads.keys())
    assert list(heads.state_dict())[:2] == ["cls.weight", "cls.bias"]
    popped = heads.pop("reg")
    assert isinstance(popped, nn.Linear) and "reg" not in heads
    heads.update([("reg", popped)])
    assert list(heads) == ["cls", "aux", "reg"]
    with pytest.raises(TypeError, match="must be a Module"):
        heads["x"] = 3
    with pytest.raises(TypeError, match=r"entry 0 should be a \(key, value\) pair"):
        heads.update([nn.ReLU()])
    assert repr(nn.ModuleDict({"act": nn.ReLU()})) == "ModuleDict(\n  (act): ReLU()\n)"


def test_parameter_list_and_dict():
    pl = nn.ParameterList([nn.Parameter(np.zeros(2)), mg.ones(3)])  # a Tensor is wrapped
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    pl.append(mg.zeros(2, 2))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"] and len(pl) == 3
    assert "(2): Parameter containing: [float32 of size 2x2]" in repr(pl)
    pd = nn.ParameterDict({"scale": mg.ones(1)})
    pd["shift"] = nn.Parameter(np.zeros(1))
    assert list(pd) == ["scale", "shift"] and isinstance(pd["scale"], nn.Parameter)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([mg.ones(2)])
            self.pd = pd

    assert list(M().state_dict()) == ["ps.0", "pd.scale", "pd.shift"]
    with pytest.raises(TypeError, match="expected a Parameter or a Tensor"):
        pl.append([1.0])


# ----------------------------------------------------------------------------- nn.utils


def _with_grads(*grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(g))
        p.grad = mg.tensor(g)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, "inf", float("inf")])
def test_clip_grad_norm_against_definition(norm_type):
    r = np.random.default_rng(0)
    grads = [r.standard_normal((3, 4)), r.standard_normal(5)]
    ps = _with_grads(*grads)
    kept = ps[0].grad  # the same grad Tensor is rescaled, as PyTorch's mul_
    flat = np.concatenate([g.ravel() for g in grads])
    order = float(norm_type)
    norm = np.abs(flat).max() if order == np.inf else (np.abs(flat) ** order).sum() ** (1 / order)
    total = nn.utils.clip_grad_norm_(ps, max_norm=0.5, norm_type=norm_type)
    assert total.item() == pytest.approx(norm, rel=1e-12)
    coef = 0.5 / (norm + 1e-6)
    assert ps[0].grad is kept
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    # a norm under max_norm leaves the gradients alone
    nn.utils.clip_grad_norm_(ps, max_norm=1e6, norm_type=norm_type)
    np.testing.assert_allclose(ps[1].grad.numpy(), grads[1] * coef, rtol=1e-12)


def test_clip_grad_norm_does_not_write_into_a_shared_gradient_and_edge_cases():
    shared = np.array([3.0, 4.0])
    (p,) = _with_grads(shared)
    arr = p.grad.numpy()
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)  # a single Tensor
    np.testing.assert_array_equal(arr, [3.0, 4.0])  # the old array is untouched
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.ones(2))], 1.0).item() == 0.0  # no grads
    (q,) = _with_grads(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([q], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type must be a number or 'inf'"):
        nn.utils.clip_grad_norm_([q], 1.0, norm_type="fro")


def test_clip_grad_norm_against_torch():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(1)
    grads = [r.standard_normal((2, 3)) * 4, r.standard_normal(4)]
    for norm_type in (2.0, 1.0, 0.5, float("inf")):
        ps = _with_grads(*grads)
        tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for tp, g in zip(tps, grads):
            tp.grad = torch.tensor(g)
        total = nn.utils.clip_grad_norm_(ps, 1.5, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.5, norm_type)
        assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_vector_round_trip():
    (p, q) = _with_grads(np.array([-3.0, 0.5, 2.0]), np.array([[0.1, -0.2]]))
    nn.utils.clip_grad_value_([p, q], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(q.grad.numpy(), [[0.1, -0.2]])
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (6 + 2 + 2 + 1,)
    np.testing.assert_array_equal(v.numpy()[:6], m[0].weight.numpy().ravel())
    w = m[0].weight
    nn.utils.vector_to_parameters(mg.arange(11, dtype=np.float32), m.parameters())
    assert m[0].weight is w
    np.testing.assert_array_equal(w.numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(m[1].bias.numpy(), [10])
    with pytest.raises(ValueError, match="has 3 entries, the parameters hold 11"):
        nn.utils.vector_to_parameters(mg.zeros(3), m.parameters())
