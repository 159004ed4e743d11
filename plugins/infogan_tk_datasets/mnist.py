"""MNIST from the four standard IDX files, parsed with numpy (gzipped or not).

The files may sit in the data root itself or in ``ROOT/MNIST/raw`` (where torchvision puts them).
Without a data root, the copy shipped in the ``infogan-tk-mnist-data`` distribution is used (its
SHA-256 checked first; ``scripts/install`` installs it). Any dataset shipped in the same four IDX
files and names (Fashion-MNIST, KMNIST) loads the same way from a data root.
"""

from __future__ import annotations

import gzip
import importlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from infogan_toolkit.api import (
    ConfigError,
    DataError,
    DatasetPlugin,
    DatasetRequest,
    TensorImageDataset,
    open_regular,
)

from ._common import check_options, check_split, require_root

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: The validation split is the last 1/VALIDATION_PART of the training files (MNIST's last 10,000):
#: what choices are made on, so that the test split stays for the tables (docs/results/README.md).
VALIDATION_PART = 6
ALL_FILES = SPLIT_FILES["train"] + SPLIT_FILES["test"]
EXPECTED = ", ".join(ALL_FILES) + " (each may be .gz) in ROOT or ROOT/MNIST/raw"

# IDX type byte -> numpy dtype (multi-byte values are big-endian).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: The most data one IDX file may hold (bytes after its header): far above MNIST's 47 MB and
#: EMNIST's 550 MB, and refused before anything is read, so a header cannot claim any size it likes.
MAX_IDX_BYTES = 1 << 30
_READ_CHUNK = 1 << 22


def read_idx(path: Path, limit: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse one IDX file (optionally gzipped) into an array. The magic number and dims are checked
    first; the data size the header claims must be at most ``limit`` bytes and is read in chunks, so
    memory follows the bytes that really arrive (a gzip bomb behind a valid header stops at the
    claimed size, a short file at its end); a file with zero items is refused."""
    try:
        with open_regular(path, "data file", DataError) as raw_file:
            f = gzip.GzipFile(fileobj=raw_file, mode="rb") if path.name.endswith(".gz") else raw_file
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES or head[3] == 0:
                raise DataError(
                    f"{path} is not an IDX file (magic number {head.hex() or 'missing'}); download it again"
                )
            ndim = head[3]
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise DataError(f"{path} is truncated inside its header ({4 + len(dims_raw)} bytes); download it again")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            dtype = np.dtype(_IDX_TYPES[head[2]])
            expected = math.prod(dims) * dtype.itemsize
            if expected == 0:
                raise DataError(f"{path} holds no data (dims {dims}); it is empty, download it again")
            if expected > limit:
                raise DataError(
                    f"{path} claims dims {dims}, {expected:,} bytes of data, more than the {limit:,} an IDX file may "
                    "hold; "
                    "the header is damaged or not MNIST's, download it again"
                )
            data = bytearray()
            while len(data) <= expected:
                chunk = f.read(min(_READ_CHUNK, expected + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
    except (OSError, EOFError, zlib.error) as exc:  # a cut-off or damaged .gz lands here
        raise DataError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged, download it again"
        ) from None
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        shown = f"{len(data):,}" if len(data) <= expected else f"more than {expected:,}"
        raise DataError(
            f"{path} is {state}: {shown} data bytes for dims {dims}, expected {expected:,}; download it again"
        )
    return np.frombuffer(data, dtype=dtype).reshape(dims)


def find_file(root: Path, name: str) -> Path | None:
    """``name`` or ``name.gz`` in ``root`` or ``root/MNIST/raw``, the plain file first."""
    for directory in (root, root / "MNIST" / "raw"):
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def download(root: Path, split: str) -> None:
    """Fetch the IDX files into ``root/MNIST/raw`` through torchvision."""
    try:
        from torchvision.datasets import MNIST

        MNIST(str(root), train=split == "train", download=True)
    except Exception as exc:  # network, disk or checksum trouble: all need the same advice
        raise DataError(
            f"downloading MNIST into {root / 'MNIST' / 'raw'} failed ({type(exc).__name__}: {exc}); "
            f"copy {', '.join(ALL_FILES)} there by hand"
        ) from None


#: The distribution that ships the four files, and the module it installs.
SHIPPED_DISTRIBUTION = "infogan-tk-mnist-data"
SHIPPED_MODULE = "infogan_tk_mnist_data"


def shipped_root() -> Path:
    """The folder of the shipped copy, each file checked against its published SHA-256; a
    :class:`DataError` when the distribution is not installed or a file differs."""
    try:
        shipped = importlib.import_module(SHIPPED_MODULE)
    except ImportError:
        raise DataError(
            f"dataset 'mnist' needs its files: install the shipped copy ({SHIPPED_DISTRIBUTION}, which "
            "scripts/install does), "
            f"or pass --data-root DIR holding {', '.join(ALL_FILES)}, or --data-root DIR --download"
        ) from None
    try:
        return shipped.verified_dir()
    except ValueError as exc:
        raise DataError(str(exc)) from None


class MnistDataset(DatasetPlugin):
    """MNIST digits, 1x28x28, labels 0-9 (60,000 train / 10,000 test)."""

    description = (
        "MNIST handwritten digits, 1x28x28, labels 0-9; the shipped copy, or IDX files (gz or not) in ROOT or "
        "ROOT/MNIST/raw; "
        "splits train, val (the training files' last sixth), test; option holdout=true keeps val out of train"
    )
    license = "MNIST (LeCun, Cortes and Burges), CC BY-SA 3.0"

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        """Read the split's two IDX files (downloading first when asked and missing). ``val`` is the
        last sixth of the training files; with the option ``holdout = true`` ``train`` leaves it out."""
        split = check_split(request, "mnist", tuple(SPLIT_FILES))
        check_options(request, "mnist", ("holdout",))
        holdout = request.options.get("holdout", False)
        if not isinstance(holdout, bool):
            raise ConfigError(f"data.options.holdout must be true or false, got {holdout!r}")
        if request.root is None and not request.download:
            root = shipped_root()
        else:
            root = require_root(request, "mnist", EXPECTED, can_download=True)
        names = SPLIT_FILES[split]
        paths = [find_file(root, n) for n in names]
        if None in paths and request.download:
            download(root, split)
            paths = [find_file(root, n) for n in names]
        if None in paths:
            missing = ", ".join(n for n, p in zip(names, paths) if p is None)
            raise DataError(
                f"MNIST {split} files not found ({missing}) in {root} or {root / 'MNIST' / 'raw'}; expected "
                f"{', '.join(ALL_FILES)} "
                f"(each may be .gz): pass --data-root DIR holding them, or --download"
            )
        image_path, label_path = paths
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(
                f"{image_path} holds {images.dtype} data of shape {images.shape}, not uint8 (N, H, W) images; "
                f"put the images file under that name"
            )
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise DataError(
                f"{label_path} holds {labels.dtype} data of shape {labels.shape}, not uint8 (N,) labels; "
                f"put the labels file under that name"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels; "
                f"the two files do not belong together, download them again"
            )
        if split == "val" or (split == "train" and holdout):
            cut = len(images) - len(images) // VALIDATION_PART
            if cut == len(images):
                raise DataError(
                    f"{image_path} has {len(images)} images, too few for a validation split (the last sixth); use the "
                    "test split"
                )
            images, labels = (images[cut:], labels[cut:]) if split == "val" else (images[:cut], labels[:cut])
        # np.array copies out of the read-only bytes, so torch gets memory it may write to.
        data = torch.from_numpy(np.array(images)).unsqueeze(1)
        return TensorImageDataset(data, labels=torch.from_numpy(labels.astype(np.int64)))
