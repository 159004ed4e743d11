"""Factor grids whose images are read from a published file rather than rendered.

:class:`StoredGrid` is a :class:`~infogan_toolkit.datasets.FactorGridDataset` (factors, labels,
``factor_index``, ``factor_grid``) whose images come from an :class:`ImageStore`: bits packed in
memory (dSprites), a memory-mapped or in-memory array (MPI3D), or an HDF5 dataset read on demand
(3D Shapes). Checks shared by the benchmark files live here too.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from infogan_toolkit.api import (
    ConfigError,
    DataError,
    DatasetRequest,
    FactorGridDataset,
    grid_decode,
)

#: The most images a benchmark file may declare (dSprites 737,280, MPI3D 1,036,800); checked before
#: anything of that size is allocated, so a damaged header cannot make the loader take all memory.
MAX_IMAGES = 1 << 23


class ImageStore(ABC):
    """Where a stored grid's images live; ``read`` returns uint8 ``(n, C, H, W)`` on ``index``'s device."""

    @abstractmethod
    def read(self, index: Tensor) -> Tensor:
        """Images for flat indices (already range-checked)."""

    def to(self, device: torch.device | str) -> None:
        """Move what the store holds in memory to ``device`` (nothing for files read on demand)."""


class PackedBits(ImageStore):
    """Binary images held as packed bits, 1/8 of a byte per pixel, on any device; pixels come out 0 or 255."""

    def __init__(self, packed: Tensor, image_shape: tuple[int, int, int]) -> None:
        """``packed``: uint8 ``(N, ceil(C*H*W/8))``, numpy's ``packbits`` order (first pixel in the top bit)."""
        self.packed = packed
        self.image_shape = image_shape
        self._shifts: dict[torch.device, Tensor] = {}

    def read(self, index: Tensor) -> Tensor:
        rows = self.packed.index_select(0, index.to(self.packed.device))
        shifts = self._shifts.get(rows.device)
        if shifts is None:
            shifts = self._shifts[rows.device] = torch.arange(7, -1, -1, dtype=torch.uint8, device=rows.device)
        bits = (rows.unsqueeze(-1) >> shifts) & 1  # (n, bytes, 8), no host synchronisation
        pixels = math.prod(self.image_shape)
        images = (bits.view(rows.shape[0], -1)[:, :pixels] * 255).view(rows.shape[0], *self.image_shape)
        return images.to(index.device)

    def to(self, device: torch.device | str) -> None:
        self.packed = self.packed.to(device)


class ArrayImages(ImageStore):
    """Images from a ``(N, H, W, C)`` uint8 numpy array or memory map, or held as one tensor once loaded."""

    def __init__(self, array: np.ndarray, in_memory: bool) -> None:
        """With ``in_memory`` the array is copied into one ``(N, C, H, W)`` tensor (the engine's fast path)."""
        self.array = array
        self.data: Tensor | None = None
        if in_memory:
            self.data = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.asarray(array), -1, 1)))
            self.array = None  # type: ignore[assignment]

    def read(self, index: Tensor) -> Tensor:
        if self.data is not None:
            return self.data.index_select(0, index.to(self.data.device)).to(index.device)
        flat = index.detach().cpu().numpy()
        order = np.argsort(flat, kind="stable")  # read the map front to back
        block = np.empty((flat.size, *self.array.shape[1:]), dtype=np.uint8)
        block[order] = self.array[flat[order]]
        return torch.from_numpy(block).permute(0, 3, 1, 2).contiguous().to(index.device)

    def to(self, device: torch.device | str) -> None:
        if self.data is not None:
            self.data = self.data.to(device)


class StoredGrid(FactorGridDataset):
    """A complete factor grid read from a file: image ``i`` is the mixed-radix number of its factor
    indices, the last factor fastest, as in every benchmark file here."""

    def __init__(
        self,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        store: ImageStore,
        image_shape: tuple[int, int, int],
        label_factor: str | None,
    ) -> None:
        """Wrap ``store``; ``factor_sizes`` must multiply to the number of stored images."""
        self.store = store
        super().__init__(
            factor_names, factor_sizes, self._render_stored, image_shape=image_shape, label_factor=label_factor
        )

    def _render_stored(self, factors: Tensor) -> Tensor:
        return self.images(self.factor_index(factors))

    def images(self, index: Tensor) -> Tensor:
        """uint8 ``(n, C, H, W)`` for flat indices, on ``index``'s device (range-checked on the CPU)."""
        if index.device.type == "cpu" and index.numel() and bool(((index < 0) | (index >= len(self))).any()):
            raise IndexError(f"image index out of range 0..{len(self) - 1}")
        return self.store.read(index.long())

    def to(self, device: torch.device | str) -> "StoredGrid":
        """Move what the store holds in memory to ``device``."""
        self.store.to(device)
        return self


# -- checks shared by the benchmark loaders ---------------------------------------------------------


def check_image_shape(request: DatasetRequest, dataset: str, shape: tuple[int, int, int], backbone_hint: str) -> None:
    """Refuse a backbone whose image shape is not the file's (these files are used as published)."""
    if request.image_shape is not None and tuple(request.image_shape) != shape:
        wanted = "x".join(map(str, shape))
        got = "x".join(map(str, request.image_shape))
        raise ConfigError(
            f"dataset '{dataset}' has {wanted} images, the backbone draws {got}; use a {wanted} backbone such as "
            f"{backbone_hint}"
        )


def grid_sizes(classes: np.ndarray, where: str, fix: str) -> tuple[int, ...]:
    """Factor sizes of a complete grid given every image's factor indices ``(N, F)``, in index order;
    raises when the rows are not exactly the grid (a missing, repeated or reordered image)."""
    if classes.ndim != 2 or classes.shape[0] == 0:
        raise DataError(f"{where} has shape {classes.shape}, expected (images, factors); {fix}")
    if classes.min() < 0:
        raise DataError(f"{where} holds a negative factor index; {fix}")
    sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
    if math.prod(sizes) != classes.shape[0]:
        raise DataError(
            f"{where} lists {classes.shape[0]:,} images but its factor ranges {sizes} make a grid of "
            f"{math.prod(sizes):,}; {fix}"
        )
    expected = grid_decode(torch.arange(classes.shape[0]), sizes).numpy()
    if not np.array_equal(classes, expected):
        raise DataError(f"{where} is not the complete factor grid in order (last factor fastest); {fix}")
    return sizes


def check_count(n: int, where: str, fix: str) -> None:
    """Refuse an image count above :data:`MAX_IMAGES` before anything of that size is made."""
    if n > MAX_IMAGES:
        raise DataError(f"{where} declares {n:,} images, more than the {MAX_IMAGES:,} a benchmark file may hold; {fix}")
    if n < 1:
        raise DataError(f"{where} holds no images; {fix}")


def bool_option(request: DatasetRequest, dataset: str, key: str, default: bool) -> bool:
    """``request.options[key]`` as a bool."""
    value: Any = request.options.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be true or false, got {value!r}")
    return value
