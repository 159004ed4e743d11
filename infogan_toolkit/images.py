"""Conversions between stored uint8 images and a backbone's output range ("unit" or "symmetric")."""

from __future__ import annotations

import torch
from torch import Tensor

RANGES = ("unit", "symmetric")


def from_uint8(images: Tensor, output_range: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 [0, 255] -> float in the backbone's range."""
    x = images.to(dtype) * (1.0 / 255.0)
    return x * 2 - 1 if output_range == "symmetric" else x


def to_unit(images: Tensor, output_range: str) -> Tensor:
    """Backbone-range floats -> [0, 1] floats (for saving pictures)."""
    x = images.float()
    x = (x + 1) / 2 if output_range == "symmetric" else x
    return x.clamp(0, 1)
