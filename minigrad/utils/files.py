"""Writing files atomically: the one writer behind ``mg.save``, ``write_idx`` and downloads.

``atomic_write(path)`` hands out a file object open on a temporary file in the directory of
the file ``path`` finally names; when the ``with`` block ends without an exception the
bytes are flushed, fsync'ed and renamed over the target (``os.replace``, atomic on POSIX and
Windows), then the directory is fsync'ed so the rename itself survives a power cut. A
reader therefore sees the old file or the new one, never a mixture.

What a plain ``open(path, "wb")`` gets right and a naive temp-file-and-rename gets wrong,
and what is done here instead:

- Permissions. The temporary file is created with mode 0o666, so the kernel applies the
  process umask as it does for ``open`` (``tempfile.mkstemp`` always gives 0o600).
  Overwriting an existing file keeps that file's permission bits; a file we may not write
  is refused with ``PermissionError`` as ``open`` would (the rename could otherwise replace
  a read-only file). Owner, group, ACLs and extended attributes are not copied.
- Symbolic links. ``path`` is resolved first, so saving through a link rewrites the file it
  points to and the link stays a link (a rename onto the link itself would replace it).
- Interrupted writes. A process killed mid-write cannot run any clean-up, so its temporary
  file survives. It is named after the target, visibly: ``model.npz.tmp-<pid>-<random>``
  sits next to ``model.npz`` in a listing and says what it is, so a user can delete it;
  nothing here deletes such files automatically, because from another process (or another
  machine sharing the folder) a slow save still in progress looks exactly like a dead one.
  On an exception the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import BinaryIO, Union

__all__ = ["atomic_write", "TEMP_MARKER"]

PathLike = Union[str, "os.PathLike[str]"]

# The part of a temporary file's name after the target's name.
TEMP_MARKER = ".tmp-"
_MAX_NAME = 200  # leave room for the marker within a file system's 255-byte names


def _temp_path(target: str) -> str:
    directory, name = os.path.split(target)
    suffix = f"{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(directory, name[:_MAX_NAME] + suffix)


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[BinaryIO]:
    """``with atomic_write(path) as f: f.write(...)`` replaces ``path`` atomically; see the
    module docstring for permissions, symbolic links and interrupted writes."""
    target = os.path.realpath(os.fspath(path))  # through symbolic links, to the real file
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: the umask decides, as for open()
    if mode is not None and not os.access(target, os.W_OK):
        raise PermissionError(f"{os.fspath(path)}: permission denied (the file is read-only)")
    tmp = _temp_path(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(target))


def _fsync_dir(directory: str) -> None:
    """Make a rename durable (POSIX); skipped where directories cannot be opened (Windows)."""
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
