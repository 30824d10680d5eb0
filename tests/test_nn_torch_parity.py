"""Every layer of minigrad.nn next to the PyTorch layer built with the same
arguments: the same public attributes with the same values, the same repr, the
same parameter/buffer names and shapes, and (with PyTorch's weights loaded) the
same output.  Skipped without torch."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

# (layer name, args, kwargs, input shape for a forward check or None)
CASES = [
    ("Linear", (3, 4), {}, (2, 3)),
    ("Linear", (3, 4), {"bias": False}, (2, 3)),
    ("Identity", (), {}, (2, 3)),
    ("Conv1d", (2, 3, 3), {}, (2, 2, 7)),
    ("Conv1d", (2, 4, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": False}, (1, 2, 8)),
    ("Conv1d", (2, 3, 3), {"padding": 2, "padding_mode": "circular"}, (1, 2, 6)),
    ("Conv2d", (2, 4, 3), {}, (2, 2, 6, 5)),
    ("Conv2d", (2, 4, (3, 2)), {"stride": (2, 1), "padding": (1, 0), "dilation": 2}, (1, 2, 9, 7)),
    ("Conv2d", (2, 4, 3), {"padding": 1, "padding_mode": "reflect"}, (2, 2, 5, 6)),
    ("Conv2d", (2, 4, 3), {"padding": (2, 1), "padding_mode": "replicate"}, (1, 2, 5, 6)),
    ("Conv2d", (2, 4, 4), {"padding": "same", "padding_mode": "circular"}, (1, 2, 6, 7)),
    ("Conv2d", (2, 2, 3), {"padding": "same", "dilation": 2}, (1, 2, 6, 7)),
    ("Conv2d", (2, 2, 3), {"padding": "valid"}, (1, 2, 6, 7)),
    ("ConvTranspose1d", (2, 3, 3), {"stride": 2}, (1, 2, 5)),
    ("ConvTranspose2d", (2, 4, 3), {"stride": 2, "output_padding": 1}, (1, 2, 4, 3)),
    ("ConvTranspose2d", (4, 2, 3), {"groups": 2, "padding": 1, "dilation": 2}, (1, 4, 4, 3)),
    ("MaxPool1d", (2,), {}, (1, 2, 8)),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 8)),
    ("MaxPool2d", (2,), {}, (1, 2, 6, 6)),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": 1, "dilation": 1}, (1, 2, 6, 6)),
    ("MaxPool2d", (2,), {"return_indices": True}, None),
    ("AvgPool1d", (2,), {}, (1, 2, 8)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (1, 2, 8)),
    ("AvgPool2d", (2,), {}, (1, 2, 6, 6)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "divisor_override": 4}, (1, 2, 7, 6)),
    ("LPPool1d", (2, 2), {}, (1, 2, 8)),
    ("LPPool2d", (2, 3), {"stride": 2}, (1, 2, 7, 7)),
    ("MaxUnpool1d", (2,), {}, None),
    ("MaxUnpool2d", (2,), {"stride": 2, "padding": 0}, None),
    ("AdaptiveAvgPool1d", (3,), {}, (1, 2, 7)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (1, 2, 7, 5)),
    ("AdaptiveMaxPool1d", (3,), {}, (1, 2, 7)),
    ("AdaptiveMaxPool2d", (2,), {}, (1, 2, 7, 5)),
    ("AdaptiveMaxPool2d", (2,), {"return_indices": True}, None),
    ("ReLU", (), {}, (2, 5)),
    ("ReLU", (), {"inplace": True}, (2, 5)),
    ("LeakyReLU", (0.2,), {}, (2, 5)),
    ("LeakyReLU", (), {"inplace": True}, (2, 5)),
    ("Sigmoid", (), {}, (2, 5)),
    ("Tanh", (), {}, (2, 5)),
    ("Softplus", (), {"beta": 2.0, "threshold": 10.0}, (2, 5)),
    ("GELU", (), {}, (2, 5)),
    ("GELU", (), {"approximate": "tanh"}, (2, 5)),
    ("ELU", (), {"alpha": 0.5}, (2, 5)),
    ("ELU", (), {"inplace": True}, (2, 5)),
    ("SiLU", (), {}, (2, 5)),
    ("SiLU", (), {"inplace": True}, (2, 5)),
    ("Softmax", (1,), {}, (2, 5)),
    ("Softmax", (), {"dim": -1}, (2, 3, 4)),
    ("LogSoftmax", (1,), {}, (2, 5)),
    ("Dropout", (), {}, None),
    ("Dropout", (0.2,), {"inplace": True}, None),
    ("Dropout1d", (0.3,), {}, None),
    ("Dropout2d", (), {}, None),
    ("Flatten", (), {}, (2, 3, 4)),
    ("Flatten", (0, 1), {}, (2, 3, 4)),
    ("Unflatten", (1, (3, 4)), {}, (2, 12)),
    ("BatchNorm1d", (3,), {}, (4, 3)),
    ("BatchNorm1d", (3,), {"eps": 1e-3, "momentum": None, "affine": False}, (4, 3, 5)),
    ("BatchNorm2d", (3,), {}, (4, 3, 2, 2)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (4, 3, 2, 2)),
    ("BatchNorm2d", (3,), {"bias": False, "momentum": 0.3}, (4, 3, 2, 2)),
    ("LayerNorm", (4,), {}, (2, 3, 4)),
    ("LayerNorm", ((3, 4),), {"eps": 1e-3, "elementwise_affine": False}, (2, 3, 4)),
    ("LayerNorm", ([4],), {"bias": False}, (2, 4)),
    ("Embedding", (6, 3), {}, None),
    ("Embedding", (6, 3), {"padding_idx": -1, "max_norm": 1.0, "norm_type": 1.0}, None),
    ("Embedding", (6, 3), {"scale_grad_by_freq": True}, None),
    ("Upsample", (), {"scale_factor": 2}, (1, 2, 3, 4)),
    ("Upsample", (), {"size": (5, 7), "mode": "bilinear", "align_corners": True}, (1, 2, 3, 4)),
    ("Upsample", (), {"scale_factor": (1.5, 2.0), "mode": "bilinear"}, (1, 2, 3, 4)),
    ("UpsamplingNearest2d", (), {"scale_factor": 3}, (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", (), {"size": 6}, (1, 2, 3, 4)),
    ("MSELoss", (), {}, None),
    ("L1Loss", (), {"reduction": "sum"}, None),
    ("CrossEntropyLoss", (), {"ignore_index": 3, "label_smoothing": 0.1}, None),
    ("NLLLoss", (), {"reduction": "none"}, None),
    ("BCELoss", (), {}, None),
    ("BCEWithLogitsLoss", (), {}, None),
    ("KLDivLoss", (), {"reduction": "batchmean", "log_target": True}, None),
    ("Sequential", (), {}, None),
    ("ModuleList", (), {}, None),
    ("ModuleDict", (), {}, None),
    ("ParameterList", (), {}, None),
    ("ParameterDict", (), {}, None),
]

# minigrad.nn layers with no PyTorch counterpart (the book's layers and penalties)
MINIGRAD_ONLY = {
    "LocallyConnected2d",
    "TiledConv2d",
    "TiedLinear",
    "TiedConvTranspose2d",
    "KLSparsity",
}


def _pair(name, args, kw):
    return getattr(nn, name)(*args, **kw), getattr(tnn, name)(*args, **kw)


def _torch_attributes(m):
    """PyTorch's public non-module attributes of a layer (what a user can read)."""
    return {k: v for k, v in vars(m).items() if not k.startswith("_")}


