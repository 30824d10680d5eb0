"""Tests for minigrad.data: shipped digits, IDX files, datasets, downloads, loaders, transforms."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pathlib
import shutil
import stat
import struct
import urllib.error
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.data as D
from minigrad.data import datasets as dsmod


def _shared_data() -> pathlib.Path:
    """../shared/data next to the checkout (or next to the folder of worktrees)."""
    for parent in pathlib.Path(__file__).resolve().parents[1:4]:
        if (parent / "shared" / "data" / "mnist").is_dir():
            return parent / "shared" / "data"
    return pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED = _shared_data()
needs_mnist = pytest.mark.skipif(
    not (SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz").exists(),
    reason="MNIST files not present in ../shared/data",
)


# ----------------------------------------------------------------------------- shipped digits


def test_load_digits_shapes_and_values():
    images, labels = D.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 16
    assert np.all(images == np.round(images))  # counts of on-pixels: whole numbers
    assert list(labels[:10]) == list(range(10))  # the UCI file starts 0, 1, ..., 9
    assert np.all(np.bincount(labels) >= 170)  # every class well represented


def test_digits_dataset_is_scaled_to_unit():
    ds = D.Digits()
    x, y = ds[5]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32 and y == 5
    xb, yb = ds[np.arange(10)]
    assert xb.shape == (10, 1, 8, 8)
    assert xb.max() <= 1.0 and xb.min() >= 0.0
    np.testing.assert_array_equal(xb[:, 0] * 16, D.load_digits()[0][:10])


# ----------------------------------------------------------------------------- IDX

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    D.write_idx(path, a, compress=compress)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    b = D.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.flags.writeable
    np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4))
def test_idx_round_trip_shapes(tmp_path_factory, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape) - 7
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    D.write_idx(path, a)
    np.testing.assert_array_equal(D.read_idx(path), a)


def test_idx_header_layout_is_big_endian(tmp_path):
    # the MNIST label header by hand: magic 2049, count 3, then the bytes
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">II", 2049, 3) + bytes([7, 2, 1]))
    np.testing.assert_array_equal(D.read_idx(path, expected_magic=2049), [7, 2, 1])
    a = np.array([[1, 256]], dtype=np.int16)
    D.write_idx(tmp_path / "s", a)
    assert (tmp_path / "s").read_bytes() == bytes(
        [0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 1, 0]
    )


def _good_idx_bytes():
    return struct.pack(">IIII", 2051, 2, 2, 3) + bytes(range(12))


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"", "too short"),
        (b"PK\x03\x04" + bytes(20), "not an IDX file"),  # a zip file
        (struct.pack(">I", 0x00000F03) + bytes(20), "not an IDX file"),  # unknown type code
        (struct.pack(">II", 2051, 2), "truncated header"),
        (_good_idx_bytes()[:-1], "truncated"),
        (_good_idx_bytes() + b"\x00", "trailing bytes"),
    ],
)
def test_idx_rejects_corrupt_files(tmp_path, raw, match):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(D.IDXError, match=match):
        D.read_idx(path)


def test_idx_rejects_wrong_kind_and_truncated_gzip(tmp_path):
    path = tmp_path / "img.gz"
    path.write_bytes(gzip.compress(_good_idx_bytes()))
    assert D.read_idx(path, expected_magic=2051).shape == (2, 2, 3)
    with pytest.raises(D.IDXError, match="expected 2049"):
        D.read_idx(path, expected_magic=2049)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(D.IDXError, match="gzip"):
        D.read_idx(cut)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="array"):
        D.write_idx(tmp_path / "x", np.zeros(3, dtype=np.complex64))


# ----------------------------------------------------------------------------- MNIST files


def _write_fake_mnist(folder: pathlib.Path, n: int, gz: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        D.write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images, compress=gz)
        D.write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels, compress=gz)
    return images, labels


@pytest.mark.parametrize("sub", ["", "mnist"])
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_root_or_subfolder(tmp_path, sub, gz):
    images, labels = _write_fake_mnist(tmp_path / sub if sub else tmp_path, 6, gz)
    ds = D.MNIST(tmp_path, train=False)
    assert len(ds) == 6
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
    x, y = ds[np.array([0, 3])]
    np.testing.assert_allclose(x[:, 0] * 255, images[[0, 3]], atol=1e-4)


def test_mnist_uses_env_var(tmp_path, monkeypatch):
    _write_fake_mnist(tmp_path / "fashion-mnist", 4)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path))
    assert len(D.FashionMNIST(train=True)) == 4


def test_mnist_missing_files_say_where_they_were_looked_for(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="download=True"):
        D.MNIST(tmp_path)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="MINIGRAD_DATA"):
        D.MNIST()


def test_mnist_rejects_images_in_the_labels_file(tmp_path):
    _write_fake_mnist(tmp_path, 3)
    shutil.copy(tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(D.IDXError, match="2049"):
        D.MNIST(tmp_path, train=False)


@needs_mnist
@pytest.mark.parametrize(
    "cls, folder, first, counts",
    [
        (D.MNIST, "mnist", [7, 2, 1, 0, 4, 1, 4, 9, 5, 9], [980, 1135, 1032, 1010, 982]),
        (D.FashionMNIST, "fashion-mnist", [9, 2, 1, 1, 6, 1, 4, 6, 5, 7], [1000] * 5),
    ],
)
def test_real_test_sets(cls, folder, first, counts):
    ds = cls(SHARED, train=False)
    assert ds.data.shape == (10000, 28, 28) and ds.data.dtype == np.uint8
    assert list(ds.targets[:10]) == first
    assert list(np.bincount(ds.targets)[:5]) == counts
    expected_sum = {"mnist": 264_923_200, "fashion-mnist": 573_469_082}[folder]
    assert int(ds.data.sum(dtype=np.int64)) == expected_sum


# ----------------------------------------------------------------------------- downloads


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_url_from_file_url_is_atomic_and_verified(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello idx")
    dest = tmp_path / "out" / "f.bin"
    D.download_url([src.as_uri()], str(dest), md5=_md5(b"hello idx"))
    assert dest.read_bytes() == b"hello idx"
    # a wrong checksum leaves nothing behind, not even the temporary file
    dest2 = tmp_path / "out" / "g.bin"
    with pytest.raises(ValueError, match="MD5"):
        D.download_url([src.as_uri()], str(dest2), md5="0" * 32)
    assert sorted(os.listdir(tmp_path / "out")) == ["f.bin"]


def test_download_falls_through_mirrors(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    dest = tmp_path / "d.bin"
    missing = (tmp_path / "nope.bin").as_uri()
    D.download_url([missing, src.as_uri()], str(dest), md5=_md5(b"abc"))
    assert dest.read_bytes() == b"abc"


def test_download_without_network_is_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dsmod, "_urlopen", offline)
    with pytest.raises(ConnectionError, match="network"):
        D.MNIST(tmp_path, download=True)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@needs_mnist
def test_mnist_download_from_a_local_mirror(tmp_path, monkeypatch):
    # the real files served through file:// URLs: the real MD5s must match
    mirror = (SHARED / "mnist").as_uri() + "/"
    monkeypatch.setitem(dsmod._MIRRORS, "mnist", ["http://127.0.0.1:9/unreachable/", mirror])
    ds = D.MNIST(tmp_path, train=False, download=True)
    assert len(ds) == 10000
    assert (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert list(ds.targets[:3]) == [7, 2, 1]


# ----------------------------------------------------------------------------- transforms


def test_scale_and_binarize():
    x = np.array([0, 51, 128, 255], dtype=np.uint8)
    np.testing.assert_allclose(D.ScaleToUnit()(x), [0, 0.2, 128 / 255, 1], rtol=1e-6)
    np.testing.assert_array_equal(D.Binarize()(D.ScaleToUnit()(x)), [0, 0, 1, 1])
    assert D.Compose([D.ScaleToUnit(16), D.Flatten(2)])(np.ones((5, 8, 8))).shape == (5, 64)


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5])
def test_masking_noise_statistics(q):
    n = 200_000
    x = np.random.default_rng(0).uniform(0.5, 1.0, size=n).astype(np.float32)
    xt = D.MaskingNoise(q, seed=1)(x)
    masked = xt == 0
    # binomial: the masked fraction is q within 5 standard errors
    se = np.sqrt(q * (1 - q) / n)
    assert abs(masked.mean() - q) < 5 * se
    np.testing.assert_array_equal(xt[~masked], x[~masked])  # the rest untouched
    # fresh noise on every call
    assert not np.array_equal(D.MaskingNoise(q, seed=1)(x), D.MaskingNoise(q, seed=2)(x))


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gaussian_noise_statistics(sigma):
    n = 200_000
    x = np.full(n, 0.3, dtype=np.float32)
    eps = D.GaussianNoise(sigma, seed=0)(x) - x
    assert abs(eps.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(eps.std() / sigma - 1) < 0.01
    # independent components: neighbours uncorrelated
    assert abs(np.corrcoef(eps[:-1], eps[1:])[0, 1]) < 0.02


def test_noise_arguments_are_checked():
    with pytest.raises(ValueError, match="q"):
        D.MaskingNoise(1.5)
    with pytest.raises(ValueError, match="sigma"):
        D.GaussianNoise(-1)


def test_array_dataset_refuses_non_positive_max_value():
    from minigrad.data import ArrayDataset

    with pytest.raises(ValueError, match="max_value"):  # images were all NaN
        ArrayDataset(np.zeros((2, 3, 3)), [0, 1], max_value=0)


# ----------------------------------------------------------------------------- torchvision's API


def test_transforms_to_tensor_follows_torchvision():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
    t = D.ToTensor()(gray)
    assert isinstance(t, mg.Tensor) and t.dtype == np.float32 and t.shape == (1, 5, 7)
    np.testing.assert_array_equal(t.numpy()[0], gray.astype(np.float32) / np.float32(255))
    rgb = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    t = D.ToTensor()(rgb)
    assert t.shape == (3, 5, 7)
    np.testing.assert_array_equal(t.numpy()[2], rgb[:, :, 2] / np.float32(255))
    f = rng.random((4, 4)).astype(np.float64)  # not bytes: values and dtype kept
    t = D.ToTensor()(f)
    assert t.dtype == np.float64 and t.shape == (1, 4, 4)
    np.testing.assert_array_equal(t.numpy()[0], f)
    with pytest.raises(ValueError, match="2/3 dimensional"):
        D.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match="pic"):
        D.ToTensor()(mg.tensor(gray))


def test_transforms_normalize_follows_torchvision():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).random((2, 3, 4, 5)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    got = D.Normalize(mean, std)(mg.tensor(x))
    tm, ts = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
    want = ((torch.from_numpy(x) - tm) / ts).numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    one = D.Normalize((0.1307,), (0.3081,))(mg.tensor(x[:, :1]))  # mnist/main.py's
    np.testing.assert_allclose(one.numpy(), (x[:, :1] - 0.1307) / 0.3081, rtol=1e-5)
    t = mg.tensor(x.copy())
    assert D.Normalize(mean, std, inplace=True)(t) is t
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)


@pytest.mark.parametrize(
    "mean, std, x, error, match",
    [
        ((0.5,), (0.0,), np.ones((1, 2, 2), np.float32), ValueError, "std evaluated to zero"),
        ((0.5,), (1.0,), np.ones((1, 2, 2), np.int64), TypeError, "float tensor"),
        ((0.5,), (1.0,), np.ones((2, 2), np.float32), ValueError, "C, H, W"),
        ((0.5, 0.5), (1.0, 1.0), np.ones((3, 2, 2), np.float32), ValueError, "channels"),
    ],
)
def test_transforms_normalize_refuses(mean, std, x, error, match):
    with pytest.raises(error, match=match):
        D.Normalize(mean, std)(mg.tensor(x))


def test_compose_and_lambda():
    pipeline = D.Compose([D.ToTensor(), D.Lambda(lambda t: t * 2), D.Flatten(3)])
    out = pipeline(np.full((2, 2), 255, np.uint8))
    assert isinstance(out, mg.Tensor) and out.shape == (4,)
    np.testing.assert_array_equal(out.numpy(), 2.0)
    with pytest.raises(TypeError, match="callable"):
        D.Lambda(3)
    # the corruptions keep the kind they are given: a Tensor in, a Tensor out
    assert isinstance(D.MaskingNoise(0.5, seed=0)(mg.ones(3, 4)), mg.Tensor)
    assert isinstance(D.GaussianNoise(0.5, seed=0)(np.ones((3, 4))), np.ndarray)


def test_mnist_takes_torchvision_arguments_in_order(tmp_path):
    images, labels = _write_fake_mnist(tmp_path, 5)
    seen = []

    def transform(img):
        seen.append((img.dtype, img.shape))
        return D.ToTensor()(img)

    ds = D.MNIST(str(tmp_path), False, transform, lambda y: y + 100, False)
    x, y = ds[3]
    assert seen == [(np.uint8, (28, 28))]  # the raw image, as torchvision hands a PIL image
    assert isinstance(x, mg.Tensor) and x.shape == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy()[0], images[3] / np.float32(255))
    assert y == int(labels[3]) + 100
    assert ds.classes[0] == "0 - zero" and ds.class_to_idx["9 - nine"] == 9
    # without a transform: the same values, as an array
    plain_x, plain_y = D.MNIST(tmp_path, train=False)[3]
    assert isinstance(plain_x, np.ndarray) and type(plain_y) is int
    np.testing.assert_array_equal(plain_x, x.numpy())


def test_batches_of_transformed_examples_match_the_examples(tmp_path):
    _write_fake_mnist(tmp_path, 6)
    tf = D.Compose([D.ToTensor(), D.Normalize((0.1307,), (0.3081,))])
    ds = D.MNIST(tmp_path, train=False, transform=tf)
    xb, yb = ds[np.array([4, 1])]
    for row, i in enumerate([4, 1]):
        x, y = ds[i]
        np.testing.assert_array_equal(np.asarray(xb)[row], x.numpy())
        assert int(np.asarray(yb)[row]) == y


def test_mnist_finds_torchvisions_folder(tmp_path):
    _write_fake_mnist(tmp_path / "MNIST" / "raw", 3, gz=False)
    assert len(D.MNIST(tmp_path, train=True)) == 3


@pytest.mark.parametrize("label", [10, 255])
def test_mnist_refuses_a_label_outside_0_to_9(tmp_path, label):
    images, labels = _write_fake_mnist(tmp_path, 4)
    labels[2] = label
    D.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(D.IDXError, match=f"label {label} at index 2 is outside 0-9"):
        D.MNIST(tmp_path, train=False)
    assert len(D.MNIST(tmp_path, train=True)) == 4  # the train files are intact


# ----------------------------------------------------------------------------- IDX: bounded reads


def _peak_and_error(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        err = None
    except Exception as e:  # noqa: BLE001 - returned for the caller to check
        err = e
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, err


def test_idx_gzip_is_not_inflated_past_what_the_header_declares(tmp_path):
    # the header declares 10 bytes; the stream inflates to 256 MB of zeros behind them.
    # The old reader inflated all of it before looking at the header.
    header = struct.pack(">II", 0x00000801, 10)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    body = [comp.compress(header + bytes(10))]
    zeros = bytes(1 << 20)
    body += [comp.compress(zeros) for _ in range(256)]
    path = tmp_path / "bomb.gz"
    path.write_bytes(b"".join(body) + comp.flush())
    assert path.stat().st_size < 300_000
    peak, err = _peak_and_error(lambda: D.read_idx(path))
    assert isinstance(err, D.IDXError) and "trailing bytes" in str(err)
    assert peak < 8_000_000, f"peak {peak / 1e6:.0f} MB"


def test_idx_header_claiming_more_than_the_gzip_can_hold(tmp_path):
    # 4 GB of uint8 claimed by a 40-byte gzip: refused before any allocation
    path = tmp_path / "claim.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 0x00000803, 2**16, 2**8, 2**8)))
    peak, err = _peak_and_error(lambda: D.read_idx(path))
    assert isinstance(err, D.IDXError) and "can hold" in str(err)
    assert peak < 1_000_000


@pytest.mark.parametrize("gz", [False, True])
def test_idx_sizes_whose_product_overflows_64_bits(tmp_path, gz):
    # 65536^4 = 2^64 wrapped to 0 in the old int64 product, so a header-only file
    # "matched" and then failed in reshape with a bare ValueError
    raw = struct.pack(">I4I", 0x00000804, *(4 * [65536]))
    path = tmp_path / "wrap"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(D.IDXError):
        D.read_idx(path)


# ----------------------------------------------------------------------------- downloads, hardened


class _Response(io.BytesIO):
    """What urlopen returns, enough for download_url."""


def _opener(behaviour: dict):
    """urlopen stand-in: behaviour[url] is bytes to serve or an exception to raise."""

    def urlopen(url, timeout=None):
        what = behaviour[url]
        if isinstance(what, BaseException):
            raise what
        return what() if callable(what) else _Response(what)

    return urlopen


@pytest.mark.parametrize(
    "failure",
    [
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        http.client.BadStatusLine("HTTP/1.1 999 ???"),
        http.client.IncompleteRead(b"partial", 100),
        ConnectionResetError(104, "Connection reset by peer"),
        urllib.error.HTTPError("http://a/f", 503, "Service Unavailable", None, None),
    ],
    ids=lambda e: type(e).__name__,
)
def test_download_tries_the_next_mirror_after_a_protocol_error(tmp_path, monkeypatch, failure):
    monkeypatch.setattr(dsmod, "_urlopen", _opener({"http://a/f": failure, "http://b/f": b"abc"}))
    dest = tmp_path / "f"
    D.download_url(["http://a/f", "http://b/f"], str(dest), md5=_md5(b"abc"), size=3)
    assert dest.read_bytes() == b"abc"
    assert os.listdir(tmp_path) == ["f"]


def test_download_stops_reading_past_the_expected_size(tmp_path, monkeypatch):
    class Endless:
        reads = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            Endless.reads += 1
            return bytes(n)

    monkeypatch.setattr(dsmod, "_urlopen", _opener({"http://a/f": Endless, "http://b/f": b"abc"}))
    dest = tmp_path / "f"
    D.download_url(["http://a/f", "http://b/f"], str(dest), md5=_md5(b"abc"), size=3)
    assert dest.read_bytes() == b"abc" and Endless.reads == 1


def test_download_failure_says_why_on_its_first_line(tmp_path, monkeypatch):
    reason = "[Errno -3] Temporary failure in name resolution"
    monkeypatch.setattr(dsmod, "_urlopen", _opener({"http://a/f": urllib.error.URLError(reason)}))
    with pytest.raises(ConnectionError) as info:
        D.download_url(["http://a/f"], str(tmp_path / "f"))
    first = str(info.value).splitlines()[0]  # what the examples print in their note
    assert reason in first and "network" in first
    monkeypatch.setattr(dsmod, "_urlopen", _opener({"http://a/f": b"xyz"}))
    with pytest.raises(ValueError) as info:
        D.download_url(["http://a/f"], str(tmp_path / "f"), md5="0" * 32)
    assert "MD5" in str(info.value) and "wrong bytes" in str(info.value).splitlines()[0]
    assert not os.listdir(tmp_path)


def test_downloaded_files_respect_the_umask(tmp_path, monkeypatch):
    monkeypatch.setattr(dsmod, "_urlopen", _opener({"http://a/f": b"abc"}))
    old = os.umask(0o022)
    try:
        D.download_url(["http://a/f"], str(tmp_path / "f"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_the_data_lines_of_pytorch_examples_run(tmp_path):
    # pytorch/examples' mnist/main.py and vae/main.py, imports and data folder changed
    _write_fake_mnist(tmp_path, 130)
    import minigrad as torch
    from minigrad.data import datasets, transforms

    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]
    )
    dataset1 = datasets.MNIST(tmp_path, train=True, download=True, transform=transform)
    dataset2 = datasets.MNIST(tmp_path, train=False, transform=transform)
    train_loader = torch.utils.data.DataLoader(dataset1, **{"batch_size": 64})
    test_loader = torch.utils.data.DataLoader(dataset2, **{"batch_size": 1000})
    data, target = next(iter(train_loader))
    assert data.shape == (64, 1, 28, 28) and data.dtype == np.float32
    assert target.shape == (64,) and target.dtype == np.int64
    assert len(train_loader.dataset) == 130 and len(train_loader) == 3 and len(test_loader) == 1
    np.testing.assert_allclose(
        data.numpy(), (dataset1.data[:64, None] / 255 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6
    )

    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(tmp_path, train=True, download=True, transform=transforms.ToTensor()),
        batch_size=128,
        shuffle=True,
    )
    data, _ = next(iter(train_loader))
    flat = data.view(-1, 784)
    assert flat.shape == (128, 784) and 0 <= flat.numpy().min() and flat.numpy().max() <= 1
