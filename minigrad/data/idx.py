"""The IDX file format of MNIST and Fashion-MNIST: reading and writing.

An IDX file is a header followed by the array's bytes in row-major order:

    bytes 0-1   zero
    byte  2     element type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64)
    byte  3     number of dimensions n
    4 * n bytes the size of each dimension, big-endian unsigned 32-bit
    then        prod(sizes) elements, big-endian

So MNIST's image files start with magic 0x00000803 (uint8, 3 dims) = 2051 and its label
files with 0x00000801 = 2049. Files may be gzip-compressed (detected from their first two
bytes, not from the file name).
"""

from __future__ import annotations

import gzip
import os
import struct
from typing import Union

import numpy as np

__all__ = ["IDXError", "read_idx", "write_idx", "parse_idx"]

PathLike = Union[str, "os.PathLike[str]"]

# type code -> big-endian NumPy dtype
_CODE_TO_DTYPE = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {
    ("u", 1): 0x08,
    ("i", 1): 0x09,
    ("i", 2): 0x0B,
    ("i", 4): 0x0C,
    ("f", 4): 0x0D,
    ("f", 8): 0x0E,
}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file is not a valid IDX file (foreign, truncated, or the wrong kind)."""


def parse_idx(raw: bytes, name: str = "<bytes>", expected_magic: int | None = None) -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file into a native-endian array."""
    if len(raw) < 4:
        raise IDXError(f"{name}: {len(raw)} bytes is too short for an IDX header (need >= 4)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    magic = struct.unpack(">I", raw[:4])[0]
    if zero != 0 or code not in _CODE_TO_DTYPE:
        raise IDXError(
            f"{name}: not an IDX file (magic number 0x{magic:08X}; expected 0x0000TTNN "
            f"with type code TT in {{08, 09, 0B, 0C, 0D, 0E}})"
        )
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(
            f"{name}: magic number {magic} (0x{magic:08X}), expected {expected_magic} "
            f"(0x{expected_magic:08X}); is this the right file?"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXError(
            f"{name}: truncated header: {ndim} dimensions need {header_len} bytes, "
            f"file has {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = _CODE_TO_DTYPE[code]
    expected_len = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected_len:
        what = "truncated" if len(raw) < expected_len else "has trailing bytes"
        raise IDXError(
            f"{name}: {what}: header says shape {tuple(shape)} of {dtype.name} "
            f"({expected_len} bytes in all), file has {len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native-endian, writable copy


def read_idx(path: PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    ``expected_magic`` (e.g. 2051 for images, 2049 for labels) makes a file of the wrong
    kind an error. Raises IDXError for foreign, truncated or corrupt files.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise IDXError(f"{name}: corrupt or truncated gzip stream ({e})") from e
    return parse_idx(raw, name, expected_magic)


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when ``compress`` (default: the
    path ends in .gz)."""
    array = np.asarray(array)
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in _KIND_TO_CODE:
        raise TypeError(
            f"array: IDX stores uint8, int8, int16, int32, float32 or float64, got {array.dtype}"
        )
    if array.ndim > 255 or any(s >= 2**32 for s in array.shape):
        raise ValueError(f"array: shape {array.shape} does not fit an IDX header")
    code = _KIND_TO_CODE[key]
    header = struct.pack(">HBB", 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    data = header + body
    if compress:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