def test_every_layer_is_in_the_table():
    layers = {
        n
        for n in nn.__all__
        if inspect.isclass(getattr(nn, n)) and issubclass(getattr(nn, n), nn.Module)
    } - {"Module"}
    covered = {c[0] for c in CASES} | MINIGRAD_ONLY
    assert layers - covered == set(), "layers missing from the parity table"
    for name in MINIGRAD_ONLY:
        assert not hasattr(tnn, name)


@pytest.mark.parametrize(
    "name,args,kw,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_attributes_repr_and_state_names_match_torch(name, args, kw, shape):
    ours, theirs = _pair(name, args, kw)
    for key, value in _torch_attributes(theirs).items():
        assert hasattr(ours, key), f"{name} has no attribute {key!r} (PyTorch: {value!r})"
        got = getattr(ours, key)
        if isinstance(value, torch.Tensor):
            np.testing.assert_array_equal(np.asarray(got), value.numpy())
        else:
            assert got == value and type(got) is type(value), (key, got, value)
    assert repr(ours) == repr(theirs)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for k in theirs_sd:
        assert ours_sd[k].shape == tuple(theirs_sd[k].shape), k
        assert ours_sd[k].dtype == theirs_sd[k].numpy().dtype, k


@pytest.mark.parametrize(
    "name,args,kw,shape",
    [c for c in CASES if c[3] is not None],
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES) if c[3] is not None],
)
def test_same_output_with_torchs_weights(name, args, kw, shape):
    ours, theirs = _pair(name, args, kw)
    theirs = theirs.double()
    ours.double()
    with torch.no_grad():  # non-trivial statistics and affine parameters
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype))
        for b in theirs.buffers():
            if b.is_floating_point():
                b.copy_(torch.rand(b.shape, dtype=b.dtype) + 0.5)
    res = ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    x = np.random.default_rng(0).standard_normal(shape)
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        got = ours(mg.tensor(x)).numpy()
        want = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=mode)
    # the running statistics moved the same way in training mode
    for (k, v), tv in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(v, tv.numpy(), rtol=1e-12, err_msg=k)


