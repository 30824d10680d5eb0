"""Checkpoints: round trips (bit-exact arrays, nested Python values), atomic writes,
clear errors for corrupt or foreign files, and no pickle anywhere."""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.serialization import META_KEY, CheckpointError, load, save


def test_nested_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    obj = {
        "model": OrderedDict(
            [
                ("w", rng.standard_normal((3, 4)).astype(np.float32)),
                ("b", np.arange(4, dtype=np.int64)),
            ]
        ),
        "epoch": 12,
        "big": 2**80,
        "lr": 1e-3,
        "weird": [float("nan"), float("inf"), -float("inf"), -0.0],
        "flags": (True, False, None),
        "name": "run \u03b1",
        "history": [{"loss": 0.5, "acc": np.float32(0.25)}, {"loss": 0.25}],
        3: "int key",
        (1, "a"): "tuple key",
        "empty": {},
        "mask": np.array([True, False]),
        "scalar0d": np.array(5.0),
        "tensor": mg.tensor(np.ones((2, 2)), requires_grad=True),
        "param": nn.Parameter(np.zeros(3, dtype=np.float32)),
    }
    path = tmp_path / "ck.mg"
    save(obj, path)
    got = load(path)
    assert isinstance(got["model"], OrderedDict) and list(got["model"]) == ["w", "b"]
    for k in ("w", "b"):
        assert got["model"][k].dtype == obj["model"][k].dtype
        np.testing.assert_array_equal(got["model"][k], obj["model"][k])
    assert got["epoch"] == 12 and got["big"] == 2**80 and got["lr"] == 1e-3
    w = got["weird"]
    assert math.isnan(w[0]) and w[1:3] == [math.inf, -math.inf]
    assert math.copysign(1, w[3]) == -1
    assert got["flags"] == (True, False, None) and got["name"] == "run \u03b1"
    assert got["history"][0]["acc"] == np.float32(0.25)
    assert type(got["history"][0]["acc"]) is np.float32
    assert got[3] == "int key" and got[(1, "a")] == "tuple key" and got["empty"] == {}
    assert got["mask"].dtype == bool and got["scalar0d"].shape == ()
    assert isinstance(got["tensor"], mg.Tensor) and got["tensor"].requires_grad
    assert isinstance(got["param"], nn.Parameter)
    assert list(got) == list(obj)  # order kept


def test_file_is_plain_npz_with_json_metadata(tmp_path):
    path = tmp_path / "ck.npz"
    save({"a": np.arange(3.0)}, path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z[META_KEY].tobytes().decode())
        assert meta["format"] == "minigrad-checkpoint" and meta["version"] == 1
        ref = meta["root"]["items"][0][1]["ref"]
        np.testing.assert_array_equal(z[ref], np.arange(3.0))


def test_model_trained_saved_loaded_gives_identical_outputs(tmp_path):
    mg.manual_seed(0)

    def make():
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))

    model = make()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x = mg.randn(16, 6)
    y = mg.tensor(np.random.default_rng(1).integers(0, 2, 16))
    for _ in range(10):
        opt.zero_grad()
        mg.functional.cross_entropy(model(x), y).backward()
        opt.step()
    save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 10}, tmp_path / "m")

    fresh = make()
    ck = load(tmp_path / "m")
    fresh.load_state_dict(ck["model"])
    model.eval()
    fresh.eval()
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    opt2 = optim.Adam(fresh.parameters(), lr=1e-2)
    opt2.load_state_dict(ck["optim"])
    assert opt2.state_dict()["state"][0]["step"] == 10


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "ck"
    save({"v": 1}, path)
    save({"v": 2}, path)
    assert load(path) == {"v": 2}

    # a crash while writing leaves the old checkpoint intact and no temporary file
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        save({"v": 3}, path)
    monkeypatch.undo()
    assert load(path) == {"v": 2}
    assert sorted(os.listdir(tmp_path)) == ["ck"]


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot save Linear"):
        save(nn.Linear(2, 2), tmp_path / "x")
    with pytest.raises(TypeError, match="object cannot be saved without pickle"):
        save({"a": np.array([{}, 1], dtype=object)}, tmp_path / "x")
    with pytest.raises(TypeError, match="dict key"):
        save({frozenset(): 1}, tmp_path / "x")
    assert not os.listdir(tmp_path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load("/nonexistent/dir/ck.npz")


def test_foreign_and_corrupt_files(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        load(text)

    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(2))
    with pytest.raises(CheckpointError, match="without minigrad metadata"):
        load(plain)

    npy = tmp_path / "a.npy"
    np.save(npy, np.zeros(2))
    with pytest.raises(CheckpointError, match="single .npy"):
        load(npy)

    good = tmp_path / "good.npz"
    save({"w": np.arange(1000.0)}, good)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load(trunc)

    # flip bytes inside the array payload: the zip CRC check catches it
    flipped = bytearray(data)
    mid = data.find(b"\x00\x00\x00\x00\x00\x00\xf0?")  # 1.0 as little-endian float64
    flipped[mid + 7] ^= 0xFF
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError):
        load(bad)


def _write_zip(path, entries):
    with zipfile.ZipFile(path, "w") as z:
        for name, arr in entries.items():
            with z.open(name + ".npy", "w") as f:
                np.lib.format.write_array(f, arr, allow_pickle=True)


def test_bad_metadata_and_pickled_payloads_are_refused(tmp_path):
    def meta(d):
        return np.frombuffer(json.dumps(d).encode(), dtype=np.uint8)

    cases = {
        "version": meta({"format": "minigrad-checkpoint", "version": 99, "root": {"t": "none"}}),
        "format": meta({"format": "other", "version": 1, "root": {"t": "none"}}),
        "missing array": meta(
            {"format": "minigrad-checkpoint", "version": 1, "root": {"t": "array", "ref": "a7"}}
        ),
        "unknown node": meta(
            {
                "format": "minigrad-checkpoint",
                "version": 1,
                "root": {"t": "pickle", "v": "os.system"},
            }
        ),
        "not json": np.frombuffer(b"{nope", dtype=np.uint8),
    }
    for name, m in cases.items():
        p = tmp_path / (name.replace(" ", "_") + ".npz")
        _write_zip(p, {META_KEY: m})
        with pytest.raises(CheckpointError):
            load(p)

    # an entry that would need pickle to load is refused, never unpickled
    p = tmp_path / "obj.npz"
    ok = meta({"format": "minigrad-checkpoint", "version": 1, "root": {"t": "array", "ref": "a0"}})
    _write_zip(p, {META_KEY: ok, "a0": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="corrupt or not a minigrad checkpoint"):
        load(p)


def test_file_objects():
    import io

    buf = io.BytesIO()
    save({"w": np.arange(4, dtype=np.float32), "step": 3}, buf)
    buf.seek(0)
    got = load(buf)
    assert got["step"] == 3 and got["w"].dtype == np.float32
    np.testing.assert_array_equal(got["w"], np.arange(4))
    with pytest.raises(CheckpointError):
        load(io.BytesIO(b"not a zip"))
