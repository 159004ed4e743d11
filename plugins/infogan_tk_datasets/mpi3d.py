"""MPI3D (Gondal et al. 2019) from its published ``.npz`` files: RGB 64x64 images of a robot arm's object, 7 factors.

Each archive (``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz``) holds one array,
``images``, uint8 ``(N, 64, 64, 3)``; the grid is object_color, object_shape, object_size,
camera_height, background_color, first_dof, second_dof, the last fastest (disent's names). The
``Final_Dataset`` files have 1,036,800 images, sizes (6, 6, 2, 3, 3, 40, 40); the older toy file
disentanglement_lib used has 460,800, sizes (4, 4, 2, 3, 3, 40, 40). The sizes follow from the
image count, or from the array's shape when it is saved as the grid ``(6, 6, 2, 3, 3, 40, 40, 64,
64, 3)``. An archive stored without compression (``np.savez``) is memory-mapped where it lies; a
compressed one is unpacked once into ``NAME.images.npy`` beside it, which is then mapped.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import attrs
import numpy as np

from infogan_toolkit.api import ConfigError, DataError, DatasetPlugin, DatasetRequest

from ._common import check_options, check_split, require_root
from ._download import Remote, fetch, resolve
from ._npz import Member, NpzArchive
from ._stored import (
    ArrayImages,
    StoredGrid,
    bool_option,
    check_count,
    check_image_shape,
)

FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "first_dof",
    "second_dof",
)
#: Image count -> factor sizes of the published files.
KNOWN_GRIDS = {1_036_800: (6, 6, 2, 3, 3, 40, 40), 460_800: (4, 4, 2, 3, 3, 40, 40)}
IMAGE_SHAPE = (3, 64, 64)
FIX = "download it again (--download) or see docs/datasets.md for the expected format"
_BASE = "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset"
#: The published archives; MD5s as nmichlo/disent pins them (no SHA-256 is published).
SUBSETS = {
    name: Remote(
        filename=f"mpi3d_{name}.npz",
        url=f"{_BASE}/mpi3d_{name}.npz",
        md5=md5,
        checksum_source="the MD5 nmichlo/disent pins; no SHA-256 is published",
    )
    for name, md5 in (
        ("toy", "55889cb7c7dfc655d6e0277beee88868"),
        ("realistic", "59a6225b88b635365f70c91b3e52f70f"),
        ("real", "0f33f609918fb5c97996692f91129802"),
    )
}
_CHUNK_IMAGES = 4096


def grid_of(member: Member, where: str) -> tuple[int, ...]:
    """Factor sizes from the ``images`` array's shape (flat and a known count, or the grid itself)."""
    shape = member.shape
    if member.dtype != np.uint8 or len(shape) not in (4, 10) or shape[-3:] != (64, 64, 3):
        raise DataError(f"{where} is {member.dtype} {shape}, expected uint8 (images, 64, 64, 3); {FIX}")
    if len(shape) == 10:
        sizes = tuple(shape[:7])
        if min(sizes) < 1:
            raise DataError(f"{where} has an empty factor axis {sizes}; {FIX}")
        check_count(math.prod(sizes), where, FIX)
        return sizes
    check_count(shape[0], where, FIX)
    if shape[0] not in KNOWN_GRIDS:
        known = " or ".join(f"{n:,}" for n in KNOWN_GRIDS)
        raise DataError(
            f"{where} holds {shape[0]:,} images; MPI3D files hold {known} (or are saved as the factor grid); {FIX}"
        )
    return KNOWN_GRIDS[shape[0]]


def _unpacked(archive: NpzArchive, member: Member, path: Path) -> np.ndarray:
    """The compressed ``images`` array (``member``: its flat form) unpacked once into
    ``NAME.images.npy`` beside the archive, mapped."""
    cache = path.with_name(f"{path.stem}.images.npy")
    if cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        try:
            mapped = np.load(cache, mmap_mode="r", allow_pickle=False)
            if mapped.shape == member.shape and mapped.dtype == member.dtype:
                return mapped
        except (OSError, ValueError):
            pass  # a damaged cache is simply made again
    part = cache.with_name(f".{cache.name}.part")
    try:
        out = np.lib.format.open_memmap(part, mode="w+", dtype=member.dtype, shape=member.shape)
        done = 0
        for chunk in archive.chunks(member, _CHUNK_IMAGES):
            out[done : done + len(chunk)] = chunk
            done += len(chunk)
        out.flush()
        del out
        os.replace(part, cache)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise DataError(
            f"cannot unpack {path} into {cache} ({exc}); free disk space there or unpack it by hand"
        ) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return np.load(cache, mmap_mode="r", allow_pickle=False)


def read_mpi3d(path: Path, in_memory: bool = False) -> StoredGrid:
    """Check and map an MPI3D archive as a :class:`StoredGrid`."""
    with NpzArchive(path, FIX) as archive:
        archive.require("images")
        member = archive.member("images")
        sizes = grid_of(member, f"{path} array 'images'")
        member = attrs.evolve(member, shape=(math.prod(sizes), 64, 64, 3))  # the grid form read as flat images
        array = archive.memmap(member) if member.stored else _unpacked(archive, member, path)
    return StoredGrid(FACTOR_NAMES, sizes, ArrayImages(array, in_memory), IMAGE_SHAPE, label_factor="object_shape")


class Mpi3dDataset(DatasetPlugin):
    """MPI3D from a published archive (``subset`` toy, realistic or real); 7 factors, the object shape as label."""

    description = (
        "MPI3D (toy/realistic/real), 3x64x64, 7 factors on a full grid, object shape as label; "
        "mpi3d_SUBSET.npz, --download"
    )
    license = "Creative Commons Attribution 4.0 (rr-learning/disentanglement_dataset)"

    def load(self, request: DatasetRequest) -> StoredGrid:
        """Map (downloading first when asked and missing) the subset's archive; both splits are the whole grid."""
        check_split(request, "mpi3d")
        check_options(request, "mpi3d", ("subset", "url", "sha256", "in_memory"))
        subset = request.options.get("subset", "toy")
        if subset not in SUBSETS:
            raise ConfigError(f"dataset 'mpi3d' option 'subset' must be one of {', '.join(SUBSETS)}, got {subset!r}")
        in_memory = bool_option(request, "mpi3d", "in_memory", False)
        check_image_shape(request, "mpi3d", IMAGE_SHAPE, "'rgb64'")
        remote = SUBSETS[subset]
        root = require_root(request, "mpi3d", remote.filename, can_download=True)
        path = next(
            (p for p in (root / remote.filename, root / f"mpi3d_{subset}" / remote.filename) if p.is_file()), None
        )
        if path is None and request.download:
            path = fetch(resolve(remote, "mpi3d", request.options.get("url"), request.options.get("sha256")), root)
        if path is None:
            raise DataError(
                f"{remote.filename} not found in {root} or {root / f'mpi3d_{subset}'}; pass --data-root DIR holding "
                "it, or --download"
            )
        return read_mpi3d(path, in_memory)