class SmallNet:
    """One architecture written for both libraries (a CNN with batch norm and an
    embedding-conditioned head)."""

    @staticmethod
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.features = lib.Sequential(
                    lib.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"),
                    lib.BatchNorm2d(4),
                    lib.ReLU(inplace=True),
                    lib.MaxPool2d(2),
                    lib.Conv2d(4, 6, 3),
                    lib.BatchNorm2d(6, momentum=None),
                    lib.GELU(),
                    lib.Dropout2d(0.1),
                )
                self.embed = lib.Embedding(5, 6, padding_idx=0)
                self.heads = lib.ModuleDict(
                    {
                        "cls": lib.Linear(6, 3),
                        "aux": lib.Sequential(lib.LayerNorm(6), lib.Linear(6, 1)),
                    }
                )
                self.scale = lib.ParameterList([lib.Parameter(lib_ones(lib, 3))])

            def forward(self, x, label):
                h = self.features(x).mean(dim=(2, 3)) + self.embed(label)
                return self.heads["cls"](h) * self.scale[0], self.heads["aux"](h)

        return Net()


def lib_ones(lib, n):
    return torch.ones(n) if lib is tnn else mg.ones(n)


def test_small_model_state_dict_moves_between_torch_and_minigrad():
    ours, theirs = SmallNet.build(nn), SmallNet.build(tnn)
    tsd = theirs.state_dict()
    sd = ours.state_dict()
    assert list(sd) == list(tsd)
    assert "features.1.num_batches_tracked" in sd and "features.1.running_var" in sd
    for k in tsd:
        assert sd[k].shape == tuple(tsd[k].shape) and sd[k].dtype == tsd[k].numpy().dtype, k
    # train the torch model a little so every tensor is non-trivial, then move it over
    x = torch.randn(8, 1, 8, 8)
    label = torch.tensor([0, 1, 2, 3, 4, 1, 2, 0])
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        a, b = theirs(x, label)
        (a.square().mean() + b.square().mean()).backward()
        opt.step()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    oa, ob = ours(mg.tensor(x.numpy()), mg.tensor(label.numpy()))
    ta, tb = theirs(x, label)
    np.testing.assert_allclose(oa.numpy(), ta.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ob.numpy(), tb.detach().numpy(), rtol=1e-4, atol=1e-5)
    # and back: minigrad's state dict loads into a fresh torch model
    fresh = SmallNet.build(tnn)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    fresh.eval()
    fa, _ = fresh(x, label)
    np.testing.assert_allclose(fa.detach().numpy(), ta.detach().numpy(), rtol=1e-6)


def test_loss_weights_are_buffers_as_in_torch():
    r = np.random.default_rng(2)
    w = np.array([1.0, 2.0, 0.5])
    x, y = r.standard_normal((4, 3)), np.array([0, 1, 2, 1])
    p, t = r.uniform(0.05, 0.95, (4, 3)), (r.random((4, 3)) > 0.5).astype(float)
    cases = [
        ("CrossEntropyLoss", {"weight": w}, (x, y)),
        ("NLLLoss", {"weight": w}, (x, y)),
        ("BCELoss", {"weight": w}, (p, t)),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": np.array([1.0, 3.0, 2.0])}, (x, t)),
    ]
    for name, kw, (a, b) in cases:
        ours = getattr(nn, name)(**kw)
        theirs = getattr(tnn, name)(**{k: torch.tensor(v) for k, v in kw.items()})
        assert list(ours.state_dict()) == list(theirs.state_dict()) == list(kw)
        got = ours(mg.tensor(a), mg.tensor(b)).item()
        assert got == pytest.approx(theirs(torch.tensor(a), torch.tensor(b)).item(), rel=1e-12)
