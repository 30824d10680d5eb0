"""Datasets: the shipped 8x8 digits, MNIST and Fashion-MNIST.

Every dataset here is array-backed: ``ds.data`` holds the raw images (uint8 or float32,
shape (N, H, W)), ``ds.targets`` the int64 labels. ``ds[i]`` gives ``(image, label)`` with
the image as float32 (1, H, W) scaled to [0, 1], then passed through ``transform``; ``ds[idx]``
with an integer array gives a whole batch at once (the DataLoader uses this, so a batch costs
one fancy-index, not a Python loop over examples).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from typing import Callable, Optional, Union

import numpy as np

from minigrad.data.idx import read_idx

__all__ = [
    "load_digits",
    "ArrayDataset",
    "Digits",
    "MNIST",
    "FashionMNIST",
    "download_url",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS_PATH = os.path.join(_HERE, "digits.npz")

Transform = Optional[Callable[[np.ndarray], np.ndarray]]
PathLike = Union[str, "os.PathLike[str]"]


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped UCI optdigits images (see minigrad/data/README.md).

    Returns ``(images, labels)``: float32 images of shape (1797, 8, 8) with values
    0..16, and int64 labels of shape (1797,) with values 0..9.
    """
    with np.load(DIGITS_PATH) as f:
        images = f["images"].astype(np.float32)
        labels = f["labels"].astype(np.int64)
    return images, labels


class ArrayDataset:
    """Images (N, H, W) with values 0..max_value and int64 labels (N,).

    Items are ``(image, label)``: image float32 (1, H, W) in [0, 1], then ``transform``.
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        max_value: float,
        transform: Transform = None,
    ):
        data = np.asarray(data)
        targets = np.asarray(targets, dtype=np.int64)
        if data.ndim != 3:
            raise ValueError(f"data: expected images of shape (N, H, W), got {data.shape}")
        if targets.shape != (data.shape[0],):
            raise ValueError(
                f"targets: expected shape ({data.shape[0]},) to match data, got {targets.shape}"
            )
        if not float(max_value) > 0:
            raise ValueError(f"max_value: expected the largest pixel value (> 0), got {max_value}")
        self.data = data
        self.targets = targets
        self.max_value = float(max_value)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        images = self.data[index]
        # a leading channel axis: (H, W) -> (1, H, W), (B, H, W) -> (B, 1, H, W)
        images = images[..., None, :, :].astype(np.float32) / np.float32(self.max_value)
        if self.transform is not None:
            images = self.transform(images)
        return images, self.targets[index]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1,) + tuple(self.data.shape[1:])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, image_shape={self.image_shape})"


class Digits(ArrayDataset):
    """The shipped 8x8 digits (1797 images, values 0..16 scaled to [0, 1])."""

    def __init__(self, transform: Transform = None):
        images, labels = load_digits()
        super().__init__(images, labels, max_value=16.0, transform=transform)


# ----------------------------------------------------------------------------- IDX datasets

_RESOURCES = {
    # name: (train images, train labels, test images, test labels), each (file, md5 of .gz)
    "mnist": (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    "fashion-mnist": (
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
}
_MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

# The opener used for downloads; tests replace it to simulate a network.
_urlopen = urllib.request.urlopen


def _md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_url(urls: list[str], dest: str, md5: str | None = None, timeout: float = 30.0) -> str:
    """Fetch the first of ``urls`` that works into ``dest``, atomically.

    The bytes go to a temporary file in dest's folder, are checked against ``md5`` and only
    then renamed onto ``dest``, so an interrupted or corrupt download never leaves a
    half-written file under the real name. Raises ConnectionError when no URL can be read
    (network unreachable), ValueError on a checksum mismatch.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                with _urlopen(url, timeout=timeout) as response:
                    for chunk in iter(lambda r=response: r.read(1 << 20), b""):
                        out.write(chunk)
            if md5 is not None:
                got = _md5(tmp)
                if got != md5:
                    errors.append(f"{url}: MD5 {got} does not match the expected {md5}")
                    continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    checksum_failed = any("MD5" in e for e in errors)
    message = f"could not download {os.path.basename(dest)}:\n  " + "\n  ".join(errors)
    if checksum_failed:
        raise ValueError(message)
    raise ConnectionError(message + "\n(is the network reachable? or pass root= to local files)")


def _candidate_dirs(root: PathLike | None, folder: str) -> list[str]:
    if root is None:
        root = os.environ.get("MINIGRAD_DATA")
    if root is None:
        return []
    root = os.path.expanduser(os.fspath(root))
    return [root, os.path.join(root, folder)]


def _find_file(dirs: list[str], gz_name: str) -> str | None:
    raw_name = gz_name[: -len(".gz")]
    for d in dirs:
        for name in (gz_name, raw_name):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    return None


class _IDXDataset(ArrayDataset):
    folder = ""

    def __init__(
        self,
        root: PathLike | None = None,
        train: bool = True,
        download: bool = False,
        transform: Transform = None,
    ):
        dirs = _candidate_dirs(root, self.folder)
        if not dirs:
            if not download:
                raise FileNotFoundError(
                    f"{type(self).__name__}: no root given and $MINIGRAD_DATA is not set; "
                    "pass root= (a folder with the IDX files) or download=True"
                )
            dirs = _candidate_dirs(os.path.join("~", ".cache", "minigrad"), self.folder)
        (img_name, img_md5), (lbl_name, lbl_md5) = _RESOURCES[self.folder][
            0 if train else 2 : 2 if train else 4
        ]
        paths = []
        for name, md5 in ((img_name, img_md5), (lbl_name, lbl_md5)):
            path = _find_file(dirs, name)
            if path is None:
                if not download:
                    raise FileNotFoundError(
                        f"{type(self).__name__}: {name} not found in {' or '.join(dirs)}; "
                        "pass download=True to fetch it"
                    )
                dest = os.path.join(dirs[1], name)  # root/<folder>/, like shared/data
                path = download_url([m + name for m in _MIRRORS[self.folder]], dest, md5)
            paths.append(path)
        images = read_idx(paths[0], expected_magic=2051)
        labels = read_idx(paths[1], expected_magic=2049)
        if len(images) != len(labels):
            raise ValueError(
                f"{type(self).__name__}: {len(images)} images but {len(labels)} labels "
                f"({paths[0]}, {paths[1]})"
            )
        self.root = os.path.dirname(paths[0])
        self.train = train
        super().__init__(images, labels.astype(np.int64), max_value=255.0, transform=transform)


class MNIST(_IDXDataset):
    """MNIST handwritten digits, 28x28 (60,000 train / 10,000 test).

    Files are looked for in ``root`` (else ``$MINIGRAD_DATA``) and ``root/mnist``, gzip or
    raw. ``download=True`` fetches missing files from public mirrors into ``root/mnist``
    (``~/.cache/minigrad/mnist`` when neither root nor $MINIGRAD_DATA is given), checking
    each file's MD5. Items: (float32 image (1, 28, 28) in [0, 1], int64 label).
    """

    folder = "mnist"


class FashionMNIST(_IDXDataset):
    """Fashion-MNIST article images, 28x28 (60,000 train / 10,000 test).

    Files are looked for in ``root`` (else ``$MINIGRAD_DATA``) and ``root/fashion-mnist``.
    """

    folder = "fashion-mnist"
