"""Tests for minigrad.data: shipped digits, IDX files, datasets, downloads, loaders, transforms."""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import shutil
import struct
import urllib.error

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad.data as D
from minigrad.data import datasets as dsmod

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
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


# ----------------------------------------------------------------------------- loaders


class _ListDataset:
    """A dataset without array indexing: the loader must collate item by item."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not isinstance(i, int):
            raise TypeError("int indices only")
        return np.full(3, i, dtype=np.float64), i


@pytest.mark.parametrize(
    "n, bs, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (5, 8, False)]
)
@pytest.mark.parametrize("shuffle", [False, True])
def test_dataloader_covers_each_example_once(n, bs, drop_last, shuffle):
    dl = D.DataLoader(_ListDataset(n), batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=1)
    seen = []
    batches = list(dl)
    assert len(batches) == len(dl)
    for x, y in batches:
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape == (len(y), 3)
        np.testing.assert_array_equal(x[:, 0], y)
        if drop_last:
            assert len(y) == bs
        seen.extend(y.tolist())
    if drop_last:
        assert len(seen) == (n // bs) * bs and len(set(seen)) == len(seen)
    else:
        assert sorted(seen) == list(range(n))
    if not shuffle:
        assert seen == sorted(seen)


def test_dataloader_shuffle_is_seeded_and_changes_per_epoch():
    ds = D.Digits()

    def epoch_labels(dl):
        return np.concatenate([y for _, y in dl])

    a = D.DataLoader(ds, 100, shuffle=True, seed=3)
    b = D.DataLoader(ds, 100, shuffle=True, seed=3)
    e1, e2 = epoch_labels(a), epoch_labels(a)
    np.testing.assert_array_equal(e1, epoch_labels(b))
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(np.sort(e1), np.sort(ds.targets))


def test_dataloader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        D.DataLoader(D.Digits(), batch_size=0)


def test_random_split_is_a_disjoint_cover():
    ds = D.Digits()
    parts = D.random_split(ds, [0.7, 0.2, 0.1], seed=0)
    assert sum(len(p) for p in parts) == len(ds)
    all_idx = np.concatenate([p.indices for p in parts])
    assert len(np.unique(all_idx)) == len(ds)
    a, b = D.random_split(ds, [1000, 797], seed=0)
    x, y = a[np.arange(4)]
    np.testing.assert_array_equal(y, ds.targets[a.indices[:4]])
    with pytest.raises(ValueError, match="lengths"):
        D.random_split(ds, [10, 10])


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
