"""The dataset interface: images as uint8 tensors drawn by index, plus labels or factors if known.

:class:`FactorGridDataset` builds a complete factor-grid dataset (every combination of some factors,
one image each) from factor names, sizes and a render function, with everything evaluation needs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import torch
from torch import Tensor

from .errors import PluginError


@attrs.frozen
class DatasetRequest:
    """What the engine or evaluator asks a dataset plugin for."""

    #: The folder of the dataset's files (``data.root``, ``--data-root``), or None.
    root: Path | None
    #: ``"train"`` (training) or ``"test"`` (evaluation; a dataset without one may return its training images).
    split: str = "train"
    #: Whether the plugin may fetch missing files (``--download``).
    download: bool = False
    #: The backbone's ``(C, H, W)``, for datasets that resize or render to fit.
    image_shape: tuple[int, int, int] | None = None
    #: The configuration's ``data.options``; refuse keys you do not know.
    options: dict[str, Any] = attrs.field(factory=dict)


class ImageDataset(ABC):
    """A finite image set. ``images(index)`` returns uint8 ``(n, C, H, W)`` on ``index``'s device."""

    #: (channels, height, width)
    image_shape: tuple[int, int, int]
    #: Ground-truth class per image, or None.
    labels: Tensor | None = None
    #: Ground-truth factor indices per image ``(N, F)`` int64 (0 .. size - 1), or None.
    factors: Tensor | None = None
    #: One name per factor column (the report's column names).
    factor_names: tuple[str, ...] = ()
    #: One number of values per factor column.
    factor_sizes: tuple[int, ...] = ()
    #: Where each image came from (a file path relative to the data root), or None.
    sources: tuple[str, ...] | None = None

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

    #: Every image, uint8 ``(N, C, H, W)``, on the device the engine moved it to.
    data: Tensor

    def __init__(
        self,
        data: Tensor,
        labels: Tensor | None = None,
        factors: Tensor | None = None,
        factor_names: tuple[str, ...] = (),
        factor_sizes: tuple[int, ...] = (),
    ) -> None:
        """Hold ``data``, uint8 ``(N, C, H, W)``, with optional labels and factors (see :class:`ImageDataset`)."""
        if data.dtype != torch.uint8 or data.dim() != 4:
            raise ValueError(f"TensorImageDataset needs uint8 (N, C, H, W); got {data.dtype} {tuple(data.shape)}")
        self.data = data
        self.image_shape = cast("tuple[int, int, int]", tuple(data.shape[1:]))  # dim() == 4 checked above
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
    #: True when ``load`` reads files from a data root; False when it needs none (generated data).
    needs_root: bool = True
    #: The data's terms of use as its source states them, for the model card of an exported model
    #: (``infogan-tk export``); None when the plugin states none.
    license: str | None = None

    @abstractmethod
    def load(self, request: DatasetRequest) -> ImageDataset:
        """Load (or generate) the split; raise :class:`~infogan_toolkit.errors.DataError` on bad files."""


# -- complete factor grids -----------------------------------------------------------------------


def grid_decode(index: Tensor, sizes: Sequence[int]) -> Tensor:
    """Flat grid indices ``(n,)`` -> factor indices ``(n, len(sizes))`` int64, on ``index``'s device.

    Index ``i`` is the mixed-radix number of its factor indices, the last factor varying fastest.
    """
    rest = index.long()
    digits = []
    for size in reversed(sizes):
        digits.append(rest % size)
        rest = rest // size
    return torch.stack(digits[::-1], dim=1)


def grid_encode(factors: Tensor, sizes: Sequence[int], names: Sequence[str] = ()) -> Tensor:
    """Factor indices ``(n, F)`` -> flat grid indices ``(n,)`` int64: the inverse of :func:`grid_decode`.

    Raises ``ValueError`` when ``factors`` is not ``(n, len(sizes))`` or an index lies outside
    ``0 .. size - 1`` (``names`` label the sizes in the message).
    """
    if factors.dim() != 2 or factors.shape[1] != len(sizes):
        raise ValueError(f"factors must be (n, {len(sizes)}), got {tuple(factors.shape)}")
    factors = factors.long()
    limits = torch.tensor(list(sizes), device=factors.device)
    if bool(((factors < 0) | (factors >= limits)).any()):
        labels = list(names) if len(names) == len(sizes) else [f"factor {i}" for i in range(len(sizes))]
        raise ValueError(f"factor indices out of range; sizes are {dict(zip(labels, sizes))}")
    index = torch.zeros(factors.shape[0], dtype=torch.long, device=factors.device)
    for column, size in enumerate(sizes):
        index = index * size + factors[:, column]
    return index


#: A render function: factor indices ``(n, F)`` int64 -> uint8 images ``(n, C, H, W)`` on the same device.
RenderFn = Callable[[Tensor], Tensor]


