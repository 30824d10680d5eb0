"""Datasets: the shipped 8x8 digits, MNIST and Fashion-MNIST, as torchvision has them.

Every dataset here is array-backed: ``ds.data`` holds the raw images (N, H, W) (uint8 for
MNIST), ``ds.targets`` the int64 labels. An example ``ds[i]`` is ``(image, label)`` with
``label`` an int and, as in torchvision:

- with a ``transform``, ``image = transform(raw)``, where ``raw`` is the (H, W) image as
  torchvision hands a PIL image over: uint8 0..255 for MNIST and Fashion-MNIST, float32
  in [0, 1] for others. ``transforms.ToTensor()`` turns either into a float32 Tensor
  (1, H, W) in [0, 1]; ``target_transform`` likewise receives the label;
- without one, ``image`` is that float32 (1, H, W) in [0, 1] as a NumPy array (where
  torchvision would give a PIL image, which nothing here uses).

``ds[indices]`` with an integer array, list or slice gives a whole batch: ``(images,
labels)``, arrays (B, 1, H, W) and (B,) without transforms (one fancy-index, no Python
loop), else the transformed examples stacked. It is also the batch fast path the
DataLoader uses (``get_batch``, see ``minigrad.utils.data``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from typing import Any, Callable, Optional, Union

import numpy as np

from minigrad.data.idx import IDXError, read_idx
from minigrad.utils.data.collate import default_collate
from minigrad.utils.data.dataset import Dataset, _index_array, _is_index
from minigrad.utils.files import atomic_write

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

Transform = Optional[Callable[[Any], Any]]
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


class ArrayDataset(Dataset):
    """Images (N, H, W) with values 0..max_value and int64 labels (N,); examples as
    described in the module docstring."""

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray,
        max_value: float,
        transform: Transform = None,
        target_transform: Transform = None,
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
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def raw_image(self, index: int) -> np.ndarray:
        """The (H, W) image a transform receives: uint8 as stored when the pixels are
        bytes 0..255, else float32 scaled to [0, 1]."""
        image = self.data[index]
        if image.dtype == np.uint8 and self.max_value == 255:
            return image
        return image.astype(np.float32) / np.float32(self.max_value)

    def _scaled(self, images: np.ndarray) -> np.ndarray:
        """(..., H, W) -> float32 (..., 1, H, W) in [0, 1], as ToTensor would."""
        return images[..., None, :, :].astype(np.float32) / np.float32(self.max_value)

    def __getitem__(self, index: Any) -> tuple:
        if not _is_index(index):
            if isinstance(index, slice):
                index = np.arange(len(self))[index]
            return self.get_batch(_index_array(index, type(self).__name__))
        index = int(index)
        if self.transform is None:
            image = self._scaled(self.data[index])
        else:
            image = self.transform(self.raw_image(index))
        target = int(self.targets[index])
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices: np.ndarray) -> tuple:
        """``(images, labels)`` of the examples at ``indices``: one fancy-index without
        transforms, else each example transformed and the results stacked."""
        if self.transform is None and self.target_transform is None:
            return self._scaled(self.data[indices]), self.targets[indices]
        images, targets = zip(*(self[int(i)] for i in indices)) if len(indices) else ((), ())
        if not images:
            raise ValueError(f"{type(self).__name__}: an empty batch of transformed examples")
        return default_collate(list(images)), default_collate(list(targets))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1,) + tuple(self.data.shape[1:])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, image_shape={self.image_shape})"


class Digits(ArrayDataset):
    """The shipped 8x8 digits (1797 images, values 0..16 scaled to [0, 1])."""

    def __init__(self, transform: Transform = None, target_transform: Transform = None):
        images, labels = load_digits()
        super().__init__(images, labels, 16.0, transform, target_transform)


# ----------------------------------------------------------------------------- IDX datasets

_RESOURCES = {
    # train images, train labels, test images, test labels: (file, bytes, md5 of the .gz)
    "mnist": (
        ("train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    "fashion-mnist": (
        ("train-images-idx3-ubyte.gz", 26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", 29515, "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", 4422102, "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", 5148, "bb300cfdad3c16e7a12a480ee83cd310"),
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

# What one mirror can raise while being read: URLError/HTTPError, sockets, TLS and
# timeouts are OSErrors; a server that breaks the protocol (a bad status line, a body cut
# short) raises http.client.HTTPException, which is none of those; ValueError for a URL
# urllib cannot open.
_MIRROR_ERRORS = (OSError, http.client.HTTPException, ValueError, EOFError)


class _BadDownload(Exception):
    """A mirror answered with the wrong bytes (size or checksum)."""


def _fetch(url: str, out, timeout: float, size: int | None, md5: str | None) -> None:
    digest = hashlib.md5()
    got = 0
    with _urlopen(url, timeout=timeout) as response:
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            got += len(chunk)
            if size is not None and got > size:  # stop reading: no unbounded download
                raise _BadDownload(f"more than the expected {size} bytes")
            digest.update(chunk)
            out.write(chunk)
    if size is not None and got != size:
        raise _BadDownload(f"{got} bytes, expected {size}")
    if md5 is not None and digest.hexdigest() != md5:
        raise _BadDownload(f"MD5 {digest.hexdigest()} does not match the expected {md5}")


def download_url(
    urls: list[str],
    dest: str,
    md5: str | None = None,
    timeout: float = 30.0,
    size: int | None = None,
) -> str:
    """Fetch the first of ``urls`` that works into ``dest``, atomically; returns ``dest``.

    Each mirror in turn: the bytes go to a temporary file next to ``dest`` (written by
    ``minigrad.utils.files.atomic_write``), reading stops past ``size`` bytes, and only a
    file of the right ``size`` and ``md5`` is renamed onto ``dest``; any failure moves on
    to the next mirror. Raises ValueError when a mirror answered with wrong bytes and
    none with the right ones, ConnectionError when none could be read (network
    unreachable); the first line of either message says why.
    """
    name = os.path.basename(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    errors, bad_bytes = [], False
    for url in urls:
        try:
            with atomic_write(dest) as out:
                _fetch(url, out, timeout, size, md5)
            return dest
        except _BadDownload as e:
            errors.append(f"{url}: {e}")
            bad_bytes = True
        except _MIRROR_ERRORS as e:
            errors.append(f"{url}: {type(e).__name__}: {e}")
    details = "\n  ".join(errors)
    if bad_bytes:
        raise ValueError(f"could not download {name}: wrong bytes from a mirror\n  {details}")
    raise ConnectionError(
        f"could not download {name}: no mirror could be read (is the network reachable? or "
        f"pass root= a folder holding the files); first error: {errors[0] if errors else 'no URL'}"
        f"\n  {details}"
    )


def _candidate_dirs(root: PathLike | None, folder: str, torchvision_name: str) -> list[str]:
    """root, root/<folder> (our layout, as in ../shared/data) and root/<Name>/raw (where
    torchvision downloads), with root defaulting to $MINIGRAD_DATA."""
    if root is None:
        root = os.environ.get("MINIGRAD_DATA")
    if root is None:
        return []
    root = os.path.expanduser(os.fspath(root))
    return [root, os.path.join(root, folder), os.path.join(root, torchvision_name, "raw")]


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
    torchvision_name = ""
    classes: list = []

    def __init__(
        self,
        root: PathLike | None = None,
        train: bool = True,
        transform: Transform = None,
        target_transform: Transform = None,
        download: bool = False,
    ):
        name = type(self).__name__
        dirs = _candidate_dirs(root, self.folder, self.torchvision_name)
        if not dirs:
            if not download:
                raise FileNotFoundError(
                    f"{name}: no root given and $MINIGRAD_DATA is not set; "
                    "pass root= (a folder with the IDX files) or download=True"
                )
            dirs = _candidate_dirs(
                os.path.join("~", ".cache", "minigrad"), self.folder, self.torchvision_name
            )
        resources = _RESOURCES[self.folder][0:2] if train else _RESOURCES[self.folder][2:4]
        paths = []
        for file, size, md5 in resources:
            path = _find_file(dirs, file)
            if path is None:
                if not download:
                    raise FileNotFoundError(
                        f"{name}: {file} not found in {' or '.join(dirs)}; "
                        "pass download=True to fetch it"
                    )
                dest = os.path.join(dirs[1], file)  # root/<folder>/, like shared/data
                urls = [m + file for m in _MIRRORS[self.folder]]
                path = download_url(urls, dest, md5, size=size)
            paths.append(path)
        images = read_idx(paths[0], expected_magic=2051)
        labels = read_idx(paths[1], expected_magic=2049)
        if len(images) != len(labels):
            raise IDXError(
                f"{name}: {len(images)} images but {len(labels)} labels ({paths[0]}, {paths[1]})"
            )
        bad = np.flatnonzero(labels >= len(self.classes))
        if bad.size:
            raise IDXError(
                f"{paths[1]}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside "
                f"0-{len(self.classes) - 1} ({bad.size} such labels); is this a {name} label file?"
            )
        self.root = os.path.dirname(paths[0])
        self.train = train
        super().__init__(images, labels, 255.0, transform, target_transform)

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}


class MNIST(_IDXDataset):
    """MNIST handwritten digits, 28x28 (60,000 train / 10,000 test), with torchvision's
    signature ``MNIST(root, train=True, transform=None, target_transform=None,
    download=False)``.

    Files (gzip or raw) are looked for in ``root`` (else ``$MINIGRAD_DATA``),
    ``root/mnist`` and ``root/MNIST/raw`` (torchvision's folder). ``download=True``
    fetches missing files from public mirrors into ``root/mnist``
    (``~/.cache/minigrad/mnist`` when neither root nor $MINIGRAD_DATA is given), checking
    each file's size and MD5. A label outside 0-9 makes the files an IDXError.
    """

    folder = "mnist"
    torchvision_name = "MNIST"
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]  # fmt: skip


class FashionMNIST(_IDXDataset):
    """Fashion-MNIST article images, 28x28 (60,000 train / 10,000 test), as MNIST; files
    in ``root``, ``root/fashion-mnist`` or ``root/FashionMNIST/raw``."""

    folder = "fashion-mnist"
    torchvision_name = "FashionMNIST"
    classes = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
