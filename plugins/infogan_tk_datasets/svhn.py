"""SVHN cropped digits from ``train_32x32.mat`` / ``test_32x32.mat`` (MATLAB v5, read with scipy).

In the files ``X`` is ``(32, 32, 3, N)`` uint8 (height, width, channel, image) and ``y`` is
``(N, 1)`` with digits 1-9 as themselves and digit 0 stored as 10; here 10 becomes 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from infogan_toolkit.api import (
    DataError,
    DatasetPlugin,
    DatasetRequest,
    TensorImageDataset,
    open_regular,
)

from ._common import check_options, check_split, first_dir_with, require_root

SPLIT_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
#: The largest .mat file read: SVHN's train file is 182 MB (extra_32x32.mat 1.3 GB).
MAX_MAT_BYTES = 4 << 30
EXPECTED = "train_32x32.mat and test_32x32.mat (the cropped-digits format) in ROOT or ROOT/SVHN"


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images (N, 3, 32, 32) uint8, labels (N,) int64 in 0-9)`` from one SVHN .mat file."""
    import scipy.io  # imported here: scipy costs a noticeable share of CLI start-up

    try:
        with open_regular(path, "data file", DataError, MAX_MAT_BYTES) as fh:
            mat = scipy.io.loadmat(fh, variable_names=("X", "y"))
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(
            f"{path} is a MATLAB v7.3 file; use the original SVHN cropped-digits file (MATLAB v5)"
        ) from None
    except DataError:
        raise
    except MemoryError:
        raise DataError(
            f"{path} claims arrays larger than this machine's memory; it is not an SVHN cropped-digits file"
        ) from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError or MatReadError for damaged files
        raise DataError(
            f"cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged, download it again"
        ) from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise DataError(f"{path} has no 'X' and 'y' variables; it is not an SVHN cropped-digits file")
    if x.ndim != 4 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise DataError(
            f"{path}: X is {x.dtype} {x.shape}, expected uint8 (H, W, 3, N); it is not an SVHN cropped-digits file"
        )
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise DataError(
            f"{path} has {x.shape[3]} images but {y.shape[0]} labels; the file is damaged, download it again"
        )
    if y.size and (y.min() < 0 or y.max() > 10):
        raise DataError(f"{path} has labels outside 1-10 ({y.min()}..{y.max()}); it is not an SVHN cropped-digits file")
    labels = y.astype(np.int64) % 10  # 10 is how SVHN writes the digit 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def download(root: Path, split: str) -> None:
    """Fetch the split's .mat file into ``root`` through torchvision."""
    try:
        from torchvision.datasets import SVHN

        SVHN(str(root), split=split, download=True)
    except Exception as exc:  # network, disk or checksum trouble: all need the same advice
        raise DataError(
            f"downloading SVHN into {root} failed ({type(exc).__name__}: {exc}); copy {SPLIT_FILES[split]} there by "
            "hand"
        ) from None


class SvhnDataset(DatasetPlugin):
    """SVHN cropped digits, 3x32x32, labels 0-9 (73,257 train / 26,032 test)."""

    description = "SVHN cropped digits, 3x32x32, labels 0-9; train_32x32.mat / test_32x32.mat in ROOT"
    license = "non-commercial use only, as the SVHN site notes beside its downloads (ufldl.stanford.edu/housenumbers)"

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        """Read the split's .mat file (downloading first when asked and missing)."""
        split = check_split(request, "svhn")
        check_options(request, "svhn", ())
        root = require_root(request, "svhn", EXPECTED, can_download=True)
        name = SPLIT_FILES[split]
        candidates = (root, root / "SVHN", root / "svhn")
        directory = first_dir_with(candidates, (name,))
        if directory is None and request.download:
            download(root, split)
            directory = first_dir_with(candidates, (name,))
        if directory is None:
            raise DataError(
                f"SVHN file {name} not found in {root} or {root / 'SVHN'}; pass --data-root DIR holding it, or "
                "--download"
            )
        images, labels = read_mat(directory / name)
        return TensorImageDataset(torch.from_numpy(images), labels=torch.from_numpy(labels))
