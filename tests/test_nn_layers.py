"""The new layers' behaviour against NumPy references written here: batch norm's
running statistics over several batches (momentum and cumulative), train/eval,
layer norm, channel dropout, the new activations, Upsample, Embedding, conv
padding_mode (np.pad + the book's convolution), and their errors."""

from __future__ import annotations

import math

import conv_reference as ref  # tests/ is on sys.path under pytest
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

RNG = np.random.default_rng(3)


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- batch norm


def _stats(x):
    axes = (0, *range(2, x.ndim))
    m = int(np.prod([x.shape[a] for a in axes]))
    return x.mean(axes), x.var(axes), x.var(axes) * m / (m - 1)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (5, 3)), (nn.BatchNorm2d, (4, 3, 3, 2))])
def test_batchnorm_running_statistics_over_batches(cls, shape, momentum):
    bn = cls(3, momentum=momentum).double()
    rm, rv = np.zeros(3), np.ones(3)
    batches = [RNG.standard_normal(shape) * (k + 1) + k for k in range(4)]
    for k, x in enumerate(batches, 1):
        out = bn(t64(x))
        mean, var, var_u = _stats(x)
        f = 1.0 / k if momentum is None else momentum  # None: the cumulative average
        rm, rv = (1 - f) * rm + f * mean, (1 - f) * rv + f * var_u
        c = (1, 3) + (1,) * (len(shape) - 2)
        ref_out = (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + 1e-5)
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-12)
        assert bn.num_batches_tracked.item() == k and bn.num_batches_tracked.dtype == np.int64
    if momentum is None:  # the cumulative average is the plain mean of the batch means
        np.testing.assert_allclose(rm, np.mean([_stats(x)[0] for x in batches], 0), rtol=1e-12)
    bn.eval()
    x = RNG.standard_normal(shape)
    c = (1, 3) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(
        bn(t64(x)).numpy(), (x - rm.reshape(c)) / np.sqrt(rv.reshape(c) + 1e-5), rtol=1e-10
    )
    assert bn.num_batches_tracked.item() == 4  # eval mode changes nothing
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-12)


def test_batchnorm_without_running_stats_and_affine():
    bn = nn.BatchNorm2d(2, track_running_stats=False).double()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = RNG.standard_normal((3, 2, 2, 2))
    bn.weight.data.copy_(np.array([2.0, -1.0]))
    bn.bias.data.copy_(np.array([0.5, 0.0]))
    mean, var, _ = _stats(x)
    want = (x - mean.reshape(1, 2, 1, 1)) / np.sqrt(var.reshape(1, 2, 1, 1) + 1e-5)
    want = want * np.array([2.0, -1.0]).reshape(1, 2, 1, 1) + np.array([0.5, 0]).reshape(1, 2, 1, 1)
    np.testing.assert_allclose(bn.eval()(t64(x)).numpy(), want, rtol=1e-10)  # batch stats in eval
    plain = nn.BatchNorm1d(4, affine=False)
    assert plain.weight is None and list(plain.state_dict()) == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]


def test_batchnorm_gradcheck_train_and_eval_and_float32():
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data.copy_(RNG.standard_normal(3))
    x = t64(RNG.standard_normal((4, 3, 2, 2)), True)
    assert mg.gradcheck(lambda a: bn(a), [x])
    bn.eval()
    assert mg.gradcheck(lambda a: bn(a), [x])
    bn32 = nn.BatchNorm2d(3)
    out = bn32(mg.randn(8, 3, 4, 4))
    assert out.dtype == np.float32 and bn32.running_mean.dtype == np.float32
    out.sum().backward()
    assert bn32.weight.grad.shape == (3,)


