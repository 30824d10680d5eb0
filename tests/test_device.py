"""Devices: 'cpu' accepted everywhere PyTorch code names it; a GPU refused clearly."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

GPU_ERROR = "no GPU backend"


def test_device_objects():
    d = mg.device("cpu")
    assert d.type == "cpu" and d.index is None and str(d) == "cpu"
    assert mg.device("cpu:0") == d == "cpu" and mg.device("cpu", 0).index == 0
    assert mg.device(d) == d and hash(mg.device("cpu:0")) == hash(d)
    assert repr(mg.device("cpu", 0)) == "device(type='cpu', index=0)"
    assert d != "cuda" and d != 3
    for name in ("cuda", "cuda:1", "mps", "xpu"):
        with pytest.raises(RuntimeError, match=GPU_ERROR):
            mg.device(name)
    with pytest.raises(ValueError, match="unknown device type"):
        mg.device("tpu0")
    with pytest.raises(ValueError, match="one cpu device"):
        mg.device("cpu:1")
    with pytest.raises(TypeError):
        mg.device(3.0)


def test_availability_questions_answer_no():
    assert mg.cuda.is_available() is False and mg.cuda.device_count() == 0
    assert mg.accelerator.is_available() is False
    assert mg.accelerator.current_accelerator() is None
    assert mg.backends.mps.is_available() is False
    with pytest.raises(RuntimeError, match=GPU_ERROR):
        mg.cuda.current_device()
    mg.cuda.manual_seed(1)  # nothing to seed: accepted, as scripts call it unconditionally


def test_pytorch_device_idiom_runs():
    """The lines of pytorch/examples' mnist and vae scripts that choose a device."""
    use_accel = mg.accelerator.is_available()
    device = mg.accelerator.current_accelerator() if use_accel else mg.device("cpu")
    model = nn.Linear(4, 2).to(device)
    x = mg.randn(3, 4).to(device)
    assert model(x).device == device and x.cpu() is x
    sample = mg.randn(2, 4).to(device)
    assert model(sample).cpu().shape == (2, 2)


def test_tensor_to_forms():
    t = mg.zeros(2, 3)
    assert t.to("cpu") is t and t.to(mg.device("cpu")) is t and t.to(device="cpu") is t
    assert t.to(mg.float32) is t  # nothing changes: self, as in PyTorch
    assert t.to("cpu", copy=True) is not t
    d = t.to("cpu", mg.float64)
    assert d.dtype == np.float64 and d.shape == (2, 3)
    assert t.to(mg.device("cpu"), dtype=mg.int64).dtype == np.int64
    assert t.to(mg.zeros(1, dtype=mg.float64)).dtype == np.float64  # to(other)
    assert t.to("float64").dtype == np.float64
    assert t.to("cpu", non_blocking=True) is t
    for bad in ("cuda", "cuda:0", "mps", 0):
        with pytest.raises(RuntimeError, match=GPU_ERROR):
            t.to(bad)
    with pytest.raises(RuntimeError, match=GPU_ERROR):
        t.cuda()
    with pytest.raises(TypeError, match="float16"):
        t.half()
    with pytest.raises(TypeError, match="unexpected keyword"):
        t.to("cpu", colour="red")


def test_to_is_differentiable():
    x = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.to("cpu", mg.float64)
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


@pytest.mark.parametrize(
    "factory",
    [
        lambda **k: mg.zeros(2, **k),
        lambda **k: mg.ones(2, **k),
        lambda **k: mg.empty(2, **k),
        lambda **k: mg.full((2,), 1.0, **k),
        lambda **k: mg.randn(2, **k),
        lambda **k: mg.rand(2, **k),
        lambda **k: mg.randint(0, 3, (2,), **k),
        lambda **k: mg.randperm(3, **k),
        lambda **k: mg.arange(3, **k),
        lambda **k: mg.eye(2, **k),
        lambda **k: mg.linspace(0, 1, 3, **k),
        lambda **k: mg.tensor([1.0], **k),
        lambda **k: mg.as_tensor([1.0], **k),
        lambda **k: mg.zeros_like(mg.zeros(2), **k),
        lambda **k: mg.ones_like(mg.zeros(2), **k),
        lambda **k: mg.empty_like(mg.zeros(2), **k),
        lambda **k: mg.full_like(mg.zeros(2), 3.0, **k),
        lambda **k: mg.randn_like(mg.zeros(2), **k),
        lambda **k: mg.rand_like(mg.zeros(2), **k),
        lambda **k: mg.zeros(2).new_zeros(3, **k),
        lambda **k: mg.zeros(2).new_ones(3, **k),
        lambda **k: mg.zeros(2).new_full((3,), 1.0, **k),
        lambda **k: mg.zeros(2).new_empty(3, **k),
        lambda **k: mg.zeros(2).new_tensor([1.0], **k),
        lambda **k: mg.Tensor(2, 3, **k),
    ],
)
def test_every_factory_takes_device(factory):
    assert factory(device="cpu").device == mg.device("cpu")
    assert factory(device=mg.device("cpu")).device == "cpu"
    with pytest.raises(RuntimeError, match=GPU_ERROR):
        factory(device="cuda")


def test_module_to_cpu_cuda():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    w = m[0].weight
    assert m.to("cpu") is m and m.to(mg.device("cpu")) is m and m.cpu() is m
    assert m.to("cpu", mg.float64) is m and m[0].weight is w and w.dtype == np.float64
    m.to(dtype=mg.float32)
    assert w.dtype == np.float32
    m.to(mg.zeros(1, dtype=mg.float64))
    assert w.dtype == np.float64
    with pytest.raises(RuntimeError, match=GPU_ERROR):
        m.cuda()
    with pytest.raises(RuntimeError, match=GPU_ERROR):
        m.to("cuda")
    assert w.dtype == np.float64  # nothing changed by the refused call
