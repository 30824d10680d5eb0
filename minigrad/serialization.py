"""Checkpoints: ``mg.save(obj, path)`` and ``mg.load(path)``, without pickle, in two formats.

- ``.npz`` + JSON (the default): any nesting of dicts, lists, tuples, numbers, strings,
  NumPy arrays and scalars, and Tensors (a state dict, an optimizer state, an epoch
  counter, a loss history), every array bit for bit.
- ``.safetensors`` (when the path ends in ``.safetensors``): a flat ``name -> array``
  dict in the format PyTorch users exchange weights in, so a state dict moves between
  PyTorch and minigrad by parameter names (``safetensors.torch.save_file`` /
  ``load_file`` on the PyTorch side).

``mg.load`` tells the two apart by their first bytes, never by the file name. Both are
written atomically (``minigrad.utils.files.atomic_write``: a reader sees the old file or
the new one; the umask, an existing file's mode and symbolic links are respected).

Files from elsewhere are checked against what they declare before anything large is
read or allocated: the total work of a load is bounded by the file's size, and anything
that is not an intact file of either format raises ``CheckpointError``.

The .npz checkpoint format (version 1)
--------------------------------------
An uncompressed NumPy ``.npz`` archive (a zip of ``.npy`` files):

* ``__minigrad__.npy``: a uint8 array holding UTF-8 JSON, the metadata::

      {"format": "minigrad-checkpoint", "version": 1, "root": NODE}

* ``a0.npy``, ``a1.npy``, ...: one entry per array in the saved object.

``NODE`` describes the object tree, one JSON object per value:

======================================  =========================================
``{"t": "none"}``                       ``None``
``{"t": "bool", "v": true}``            bool
``{"t": "int", "v": 3}``                int (up to 4,300 digits, Python's limit)
``{"t": "float", "v": 0.5}``            float; ``"nan"``, ``"inf"``, ``"-inf"`` as strings
``{"t": "str", "v": "..."}``            str
``{"t": "list"|"tuple", "items": [NODE, ...]}``
``{"t": "dict"|"odict", "items": [[NODE, NODE], ...]}``  keys and values, in order
``{"t": "array", "ref": "a0"}``         np.ndarray (numeric, bool or string dtype)
``{"t": "scalar", "ref": "a1"}``        NumPy scalar (a 0-d array, given back as a scalar
                                        of the same type: np.float64 stays np.float64)
``{"t": "tensor", "ref": "a2", "requires_grad": false, "param": false}``
======================================  =========================================

Dict keys are None, bool, int, float, str or tuples of those; nesting is at most
``MAX_DEPTH`` levels. Each array entry is referred to exactly once and stored
uncompressed (``np.savez``), which is what bounds a load by the file's size: a compressed
member (a zip bomb) or an entry used twice (the same bytes inflated once per use) is
refused, not read.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO, Union

import numpy as np

from minigrad.tensor import Tensor, unwrap
from minigrad.utils.files import atomic_write

__all__ = ["save", "load", "CheckpointError", "MAX_DEPTH"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
META_KEY = "__minigrad__"
MAX_DEPTH = 64  # nesting of containers; state dicts and optimizer states use 3 or 4

PathLike = Union[str, "os.PathLike[str]"]

# dtype kinds an array entry may have: bool, integers, floats, complex, bytes, str
_ARRAY_KINDS = "biufcSU"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive


class CheckpointError(ValueError):
    """A file that is not a valid minigrad checkpoint (corrupt, truncated, foreign)."""


# =============================================================================== saving


def save(obj: Any, f: Union[PathLike, BinaryIO]) -> None:
    """Write ``obj`` to ``f`` (a path, or a writable binary file object) without pickle.

    A path ending in ``.safetensors`` gets the safetensors format (``obj`` must then be a
    flat dict of names to arrays or Tensors, e.g. ``model.state_dict()``); any other path
    or a file object gets the ``.npz`` checkpoint format, which holds nested dicts, lists
    and tuples of arrays, Tensors, NumPy scalars, numbers, strings and None. A path is
    written atomically; with a file object the caller owns atomicity. Raises TypeError
    for an object the format cannot hold, before anything is written.
    """
    if not hasattr(f, "write") and os.fspath(f).endswith(".safetensors"):
        data = _safetensors_bytes(obj)
        with atomic_write(f) as out:
            out.write(data)
        return
    arrays: dict = {}
    root = _encode(obj, arrays, "obj", 0)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    payload = {META_KEY: np.frombuffer(meta.encode("utf-8"), dtype=np.uint8), **arrays}
    if hasattr(f, "write"):
        np.savez(f, **payload)
        return
    with atomic_write(f) as out:
        np.savez(out, **payload)


def _encode(obj: Any, arrays: dict, path: str, depth: int) -> dict:
    """The metadata node for ``obj``; arrays are moved into ``arrays``."""
    if depth > MAX_DEPTH:
        raise ValueError(f"mg.save: {path} is nested more than {MAX_DEPTH} levels deep")
    if obj is None:
        return {"t": "none"}
    # NumPy scalars first: np.float64 is a subclass of float and np.bool_ is not bool,
    # and each must come back as the type it was.
    if isinstance(obj, np.generic):
        return _store(np.asarray(obj), arrays, "scalar", path)
    if isinstance(obj, bool):
        return {"t": "bool", "v": obj}
    if isinstance(obj, int):
        return {"t": "int", "v": int(obj)}
    if isinstance(obj, float):
        return {"t": "float", "v": float(obj) if math.isfinite(obj) else repr(float(obj))}
    if isinstance(obj, str):
        return {"t": "str", "v": str(obj)}
    if isinstance(obj, Tensor):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"mg.save: {path} is a Tensor of dtype {obj.dtype} (not numeric)")
        node = _store(obj._data, arrays, "tensor", path)
        node["requires_grad"] = bool(obj.requires_grad)
        node["param"] = type(obj).__name__ == "Parameter"
        return node
    if isinstance(obj, np.ndarray):
        return _store(obj, arrays, "array", path)
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        items = [_encode(v, arrays, f"{path}[{i}]", depth + 1) for i, v in enumerate(obj)]
        return {"t": kind, "items": items}
    if isinstance(obj, dict):
        kind = "odict" if isinstance(obj, OrderedDict) else "dict"
        items = []
        for k, v in obj.items():
            if not _is_key(k):
                raise TypeError(
                    f"mg.save: dict key {k!r} at {path} has type {type(k).__name__}; keys must "
                    f"be str, int, float, bool, None or tuples of those"
                )
            key = _encode(k, arrays, path, depth + 1)
            items.append([key, _encode(v, arrays, f"{path}[{k!r}]", depth + 1)])
        return {"t": kind, "items": items}
    raise TypeError(
        f"mg.save: cannot save {type(obj).__name__} at {path}; supported are dicts, lists, "
        f"tuples, str, int, float, bool, None, NumPy arrays and scalars, and Tensors "
        f"(save a model's state_dict(), not the model)"
    )


def _is_key(k: Any) -> bool:
    """Dict keys a checkpoint holds (the same test on save and on load)."""
    if isinstance(k, tuple):
        return all(_is_key(x) for x in k)
    return k is None or (type(k) in (str, int, float, bool))


def _store(a: np.ndarray, arrays: dict, kind: str, path: str) -> dict:
    if a.dtype.kind not in _ARRAY_KINDS or a.dtype.hasobject or a.dtype.itemsize == 0:
        raise TypeError(
            f"mg.save: {path} has dtype {a.dtype}, which cannot be saved without pickle "
            f"(expected a numeric, bool or string dtype)"
        )
    ref = f"a{len(arrays)}"
    arrays[ref] = a
    return {"t": kind, "ref": ref}


# =============================================================================== loading


def load(
    f: Union[PathLike, BinaryIO],
    map_location: Any = None,
    weights_only: bool | None = None,
) -> Any:
    """Read what ``save`` wrote: a ``.npz`` checkpoint (the saved object) or a
    ``.safetensors`` file (an OrderedDict of names to Tensors, as
    ``safetensors.torch.load_file`` gives), told apart by the file's first bytes.

    ``f`` is a path or a readable, seekable binary file object.

    ``map_location`` is accepted as in ``torch.load``: None, ``"cpu"``, a cpu device,
    or a dict whose values name the cpu. minigrad computes on the CPU only, so every
    accepted value loads the same thing; one that names another device raises
    ValueError (there is no such device here), as does a callable (there are no storages
    to hand it).

    ``weights_only`` is accepted as in ``torch.load``, where it decides whether pickled
    Python objects may be restored. Neither format here can hold pickled objects, so
    loading never runs code and both True and False load the same thing.

    Raises FileNotFoundError for a missing file and CheckpointError (a ValueError) for
    anything that is not an intact file of either format. The work is bounded by the
    file's size (see the module docstring).
    """
    _check_map_location(map_location)
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"mg.load: weights_only must be None, True or False, got {weights_only!r}")
    name = repr(f) if hasattr(f, "read") else repr(os.fspath(f))
    try:
        if hasattr(f, "read"):
            return _load_from(f, name)
        with open(f, "rb") as fh:
            return _load_from(fh, name)
    except CheckpointError as e:
        msg = str(e)
        if not msg.startswith("mg.load"):
            msg = f"mg.load: {name} is not a valid minigrad checkpoint: {msg}"
        raise CheckpointError(msg) from None


def _check_map_location(map_location: Any) -> None:
    def names_cpu(d: Any) -> bool:
        text = d if isinstance(d, str) else getattr(d, "type", None)
        return isinstance(text, str) and text.split(":")[0] == "cpu"

    if map_location is None or names_cpu(map_location):
        return
    if isinstance(map_location, dict) and all(names_cpu(v) for v in map_location.values()):
        return
    if callable(map_location):
        raise ValueError(
            "mg.load: map_location as a function is not supported (minigrad has no storages "
            "to pass it); tensors always load on the cpu"
        )
    raise ValueError(
        f"mg.load: map_location={map_location!r}: minigrad computes on the cpu only "
        "(accepted: None, 'cpu', a cpu device, or a dict mapping to 'cpu')"
    )


def _file_size(f: BinaryIO) -> int:
    try:
        start = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(start)
    except (OSError, ValueError, AttributeError) as e:
        raise CheckpointError(f"mg.load: the file object must be seekable ({e})") from None
    return end - start


def _load_from(f: BinaryIO, name: str) -> Any:
    size = _file_size(f)
    start = f.tell()
    head = f.read(9)
    f.seek(start)
    if head[:4] in _ZIP_MAGIC:
        return _load_npz(f, name, size)
    if _looks_like_safetensors(head, size):
        return _load_safetensors(f, start, size)
    if head[:6] == b"\x93NUMPY":
        raise CheckpointError(
            f"mg.load: {name} is a single .npy array, not a minigrad checkpoint (written by "
            f"mg.save)"
        )
    raise CheckpointError(
        f"mg.load: {name} is not a minigrad checkpoint (neither an .npz archive nor a "
        f".safetensors file; starts with {head[:8]!r})"
    )


# ------------------------------------------------------------------------- .npz

# What zipfile raises for an archive or member it cannot read: damage (BadZipFile, OSError,
# EOFError, ValueError, struct.error) and features it does not implement (encryption,
# patched data, a newer format version: NotImplementedError, RuntimeError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
)


def _load_npz(f: BinaryIO, name: str, size: int) -> Any:
    try:
        archive = zipfile.ZipFile(f)
    except _ZIP_ERRORS as e:
        raise CheckpointError(
            f"mg.load: {name} is not a minigrad checkpoint (cannot read it as an .npz archive: {e})"
        ) from None
    with archive:
        members = _check_members(archive, size)
        if META_KEY not in members:
            raise CheckpointError(
                f"mg.load: {name} is an .npz archive without minigrad metadata "
                f"({META_KEY!r} entry); it was not written by mg.save"
            )
        reader = _MemberReader(archive, members)
        raw = reader.read(META_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise CheckpointError("the metadata entry is not a byte string")
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            # ValueError covers bad JSON and integers past Python's digit limit
            raise CheckpointError(f"the metadata is not valid JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError("the metadata does not name the minigrad checkpoint format")
        if meta.get("version") != VERSION:
            raise CheckpointError(
                f"checkpoint format version {meta.get('version')!r}; this minigrad reads "
                f"version {VERSION}"
            )
        return _decode(meta.get("root"), reader, 0)


def _check_members(archive: zipfile.ZipFile, size: int) -> dict:
    """name (without .npy) -> ZipInfo, after checking that every member is stored
    uncompressed, that names are unique and that the members together fit in the file."""
    members: dict = {}
    total = 0
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise CheckpointError(f"archive member {info.filename!r} is not an .npy array")
        key = info.filename[: -len(".npy")]
        if key in members:
            raise CheckpointError(f"archive member {info.filename!r} appears twice")
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"archive member {info.filename!r} is compressed; mg.save stores arrays "
                f"uncompressed (a compressed member could inflate without bound)"
            )
        if info.file_size != info.compress_size:
            raise CheckpointError(
                f"archive member {info.filename!r} declares {info.file_size} bytes stored in "
                f"{info.compress_size}"
            )
        total += info.file_size
        members[key] = info
    if total > size:  # members overlapping one another: the same bytes read many times
        raise CheckpointError(
            f"the archive's members declare {total} bytes in all, more than the file's {size}"
        )
    return members


class _MemberReader:
    """Reads each .npy member at most once, checking its header against the member's
    declared size before allocating anything."""

    def __init__(self, archive: zipfile.ZipFile, members: dict):
        self.archive = archive
        self.members = members
        self.used: set = set()

    def read(self, key: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.members:
            raise CheckpointError(f"metadata refers to a missing array entry {key!r}")
        if key in self.used:
            raise CheckpointError(f"metadata refers to array entry {key!r} more than once")
        self.used.add(key)
        info = self.members[key]
        try:
            with self.archive.open(info) as m:
                return _read_npy(m, info.file_size, info.filename)
        except CheckpointError:
            raise
        except _ZIP_ERRORS as e:
            # a damaged member: bad CRC, truncated data, a broken local header
            raise CheckpointError(
                f"archive member {info.filename!r} is corrupt ({type(e).__name__}: {e})"
            ) from None


def _read_npy(m: BinaryIO, declared: int, member: str) -> np.ndarray:
    """One .npy array from ``m`` whose whole size is ``declared`` bytes."""
    try:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ValueError(f".npy format version {version} (this reader takes 1.0 and 2.0)")
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, SyntaxError, RecursionError,
            MemoryError, OverflowError, EOFError, OSError) as e:  # fmt: skip
        raise CheckpointError(f"archive member {member!r} has a bad .npy header ({e})") from None
    if not all(type(n) is int and n >= 0 for n in shape):
        raise CheckpointError(f"archive member {member!r} declares shape {shape}")
    if dtype.kind not in _ARRAY_KINDS or dtype.hasobject or dtype.itemsize == 0:
        raise CheckpointError(
            f"archive member {member!r} has dtype {dtype}, which a checkpoint never holds "
            f"(numeric, bool or string dtypes only; never objects that need pickle)"
        )
    header = m.tell()
    count = math.prod(shape)
    if header + count * dtype.itemsize != declared:
        raise CheckpointError(
            f"archive member {member!r} declares shape {shape} of {dtype} "
            f"({count * dtype.itemsize} bytes after a {header}-byte header) but holds "
            f"{declared} bytes"
        )
    out = np.empty(count, dtype=dtype)
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        n = m.readinto(view[done:])
        if not n:
            raise CheckpointError(f"archive member {member!r} is truncated")
        done += n
    try:
        return out.reshape(shape, order="F" if fortran else "C")
    except ValueError as e:  # a dimension past what NumPy indexes (with a zero elsewhere)
        raise CheckpointError(f"archive member {member!r} declares shape {shape} ({e})") from None


def _decode(node: Any, reader: _MemberReader, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CheckpointError(f"the metadata is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise CheckpointError(f"malformed metadata node {str(node)[:80]!r}")
    t = node["t"]
    if t == "none":
        return None
    if t in ("bool", "int", "str"):
        v = node.get("v")
        want = {"bool": bool, "int": int, "str": str}[t]
        if type(v) is not want:
            raise CheckpointError(f"metadata node of type {t} holds {str(v)[:80]!r}")
        return v
    if t == "float":
        v = node.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if type(v) in (int, float):
            try:
                return float(v)
            except OverflowError:
                pass
        raise CheckpointError(f"metadata node of type float holds {str(v)[:80]!r}")
    if t in ("list", "tuple"):
        items = [_decode(n, reader, depth + 1) for n in _items(node)]
        return items if t == "list" else tuple(items)
    if t in ("dict", "odict"):
        out = OrderedDict() if t == "odict" else {}
        for pair in _items(node):
            if not isinstance(pair, list) or len(pair) != 2:
                raise CheckpointError("malformed dict entry in metadata")
            k = _decode(pair[0], reader, depth + 1)
            if not _is_key(k):
                raise CheckpointError(f"a dict key in metadata is a {type(k).__name__}")
            out[k] = _decode(pair[1], reader, depth + 1)
        return out
    if t in ("array", "scalar", "tensor"):
        a = reader.read(node.get("ref"))
        if t == "array":
            return a
        if t == "scalar":
            if a.ndim != 0:
                raise CheckpointError(f"a scalar entry holds an array of shape {a.shape}")
            return a[()]
        return _tensor(a, node)
    raise CheckpointError(f"unknown metadata node type {t[:40]!r}")


def _tensor(a: np.ndarray, node: dict) -> Tensor:
    requires_grad, param = node.get("requires_grad", False), node.get("param", False)
    if type(requires_grad) is not bool or type(param) is not bool:
        raise CheckpointError("a tensor entry's requires_grad / param flags are not booleans")
    if a.dtype.kind not in "biuf":
        raise CheckpointError(f"a tensor entry has dtype {a.dtype} (tensors are numeric)")
    if (requires_grad or param) and a.dtype.kind != "f":
        raise CheckpointError(f"a tensor entry of dtype {a.dtype} cannot require grad")
    if param:
        from minigrad.nn.module import Parameter

        return Parameter(a, requires_grad=requires_grad)
    return Tensor(a, requires_grad=requires_grad)


def _items(node: dict) -> list:
    items = node.get("items")
    if not isinstance(items, list):
        raise CheckpointError(f"metadata node of type {node['t']} has no item list")
    return items


# =============================================================================== safetensors
#
# The format (https://github.com/huggingface/safetensors): 8 bytes, a little-endian
# unsigned 64-bit N; N bytes of UTF-8 JSON, an object mapping each tensor's name to
# {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} plus an optional
# "__metadata__" object of string values; then the byte buffer. Offsets are relative to
# the buffer, little-endian, row-major, and the tensors tile the buffer exactly (no gaps,
# no overlaps). Written here directly (a page of code) rather than through the
# safetensors package, so the interchange needs nothing beyond NumPy and goes through
# the same checks and atomic writer as the .npz format; tests compare both ways with the
# package and with PyTorch where they are installed.

_ST_TO_DTYPE = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F64": np.dtype("<f8"),
}
_DTYPE_TO_ST = {(dt.kind, dt.itemsize): code for code, dt in _ST_TO_DTYPE.items()}
# in the format, but without a NumPy dtype: refused by name rather than as unknown
_ST_NO_NUMPY = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"}
_ST_MAX_HEADER = 100_000_000  # the reference implementation's limit


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    return head[8:9] == b"{" and n <= size - 8


def _safetensors_bytes(obj: Any) -> bytes:
    """The whole file for ``obj`` (checked completely before anything is written)."""
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"mg.save: a .safetensors file holds a dict of names to arrays or Tensors "
            f"(e.g. model.state_dict()), got {type(obj).__name__}; save other objects as .npz"
        )
    arrays = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"mg.save: .safetensors names must be str, got {key!r}")
        if key == "__metadata__":
            raise TypeError("mg.save: '__metadata__' is reserved by the .safetensors format")
        a = unwrap(value)
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"mg.save: .safetensors holds only arrays and Tensors; {key!r} is a "
                f"{type(value).__name__} (save it in an .npz checkpoint)"
            )
        code = _DTYPE_TO_ST.get((a.dtype.kind, a.dtype.itemsize))
        if code is None:
            raise TypeError(f"mg.save: {key!r} has dtype {a.dtype}, which .safetensors cannot hold")
        arrays.append((key, code, a.astype(_ST_TO_DTYPE[code], order="C", copy=False)))
    # Largest items first, then by name: with the header padded to 8 bytes every tensor
    # starts at a multiple of its item size, so readers can map the file without copying.
    arrays.sort(key=lambda e: (-e[2].dtype.itemsize, e[0]))
    header: dict = {}
    offset = 0
    for key, code, a in arrays:
        header[key] = {
            "dtype": code,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    parts = [struct.pack("<Q", len(text)), text] + [a.tobytes() for _, _, a in arrays]
    return b"".join(parts)


def _no_duplicate_keys(pairs: list) -> dict:
    out: dict = OrderedDict()
    for k, v in pairs:
        if k in out:
            raise CheckpointError(f"the .safetensors header names {k[:80]!r} twice")
        out[k] = v
    return out


def _load_safetensors(f: BinaryIO, start: int, size: int) -> OrderedDict:
    """The tensors of the file that begins at ``start`` in ``f`` and is ``size`` bytes."""
    n = struct.unpack("<Q", f.read(8))[0]
    if n > min(size - 8, _ST_MAX_HEADER):
        raise CheckpointError(
            f"the .safetensors header length {n} does not fit the file ({size} bytes)"
        )
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"the .safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError("the .safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError("the .safetensors __metadata__ is not an object of strings")
    buffer = size - 8 - n
    entries = []
    for key, spec in header.items():
        dtype, shape, begin, end = _check_entry(key, spec, buffer)
        entries.append((begin, end, key, dtype, shape))
    # the tensors must tile the buffer: sorted by offset, each starts where the last ended
    position = 0
    for begin, end, key, _, _ in sorted(entries, key=lambda e: (e[0], e[1])):
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else "leaves a gap"
            raise CheckpointError(f"the .safetensors entry {key[:80]!r} {what} (offset {begin})")
        position = end
    if position != buffer:
        raise CheckpointError(
            f"the .safetensors tensors cover {position} bytes but the file holds {buffer}"
        )
    data_start = start + 8 + n
    arrays = {}
    for begin, end, key, dtype, shape in sorted(entries, key=lambda e: (e[0], e[1])):
        out = np.empty(math.prod(shape), dtype=dtype)
        f.seek(data_start + begin)
        view = memoryview(out).cast("B")
        if f.readinto(view) != end - begin:
            raise CheckpointError(f"the .safetensors file is truncated in {key[:80]!r}")
        try:
            arrays[key] = out.reshape(shape)
        except ValueError as e:  # a dimension past what NumPy indexes (with a zero elsewhere)
            raise CheckpointError(
                f"the .safetensors entry {key[:80]!r}: shape {shape} ({e})"
            ) from None
    result: OrderedDict = OrderedDict()
    for _, _, key, dtype, _ in entries:  # in the header's order
        a = arrays[key]
        if not dtype.isnative:
            a = a.astype(dtype.newbyteorder("="))
        result[key] = Tensor._wrap(a)
    return result


def _check_entry(key: str, spec: Any, buffer: int) -> tuple:
    name = key[:80]
    # (other keys are ignored, as the reference implementation does)
    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= set(spec):
        raise CheckpointError(
            f"the .safetensors entry {name!r} is not {{dtype, shape, data_offsets}}"
        )
    code, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if not isinstance(code, str) or code not in _ST_TO_DTYPE:
        if isinstance(code, str) and code in _ST_NO_NUMPY:
            raise CheckpointError(
                f"the .safetensors entry {name!r} has dtype {code}, which NumPy cannot hold "
                f"(convert it on the PyTorch side first, e.g. tensor.float())"
            )
        raise CheckpointError(
            f"the .safetensors entry {name!r} has unknown dtype {str(code)[:20]!r}"
        )
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise CheckpointError(f"the .safetensors entry {name!r} has shape {str(shape)[:80]}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= buffer
    ):
        raise CheckpointError(
            f"the .safetensors entry {name!r} has offsets {str(offsets)[:80]} outside the "
            f"{buffer}-byte buffer"
        )
    dtype = _ST_TO_DTYPE[code]
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise CheckpointError(
            f"the .safetensors entry {name!r}: shape {shape} of {code} needs "
            f"{math.prod(shape) * dtype.itemsize} bytes, its offsets span "
            f"{offsets[1] - offsets[0]}"
        )
    return dtype, shape, offsets[0], offsets[1]
