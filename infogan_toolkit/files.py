"""Opening files that a user, or someone else, may have put in the way: regular files only, sizes
bounded, and writes that never follow a symbolic link.

Reading: a named pipe (FIFO), a device, a socket or a directory under a file's name is refused
before anything is read, without blocking (``O_NONBLOCK`` at open, then ``fstat``), so a config or
an image named by a FIFO cannot hang the toolkit; a file larger than the caller's limit is refused
before it is read. Writing into a run directory: a symbolic link or a hard link planted where a
file goes is refused (``O_NOFOLLOW``, link count), so a run cannot be made to overwrite a file
elsewhere.

Every write of the toolkit's outputs goes through here (:func:`open_for_write`, :func:`write_file`,
:func:`make_dirs`, :func:`output_file`): the file system's refusals (read-only, permission, full
disk, a file where a folder goes, a name too long, a device) become one line naming the path and
the fix, and a file is written to a temporary name beside it and renamed over the target only
when complete, so a failed write leaves nothing partial behind.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import IO, Any

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
        return error(
            f"{what} '{path}' is a symbolic link that loops (or, where links are not followed, a link); point at the "
            "real file"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return error(f"{what} '{path}' cannot be read (permission denied); fix its permissions")
    if exc.errno == errno.EISDIR:
        return error(f"{what} '{path}' is a directory, not a file")
    return error(f"{what} '{path}' cannot be opened ({exc.strerror or exc})")


def open_regular(
    path: str | Path, what: str = "file", error: type[ToolkitError] = ToolkitError, limit: int | None = None
) -> IO[bytes]:
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
            raise error(
                f"{what} '{path}' is {info.st_size:,} bytes, more than the {limit:,} allowed; is it the right file?"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: str | Path, what: str = "file", error: type[ToolkitError] = ToolkitError, limit: int = 1 << 30
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path, what, error, limit) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:  # it grew since it was opened
        raise error(f"{what} '{path}' is more than the {limit:,} bytes allowed; is it the right file?")
    return data


def _refuse(path: Path, problem: str) -> ToolkitError:
    return ToolkitError(
        f"refusing to write '{path}': {problem}; remove it (was it put there by someone else?) and retry"
    )


def real_directory(path: str | Path) -> Path:
    """``path`` as a directory (created when missing), refused when it is a symbolic link or not a directory."""
    path = Path(path)
    if path.is_symlink():
        raise _refuse(path, "it is a symbolic link, and the toolkit writes only into a real directory")
    make_dirs(path)
    if path.is_symlink():  # planted between the check and the mkdir
        raise _refuse(path, "it is a symbolic link, and the toolkit writes only into a real directory")
    return path


class OutputError(ToolkitError):
    """The file system refused a write: one line naming the path and the fix."""


def write_problem(exc: OSError, path: str | Path) -> OutputError:
    """The one line for a write the file system refused (``exc``) at ``path``."""
    path = Path(path)
    code = exc.errno
    if code == errno.EROFS:
        why = "the file system is read-only; write somewhere else (another --out)"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied; fix the folder's permissions or write somewhere else"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        why = "the disk is full (or the quota used up); free some space or write somewhere else"
    elif code == errno.ENOTDIR:
        why = "a part of the path is a file, not a folder; pick another path"
    elif code == errno.EEXIST:
        why = "a file is in the way of a folder; remove it or pick another path"
    elif code == errno.ENAMETOOLONG:
        why = "the name is longer than the file system allows; pick a shorter one"
    elif code == errno.EISDIR:
        why = "it is a folder; name a file"
    else:
        why = f"{exc.strerror or type(exc).__name__}; pick another path"
    return OutputError(f"cannot write '{path}': {why}")


def make_dirs(path: str | Path) -> Path:
    """``path`` as a folder, created with its parents when missing; the file system's refusal (a
    file in the way, read-only, permission, name too long) is one :class:`OutputError` line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"cannot write into '{path}': it is a file, not a folder; remove it or pick another path"
        ) from None
    except OSError as exc:
        raise write_problem(exc, path) from None
    if not path.is_dir():
        raise OutputError(f"cannot write into '{path}': it is not a folder; pick another path")
    return path


