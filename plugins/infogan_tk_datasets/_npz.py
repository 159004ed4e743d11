"""Reading arrays out of a numpy ``.npz`` archive without loading them whole and without unpickling.

An ``.npz`` is a zip archive of ``.npy`` files. Each member's ``.npy`` header (dtype, shape, order)
is parsed and checked against the zip directory's uncompressed size before a data byte is read,
so a header that claims a huge array is refused up front. A member stored without compression
(``np.savez``) can be memory-mapped where it lies in the archive; a compressed one
(``np.savez_compressed``) is streamed in chunks. Object arrays (pickles) are never read.
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import attrs
import numpy as np

from infogan_toolkit.api import DataError, open_regular

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # the zip local file header, 30 bytes


@attrs.frozen
class Member:
    """One array in the archive, as its ``.npy`` header describes it."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    #: True when the member is stored uncompressed (then ``data_offset`` is where its bytes start).
    stored: bool
    data_offset: int | None

    @property
    def nbytes(self) -> int:
        """Bytes of array data the header declares."""
        return math.prod(self.shape) * self.dtype.itemsize  # Python ints: a hostile shape cannot overflow


class NpzArchive:
    """An open ``.npz`` file; use as a context manager. Every problem is a one-line :class:`DataError`."""

    def __init__(self, path: Path, fix: str) -> None:
        """Open ``path``; ``fix`` ends every error message (e.g. "download it again")."""
        self.path = path
        self.fix = fix
        self._raw: IO[bytes] = open_regular(path, "data file", DataError)
        try:
            self._zip = zipfile.ZipFile(self._raw)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            self._raw.close()
            raise DataError(f"{path} is not a readable .npz archive ({exc}); it is cut off or damaged, {fix}") from None
        self.keys = tuple(name[:-4] for name in self._zip.namelist() if name.endswith(".npy"))

    def __enter__(self) -> "NpzArchive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive and the file."""
        self._zip.close()
        self._raw.close()

    def require(self, *keys: str) -> None:
        """Raise when any of ``keys`` is not an array in the archive."""
        missing = [k for k in keys if k not in self.keys]
        if missing:
            found = ", ".join(self.keys) or "none"
            raise DataError(f"{self.path} has no array {', '.join(map(repr, missing))} (it holds: {found}); {self.fix}")

    def _open(self, key: str) -> tuple[zipfile.ZipInfo, IO[bytes]]:
        info = self._zip.getinfo(f"{key}.npy")
        return info, self._zip.open(info)

    def member(self, key: str) -> Member:
        """Parse and check ``key``'s header: no object dtype, C order, data within the member's size."""
        self.require(key)
        info, fp = self._open(key)
        where = f"{self.path} array '{key}'"
        try:
            with fp:
                version = np.lib.format.read_magic(fp)
                reader = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = reader(fp)  # checks the header's keys and types, evaluates nothing
                header_end = fp.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{where} has no valid .npy header ({exc}); {self.fix}") from None
        if dtype.hasobject:
            raise DataError(f"{where} holds Python objects (a pickle), which the toolkit never loads; {self.fix}")
        if fortran:
            raise DataError(f"{where} is stored in Fortran order, not as numpy saves the published file; {self.fix}")
        result = Member(key, tuple(int(d) for d in shape), dtype, info.compress_type == zipfile.ZIP_STORED, None)
        if result.nbytes > info.file_size - header_end:
            raise DataError(
                f"{where} declares shape {result.shape} ({result.nbytes:,} bytes) but the archive holds "
                f"{max(info.file_size - header_end, 0):,} bytes for it; {self.fix}"
            )
        if result.stored:
            self._raw.seek(info.header_offset)
            local = self._raw.read(_LOCAL_HEADER.size)
            if len(local) < _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
                raise DataError(f"{where}: the zip entry's header is damaged; {self.fix}")
            fields = _LOCAL_HEADER.unpack(local)
            offset = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1] + header_end
            self._raw.seek(0, 2)
            if self._raw.tell() < offset + result.nbytes:
                raise DataError(
                    f"{where} is cut off: the file ends before its {result.nbytes:,} data bytes; {self.fix}"
                )
            result = attrs.evolve(result, data_offset=offset)
        return result

    def read(self, member: Member) -> np.ndarray:
        """The whole array (for the small ones: labels, factor tables)."""
        parts = list(self.chunks(member, max(1, member.shape[0] if member.shape else 1)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def chunks(self, member: Member, rows: int) -> Iterator[np.ndarray]:
        """The array in pieces of ``rows`` along its first axis, decompressed as they are read."""
        info, fp = self._open(member.key)
        row_shape = member.shape[1:]
        row_bytes = math.prod(row_shape) * member.dtype.itemsize
        total = member.shape[0] if member.shape else 1
        where = f"{self.path} array '{member.key}'"
        try:
            with fp:
                self._skip_header(fp)
                done = 0
                while done < total:
                    n = min(rows, total - done)
                    data = fp.read(n * row_bytes)
                    if len(data) != n * row_bytes:
                        raise DataError(
                            f"{where} ends after {done + len(data) // max(row_bytes, 1):,} of {total:,} rows; "
                            f"{self.fix}"
                        )
                    yield np.frombuffer(data, dtype=member.dtype).reshape((n, *row_shape) if member.shape else ())
                    done += n
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(
                f"cannot read {where} ({type(exc).__name__}: {exc}); the file is damaged, {self.fix}"
            ) from None

    @staticmethod
    def _skip_header(fp: IO[bytes]) -> None:
        version = np.lib.format.read_magic(fp)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        reader(fp)

    def memmap(self, member: Member) -> np.memmap:
        """The array mapped from the archive, read-only (members stored without compression only)."""
        if not member.stored or member.data_offset is None:
            raise DataError(f"{self.path} array '{member.key}' is compressed and cannot be mapped; {self.fix}")
        return np.memmap(self.path, dtype=member.dtype, mode="r", offset=member.data_offset, shape=member.shape)
