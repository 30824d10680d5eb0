"""Files from elsewhere, fuzzed: random and mutated checkpoints (.npz and .safetensors) and
IDX files. Whatever the bytes, a reader returns a value or raises its documented error
(CheckpointError, IDXError), never another exception, and its work stays bounded by the
file's size (checked per example: time by hypothesis' deadline, memory by tracemalloc)."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.data import IDXError, read_idx
from minigrad.serialization import META_KEY, CheckpointError

FUZZ = settings(
    max_examples=100,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _within_bounds(fn, size: int):
    """Run a reader: its result, or its documented error; memory bounded by the input."""
    tracemalloc.start()
    try:
        return fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # what a reader may hold: the file's bytes a few times over, plus parsing overhead
        assert peak < 8 * size + 4_000_000, f"{peak} bytes for a {size}-byte file"


def _load(data: bytes):
    try:
        return _within_bounds(lambda: mg.load(io.BytesIO(data)), len(data))
    except CheckpointError:
        return None


# ----------------------------------------------------------------------------- mutations


def _valid_checkpoint() -> bytes:
    buf = io.BytesIO()
    mg.save(
        {
            "model": OrderedDict(w=np.arange(12, dtype=np.float32).reshape(3, 4), b=np.zeros(4)),
            "step": 3,
            "lr": [0.1, float("nan")],
            "scalar": np.float64(2.5),
            "t": mg.tensor(np.ones(2)),
            ("a", 1): None,
        },
        buf,
    )
    return buf.getvalue()


def _valid_safetensors() -> bytes:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        mg.save(
            {"w": np.arange(6, dtype=np.float32), "i": np.arange(3), "h": np.ones(2, np.float16)},
            path,
        )
        with open(path, "rb") as f:
            return f.read()


def _valid_idx(gz: bool) -> bytes:
    raw = struct.pack(">IIII", 0x00000803, 3, 2, 2) + bytes(range(12))
    return gzip.compress(raw) if gz else raw


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few random edits: byte flips, overwritten little-endian integers
    (sizes and offsets live in such fields), truncation, insertion, duplication."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "int", "truncate", "insert", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "int" and len(data) >= 4:
            width = draw(st.sampled_from([2, 4, 8]))
            value = draw(
                st.sampled_from([0, 1, 255, 2**15, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1])
            )
            value %= 2 ** (8 * width)
            data[pos : pos + width] = value.to_bytes(width, "little")
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "dup":
            end = draw(st.integers(pos, min(len(data), pos + 64)))
            data[pos:pos] = data[pos:end]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data):
    _load(data)
    _load(b"PK\x03\x04" + data)  # a zip's magic, then anything
    _load(struct.pack("<Q", len(data)) + b"{" + data)  # a safetensors-like start


@FUZZ
@given(mutated(_valid_checkpoint()))
def test_mutated_checkpoints(data):
    _load(data)


@FUZZ
@given(mutated(_valid_safetensors()))
def test_mutated_safetensors(data):
    _load(data)


# ----------------------------------------------------------------------------- structure


def _json_values():
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.sampled_from(["none", "bool", "int", "float", "str", "list", "tuple", "dict", "odict",
                         "array", "scalar", "tensor", "a0", "a1", "nan", "inf"]),
    )  # fmt: skip
    keys = st.sampled_from(["t", "v", "items", "ref", "requires_grad", "param", "x"])
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=30,
    )


def _npy(draw) -> bytes:
    """An .npy member: half the time a consistent one (any dtype NumPy writes, objects
    pickled), else a hand-written header that may lie about the data after it."""
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(["<f8", "<f4", "|u1", "<i8", "?", "<U2", "|S3", "<c16",
                                      "|V4", "O", "<M8[s]", "f4,i2", ">i2"]))  # fmt: skip
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
        a = np.zeros(shape, dtype=dtype)
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a, allow_pickle=True)
        return buf.getvalue()
    descrs = ["<f8", "<f4", "|u1", "<i8", "|b1", "<U2", "|S3", "<c16", "|V4", "|O", "<M8[s]",
              "[('a', '<f4')]", ">i2", "bogus", "|S0"]  # fmt: skip
    descr = draw(st.sampled_from(descrs))
    shape = draw(st.lists(st.integers(-2, 2**64), max_size=3).map(tuple))
    header = repr({"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape})
    header = header.encode("latin1") + b"\n"
    data = draw(st.binary(max_size=64))
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def _nodes():
    """Metadata trees shaped like the format's (mostly valid node types, some not)."""
    junk = _json_values()
    flag = st.one_of(st.booleans(), junk)
    leaf = st.one_of(
        st.builds(lambda t, v: {"t": t, "v": v},
                  st.sampled_from(["none", "bool", "int", "float", "str"]), junk),
        st.builds(lambda t, ref, g, p: {"t": t, "ref": ref, "requires_grad": g, "param": p},
                  st.sampled_from(["array", "scalar", "tensor"]),
                  st.sampled_from(["a0", "a1", "a2", "a9", META_KEY, 0]), flag, flag),
        junk,
    )  # fmt: skip

    def extend(inner):
        return st.one_of(
            st.builds(lambda t, items: {"t": t, "items": items},
                      st.sampled_from(["list", "tuple"]), st.lists(inner, max_size=3)),
            st.builds(lambda t, pairs: {"t": t, "items": pairs},
                      st.sampled_from(["dict", "odict"]),
                      st.lists(st.lists(inner, min_size=2, max_size=2), max_size=3)),
        )  # fmt: skip

    return st.recursive(leaf, extend, max_leaves=12)


