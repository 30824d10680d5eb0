"""nn: Module mechanics, state dicts, init, every layer against a naive NumPy
reference written from the book's equations (ch. 9), gradchecks, tied weights."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.nn import init

RNG = np.random.default_rng(7)


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def needs(*names):
    missing = [n for n in names if not hasattr(F, n)]
    return pytest.mark.skipif(bool(missing), reason=f"functional ops missing: {missing}")


# ----------------------------------------------------------------------------- references
# Plain loops over small shapes, from the definitions (cross-correlation, eq. 9.7/9.8).


def conv2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1):
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.zeros((N, C, H + 2 * pad[0], W + 2 * pad[1]))
    xp[:, :, pad[0] : pad[0] + H, pad[1] : pad[1] + W] = x
    Ho = (H + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((N, O, Ho, Wo))
    per_group = O // groups
    for n, i, j, k in np.ndindex(N, O, Ho, Wo):
        c0 = (i // per_group) * Cg
        acc = 0.0
        for l, m, q in np.ndindex(Cg, kh, kw):
            acc += (
                xp[n, c0 + l, j * stride[0] + m * dil[0], k * stride[1] + q * dil[1]]
                * w[i, l, m, q]
            )
        out[n, i, j, k] = acc
    if b is not None:
        out += b.reshape(1, O, 1, 1) if b.ndim == 1 else b[None]
    return out


def conv_transpose2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0), out_pad=(0, 0)):
    """Scatter form: every input unit adds its kernel, scaled, into the output."""
    N, C, H, W = x.shape
    _, O, kh, kw = w.shape
    Hf = (H - 1) * stride[0] + kh + out_pad[0]
    Wf = (W - 1) * stride[1] + kw + out_pad[1]
    full = np.zeros((N, O, Hf, Wf))
    for n, c, i, j in np.ndindex(N, C, H, W):
        full[n, :, i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw] += (
            x[n, c, i, j] * w[c]
        )
    out = full[:, :, pad[0] : Hf - pad[0], pad[1] : Wf - pad[1]]
    return out + (0 if b is None else b.reshape(1, O, 1, 1))


def local_ref(x, w, b, stride, tile=None):
    """Eq. 9.9 (unshared) and 9.10 (tiled, kernel index (j mod t, k mod t))."""
    N, C, H, W = x.shape
    O = w.shape[0]
    kh, kw = w.shape[-2:]
    Ho, Wo = (H - kh) // stride + 1, (W - kw) // stride + 1
    out = np.zeros((N, O, Ho, Wo))
    for n, i, j, k in np.ndindex(N, O, Ho, Wo):
        a, c = (j % tile[0], k % tile[1]) if tile else (j, k)
        patch = x[n, :, j * stride : j * stride + kh, k * stride : k * stride + kw]
        out[n, i, j, k] = np.sum(patch * w[i, a, c]) + (b[i, a, c] if b is not None else 0)
    return out


def pool_ref(x, k, s, fn):
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for n, c, i, j in np.ndindex(N, C, Ho, Wo):
        out[n, c, i, j] = fn(x[n, c, i * s : i * s + k, j * s : j * s + k])
    return out


# ----------------------------------------------------------------------------- Module


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(5, 3, bias=False)
        self.scale = 2.0  # plain attribute, not state

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


def test_registration_and_traversal():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert [type(c).__name__ for c in m.children()] == ["Linear", "Tanh", "Linear"]
    assert len(list(m.modules())) == 4
    assert m.num_parameters() == 4 * 5 + 5 + 5 * 3
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert m.fc2.bias is None and "bias" in m.fc2._parameters
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.fc1.weight = mg.zeros(5, 4)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope  # noqa: B018


def test_repr_tree():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.1)))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        ")"
    )


def test_train_eval_and_dropout():
    m = nn.Sequential(nn.Dropout(0.5), nn.Identity())
    x = mg.ones(200, 10)
    out = m(x).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.3 < (out == 0).mean() < 0.7
    m.eval()
    assert not m[0].training and not m.training
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    m.train()
    assert m[0].training


def test_zero_grad_and_call():
    m = TwoLayer()
    m(mg.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sub = s[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    named = nn.Sequential(OrderedDict([("enc", a), ("act", b)]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]
    x = mg.randn(4, 2)
    np.testing.assert_allclose(s(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError):
        s[3]  # noqa: B018
    with pytest.raises(TypeError, match="must be a Module"):
        nn.Sequential(a, "relu")
    assert len(s.append(nn.Tanh())) == 4
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    assert len(list(ml.parameters())) == 4 and len(ml) == 2


def test_flatten_unflatten():
    x = mg.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    with pytest.raises(ValueError, match="cannot be viewed"):
        nn.Unflatten(1, (7, 9))(nn.Flatten()(x))
    # an out-of-range dim used to wrap around (5 % 2 = 1), and a 0-d input divided by zero
    with pytest.raises(ValueError, match="Unflatten: dim 5 is out of range"):
        nn.Unflatten(5, (3, 20))(nn.Flatten()(x))
    with pytest.raises(ValueError, match="Unflatten: dim 0 is out of range"):
        nn.Unflatten(0, (1,))(mg.tensor(1.0))


# ----------------------------------------------------------------------------- state dict


def test_state_dict_round_trip_bit_exact_and_keeps_identity():
    mg.manual_seed(0)
    m1 = TwoLayer()
    mg.manual_seed(1)
    m2 = TwoLayer()
    w_obj = m2.fc1.weight
    sd = m1.state_dict()
    assert list(sd) == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    res = m2.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert m2.fc1.weight is w_obj  # copied into the existing Parameter
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    x = mg.randn(3, 4)
    np.testing.assert_array_equal(m1(x).numpy(), m2(x).numpy())
    sd["fc1.bias"][:] = 99  # a copy: editing it does not touch the model
    assert not np.any(m1.fc1.bias.numpy() == 99)


def test_load_state_dict_errors():
    m = TwoLayer()
    sd = m.state_dict()
    del sd["fc1.bias"]
    sd["extra.weight"] = np.zeros(2)
    with pytest.raises(KeyError, match="missing key.*'fc1.bias'.*unexpected key.*'extra.weight'"):
        m.load_state_dict(sd)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["extra.weight"]
    bad = m.state_dict()
    bad["fc2.weight"] = np.zeros((5, 3), dtype=np.float32)
    before = m.fc1.weight.numpy().copy()
    bad["fc1.weight"] = np.zeros((5, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="'fc2.weight' has shape \\(5, 3\\).*\\(3, 5\\)"):
        m.load_state_dict(bad)
    np.testing.assert_array_equal(m.fc1.weight.numpy(), before)  # nothing half-loaded


def test_to_double_keeps_parameters():
    m = TwoLayer()
    p = m.fc1.weight
    m.double()
    assert m.fc1.weight is p and p.dtype == np.float64
    assert mg.gradcheck(lambda x: m(x), [t64(RNG.standard_normal((2, 4)), True)])


# ----------------------------------------------------------------------------- init


def test_default_init_is_pytorch_and_seeded():
    mg.manual_seed(5)
    a = nn.Linear(50, 40)
    mg.manual_seed(5)
    b = nn.Linear(50, 40)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    bound = 1 / math.sqrt(50)
    w = a.weight.numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(a.bias.numpy()).max() <= bound


def test_init_schemes_statistics():
    w = nn.Parameter(np.zeros((400, 300)))
    init.xavier_uniform_(w, gain=init.calculate_gain("tanh"))
    a = 5 / 3 * math.sqrt(6 / 700)
    assert np.abs(w.numpy()).max() <= a and np.std(w.numpy()) == pytest.approx(
        a / math.sqrt(3), rel=0.02
    )
    init.xavier_normal_(w)
    assert np.std(w.numpy()) == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert np.std(w.numpy()) == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(6 / 300)
    assert np.std(w.numpy()) == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    c = nn.Parameter(np.zeros((8, 4, 3, 3)))  # conv: fans include the receptive field
    init.he_normal_(c, mode="fan_in")
    assert init._fans(c) == (36, 72)
    init.constant_(c, 0.25)
    assert np.all(c.numpy() == 0.25)
    init.zeros_(c)
    assert not c.numpy().any()
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("sigmoid") == 1.0
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(nn.Parameter(np.zeros(3)))


# ----------------------------------------------------------------------------- layers


def test_linear_matches_definition_and_gradchecks():
    lin = nn.Linear(3, 2).double()
    x = RNG.standard_normal((4, 3))
    W, b = lin.weight.numpy(), lin.bias.numpy()
    ref = np.array(
        [[sum(x[n, j] * W[i, j] for j in range(3)) + b[i] for i in range(2)] for n in range(4)]
    )
    np.testing.assert_allclose(lin(t64(x)).numpy(), ref, rtol=1e-12)
    assert mg.gradcheck(nn.functional.linear, [t64(x, True), t64(W, True), t64(b, True)])
    # leading batch dims
    x3 = RNG.standard_normal((2, 5, 3))
    assert lin(t64(x3)).shape == (2, 5, 2)
    assert mg.gradcheck(lambda a: lin(a), [t64(x3, True)])


def test_linear_float32_against_float64_reference():
    lin = nn.Linear(20, 7)
    x = RNG.standard_normal((6, 20)).astype(np.float32)
    out = lin(mg.tensor(x))
    assert out.dtype == np.float32
    ref = x.astype(np.float64) @ lin.weight.numpy().astype(np.float64).T + lin.bias.numpy()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_linear_errors():
    with pytest.raises(ValueError, match="in_features=3"):
        nn.Linear(3, 2)(mg.zeros(2, 4))
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 2)
    with pytest.raises(TypeError, match="Linear: in_features and out_features must be ints"):
        nn.Linear(2.5, 2)  # was NumPy's "'float' object cannot be interpreted as an integer"


def test_activation_layers():
    x = RNG.standard_normal((3, 4)) * 3
    cases = [
        (nn.ReLU(), np.maximum(x, 0)),
        (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        (nn.Sigmoid(), 1 / (1 + np.exp(-x))),
        (nn.Tanh(), np.tanh(x)),
        (nn.Softplus(beta=2.0), np.log1p(np.exp(2 * x)) / 2),
        (nn.Softmax(dim=1), np.exp(x) / np.exp(x).sum(1, keepdims=True)),
        (nn.LogSoftmax(dim=1), x - np.log(np.exp(x).sum(1, keepdims=True))),
    ]
    for layer, ref in cases:
        np.testing.assert_allclose(layer(t64(x)).numpy(), ref, rtol=1e-10, atol=1e-12)


@needs("conv1d", "conv2d")
@pytest.mark.parametrize(
    "groups,stride,padding,dilation",
    [
        (1, 1, 0, 1),
        (1, 2, 1, 1),
        (2, 1, 1, 2),
        (1, 1, "same", 1),
    ],
)
def test_conv2d_layer_matches_reference(groups, stride, padding, dilation):
    layer = nn.Conv2d(
        4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups
    ).double()
    x = RNG.standard_normal((2, 4, 7, 6))
    p = (dilation, dilation) if padding == "same" else (padding, padding)
    ref = conv2d_ref(
        x, layer.weight.numpy(), layer.bias.numpy(), (stride,) * 2, p, (dilation,) * 2, groups
    )
    np.testing.assert_allclose(layer(t64(x)).numpy(), ref, rtol=1e-10, atol=1e-12)
    assert layer.weight.shape == (6, 4 // groups, 3, 3)
    # PyTorch's default bound 1/sqrt(fan_in), fan_in = C_in/groups * k * k
    assert np.abs(layer.weight.numpy()).max() <= 1 / math.sqrt(4 // groups * 9)


@needs("conv2d")
def test_conv2d_location_bias_and_gradcheck():
    layer = nn.Conv2d(
        2, 3, (2, 3), stride=(1, 2), padding=1, bias="location", input_size=(5, 6)
    ).double()
    assert layer.bias.shape == (3, 6, 3)
    x = RNG.standard_normal((2, 2, 5, 6))
    ref = conv2d_ref(x, layer.weight.numpy(), layer.bias.numpy(), (1, 2), (1, 1))
    np.testing.assert_allclose(layer(t64(x)).numpy(), ref, rtol=1e-10, atol=1e-12)
    xs = t64(RNG.standard_normal((1, 2, 5, 6)), True)
    assert mg.gradcheck(
        lambda a, w, b: F.conv2d(a, w, b, stride=(1, 2), padding=1),
        [xs, t64(layer.weight.numpy(), True), t64(layer.bias.numpy(), True)],
    )
    with pytest.raises(ValueError, match="built for inputs of size"):
        layer(t64(np.zeros((1, 2, 6, 6))))
    with pytest.raises(ValueError, match="needs input_size"):
        nn.Conv2d(2, 3, 3, bias="location")
    assert nn.Conv2d(2, 3, 3, bias=None).bias is None
    with pytest.raises(ValueError, match="bias must be"):
        nn.Conv2d(2, 3, 3, bias="pixel")


@needs("conv1d")
def test_conv1d_layer():
    layer = nn.Conv1d(3, 2, 3, stride=2, padding=1).double()
    x = RNG.standard_normal((2, 3, 9))
    ref = conv2d_ref(
        x[:, :, None, :], layer.weight.numpy()[:, :, None, :], layer.bias.numpy(), (1, 2), (0, 1)
    )[:, :, 0]
    np.testing.assert_allclose(layer(t64(x)).numpy(), ref, rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(lambda a: layer(a), [t64(RNG.standard_normal((1, 3, 6)), True)])


@needs("conv_transpose2d", "conv_transpose1d")
def test_conv_transpose_layers():
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1).double()
    assert layer.weight.shape == (3, 2, 3, 3)
    x = RNG.standard_normal((2, 3, 4, 3))
    ref = conv_transpose2d_ref(x, layer.weight.numpy(), layer.bias.numpy(), (2, 2), (1, 1), (1, 1))
    out = layer(t64(x))
    assert out.shape == (2, 2, 8, 6)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert layer(t64(x), output_size=(7, 5)).shape == (2, 2, 7, 5)
    l1 = nn.ConvTranspose1d(2, 4, 3, stride=2).double()
    x1 = RNG.standard_normal((1, 2, 5))
    ref1 = conv_transpose2d_ref(
        x1[:, :, None], l1.weight.numpy()[:, :, None], l1.bias.numpy(), (1, 2)
    )[:, :, 0]
    np.testing.assert_allclose(l1(t64(x1)).numpy(), ref1, rtol=1e-10, atol=1e-12)
    assert mg.gradcheck(lambda a: layer(a), [t64(RNG.standard_normal((1, 3, 2, 2)), True)])


@needs("max_pool2d", "max_unpool2d", "avg_pool2d", "lp_pool2d")
def test_pool_layers():
    x = RNG.standard_normal((2, 3, 6, 6))
    np.testing.assert_allclose(nn.MaxPool2d(2)(t64(x)).numpy(), pool_ref(x, 2, 2, np.max))
    np.testing.assert_allclose(
        nn.AvgPool2d(3, stride=1)(t64(x)).numpy(), pool_ref(x, 3, 1, np.mean), rtol=1e-12
    )
    np.testing.assert_allclose(
        nn.LPPool2d(2, 2)(t64(x)).numpy(),
        pool_ref(x, 2, 2, lambda a: np.sqrt(np.sum(a * a))),
        rtol=1e-12,
    )
    y, idx = nn.MaxPool2d(2, return_indices=True)(t64(x))
    up = nn.MaxUnpool2d(2)(y, idx).numpy()
    # the unpooled map holds each window's max at its position, zeros elsewhere
    for n, c, i, j in np.ndindex(2, 3, 3, 3):
        win = x[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        uwin = up[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        at = np.unravel_index(np.argmax(win), win.shape)
        assert np.count_nonzero(uwin) == 1 and uwin[at] == win.max()
    assert mg.gradcheck(
        lambda a: nn.AvgPool2d(2)(a), [t64(RNG.standard_normal((1, 1, 4, 4)), True)]
    )


@needs("max_pool1d", "avg_pool1d", "lp_pool1d", "max_unpool1d")
def test_pool1d_layers():
    x = RNG.standard_normal((2, 3, 8))
    x4 = x[:, :, None, :]
    np.testing.assert_allclose(
        nn.MaxPool1d(2)(t64(x)).numpy(), pool_ref(np.repeat(x4, 2, 2), 2, 2, np.max)[:, :, 0]
    )
    np.testing.assert_allclose(
        nn.AvgPool1d(4)(t64(x)).numpy(), x.reshape(2, 3, 2, 4).mean(-1), rtol=1e-12
    )
    np.testing.assert_allclose(
        nn.LPPool1d(2, 4)(t64(x)).numpy(), np.sqrt((x.reshape(2, 3, 2, 4) ** 2).sum(-1)), rtol=1e-12
    )
    y, idx = nn.MaxPool1d(2, return_indices=True)(t64(x))
    assert nn.MaxUnpool1d(2)(y, idx).shape == x.shape


@needs("adaptive_avg_pool2d", "adaptive_max_pool2d")
def test_adaptive_pool_layers():
    x = RNG.standard_normal((1, 2, 6, 4))
    np.testing.assert_allclose(
        nn.AdaptiveAvgPool2d((3, 2))(t64(x)).numpy(),
        pool_ref(x[:, :, :, :], 2, 2, np.mean),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        nn.AdaptiveMaxPool2d(1)(t64(x)).numpy(), x.max(axis=(2, 3), keepdims=True)
    )


@needs("locally_connected2d", "tiled_conv2d")
def test_local_and_tiled_layers():
    lc = nn.LocallyConnected2d(2, 3, input_size=(5, 5), kernel_size=2, stride=1).double()
    assert lc.weight.shape == (3, 4, 4, 2, 2, 2) and lc.bias.shape == (3, 4, 4)
    x = RNG.standard_normal((2, 2, 5, 5))
    np.testing.assert_allclose(
        lc(t64(x)).numpy(),
        local_ref(x, lc.weight.numpy(), lc.bias.numpy(), 1),
        rtol=1e-10,
        atol=1e-12,
    )
    tc = nn.TiledConv2d(2, 3, kernel_size=2, tiles=(2, 3)).double()
    assert tc.weight.shape == (3, 2, 3, 2, 2, 2) and tc.bias.shape == (3, 2, 3)
    np.testing.assert_allclose(
        tc(t64(x)).numpy(),
        local_ref(x, tc.weight.numpy(), tc.bias.numpy(), 1, (2, 3)),
        rtol=1e-10,
        atol=1e-12,
    )
    assert mg.gradcheck(lambda a: tc(a), [t64(RNG.standard_normal((1, 2, 4, 4)), True)])
    with pytest.raises(ValueError, match="empty output"):
        nn.LocallyConnected2d(1, 1, input_size=(2, 2), kernel_size=3)
    with pytest.raises(ValueError, match=r"built for inputs of size \(5, 5\).*\(2, 2, 6, 5\)"):
        lc(t64(RNG.standard_normal((2, 2, 6, 5))))
    # one unbatched example, as the conv layers take it
    np.testing.assert_allclose(lc(t64(x[0])).numpy(), lc(t64(x)).numpy()[0], rtol=1e-12)


# ----------------------------------------------------------------------------- tied weights


def test_tied_linear_gradient_is_sum_of_both_uses():
    enc = nn.Linear(5, 3).double()
    dec = nn.TiedLinear(enc).double()
    model = nn.Sequential(enc, nn.Sigmoid(), dec)
    assert dec.weight is enc.weight
    params = list(model.parameters())
    assert len(params) == 3  # W once, two biases
    assert model.num_parameters() == 15 + 3 + 5
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]

    x = RNG.standard_normal((4, 5))
    loss = F.mse_loss(model(t64(x)), t64(x), reduction="sum")
    loss.backward()

    # by hand: h = s(x W^T + b), r = h W + c, L = sum (r - x)^2
    W, b, c = enc.weight.numpy(), enc.bias.numpy(), dec.bias.numpy()
    h = 1 / (1 + np.exp(-(x @ W.T + b)))
    gr = 2 * (h @ W + c - x)
    gz = (gr @ W.T) * h * (1 - h)
    grad_decoder_use = h.T @ gr  # dL/dW through r = h W
    grad_encoder_use = gz.T @ x  # dL/dW through z = x W^T
    np.testing.assert_allclose(
        enc.weight.grad.numpy(), grad_encoder_use + grad_decoder_use, rtol=1e-10
    )
    np.testing.assert_allclose(dec.bias.grad.numpy(), gr.sum(0), rtol=1e-10)

    # the same as two untied copies whose gradients are added
    e2, d2 = nn.Linear(5, 3).double(), nn.Linear(3, 5).double()
    e2.load_state_dict(enc.state_dict())
    d2.weight.data[...] = W.T
    d2.bias.data[...] = c
    F.mse_loss(d2(F.sigmoid(e2(t64(x)))), t64(x), reduction="sum").backward()
    np.testing.assert_allclose(
        enc.weight.grad.numpy(), e2.weight.grad.numpy() + d2.weight.grad.numpy().T, rtol=1e-10
    )


def test_tied_linear_optimizer_updates_once_and_state_round_trip():
    enc = nn.Linear(4, 2)
    model = nn.Sequential(enc, nn.TiedLinear(enc))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = mg.randn(3, 4)
    F.mse_loss(model(x), x).backward()
    before, g = enc.weight.numpy().copy(), enc.weight.grad.numpy()
    opt.step()
    np.testing.assert_allclose(enc.weight.numpy(), before - 0.1 * g, rtol=1e-6)
    enc2 = nn.Linear(4, 2)
    m2 = nn.Sequential(enc2, nn.TiedLinear(enc2))
    m2.load_state_dict(model.state_dict())
    assert m2[1].weight is enc2.weight  # still tied after loading
    np.testing.assert_array_equal(m2(x).numpy(), model(x).numpy())


@needs("conv2d", "conv_transpose2d")
def test_tied_conv_transpose_gradient_is_sum_of_both_uses():
    enc = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    dec = nn.TiedConvTranspose2d(enc).double()
    assert dec.weight is enc.weight and dec.bias.shape == (2,)
    x = RNG.standard_normal((2, 2, 6, 6))

    def run(e, d):
        h = F.sigmoid(e(t64(x)))
        r = d(h, output_size=(6, 6))
        return F.mse_loss(r, t64(x), reduction="sum"), h

    loss, h = run(enc, dec)
    assert loss.shape == ()
    loss.backward()
    # untied twin: a ConvTranspose2d holding a copy of the same kernel
    e2 = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    e2.load_state_dict(enc.state_dict())
    d2 = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1).double()
    d2.weight.data[...] = enc.weight.numpy()
    d2.bias.data[...] = dec.bias.numpy()
    run(e2, d2)[0].backward()
    np.testing.assert_allclose(
        enc.weight.grad.numpy(), e2.weight.grad.numpy() + d2.weight.grad.numpy(), rtol=1e-10
    )
    # and the decoder really is R = h(K, H, s): the reference transpose convolution
    hn = h.numpy()
    ref = conv_transpose2d_ref(hn, enc.weight.numpy(), dec.bias.numpy(), (2, 2), (1, 1), (1, 1))
    np.testing.assert_allclose(dec(h, output_size=(6, 6)).numpy(), ref, rtol=1e-10, atol=1e-12)
    model = nn.Sequential(enc, nn.Sigmoid(), dec)
    assert len(list(model.parameters())) == 3


def test_tied_errors():
    with pytest.raises(TypeError, match="nn.Linear"):
        nn.TiedLinear(nn.ReLU())
    with pytest.raises(TypeError, match="nn.Conv2d"):
        nn.TiedConvTranspose2d(nn.Linear(2, 2))


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(1, 4), din=st.integers(1, 6), dout=st.integers(1, 6), seed=st.integers(0, 1000)
)
def test_linear_fuzz(n, din, dout, seed):
    r = np.random.default_rng(seed)
    lin = nn.Linear(din, dout).double()
    x = r.standard_normal((n, din))
    np.testing.assert_allclose(
        lin(t64(x)).numpy(), x @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-12
    )


def test_buffers_in_state_dict_and_functional_alias():
    class WithStats(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("running_mean", np.zeros(2))
            self.register_buffer("scratch", np.ones(3), persistent=False)

    m = WithStats()
    # PyTorch's order: a module's own entries, then its children's
    assert list(m.state_dict()) == ["running_mean", "lin.weight", "lin.bias"]
    sd = m.state_dict()
    sd["running_mean"] = np.array([1.5, -2.0])
    m.load_state_dict(sd)
    np.testing.assert_array_equal(m.running_mean, [1.5, -2.0])
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "scratch"]
    # registered again as persistent, it joins the state dict (it stayed out before)
    m.register_buffer("scratch", np.zeros(3))
    assert list(m.state_dict()) == ["running_mean", "scratch", "lin.weight", "lin.bias"]
    assert nn.functional.cross_entropy is F.cross_entropy
    assert nn.functional.linear(mg.ones(1, 2), mg.ones(3, 2)).shape == (1, 3)
    # the design's F (minigrad.functional) has PyTorch's F.linear too, the same function
    assert F.linear is nn.functional.linear
    with pytest.raises(ValueError, match="bias must have shape"):
        F.linear(mg.zeros(2), mg.zeros(3, 2), mg.zeros(2))


@pytest.mark.parametrize(
    "make, err, msg",
    [
        (lambda: nn.Conv2d(1, 1, -1), ValueError, "Conv2d: kernel_size must be >= 1"),
        (lambda: nn.Conv2d(1, 1, 0), ValueError, "Conv2d: kernel_size must be >= 1"),
        (lambda: nn.Conv1d(1, 1, 3, stride=0), ValueError, "Conv1d: stride must be >= 1"),
        (lambda: nn.Conv2d(1, 1, 3, padding=-1), ValueError, "Conv2d: padding must be >= 0"),
        (lambda: nn.Conv2d(1, 1, "a"), TypeError, "Conv2d: kernel_size must be an int"),
        (lambda: nn.Conv2d(1.5, 1, 3), TypeError, "Conv2d: in_channels must be an int"),
        (lambda: nn.ConvTranspose2d(1, 0, 3), ValueError, "out_channels must be positive"),
        (
            lambda: nn.Conv2d(1, 1, -3, bias="location", input_size=(5, 5)),
            ValueError,
            "Conv2d: kernel_size must be >= 1",
        ),
        (
            lambda: nn.LocallyConnected2d(1, 2, 3, (-5, 5)),
            ValueError,
            "LocallyConnected2d: input_size must be >= 1",
        ),
        (lambda: nn.TiledConv2d(1, 2, 3, (0, 2)), ValueError, "TiledConv2d: tiles must be >= 1"),
        (lambda: nn.TiledConv2d(1, 2, -3, 2), ValueError, "TiledConv2d: kernel_size must be >= 1"),
    ],
)
def test_conv_layers_refuse_bad_sizes_when_built(make, err, msg):
    # kernel_size -1 used to reach np.empty ("negative dimensions are not allowed"),
    # and kernel_size 0 built a layer with an empty weight
    with pytest.raises(err, match=msg):
        make()


def test_local_layers_take_the_issue_argument_order():
    # (in_channels, out_channels, kernel_size, input_size / tiles, stride, padding)
    lc = nn.LocallyConnected2d(2, 3, (3, 2), (8, 7), 1, 1)
    assert lc.weight.shape == (3, 8, 8, 2, 3, 2)  # H_out = 8 + 2 - 3 + 1, W_out = 7 + 2 - 2 + 1
    assert lc.bias.shape == (3, 8, 8)
    tc = nn.TiledConv2d(2, 3, 3, (2, 4), 1, 1)
    assert tc.weight.shape == (3, 2, 4, 2, 3, 3)
    assert tc.bias.shape == (3, 2, 4)
    assert tc(mg.randn(1, 2, 6, 6)).shape == (1, 3, 6, 6)
