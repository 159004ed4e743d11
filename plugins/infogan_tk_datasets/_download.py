"""Fetching a published data file: streamed to a temporary file, size and checksum checked, then renamed.

A file is only ever put under its real name once every byte the server announced has arrived and
its digest matches the one the table (or the user's ``sha256`` option) pins; anything else leaves
no file behind and raises a one-line :class:`DataError` that names the file and the problem.
Progress goes to stderr as a rich progress bar.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

import attrs
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from infogan_toolkit.api import ConfigError, DataError, PlainConsole

_CHUNK = 1 << 20
#: The most bytes a download may bring when neither the table nor the server says how many:
#: above the largest published file here (MPI3D's 12.7 GB archives).
MAX_DOWNLOAD_BYTES = 16 << 30


@attrs.frozen
class Remote:
    """One published file: where it lives and what its bytes must hash to."""

    #: Name under the data root.
    filename: str
    #: The publisher's address.
    url: str
    #: Hex SHA-256 of the published file, where one is published; else None.
    sha256: str | None = None
    #: Hex MD5, where only that is published (checked when no SHA-256 is known).
    md5: str | None = None
    #: Size in bytes, where published.
    size: int | None = None
    #: Where the checksum comes from (for the docs and the error message).
    checksum_source: str = ""


def _check_hex(value: object, length: int, key: str, dataset: str) -> str:
    text = str(value).strip().lower()
    if len(text) != length or any(ch not in "0123456789abcdef" for ch in text):
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be {length} hex digits, got {value!r}")
    return text


def resolve(remote: Remote, dataset: str, url: object = None, sha256: object = None) -> Remote:
    """``remote`` with the user's mirror ``url`` and pinned ``sha256`` (the dataset options) applied.

    A mirror without a pinned SHA-256 is still checked against the published checksum, so a mirror
    can never serve another file unnoticed.
    """
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "file://")):
            raise ConfigError(f"dataset '{dataset}' option 'url' must be an http(s):// or file:// address, got {url!r}")
        remote = attrs.evolve(remote, url=url)
    if sha256 is not None:
        remote = attrs.evolve(
            remote,
            sha256=_check_hex(sha256, 64, "sha256", dataset),
            md5=None,
            size=None,
            checksum_source="the sha256 option",
        )
    return remote


def fetch(remote: Remote, root: Path, console: PlainConsole | None = None, timeout: float = 60.0) -> Path:
    """Download ``remote`` into ``root / remote.filename`` and return that path.

    Raises a one-line :class:`DataError` when the server cannot be reached, sends fewer or more
    bytes than announced (a cut-off transfer), or the digest differs from the pinned one.
    """
    target = root / remote.filename
    part = root / f".{remote.filename}.part"
    console = console or PlainConsole(stderr=True, soft_wrap=True)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    received = 0
    try:
        # noqa: S310 (the scheme is checked in resolve)
        with urllib.request.urlopen(remote.url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            expected = int(announced) if announced and announced.isdigit() else remote.size
            limit = remote.size or expected or MAX_DOWNLOAD_BYTES
            if expected is not None and remote.size is not None and expected != remote.size:
                raise DataError(
                    f"{remote.url} announces {expected:,} bytes but {remote.filename} is {remote.size:,}; "
                    "the address serves another file, fetch it from the publisher"
                )
            columns = (
                TextColumn(remote.filename),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            with open(part, "wb") as out, Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("download", total=expected)
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > limit:
                        raise DataError(
                            f"{remote.url} sent more than the {limit:,} bytes {remote.filename} has; "
                            "the address serves another file, fetch it from the publisher"
                        )
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    progress.update(task, advance=len(chunk))
        if expected is not None and received != expected:
            raise DataError(
                f"download of {remote.filename} from {remote.url} was cut off at {received:,} of {expected:,} bytes; "
                "run again with --download"
            )
        _verify(remote, sha.hexdigest(), md5.hexdigest(), received)
        os.replace(part, target)
    except DataError:
        part.unlink(missing_ok=True)
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        if received:
            raise DataError(
                f"download of {remote.filename} from {remote.url} was cut off at {received:,} bytes ({reason}); "
                "run again with --download"
            ) from None
        raise DataError(
            f"cannot download {remote.filename} from {remote.url} ({reason}); check the network, or put the file in "
            f"{root} by hand"
        ) from None
    console.print(f"downloaded {target} ({received:,} bytes, sha256 {sha.hexdigest()})")
    return target


def _verify(remote: Remote, sha256: str, md5: str, size: int) -> None:
    if remote.size is not None and size != remote.size:
        raise DataError(
            f"downloaded {remote.filename} has {size:,} bytes, the published file {remote.size:,}; run again with "
            "--download"
        )
    if remote.sha256 is not None:
        if sha256 != remote.sha256:
            raise DataError(
                f"downloaded {remote.filename} has sha256 {sha256}, expected {remote.sha256} "
                f"({remote.checksum_source}); "
                "the file is damaged or not the published one, it was not kept"
            )
    elif remote.md5 is not None:
        if md5 != remote.md5:
            raise DataError(
                f"downloaded {remote.filename} has md5 {md5}, expected {remote.md5} ({remote.checksum_source}); "
                "the file is damaged or not the published one, it was not kept"
            )
    else:  # every table entry pins one; a Remote without either is a programming error
        raise DataError(f"no checksum is known for {remote.filename}; pin one with data.options.sha256")
