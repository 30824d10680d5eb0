"""Issue 16 audit, downloads: a mirror that breaks the HTTP protocol while its body is
being read (not only when it is opened) moves on to the next mirror and leaves no partial
file, and the examples' offline note (``--download`` without a network) prints the
whole reason on its line."""

from __future__ import annotations

import argparse
import hashlib
import http.client
import importlib.util
import os
import sys
import urllib.error
from pathlib import Path

import pytest

import minigrad.data as D
from minigrad.data import datasets as dsmod


class _Body:
    """A response whose read() serves ``head`` and then raises ``failure``."""

    def __init__(self, head: bytes, failure: BaseException):
        self.parts = [head, failure]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, n):
        part = self.parts.pop(0) if self.parts else b""
        if isinstance(part, BaseException):
            raise part
        return part


class _Ok(_Body):
    def __init__(self, data: bytes):
        self.parts = [data]


MID_READ_FAILURES = [
    http.client.IncompleteRead(b"ab", 3),
    http.client.RemoteDisconnected("Remote end closed connection without response"),
    http.client.HTTPException("chunked encoding broken"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError("The read operation timed out"),
]


@pytest.mark.parametrize("failure", MID_READ_FAILURES, ids=lambda e: type(e).__name__)
def test_a_mirror_failing_mid_body_moves_on_and_leaves_no_partial_file(
    tmp_path, monkeypatch, failure
):
    served = {
        "http://a/f": lambda: _Body(b"xy", failure),
        "http://b/f": lambda: _Ok(b"abc"),
    }
    monkeypatch.setattr(dsmod, "_urlopen", lambda url, timeout=None: served[url]())
    dest = tmp_path / "f"
    D.download_url(["http://a/f", "http://b/f"], str(dest), hashlib.md5(b"abc").hexdigest(), size=3)
    assert dest.read_bytes() == b"abc"
    assert os.listdir(tmp_path) == ["f"]  # the first mirror's partial bytes are gone


def test_every_mirror_failing_mid_body_is_a_connection_error_naming_each(tmp_path, monkeypatch):
    def opener(url, timeout=None):
        return _Body(b"x", http.client.IncompleteRead(b"x", 9))

    monkeypatch.setattr(dsmod, "_urlopen", opener)
    with pytest.raises(ConnectionError) as info:
        D.download_url(["http://a/f", "http://b/f"], str(tmp_path / "f"), size=10)
    text = str(info.value)
    assert "http://a/f: IncompleteRead" in text and "http://b/f: IncompleteRead" in text
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------- the offline note

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _common():
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    if not (EXAMPLES / "_common.py").exists():
        pytest.skip("examples/ is not next to the tests (an installed copy)")
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location("_common", EXAMPLES / "_common.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


@pytest.mark.parametrize(
    "failure",
    [
        urllib.error.URLError("[Errno -3] Temporary failure in name resolution"),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_download_offline_note_carries_the_whole_reason(tmp_path, monkeypatch, capsys, failure):
    """``--download`` with no network: the examples fall back to the digits and say why in
    one note. The note is the error's first line, so the reason must be on that line,
    complete (it used to read 'could not download <file>:' and nothing more)."""
    common = _common()

    def offline(url, timeout=None):
        raise failure

    monkeypatch.setattr(dsmod, "_urlopen", offline)
    monkeypatch.setattr(common, "find_data_root", lambda explicit: None)
    monkeypatch.setenv("HOME", str(tmp_path))  # the download folder: ~/.cache/minigrad
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    args = argparse.Namespace(
        dataset="mnist", data=None, download=True, limit=None, epochs=None,
        epochs_by_dataset=(1, 1),
    )  # fmt: skip
    train, test, name = common.load_data(args)
    note = capsys.readouterr().out
    assert name == "digits" and len(train) == 1500
    first = note.splitlines()[0]
    assert first.startswith("note: mnist not available (")
    assert str(failure) in first, first
    assert type(failure).__name__ in first and first.endswith(").")
    assert first.count("(") == first.count(")"), f"a cut-off reason: {first}"
    assert not list((tmp_path / ".cache" / "minigrad").rglob("*.gz*"))  # nothing half-written
