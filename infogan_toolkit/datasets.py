"""The dataset interface: images as uint8 tensors drawn by index, plus labels or factors if known."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor


@attrs.frozen
class DatasetRequest:
    """What the engine or evaluator asks a dataset plugin for."""

    root: Path | None
    split: str = "train"  # "train" or "test"
    download: bool = False
    image_shape: tuple[int, int, int] | None = None  # what the backbone wants, for datasets that resize
    options: dict[str, Any] = attrs.field(factory=dict)


class ImageDataset(ABC):
    """A finite image set. ``images(index)`` returns uint8 ``(n, C, H, W)`` on ``index``'s device."""

    #: (channels, height, width)
    image_shape: tuple[int, int, int]
    #: Ground-truth class per image, or None.
    labels: Tensor | None = None
    #: Ground-truth factor indices per image ``(N, F)``, or None; with names and number of values.
    factors: Tensor | None = None
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    @abstractmethod
    def __len__(self) -> int:
        """Number of images."""

    @abstractmethod
    def images(self, index: Tensor) -> Tensor:
        """uint8 images for the given indices, on the same device as ``index``."""

    def to(self, device: torch.device | str) -> "ImageDataset":
        """Move whatever the dataset holds to ``device``; returns self."""
        return self

    #: True when every combination of factor values exists and :meth:`factor_index` finds it
    #: (what sampling-based metrics such as the FactorVAE score need).
    factor_grid: bool = False

    def factor_index(self, factors: Tensor) -> Tensor:
        """Dataset indices of the images with the given factor indices ``(n, F)``; grid datasets only."""
        raise NotImplementedError(f"{type(self).__name__} has no complete factor grid")


class TensorImageDataset(ImageDataset):
    """A dataset held in memory as one uint8 tensor (the fast path: batches are drawn by index)."""

    def __init__(
        self,
        data: Tensor,
        labels: Tensor | None = None,
        factors: Tensor | None = None,
        factor_names: tuple[str, ...] = (),
        factor_sizes: tuple[int, ...] = (),
    ) -> None:
        if data.dtype != torch.uint8 or data.dim() != 4:
            raise ValueError(f"TensorImageDataset needs uint8 (N, C, H, W); got {data.dtype} {tuple(data.shape)}")
        self.data = data
        self.image_shape = tuple(data.shape[1:])
        self.labels = labels
        self.factors = factors
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(factor_sizes)

    def __len__(self) -> int:
        return self.data.shape[0]

    def images(self, index: Tensor) -> Tensor:
        return self.data.index_select(0, index.to(self.data.device)).to(index.device)

    def to(self, device: torch.device | str) -> "TensorImageDataset":
        self.data = self.data.to(device)
        return self


class DatasetPlugin(ABC):
    """A dataset kind, registered by name; ``load`` returns an :class:`ImageDataset`."""

    #: One line for `infogan-tk list datasets`.
    description: str = ""
    #: True when ``load`` needs no files (generated data).
    needs_root: bool = True

    @abstractmethod
    def load(self, request: DatasetRequest) -> ImageDataset:
        """Load (or generate) the split; raise :class:`~infogan_toolkit.errors.DataError` on bad files."""