def output_file(path: str | Path, suffixes: tuple[str, ...] = (), what: str = "--out") -> Path:
    """Check where a command will write one file, before the work that makes it: the name ends
    in one of ``suffixes`` (when given), the place is not a folder, a device or anything but a
    regular file, and its folder exists or can be made. A one-line :class:`OutputError` otherwise."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(
            f"{what} '{path}' must end in {' or '.join(suffixes)}; give a file name such as out{suffixes[0]}"
        )
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise write_problem(exc, path) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise _refuse(path, "it is a symbolic link")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{what} '{path}' is {_kind(info.st_mode)}; name a regular file to write")
    if len(path.name.encode()) > 255:
        raise OutputError(f"cannot write '{path}': the name is longer than the file system allows; pick a shorter one")
    # The folder is made when the file is written (and removed again if that fails); here only
    # what is already in the way is refused: a file where a folder goes.
    for parent in path.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise OutputError(f"cannot write '{path}': '{parent}' is a file, not a folder; pick another path")
            break
    return path


def make_missing_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first (see :func:`make_dirs`)."""
    missing = []
    for parent in [folder, *folder.parents]:
        if os.path.lexists(parent):
            break
        missing.append(parent)
    make_dirs(folder)
    return missing[::-1]


def remove_made_dirs(created: list[Path]) -> None:
    """Remove the folders a failed write created, innermost first, where they are still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


class _Replacing:
    """A file being written under a temporary name beside its target; renamed over the target
    when closed without an error, removed otherwise (see :func:`open_for_write`)."""

    def __init__(self, fh: IO, tmp: Path, path: Path, created: list[Path]) -> None:
        self._fh, self._tmp, self._path, self._done, self._created = fh, tmp, path, False, created

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _Replacing:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.close(failed=kind is not None)
        if isinstance(exc, OSError):  # a write that failed (a full disk): one line, nothing left
            raise write_problem(exc, self._path) from None

    def __iter__(self):
        return iter(self._fh)

    def close(self, failed: bool = False) -> None:
        """Finish: rename the complete file over the target, or remove it when ``failed``."""
        if self._done:
            return
        self._done = True
        try:
            if failed:
                self._fh.close()
                raise _Failed
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self._path)  # replaces a name: a link planted there is never followed
        except _Failed:
            self._tmp.unlink(missing_ok=True)
            remove_made_dirs(self._created)
        except OSError as exc:
            try:
                self._fh.close()
            except OSError:
                pass
            self._tmp.unlink(missing_ok=True)
            remove_made_dirs(self._created)
            raise write_problem(exc, self._path) from None
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            remove_made_dirs(self._created)
            raise


class _Failed(Exception):
    pass


def open_for_write(path: str | Path, append: bool = False, binary: bool = False) -> IO:
    """Open a file for writing without following a symbolic link in its place, and only if it is a
    regular file with no other hard link (a new file is created). Appending writes in place;
    otherwise the data goes to a temporary file beside it that replaces it when closed without an
    error (use it in a ``with`` block), so a full disk or an exception leaves the old file, or none.
    The file system's refusals are one :class:`OutputError` line."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else 0) | _NOFOLLOW | _NONBLOCK
    try:
        fd = os.open(path, flags, 0o644) if append else None
        if fd is None:  # check what is at the name now; the rename later replaces the name itself
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                info = None
            if info is not None:
                if stat.S_ISLNK(info.st_mode):
                    raise _refuse(path, "it is a symbolic link")
                if not stat.S_ISREG(info.st_mode):
                    raise _refuse(path, f"it is {_kind(info.st_mode)}")
                if info.st_nlink > 1:
                    raise _refuse(path, "it is a hard link to another file")
            if len(path.name.encode()) > 200:  # the temporary name adds a few characters
                raise OSError(errno.ENAMETOOLONG, "File name too long")
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            created = make_missing_dirs(path.parent)
            try:
                tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
            except OSError:
                remove_made_dirs(created)
                raise
            return _Replacing(os.fdopen(tfd, "wb" if binary else "w"), tmp, path, created)  # type: ignore[return-value]
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, "it is a symbolic link") from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise _refuse(path, "it is not a regular file") from None
        raise write_problem(exc, path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, f"it is {_kind(info.st_mode)}")
        if info.st_nlink > 1:
            raise _refuse(path, "it is a hard link to another file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "a" + ("b" if binary else ""))
    except BaseException:
        os.close(fd)
        raise


def write_file(path: str | Path, data: str | bytes) -> None:
    """Replace a file's contents through :func:`open_for_write`: complete, or not at all."""
    with open_for_write(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


__all__ = [
    "OutputError",
    "make_dirs",
    "make_missing_dirs",
    "remove_made_dirs",
    "open_for_write",
    "open_regular",
    "output_file",
    "read_bytes",
    "real_directory",
    "write_file",
    "write_problem",
]
