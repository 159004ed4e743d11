"""Opening files that a user, or someone else, may have put in the way: regular files only, sizes
bounded, and writes that never follow a symbolic link.

Reading: a named pipe (FIFO), a device, a socket or a directory under a file's name is refused
before anything is read, without blocking (``O_NONBLOCK`` at open, then ``fstat``), so a config or
an image named by a FIFO cannot hang the toolkit; a file larger than the caller's limit is refused
before it is read. Writing into a run directory: a symbolic link or a hard link planted where a
file goes is refused (``O_NOFOLLOW``, link count), so a run cannot be made to overwrite a file
elsewhere.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from .errors import ToolkitError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _open_error(exc: OSError, path: Path, what: str, error: type[ToolkitError]) -> ToolkitError:
    if exc.errno == errno.ELOOP:
        return error(f"{what} '{path}' is a symbolic link that loops (or, where links are not followed, a link); point at the real file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return error(f"{what} '{path}' cannot be read (permission denied); fix its permissions")
    if exc.errno == errno.EISDIR:
        return error(f"{what} '{path}' is a directory, not a file")
    return error(f"{what} '{path}' cannot be opened ({exc.strerror or exc})")


def open_regular(path: str | Path, what: str = "file", error: type[ToolkitError] = ToolkitError, limit: int | None = None) -> IO[bytes]:
    """Open ``path`` for reading only if it is a regular file (and, with ``limit``, at most that
    many bytes); otherwise raise ``error`` with one line naming ``what`` and the problem. Never
    blocks. A missing file raises FileNotFoundError, for the caller to say where it should come from."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _open_error(exc, path, what, error) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} '{path}' is {_kind(info.st_mode)}, not a regular file; give a regular file")
        if limit is not None and info.st_size > limit:
            raise error(f"{what} '{path}' is {info.st_size:,} bytes, more than the {limit:,} allowed; is it the right file?")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path, what: str = "file", error: type[ToolkitError] = ToolkitError, limit: int = 1 << 30) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path, what, error, limit) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew since it was opened
        raise error(f"{what} '{path}' is more than the {limit:,} bytes allowed; is it the right file?")
    return data


def _refuse(path: Path, problem: str) -> ToolkitError:
    return ToolkitError(f"refusing to write '{path}': {problem}; remove it (was it put there by someone else?) and retry")


def real_directory(path: str | Path) -> Path:
    """``path`` as a directory (created when missing), refused when it is a symbolic link or not a directory."""
    path = Path(path)
    if path.is_symlink():
        raise _refuse(path, "it is a symbolic link, and the toolkit writes only into a real directory")
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise _refuse(path, "it is not a directory")
    return path


def open_for_write(path: str | Path, append: bool = False, binary: bool = False) -> IO:
    """Open a file for writing (truncated, or appended to) without following a symbolic link in its
    place, and only if it is a regular file with no other hard link (a new file is created)."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0) | _NOFOLLOW | _NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, "it is a symbolic link") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise _refuse(path, "it is not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, f"it is {_kind(info.st_mode)}")
        if info.st_nlink > 1:
            raise _refuse(path, "it is a hard link to another file")
        os.set_blocking(fd, True)
        if not append:
            os.ftruncate(fd, 0)
        return os.fdopen(fd, ("a" if append else "w") + ("b" if binary else ""))
    except BaseException:
        os.close(fd)
        raise


def write_file(path: str | Path, data: str | bytes) -> None:
    """Replace a file's contents through :func:`open_for_write`."""
    with open_for_write(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


__all__ = ["open_for_write", "open_regular", "read_bytes", "real_directory", "write_file"]
