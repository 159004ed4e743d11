"""dSprites (Matthey et al. 2017) from its published ``.npz``: 737,280 binary 64x64 images, 5 factors.

The archive holds ``imgs`` (N, 64, 64) uint8 0/1, ``latents_classes`` (N, 6) int64,
``latents_values`` (N, 6) float64 and a pickled ``metadata`` object, which is never read. The
factors are those of disentanglement_lib and disent: the constant colour column is dropped, leaving
shape (3), scale (6), orientation (40), position_x (32), position_y (32), the last fastest. The
images are streamed out of the compressed archive once per load and kept as packed bits (377 MB
for the published file, against 3 GB as bytes), unpacked batch by batch on the device they are used on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from infogan_toolkit.api import DataError, DatasetPlugin, DatasetRequest

from ._common import check_options, check_split, require_root
from ._download import Remote, fetch, resolve
from ._npz import NpzArchive
from ._stored import PackedBits, StoredGrid, check_count, check_image_shape, grid_sizes

FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
#: The published archive. No SHA-256 is published for it; the MD5 is the one public dSprites
#: loaders pin (docs/datasets.md, "Where the checksums come from").
REMOTE = Remote(
    filename=FILENAME,
    url=f"https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/{FILENAME}",
    md5="7da33b31b13a06f4b04a70402ce90c2e",
    checksum_source="the MD5 public dSprites loaders pin; no SHA-256 is published",
)
FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")
#: What the published file gives; a smaller file in the same format gives its own grid.
PUBLISHED_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SHAPE = (1, 64, 64)
FIX = "download it again (--download) or see docs/datasets.md for the expected format"
_CHUNK_IMAGES = 8192


def find(root: Path) -> Path | None:
    """The archive in ``root`` or ``root/dsprites`` (disentanglement_lib's layout), or None."""
    for candidate in (root / FILENAME, root / "dsprites" / FILENAME):
        if candidate.is_file():
            return candidate
    return None


def read_dsprites(path: Path) -> StoredGrid:
    """Check and read a dSprites archive into a :class:`StoredGrid` of packed bits."""
    with NpzArchive(path, FIX) as archive:
        archive.require("imgs", "latents_classes")
        classes_member = archive.member("latents_classes")
        where = f"{path} array 'latents_classes'"
        if len(classes_member.shape) != 2 or classes_member.shape[1] != 6 or classes_member.dtype.kind not in "iu":
            raise DataError(
                f"{where} is {classes_member.dtype} {classes_member.shape}, expected int64 (images, 6); {FIX}"
            )
        check_count(classes_member.shape[0], where, FIX)
        classes = archive.read(classes_member).astype(np.int64)
        sizes = grid_sizes(classes, where, FIX)
        if sizes[0] != 1:
            raise DataError(
                f"{where} has {sizes[0]} colours; dSprites has one (white), so this is another data set; {FIX}"
            )
        n = classes.shape[0]
        images_member = archive.member("imgs")
        where = f"{path} array 'imgs'"
        if images_member.shape != (n, 64, 64) or images_member.dtype != np.uint8:
            raise DataError(
                f"{where} is {images_member.dtype} {images_member.shape}, expected uint8 ({n}, 64, 64) to match "
                f"latents_classes; {FIX}"
            )
        packed = np.empty((n, 64 * 64 // 8), dtype=np.uint8)
        done = 0
        for chunk in archive.chunks(images_member, _CHUNK_IMAGES):
            if chunk.max(initial=0) > 1:
                raise DataError(f"{where} holds a pixel value above 1; dSprites images are 0/1; {FIX}")
            packed[done : done + len(chunk)] = np.packbits(chunk.reshape(len(chunk), -1), axis=1)
            done += len(chunk)
    store = PackedBits(torch.from_numpy(packed), IMAGE_SHAPE)
    return StoredGrid(FACTOR_NAMES, sizes[1:], store, IMAGE_SHAPE, label_factor="shape")


class DSpritesDataset(DatasetPlugin):
    """dSprites from the published archive; five factors on a complete grid, the shape as label."""

    description = (
        "dSprites (deepmind), 1x64x64 binary, 5 factors on a full grid, shape as label; the published .npz, --download"
    )
    license = "Apache License 2.0 (deepmind/dsprites-dataset)"

    def load(self, request: DatasetRequest) -> StoredGrid:
        """Read (downloading first when asked and missing) the archive; both splits are the whole grid."""
        check_split(request, "dsprites")
        check_options(request, "dsprites", ("url", "sha256"))
        check_image_shape(request, "dsprites", IMAGE_SHAPE, "'shapes'")
        root = require_root(request, "dsprites", FILENAME, can_download=True)
        path = find(root)
        if path is None and request.download:
            remote = resolve(REMOTE, "dsprites", request.options.get("url"), request.options.get("sha256"))
            path = fetch(remote, root)
        if path is None:
            raise DataError(
                f"{FILENAME} not found in {root} or {root / 'dsprites'}; pass --data-root DIR holding it, or --download"
            )
        return read_dsprites(path)
