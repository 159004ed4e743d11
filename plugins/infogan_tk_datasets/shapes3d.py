"""3D Shapes (Burgess & Kim 2018) from its published ``3dshapes.h5``: 480,000 RGB 64x64 images, 6 factors.

The HDF5 file holds ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6) float64, the factor
values. The factors are those of disentanglement_lib and disent: floor_hue (10), wall_hue (10),
object_hue (10), scale (8), shape (4), orientation (15), the last fastest. Factor indices are the
ranks of each label column's distinct values. Images are read from the file batch by batch
(h5py, nothing held), or all at once with ``data.options.in_memory = true`` (5.9 GB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from infogan_toolkit.api import DataError, DatasetPlugin, DatasetRequest, ToolkitError

from ._common import check_options, check_split, require_root
from ._download import Remote, fetch, resolve
from ._stored import (
    ImageStore,
    StoredGrid,
    bool_option,
    check_count,
    check_image_shape,
    grid_sizes,
)

FILENAME = "3dshapes.h5"
#: SHA-256 and size as TensorFlow Datasets' checksums.tsv for shapes3d records them.
REMOTE = Remote(
    filename=FILENAME,
    url="https://storage.googleapis.com/3d-shapes/3dshapes.h5",
    sha256="0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785",
    size=267_573_662,
    checksum_source="tensorflow/datasets checksums.tsv for shapes3d",
)
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
PUBLISHED_SIZES = (10, 10, 10, 8, 4, 15)
IMAGE_SHAPE = (3, 64, 64)
FIX = "download it again (--download) or see docs/datasets.md for the expected format"
_SLICE = 8192


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ToolkitError(
            "h5py is not installed but dataset '3dshapes' reads HDF5; install it with: pip install "
            "'infogan-toolkit[benchmarks]'"
        ) from None
    return h5py


class H5Images(ImageStore):
    """Images read from an HDF5 ``(N, H, W, C)`` uint8 dataset on demand, sorted for h5py."""

    def __init__(self, dataset: Any, path: Path) -> None:
        """Keep the open h5py dataset; ``path`` names it in errors."""
        self.dataset = dataset
        self.path = path

    def read(self, index: Tensor) -> Tensor:
        flat = index.detach().cpu().numpy()
        unique, inverse = np.unique(flat, return_inverse=True)  # h5py wants increasing, distinct indices
        try:
            block = self.dataset[unique]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read images from {self.path} ({exc}); the file is damaged, {FIX}") from None
        return torch.from_numpy(np.ascontiguousarray(block[inverse])).permute(0, 3, 1, 2).contiguous().to(index.device)


class InMemoryImages(ImageStore):
    """Every image as one ``(N, C, H, W)`` tensor."""

    def __init__(self, data: Tensor) -> None:
        """Hold ``data``."""
        self.data = data

    def read(self, index: Tensor) -> Tensor:
        return self.data.index_select(0, index.to(self.data.device)).to(index.device)

    def to(self, device: torch.device | str) -> None:
        self.data = self.data.to(device)


def read_shapes3d(path: Path, in_memory: bool = False) -> StoredGrid:
    """Check and open a 3D Shapes file as a :class:`StoredGrid`."""
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as exc:  # h5py reports a cut-off file (eof < eoa) here
        raise DataError(f"{path} is not a readable HDF5 file ({exc}); it is cut off or damaged, {FIX}") from None
    try:
        missing = [k for k in ("images", "labels") if not isinstance(handle.get(k), h5py.Dataset)]
        if missing:
            found = ", ".join(sorted(handle.keys())) or "none"
            raise DataError(f"{path} has no dataset {', '.join(map(repr, missing))} (it holds: {found}); {FIX}")
        images, labels = handle["images"], handle["labels"]
        if len(labels.shape) != 2 or labels.shape[1] != 6 or labels.dtype.kind not in "fiu":
            raise DataError(
                f"{path} dataset 'labels' is {labels.dtype} {labels.shape}, expected float64 (images, 6); {FIX}"
            )
        n = labels.shape[0]
        check_count(n, f"{path} dataset 'labels'", FIX)
        if images.shape != (n, 64, 64, 3) or images.dtype != np.uint8:
            raise DataError(
                f"{path} dataset 'images' is {images.dtype} {images.shape}, expected uint8 ({n}, 64, 64, 3); {FIX}"
            )
        values = labels[()]
        if not np.all(np.isfinite(values)):
            raise DataError(f"{path} dataset 'labels' holds NaN or infinite values; {FIX}")
        classes = np.stack([np.unique(values[:, f], return_inverse=True)[1].reshape(-1) for f in range(6)], axis=1)
        sizes = grid_sizes(classes, f"{path} dataset 'labels'", FIX)
        if in_memory:
            # Read in slices into one preallocated tensor: peak memory is the images once, not twice.
            data = torch.empty((n, 3, 64, 64), dtype=torch.uint8)
            for start in range(0, n, _SLICE):
                data[start : start + _SLICE] = torch.from_numpy(np.moveaxis(images[start : start + _SLICE], -1, 1))
            store: ImageStore = InMemoryImages(data)
            handle.close()
        else:
            store = H5Images(images, path)
            store.read(torch.tensor([0, n - 1]))  # the last chunk lies near the end: a cut-off file fails here
    except (OSError, ValueError) as exc:
        handle.close()
        raise DataError(f"cannot read {path} ({exc}); the file is damaged, {FIX}") from None
    except BaseException:
        handle.close()
        raise
    return StoredGrid(FACTOR_NAMES, sizes, store, IMAGE_SHAPE, label_factor="shape")


class Shapes3dDataset(DatasetPlugin):
    """3D Shapes from the published HDF5 file; six factors on a complete grid, the shape as label."""

    description = (
        "3D Shapes (deepmind), 3x64x64, 6 factors on a full grid, shape as label; 3dshapes.h5 (needs h5py), --download"
    )
    license = "Apache License 2.0 (deepmind/3d-shapes)"

    def load(self, request: DatasetRequest) -> StoredGrid:
        """Open (downloading first when asked and missing) the file; both splits are the whole grid."""
        check_split(request, "3dshapes")
        check_options(request, "3dshapes", ("url", "sha256", "in_memory"))
        in_memory = bool_option(request, "3dshapes", "in_memory", False)
        check_image_shape(request, "3dshapes", IMAGE_SHAPE, "'rgb64'")
        _h5py()  # before any download: the file is useless without it
        root = require_root(request, "3dshapes", FILENAME, can_download=True)
        path = next((p for p in (root / FILENAME, root / "3dshapes" / FILENAME) if p.is_file()), None)
        if path is None and request.download:
            path = fetch(resolve(REMOTE, "3dshapes", request.options.get("url"), request.options.get("sha256")), root)
        if path is None:
            raise DataError(
                f"{FILENAME} not found in {root} or {root / '3dshapes'}; pass --data-root DIR holding it, or --download"
            )
        return read_shapes3d(path, in_memory)
