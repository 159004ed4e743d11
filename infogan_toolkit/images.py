"""Conversions between stored uint8 images and a backbone's output range ("unit" or "symmetric"),
and fitting a picture of any size to a model's image shape (a data set's files, an upload)."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
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


def crop_box(
    size: tuple[int, int], target_hw: tuple[int, int], crop: int | None = None
) -> tuple[float, float, float, float]:
    """The centred box (left, top, right, bottom) with the target's aspect ratio.

    ``crop`` is the box width in source pixels (the height follows the aspect ratio); ``None`` or 0
    takes the largest box that fits. A box larger than the image is shrunk to fit.
    """
    iw, ih = size
    th, tw = target_hw
    aspect = tw / th
    bw, bh = (float(crop), crop / aspect) if crop else (float(iw), iw / aspect)
    shrink = min(1.0, iw / bw, ih / bh)
    bw, bh = bw * shrink, bh * shrink
    left, top = max(0.0, (iw - bw) / 2), max(0.0, (ih - bh) / 2)  # max: rounding can go a hair below 0
    return left, top, min(float(iw), left + bw), min(float(ih), top + bh)


def fit_picture(img: Image.Image, shape: tuple[int, int, int], crop: int | None = None) -> np.ndarray:
    """An opened picture as uint8 ``(C, H, W)`` of ``shape``: the :func:`crop_box`, resized with
    antialiasing, gray (C 1) or RGB (C 3). Decodes the picture (at 1/2, 1/4 or 1/8 scale where the
    format allows it, JPEG, and the box still covers the target), so the caller bounds its size first."""
    c, h, w = shape
    mode = "L" if c == 1 else "RGB"
    iw, ih = img.size
    box = crop_box((iw, ih), (h, w), crop)
    img.draft(mode, (math.ceil(iw * w / (box[2] - box[0])), math.ceil(ih * h / (box[3] - box[1]))))
    sx, sy = img.size[0] / iw, img.size[1] / ih
    scaled = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    # BILINEAR in Pillow widens its kernel when shrinking, so this is an antialiased resize.
    array = np.asarray(img.convert(mode).resize((w, h), Image.Resampling.BILINEAR, box=scaled), dtype=np.uint8)
    return array[None] if c == 1 else array.transpose(2, 0, 1)
