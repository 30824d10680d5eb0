"""Checkpoints: ``mg.save(obj, path)`` and ``mg.load(path)``, without pickle.

File format (version 1)
-----------------------
A checkpoint is an uncompressed NumPy ``.npz`` archive (a zip of ``.npy`` files):

* ``__minigrad__.npy``: a uint8 array holding UTF-8 JSON, the metadata::

      {"format": "minigrad-checkpoint", "version": 1, "root": NODE}

* ``a0.npy``, ``a1.npy``, ...: one entry per array in the saved object.

``NODE`` describes the object tree, one JSON object per value:

======================================  =========================================
``{"t": "none"}``                       ``None``
``{"t": "bool", "v": true}``            bool
``{"t": "int", "v": 3}``                int (any size)
``{"t": "float", "v": 0.5}``            float; ``"nan"``, ``"inf"``, ``"-inf"`` as strings
``{"t": "str", "v": "..."}``            str
``{"t": "list"|"tuple", "items": [NODE, ...]}``
``{"t": "dict"|"odict", "items": [[NODE, NODE], ...]}``  keys and values, in order
``{"t": "array", "ref": "a0"}``         np.ndarray (numeric, bool or string dtype)
``{"t": "scalar", "ref": "a1"}``        NumPy scalar (a 0-d array, given back as a scalar)
``{"t": "tensor", "ref": "a2", "requires_grad": false, "param": false}``
======================================  =========================================

So state dicts, optimizer states (integer keys), and nested dicts with epoch
numbers or loss histories all round-trip, arrays bit for bit.  Loading uses
``np.load(allow_pickle=False)`` and builds only the types above, so a file can
never run code.  Writing goes to a temporary file in the target's directory,
which is flushed, fsync'ed and renamed over the target (``os.replace``, atomic on
POSIX and Windows): a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any, Union

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "minigrad-checkpoint"
VERSION = 1
META_KEY = "__minigrad__"

PathLike = Union[str, "os.PathLike[str]"]


class CheckpointError(ValueError):
    """A file that is not a valid minigrad checkpoint (corrupt, truncated, foreign)."""


# --------------------------------------------------------------------------- encoding


def _encode(obj: Any, arrays: dict, path: str) -> dict:
    """The metadata node for ``obj``; arrays are moved into ``arrays``."""
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, bool):
        return {"t": "bool", "v": obj}
    if isinstance(obj, int) and not isinstance(obj, np.generic):
        return {"t": "int", "v": obj}
    if isinstance(obj, float) and not isinstance(obj, np.generic):
        return {"t": "float", "v": obj if math.isfinite(obj) else repr(obj)}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, Tensor):
        node = _store(obj._data, arrays, "tensor")
        node["requires_grad"] = bool(obj.requires_grad)
        node["param"] = type(obj).__name__ == "Parameter"
        return node
    if isinstance(obj, np.ndarray):
        return _store(obj, arrays, "array")
    if isinstance(obj, np.generic):
        return _store(np.asarray(obj), arrays, "scalar")
    if isinstance(obj, (list, tuple)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {"t": kind, "items": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        kind = "odict" if isinstance(obj, OrderedDict) else "dict"
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, tuple, type(None))):
                raise TypeError(
                    f"mg.save: dict key {k!r} at {path} has type {type(k).__name__}; keys must "
                    f"be str, int, float, bool, None or tuples of those"
                )
            items.append([_encode(k, arrays, path), _encode(v, arrays, f"{path}[{k!r}]")])
        return {"t": kind, "items": items}
    raise TypeError(
        f"mg.save: cannot save {type(obj).__name__} at {path}; supported are dicts, lists, "
        f"tuples, str, int, float, bool, None, NumPy arrays and scalars, and Tensors "
        f"(save a model's state_dict(), not the model)"
    )


def _store(a: np.ndarray, arrays: dict, kind: str) -> dict:
    if a.dtype.hasobject or a.dtype.kind not in "biufcSU":
        raise TypeError(
            f"mg.save: arrays of dtype {a.dtype} cannot be saved without pickle "
            f"(expected a numeric, bool or string dtype)"
        )
    ref = f"a{len(arrays)}"
    arrays[ref] = a
    return {"t": kind, "ref": ref}


def save(obj: Any, path: PathLike) -> None:
    """Write ``obj`` (nested dicts/lists of arrays, Tensors and scalars) to ``path``
    atomically; the format is described in ``minigrad.serialization``.  ``path`` may
    also be a writable binary file object (then the caller owns atomicity)."""
    arrays: dict = {}
    root = _encode(obj, arrays, "obj")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False).encode(
        "utf-8"
    )
    payload = {META_KEY: np.frombuffer(meta, dtype=np.uint8), **arrays}
    if hasattr(path, "write"):
        np.savez(path, **payload)
        return

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- decoding


def _decode(node: Any, arrays: Any) -> Any:
    if not isinstance(node, dict) or "t" not in node:
        raise CheckpointError(f"malformed metadata node {str(node)[:80]!r}")
    t = node["t"]
    if t == "none":
        return None
    if t in ("bool", "int", "str"):
        v = node.get("v")
        want = {"bool": bool, "int": int, "str": str}[t]
        if type(v) is not want:
            raise CheckpointError(f"metadata node of type {t} holds {v!r}")
        return v
    if t == "float":
        v = node.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise CheckpointError(f"metadata node of type float holds {v!r}")
    if t in ("list", "tuple"):
        items = [_decode(n, arrays) for n in _items(node)]
        return items if t == "list" else tuple(items)
    if t in ("dict", "odict"):
        out = OrderedDict() if t == "odict" else {}
        for pair in _items(node):
            if not isinstance(pair, list) or len(pair) != 2:
                raise CheckpointError("malformed dict entry in metadata")
            k = _decode(pair[0], arrays)
            if isinstance(k, list):
                raise CheckpointError("a dict key in metadata is a list")
            out[k] = _decode(pair[1], arrays)
        return out
    if t in ("array", "scalar", "tensor"):
        ref = node.get("ref")
        if not isinstance(ref, str) or ref == META_KEY or ref not in arrays.files:
            raise CheckpointError(f"metadata refers to a missing array entry {ref!r}")
        a = arrays[ref]
        if t == "array":
            return a
        if t == "scalar":
            return a[()]
        if node.get("param"):
            from minigrad.nn.module import Parameter

            return Parameter(a, requires_grad=bool(node.get("requires_grad", True)))
        return Tensor(a, requires_grad=bool(node.get("requires_grad", False)))
    raise CheckpointError(f"unknown metadata node type {t!r}")


def _items(node: dict) -> list:
    items = node.get("items")
    if not isinstance(items, list):
        raise CheckpointError(f"metadata node of type {node['t']} has no item list")
    return items


def load(path: PathLike) -> Any:
    """Read an object written by ``save``.  Raises ``FileNotFoundError`` for a missing
    file and ``CheckpointError`` (a ValueError) for anything that is not an intact
    minigrad checkpoint; never unpickles.  ``path`` may also be a readable, seekable
    binary file object."""
    path = path if hasattr(path, "read") else os.fspath(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"mg.load: {path!r} is not a minigrad checkpoint (cannot read it as an .npz "
            f"archive: {e})"
        ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise CheckpointError(
            f"mg.load: {path!r} is a single .npy array, not a minigrad checkpoint "
            f"(written by mg.save)"
        )
    with npz:
        try:
            if META_KEY not in npz.files:
                raise CheckpointError(
                    f"mg.load: {path!r} is an .npz archive without minigrad metadata "
                    f"({META_KEY!r} entry); it was not written by mg.save"
                )
            raw = npz[META_KEY]
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise CheckpointError("the metadata entry is not a byte string")
            try:
                meta = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise CheckpointError(f"the metadata is not valid JSON ({e})") from None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError("the metadata does not name the minigrad checkpoint format")
            if meta.get("version") != VERSION:
                raise CheckpointError(
                    f"checkpoint format version {meta.get('version')!r}; this minigrad reads "
                    f"version {VERSION}"
                )
            return _decode(meta.get("root"), npz)
        except CheckpointError as e:
            msg = str(e)
            if not msg.startswith("mg.load"):
                msg = f"mg.load: {path!r} is not a valid minigrad checkpoint: {msg}"
            raise CheckpointError(msg) from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
            # a damaged member: bad CRC, truncated data, an object array needing pickle
            raise CheckpointError(
                f"mg.load: {path!r} is corrupt or not a minigrad checkpoint "
                f"({type(e).__name__}: {e})"
            ) from None