def test_batchnorm_reset_and_errors():
    bn = nn.BatchNorm1d(3)
    bn(mg.randn(4, 3) * 5)
    bn.reset_running_stats()
    assert not bn.running_mean.numpy().any() and (bn.running_var.numpy() == 1).all()
    assert bn.num_batches_tracked.item() == 0
    with pytest.raises(ValueError, match="BatchNorm1d: expected a 2-d or 3-d input, got 4-d"):
        bn(mg.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="BatchNorm2d: expected a 4-d input, got 2-d"):
        nn.BatchNorm2d(3)(mg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: built for 3 channels .* shape \(4, 5\)"):
        bn(mg.zeros(4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(mg.zeros(1, 3))
    with pytest.raises(ValueError, match="momentum must be in"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="num_features must be positive"):
        nn.BatchNorm2d(0)


# ----------------------------------------------------------------------------- layer norm


def test_layernorm_module():
    ln = nn.LayerNorm((3, 4)).double()
    ln.weight.data.copy_(RNG.standard_normal((3, 4)))
    ln.bias.data.copy_(RNG.standard_normal((3, 4)))
    x = RNG.standard_normal((2, 5, 3, 4))
    m = x.mean((2, 3), keepdims=True)
    v = x.var((2, 3), keepdims=True)
    want = (x - m) / np.sqrt(v + 1e-5) * ln.weight.numpy() + ln.bias.numpy()
    np.testing.assert_allclose(ln(t64(x)).numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(ln.eval()(t64(x)).numpy(), want, rtol=1e-10)  # same in eval
    assert mg.gradcheck(lambda a: ln(a), [t64(RNG.standard_normal((2, 3, 4)), True)])
    assert nn.LayerNorm(4, bias=False).bias is None
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None


# ----------------------------------------------------------------------------- dropout


def test_dropout_layers_train_eval_and_errors():
    mg.manual_seed(1)
    x = mg.ones(64, 32, 3, 3)
    d = nn.Dropout2d(0.25)
    y = d(x).numpy().reshape(64, 32, 9)
    assert np.all((y == 0).all(-1) | (y == 1 / 0.75).all(-1))
    assert 0.2 < (y[..., 0] == 0).mean() < 0.3
    d.eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())
    y1 = nn.Dropout1d(0.5)(mg.ones(10, 20, 7)).numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2).all(-1))
    for cls in (nn.Dropout, nn.Dropout1d, nn.Dropout2d):
        with pytest.raises(ValueError, match="p must be a probability"):
            cls(1.5)


# ----------------------------------------------------------------------------- activations


def test_new_activation_modules_and_softmax_dim():
    x = RNG.standard_normal((3, 4)) * 3
    phi = np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))(x)
    cases = [
        (nn.GELU(), x * phi),
        (nn.ELU(alpha=0.3), np.where(x > 0, x, 0.3 * np.expm1(x))),
        (nn.SiLU(), x / (1 + np.exp(-x))),
        (nn.ReLU(inplace=True), np.maximum(x, 0)),
        (nn.Softmax(dim=0), np.exp(x) / np.exp(x).sum(0)),
    ]
    for layer, want in cases:
        xt = t64(x)
        np.testing.assert_allclose(layer(xt).numpy(), want, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(xt.numpy(), x)  # inplace=True leaves the input as is
    x4 = RNG.standard_normal((2, 3, 2, 2))
    with pytest.warns(UserWarning, match="implicit dimension choice"):
        out = nn.Softmax()(t64(x4))  # PyTorch's implicit choice for 4-d input: dim 1
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-12)
    with pytest.warns(UserWarning, match="implicit dimension choice"):
        out = nn.LogSoftmax()(t64(x4[0]))  # 3-d input: dim 0
    np.testing.assert_allclose(np.exp(out.numpy()).sum(0), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


# ----------------------------------------------------------------------------- upsample


def test_upsample_modules():
    x = RNG.standard_normal((1, 2, 3, 4))
    up = nn.Upsample(scale_factor=2)
    np.testing.assert_array_equal(up(t64(x)).numpy(), x.repeat(2, 2).repeat(2, 3))
    assert up.scale_factor == 2.0 and up.mode == "nearest" and up.size is None
    corners = nn.UpsamplingBilinear2d(size=(5, 7))(t64(x)).numpy()
    # align_corners=True keeps the four corner pixels
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        np.testing.assert_allclose(corners[..., i, j], x[..., i, j], rtol=1e-12)
    assert mg.gradcheck(lambda a: nn.Upsample(size=(4, 6), mode="bilinear")(a), [t64(x, True)])


# ----------------------------------------------------------------------------- embedding


def test_embedding_module():
    mg.manual_seed(0)
    emb = nn.Embedding(10, 4, padding_idx=-2)
    assert emb.padding_idx == 8 and not emb.weight.numpy()[8].any()
    assert 0.5 < emb.weight.numpy().std() < 1.5  # N(0, 1)
    idx = mg.tensor(np.array([[1, 8], [3, 1]]))
    out = emb(idx)
    assert out.shape == (2, 2, 4)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[1], 2)
    np.testing.assert_array_equal(g[8], 0)
    pre = nn.Embedding.from_pretrained(mg.tensor(np.eye(3)))
    assert not pre.weight.requires_grad and pre(mg.tensor(np.array([2]))).tolist() == [[0, 0, 1]]
    assert nn.Embedding.from_pretrained(np.eye(3), freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="padding_idx 10 must be within num_embeddings"):
        nn.Embedding(10, 4, padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(10, 4, sparse=True)


# ----------------------------------------------------------------------------- padding_mode


def _np_mode(mode):
    return {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_padding_mode_against_numpy_pad(mode, padding):
    conv = nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    x = RNG.standard_normal((2, 2, 5, 6))
    if padding == "same":  # d (k - 1) split with the odd one after: (1, 1) and (1, 2)
        widths = ((1, 1), (1, 2))
    else:
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        widths = ((ph, ph), (pw, pw))
    xp = np.pad(x, ((0, 0), (0, 0), *widths), mode=_np_mode(mode))
    want = ref.conv2d(xp, conv.weight.numpy(), conv.bias.numpy())
    out = conv(t64(x))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)
    if padding == "same":
        assert out.shape[2:] == x.shape[2:]
    assert mg.gradcheck(lambda a: conv(a), [t64(RNG.standard_normal((1, 2, 4, 5)), True)])


def test_conv1d_padding_mode_and_errors():
    conv = nn.Conv1d(1, 1, 3, padding=2, padding_mode="circular", bias=False).double()
    x = RNG.standard_normal((1, 1, 5))
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2)), mode="wrap")
    w = conv.weight.numpy()[0, 0]
    want = np.array([xp[0, 0, i : i + 3] @ w for i in range(7)])
    np.testing.assert_allclose(conv(t64(x)).numpy()[0, 0], want, rtol=1e-12)
    with pytest.raises(ValueError, match="padding_mode must be one of zeros, reflect"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='only padding_mode="zeros" is supported'):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same", padding_mode="reflect")
    with pytest.raises(ValueError, match="pad: reflect"):  # F.pad: pad >= the input size
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(mg.zeros(1, 1, 3, 3))
