"""Feature extractors: the networks that image-quality metrics (FID, KID) compare images in.

A :class:`FeatureExtractor` is a plugin (``register_feature_extractors``). It builds a module that
maps float images in [0, 1], ``(n, C, H, W)``, to features ``(n, D)``. Some are fixed networks
whose weights come as a file (the standard Inception network); others fit themselves to a data
set the first time they are asked for (a small classifier trained on a labelled training split)
and keep the result as safetensors under :func:`cache_dir`, so later evaluations reuse it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from .datasets import ImageDataset

#: Environment variable naming the folder where extractors keep weights they made or fetched.
CACHE_ENV = "INFOGAN_TK_CACHE"


def cache_dir() -> Path:
    """Where extractors keep their files: ``$INFOGAN_TK_CACHE`` or ``~/.cache/infogan-tk``."""
    configured = os.environ.get(CACHE_ENV, "")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "infogan-tk"


@attrs.frozen
class ExtractorRequest:
    """What an extractor is built for."""

    #: (channels, height, width) of the images it will see.
    image_shape: tuple[int, int, int]
    #: The device the module runs on.
    device: torch.device
    #: The folder for files it makes or fetches (:func:`cache_dir` by default).
    cache: Path
    #: The evaluation's dataset name, or None.
    dataset_name: str | None
    #: ``train_split()``: that dataset's training split, loaded only when called (for extractors that fit to it).
    train_split: Callable[[], ImageDataset]
    #: ``say(line)``: one progress line for the user.
    say: Callable[[str], None]


class FeatureExtractor(ABC):
    """A registered feature extractor. Subclasses set ``description`` and ``datasets`` and
    implement :meth:`build`; the module it returns has an int ``num_features``."""

    #: One line for ``infogan-tk list extractors``.
    description: str = ""
    #: Datasets it is made for: an evaluation on one of them uses it by default. Empty: none.
    datasets: tuple[str, ...] = ()

    def not_applicable(self, request: ExtractorRequest) -> str | None:
        """Why it cannot compare these images (e.g. another image shape), or None."""
        return None

    def identity(self, request: ExtractorRequest) -> dict:
        """JSON-ready facts that identify the features (e.g. a weights file's hash), for the report."""
        return {}

    @abstractmethod
    def build(self, request: ExtractorRequest) -> nn.Module:
        """The feature module in eval mode on ``request.device``; a one-line ToolkitError names
        what is missing (a weights file to place, a dataset to give) when it cannot be built."""


def default_extractor(registry: Iterable[Any], dataset_name: str | None, fallback: str) -> str:
    """The extractor made for ``dataset_name`` if one is registered, else ``fallback``."""
    for entry in sorted(registry, key=lambda e: e.name):
        if dataset_name is not None and dataset_name in entry.obj.datasets:
            return entry.name
    return fallback
