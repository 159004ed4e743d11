"""CelebA aligned faces with their 40 binary attributes as ground-truth factors.

Layout (the original release, or torchvision's ``ROOT/celeba``)::

    ROOT/img_align_celeba/000001.jpg ...   (Kaggle's doubled img_align_celeba/img_align_celeba also works)
    ROOT/list_attr_celeba.txt              count line, 40 attribute names, then "file v1 .. v40" with 1/-1
    ROOT/list_eval_partition.txt           "file 0|1|2": 0 train, 1 valid, 2 test

Images are centre-cropped and resized once at load time into one uint8 tensor (see ``_imaging``).
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
    read_bytes,
)

from ._common import (
    check_options,
    check_split,
    first_dir_with,
    parse_shape,
    require_root,
)
from ._imaging import decode_images
from ._options import int_option

IMAGE_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
FILES = f"{IMAGE_DIR}/*.jpg, {ATTR_FILE} and {PARTITION_FILE}"
EXPECTED = f"{FILES} in ROOT or ROOT/celeba"
SPLITS = {"train": 0, "valid": 1, "test": 2}
DEFAULT_SHAPE = (3, 32, 32)
#: Default centre-crop width in source pixels: the face from forehead to chin in the 178x218 aligned images.
DEFAULT_CROP = 140
_ATTR_CHUNK = 8192


def read_attributes(path: Path) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt`` into (attribute names, file names, ``(N, K)`` uint8 of 0/1)."""
    lines = _read_lines(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(f"{path} does not start with an image count and a line of attribute names; download it again")
    count, names = int(lines[0]), tuple(lines[1].split())
    rows = [line for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise DataError(
            f"{path} announces {count} images but lists {len(rows)}; the file is cut off or edited, download it again"
        )
    width = len(names) + 1
    files: list[str] = []
    flags = np.empty((count, len(names)), dtype=np.uint8)
    # Vectorised over chunks of rows: whole-file token lists would cost ~0.5 GB of Python strings.
    for start in range(0, count, _ATTR_CHUNK):
        chunk = rows[start : start + _ATTR_CHUNK]
        tokens = " ".join(chunk).split()
        if len(tokens) != len(chunk) * width:
            bad = start + next(i for i, row in enumerate(chunk) if len(row.split()) != width)
            raise DataError(
                f"{path} line {bad + 3} has {len(rows[bad].split())} fields, expected {width}; download it again"
            )
        table = np.array(tokens).reshape(len(chunk), width)
        positive, negative = table[:, 1:] == "1", table[:, 1:] == "-1"
        valid = (positive | negative).all(axis=1)
        if not valid.all():
            bad = start + int(np.argmin(valid))
            raise DataError(f"{path} line {bad + 3} has a value other than 1 or -1; download it again")
        files.extend(table[:, 0].tolist())
        flags[start : start + len(chunk)] = positive
    return names, files, flags


def read_partition(path: Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` into file name -> 0 (train), 1 (valid) or 2 (test)."""
    partition: dict[str, int] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path} line {number} is not 'FILE 0|1|2'; download it again")
        partition[fields[0]] = int(fields[1])
    return partition


#: The largest list file read: list_attr_celeba.txt is 26 MB.
MAX_LIST_BYTES = 256 << 20


def _read_lines(path: Path) -> list[str]:
    try:
        return read_bytes(path, "data file", DataError, MAX_LIST_BYTES).decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc}); download it again") from None


def find_layout(root: Path) -> tuple[Path, Path] | None:
    """(folder holding the two text files, folder holding the jpgs), or None."""
    base = first_dir_with((root, root / "celeba"), (IMAGE_DIR, ATTR_FILE, PARTITION_FILE))
    if base is None:
        return None
    images = base / IMAGE_DIR
    if (images / IMAGE_DIR).is_dir():  # the Kaggle archive nests the folder in itself
        images = images / IMAGE_DIR
    return base, images


def download(root: Path, split: str) -> None:
    """Fetch the aligned images and text files into ``root/celeba`` through torchvision."""
    try:
        from torchvision.datasets import CelebA

        CelebA(str(root), split=split, target_type="attr", download=True)
    except Exception as exc:  # Google Drive quotas, network or disk trouble: all need the same advice
        raise DataError(
            f"downloading CelebA into {root / 'celeba'} failed ({type(exc).__name__}: {exc}); put {FILES} there by hand"
        ) from None


class CelebADataset(DatasetPlugin):
    """CelebA aligned faces, resized to 3x32x32 (or the backbone's shape), 40 binary attributes as factors."""

    description = (
        "CelebA aligned faces, 3x32x32 by default, 40 binary attributes as factors; "
        "img_align_celeba/ + list files in ROOT"
    )
    license = (
        "non-commercial research purposes only, under the CelebA Dataset Release Agreement "
        "(mmlab.ie.cuhk.edu.hk/projects/CelebA.html)"
    )

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        """Decode the split's images (about a minute per 200k on 8 cores; see docs/datasets.md)."""
        split = check_split(request, "celeba", tuple(SPLITS))
        check_options(request, "celeba", ("crop", "limit", "workers"))
        crop = int_option(request, "celeba", "crop", DEFAULT_CROP)
        limit = int_option(request, "celeba", "limit", None, minimum=1)
        workers = int_option(request, "celeba", "workers", None, minimum=1)
        shape = parse_shape(request.image_shape or DEFAULT_SHAPE, "celeba")
        root = require_root(request, "celeba", EXPECTED, can_download=True)
        layout = find_layout(root)
        if layout is None and request.download:
            download(root, split)
            layout = find_layout(root)
        if layout is None:
            raise DataError(
                f"CelebA not found in {root} or {root / 'celeba'}: expected {FILES}; pass --data-root DIR holding "
                "them, or --download"
            )
        base, image_dir = layout
        names, files, attributes = read_attributes(base / ATTR_FILE)
        partition = read_partition(base / PARTITION_FILE)
        wanted = SPLITS[split]
        chosen = [f for f, p in partition.items() if p == wanted]
        chosen.sort()
        if limit is not None:
            chosen = chosen[:limit]
        if not chosen:
            raise DataError(
                f"{base / PARTITION_FILE} puts no image in the {split} split (partition {wanted}); download it again"
            )
        row_of = {f: i for i, f in enumerate(files)}
        missing = [f for f in chosen if f not in row_of]
        if missing:
            raise DataError(
                f"{base / ATTR_FILE} has no attributes for {len(missing)} image(s) of the partition file, e.g. "
                f"{missing[0]}; "
                f"download both files again"
            )
        rows = np.fromiter((row_of[f] for f in chosen), dtype=np.int64, count=len(chosen))
        images = decode_images([image_dir / f for f in chosen], shape, crop=crop, workers=workers)
        return TensorImageDataset(
            torch.from_numpy(images),
            factors=torch.from_numpy(attributes[rows].astype(np.int64)),
            factor_names=names,
            factor_sizes=(2,) * len(names),
        )