@settings(FUZZ, max_examples=250)  # old bugs showed in ~1% of these (generation is slow)
@given(st.data())
def test_structured_checkpoints(data):
    root = data.draw(_nodes())
    meta = json.dumps({"format": "minigrad-checkpoint", "version": 1, "root": root}).encode()
    header = repr({"descr": "|u1", "fortran_order": False, "shape": (len(meta),)}).encode() + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            META_KEY + ".npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + meta
        )
        for i in range(data.draw(st.integers(0, 3))):
            z.writestr(f"a{i}.npy", _npy(data.draw))
    _load(buf.getvalue())


@FUZZ
@given(st.data())
def test_structured_safetensors(data):
    dtypes = st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "F16", "BF16", "X9", 3])
    entry = st.fixed_dictionaries(
        {
            "dtype": dtypes,
            "shape": st.lists(st.one_of(st.integers(-1, 2**64), st.floats(0, 4)), max_size=3),
            "data_offsets": st.lists(st.integers(-8, 2**64), min_size=0, max_size=3),
        }
    )
    header = data.draw(
        st.dictionaries(st.text(max_size=4), st.one_of(entry, _json_values()), max_size=4)
    )
    text = json.dumps(header).encode()
    body = data.draw(st.binary(max_size=128))
    _load(struct.pack("<Q", len(text)) + text + body)


# ----------------------------------------------------------------------------- IDX


def _read_idx_bytes(tmp_path, data: bytes):
    path = tmp_path / "f.idx"
    path.write_bytes(data)
    try:
        return _within_bounds(lambda: read_idx(path), len(data))
    except IDXError:
        return None


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("idx")


@FUZZ
@given(st.data())
def test_idx_headers(idx_dir, data):
    code = data.draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
    dims = data.draw(st.lists(st.integers(0, 2**32 - 1), max_size=5))
    ndim = data.draw(st.sampled_from([len(dims), 255, 0]))
    raw = struct.pack(">HBB", data.draw(st.sampled_from([0, 1])), code, ndim)
    raw += struct.pack(f">{len(dims)}I", *dims) + data.draw(st.binary(max_size=64))
    _read_idx_bytes(idx_dir, raw)
    _read_idx_bytes(idx_dir, gzip.compress(raw))


@FUZZ
@given(st.one_of(mutated(_valid_idx(False)), mutated(_valid_idx(True))))
def test_mutated_idx(idx_dir, data):
    _read_idx_bytes(idx_dir, data)


def test_idx_shape_past_numpys_index_range_with_a_zero_extent(tmp_path):
    """Found by test_idx_headers: no data (one extent is 0), but the other extents
    multiply past what NumPy can index, so reshaping the empty array raised a bare
    ValueError instead of IDXError."""
    raw = struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", 0, 3247, 5658714, 501983791)
    path = tmp_path / "f.idx"
    for data in (raw, gzip.compress(raw)):
        path.write_bytes(data)
        with pytest.raises(IDXError, match="more than NumPy can index"):
            read_idx(path)