class FactorGridDataset(ImageDataset):
    """A complete factor grid from a render function: every combination of the factors, one image each.

    Give the factor names, their sizes (number of values each) and ``render``, which maps factor
    indices ``(n, F)`` int64 to uint8 images ``(n, C, H, W)`` on the same device. Everything else
    is derived: ``len`` is the product of the sizes; image ``i`` is the mixed-radix number of its
    factor indices, the last factor varying fastest (:meth:`decode`, and its inverse
    :meth:`factor_index`, which FactorVAE-style metrics use to pick images by factor values);
    ``factors`` ``(N, F)``, ``factor_names``, ``factor_sizes`` and ``factor_grid = True``; ``labels``
    are the indices of ``label_factor`` when one is named.

    By default images are rendered on demand, batch by batch, on the device of the requested
    indices (nothing is stored: good for large grids); ``in_memory=True`` renders the whole grid
    once, on the CPU, into ``data`` and serves batches by lookup (good for small grids and slow
    render functions). Usable as is; no subclass needed::

        def render(factors):                      # (n, 2) int64 -> (n, 1, 16, 16) uint8
            ...

        FactorGridDataset(("x", "width"), (12, 3), render, label_factor="width")
    """

    factor_grid = True
    #: The factor whose index is each image's label, or None.
    label_factor: str | None
    #: The whole grid rendered once (``in_memory=True``), uint8 ``(N, C, H, W)``; None when rendered on demand.
    data: Tensor | None

    def __init__(
        self,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        render: RenderFn,
        image_shape: tuple[int, int, int] | None = None,
        label_factor: str | None = None,
        in_memory: bool = False,
    ) -> None:
        """Check the arguments (one-line ``PluginError``), render one image to learn ``image_shape``
        when not given, and with ``in_memory`` render the whole grid."""
        names, sizes = tuple(factor_names), tuple(factor_sizes)
        where = f"factor grid {dict(zip(names, sizes))}"
        if not names or len(names) != len(sizes):
            raise PluginError(f"{where}: give one size per factor name (got {len(names)} names, {len(sizes)} sizes)")
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise PluginError(f"{where}: factor names must be distinct non-empty strings, got {names!r}")
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in sizes):
            raise PluginError(f"{where}: factor sizes must be positive ints, got {sizes!r}")
        if label_factor is not None and label_factor not in names:
            raise PluginError(
                f"{where}: label_factor '{label_factor}' is not a factor name; use one of {', '.join(names)}"
            )
        if not callable(render):
            raise PluginError(f"{where}: render must be a function of factor indices (n, F) -> uint8 images")
        self.factor_names = names
        self.factor_sizes = sizes
        self.label_factor = label_factor
        self._render = render
        self._factors: Tensor | None = None
        self.data: Tensor | None = None
        if image_shape is not None:
            self.image_shape = cast("tuple[int, int, int]", tuple(image_shape))
        probe = self._checked(render(torch.zeros(1, len(sizes), dtype=torch.long)), 1, where)
        if image_shape is not None and tuple(probe.shape[1:]) != self.image_shape:
            raise PluginError(
                f"{where}: render draws {tuple(probe.shape[1:])} images but image_shape is {self.image_shape}"
            )
        self.image_shape = cast("tuple[int, int, int]", tuple(int(d) for d in probe.shape[1:]))  # _checked: 4 dims
        if in_memory:
            chunks = [
                self._checked(render(self.decode(torch.arange(start, min(start + 4096, len(self))))), None, where)
                for start in range(0, len(self), 4096)
            ]
            self.data = torch.cat(chunks).contiguous()

    @staticmethod
    def _checked(images: Any, n: int | None, where: str) -> Tensor:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, Tensor) else type(images).__name__
            raise PluginError(f"{where}: render must return uint8 images (n, C, H, W), got {got}")
        if n is not None and images.shape[0] != n:
            raise PluginError(
                f"{where}: render returned {images.shape[0]} images for {n} factor rows; draw one per row"
            )
        return images

    def __len__(self) -> int:
        return math.prod(self.factor_sizes)

    @property
    def factors(self) -> Tensor:  # type: ignore[override]
        """Every image's factor indices ``(N, F)`` int64 on the CPU, in index order (built on first use)."""
        if self._factors is None:
            self._factors = self.decode(torch.arange(len(self)))
        return self._factors

    @property
    def labels(self) -> Tensor | None:  # type: ignore[override]
        """The ``label_factor`` index of each image as its class, or None when no factor is named."""
        if self.label_factor is None:
            return None
        return self.factors[:, self.factor_names.index(self.label_factor)]

    def decode(self, index: Tensor) -> Tensor:
        """Flat image indices ``(n,)`` -> factor indices ``(n, F)`` int64, on ``index``'s device."""
        return grid_decode(index, self.factor_sizes)

    def factor_index(self, factors: Tensor) -> Tensor:
        """Factor indices ``(n, F)`` -> flat image indices ``(n,)`` int64: the inverse of :meth:`decode`.

        Raises ``ValueError`` when a factor index is outside ``0 .. size - 1``.
        """
        return grid_encode(factors, self.factor_sizes, self.factor_names)

    def images(self, index: Tensor) -> Tensor:
        """uint8 ``(n, C, H, W)`` images for flat indices, on ``index``'s device.

        Raises ``IndexError`` for an index out of range when ``index`` is on the CPU (on an
        accelerator the check would stall the training step, so it is skipped).
        """
        if index.device.type == "cpu" and index.numel() and bool(((index < 0) | (index >= len(self))).any()):
            raise IndexError(f"image index out of range 0..{len(self) - 1}")
        if self.data is not None:
            return self.data.index_select(0, index.to(self.data.device)).to(index.device)
        return self._render(self.decode(index))

    def to(self, device: torch.device | str) -> "FactorGridDataset":
        """Move the rendered grid (``in_memory``) to ``device``; on-demand grids hold nothing to move."""
        if self.data is not None:
            self.data = self.data.to(device)
        return self
