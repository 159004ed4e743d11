"""Any folder of png/jpg/bmp images, searched recursively; subfolder names become class labels.

The image shape comes from the request (the backbone's shape) or the ``image_shape`` option; every
file is centre-cropped to that aspect ratio, resized, and converted to gray (1 channel) or RGB (3).
When ``ROOT/train`` and ``ROOT/test`` both exist, the split picks one of them; otherwise both splits
are the whole folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from infogan_toolkit.api import (
    ConfigError,
    DataError,
    DatasetPlugin,
    DatasetRequest,
    TensorImageDataset,
)

from ._common import check_options, check_split, parse_shape, require_root
from ._imaging import decode_images, list_images
from ._options import int_option

EXPECTED = "png/jpg/bmp images (in class subfolders for labels) under ROOT"


def split_folder(root: Path, split: str) -> Path:
    """``root/split`` when the folder is divided into train/ and test/, else ``root``."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root / split
    return root


def class_labels(base: Path, paths: list[Path]) -> tuple[torch.Tensor | None, tuple[str, ...]]:
    """Labels from first-level subfolder names (sorted, numbered from 0); none if any image is loose in ``base``."""
    tops = [p.relative_to(base).parts for p in paths]
    if any(len(parts) < 2 for parts in tops):
        return None, ()
    classes = tuple(sorted({parts[0] for parts in tops}))
    number = {name: i for i, name in enumerate(classes)}
    return torch.tensor([number[parts[0]] for parts in tops], dtype=torch.int64), classes


class ImageFolderDataset(DatasetPlugin):
    """A folder of your own images at the backbone's shape; labels from subfolders when present."""

    description = (
        "your own png/jpg/bmp images under ROOT (recursive), resized to the backbone's shape; subfolders = labels"
    )

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        """Decode every image under the root (or its train/ or test/ part) into one tensor."""
        split = check_split(request, "image-folder")
        check_options(request, "image-folder", ("image_shape", "crop", "workers"))
        if request.download:
            raise ConfigError(
                "dataset 'image-folder' has nothing to download; drop --download and pass --data-root DIR"
            )
        shape = self._shape(request)
        crop = int_option(request, "image-folder", "crop", None)
        workers = int_option(request, "image-folder", "workers", None, minimum=1)
        root = require_root(request, "image-folder", EXPECTED)
        base = split_folder(root, split)
        paths = list_images(base)
        if not paths:
            raise DataError(f"no png/jpg/bmp images found under {base}; pass --data-root DIR holding your images")
        labels, classes = class_labels(base, paths)
        dataset = TensorImageDataset(
            torch.from_numpy(decode_images(paths, shape, crop=crop, workers=workers)), labels=labels
        )
        # Not part of the ImageDataset interface: lets reports name class k.
        dataset.class_names = classes  # type: ignore[attr-defined]
        dataset.sources = tuple(p.relative_to(base).as_posix() for p in paths)
        return dataset

    @staticmethod
    def _shape(request: DatasetRequest) -> tuple[int, int, int]:
        option = request.options.get("image_shape")
        if request.image_shape is None and option is None:
            raise ConfigError(
                "dataset 'image-folder' needs an image shape; pick a backbone (its shape is used) or set the dataset "
                "option image_shape, e.g. '1x64x64'"
            )
        shape = parse_shape(request.image_shape or option, "image-folder")
        if request.image_shape is not None and option is not None and parse_shape(option, "image-folder") != shape:
            raise ConfigError(
                f"dataset 'image-folder' option image_shape {option!r} differs from the backbone's {shape}; drop the "
                "option"
            )
        return shape
