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
import io
import math
import os
import struct
import zlib
from typing import BinaryIO, Union

import numpy as np

from minigrad.utils.files import atomic_write

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
# Deflate turns at most 1032 bytes out per byte in (zlib's documented limit: a 258-byte
# match coded in 2 bits), so a gzip file of n bytes cannot hold more than 1032 n.
_MAX_INFLATE_RATIO = 1032
_CHUNK = 1 << 20


class IDXError(ValueError):
    """A file is not a valid IDX file (foreign, truncated, or the wrong kind)."""


def _read_exact(stream: BinaryIO, n: int, name: str, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise IDXError(f"{name}: truncated {what}: need {n} bytes, file has {len(data)} more")
    return data


def _read_header(stream: BinaryIO, name: str, expected_magic: int | None) -> tuple:
    """(shape, dtype, header length) from the start of ``stream``."""
    head = stream.read(4)
    if len(head) < 4:
        raise IDXError(f"{name}: {len(head)} bytes is too short for an IDX header (need >= 4)")
    zero, code, ndim = struct.unpack(">HBB", head)
    magic = struct.unpack(">I", head)[0]
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
    dims = stream.read(4 * ndim)
    if len(dims) != 4 * ndim:
        raise IDXError(
            f"{name}: truncated header: {ndim} dimensions need {4 + 4 * ndim} bytes, "
            f"file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = _CODE_TO_DTYPE[code]
    # NumPy refuses a shape whose nonzero extents multiply past its index range, even
    # with a zero extent beside them (no data): refused here, as an IDX error
    if math.prod(d for d in shape if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise IDXError(f"{name}: header says shape {tuple(shape)}, more than NumPy can index")
    return shape, dtype, 4 + 4 * ndim


def _read_body(
    stream: BinaryIO, shape: tuple, dtype: np.dtype, name: str, total: int
) -> np.ndarray:
    """The elements after the header, read in chunks into an array of the declared size,
    then a check that nothing follows."""
    out = np.empty(math.prod(shape), dtype=dtype)
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        n = stream.readinto(view[done : done + _CHUNK])
        if not n:
            raise IDXError(
                f"{name}: truncated: header says shape {tuple(shape)} of {dtype.name} "
                f"({total} bytes in all), file has {total - len(view) + done} bytes"
            )
        done += n
    if stream.read(1):
        raise IDXError(
            f"{name}: has trailing bytes: header says shape {tuple(shape)} of {dtype.name} "
            f"({total} bytes in all), file has more"
        )
    return out.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_stream(
    stream: BinaryIO, name: str, expected_magic: int | None, size: int, exact: bool
) -> np.ndarray:
    """Header, then the size check BEFORE the data is read or allocated: with ``exact``
    the file must be ``size`` bytes long, else it can hold at most ``size`` bytes."""
    shape, dtype, header_len = _read_header(stream, name, expected_magic)
    total = header_len + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    says = f"header says shape {tuple(shape)} of {dtype.name} ({total} bytes in all)"
    if exact and total != size:
        what = "truncated" if total > size else "has trailing bytes"
        raise IDXError(f"{name}: {what}: {says}, file has {size} bytes")
    if total > size:
        raise IDXError(
            f"{name}: {says}, more than its {size // _MAX_INFLATE_RATIO} compressed bytes "
            f"can hold (at most {size})"
        )
    return _read_body(stream, shape, dtype, name, total)


def parse_idx(raw: bytes, name: str = "<bytes>", expected_magic: int | None = None) -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file into a native-endian array."""
    return _read_stream(io.BytesIO(raw), name, expected_magic, len(raw), exact=True)


def read_idx(path: PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    ``expected_magic`` (e.g. 2051 for images, 2049 for labels) makes a file of the wrong
    kind an error. Raises IDXError for foreign, truncated or corrupt files.

    The header is read first and checked against the file before the data is read: a
    raw file must be exactly as long as its header says; a gzip file is inflated as a
    stream, and its header may not claim more than the compressed size can hold
    (1032 bytes per compressed byte). The array is allocated once at its declared size,
    so reading costs what the data is, not what a header claims.
    """
    name = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(2) != _GZIP_MAGIC:
            f.seek(0)
            return _read_stream(f, name, expected_magic, size, exact=True)
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _read_stream(stream, name, expected_magic, _MAX_INFLATE_RATIO * size, False)
        except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise IDXError(f"{name}: corrupt or truncated gzip stream ({e})") from None


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file, atomically; gzip-compressed when ``compress``
    (default: the path ends in .gz)."""
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
    with atomic_write(path) as f:
        f.write(data)
