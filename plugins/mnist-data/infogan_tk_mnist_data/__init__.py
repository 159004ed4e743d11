"""The MNIST database's four original IDX files, shipped so that ``--dataset mnist`` needs no download.

The files are byte for byte the ones published with the database (gzipped IDX). :func:`verified_dir`
checks each against its SHA-256 before anything reads it, so a damaged install is named, never used.
This package has no dependencies; infogan-tk's ``mnist`` dataset plugin finds it by import.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

#: Each shipped file and its SHA-256, as published (the same bytes torchvision's mirror serves).
SHA256 = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}

RAW_DIR = Path(__file__).resolve().parent / "raw"


class DamagedCopyError(ValueError):
    """A shipped file is missing or its bytes are not the published ones."""


def sha256(path: Path) -> str:
    """The SHA-256 of ``path``'s bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_dir(directory: Path) -> Path:
    """Return ``directory`` once every file of :data:`SHA256` in it has its published hash; else
    raise :class:`DamagedCopyError` naming the first file that is missing or differs."""
    for name, expected in SHA256.items():
        path = directory / name
        if not path.is_file():
            raise DamagedCopyError(f"the shipped MNIST copy lacks {path}; reinstall infogan-tk-mnist-data")
        found = sha256(path)
        if found != expected:
            raise DamagedCopyError(
                f"the shipped MNIST file {path} has SHA-256 {found[:16]}..., not the published {expected[:16]}...; "
                "reinstall infogan-tk-mnist-data"
            )
    return directory


@functools.cache
def verified_dir() -> Path:
    """The folder of the four shipped files, checked by SHA-256 once per process."""
    return check_dir(RAW_DIR)
