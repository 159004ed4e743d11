"""Procedural glyphs: three distinct outlines at every size and position of a grid, 1x32x32 gray.

Built for the first run of ``infogan-tk train``: small enough to train in minutes on two CPU cores,
with ground-truth factors for evaluation. Image ``i`` of the 1,452 is the mixed-radix number
(glyph, size, pos_x, pos_y) with sizes (3, 4, 11, 11), pos_y varying fastest. The glyphs differ in
outline and area (a filled square, a ring and an upright triangle), so that which one is drawn is
the most visible discrete choice in the data; size and the two position axes are continuous
choices on a grid. Positions span 10 pixels, about a glyph's width, so that position does not
outweigh the glyph as the largest difference between images.

Each image is rendered at 4x the resolution and averaged down, so edges are anti-aliased and a
shift of a fraction of a pixel changes the image. No randomness and no files: the same 1,452
images on every machine, built in well under a second. Both splits are the same images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, TensorImageDataset

from . import _grid
from ._common import check_options, check_split

FACTOR_NAMES = ("glyph", "size", "pos_x", "pos_y")
FACTOR_SIZES = (3, 4, 11, 11)
GLYPH_NAMES = ("square", "ring", "triangle")
IMAGE_SHAPE = (1, 32, 32)
#: Radius of each size's enclosing circle, in pixels.
RADII = (6.0, 7.0, 8.0, 9.0)
#: Centres, in pixels, on both axes: far enough from the border for the largest glyph.
CENTRES = tuple(11.0 + 10.0 * i / (FACTOR_SIZES[2] - 1) for i in range(FACTOR_SIZES[2]))
_SUPERSAMPLE = 4


def _inside(glyph: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Whether the point (u, v), in units of the glyph's radius with v pointing up, is ink."""
    square = torch.maximum(u.abs(), v.abs()) <= 0.72
    radius = torch.sqrt(u * u + v * v)
    ring = (radius <= 1.0) & (radius >= 0.58)
    triangle = (v >= -0.62) & (u.abs() <= 0.95 * (1.0 - v) / 1.62)
    return torch.where(glyph == 0, square, torch.where(glyph == 1, ring, triangle))


def render(factors: Tensor) -> Tensor:
    """uint8 ``(n, 1, 32, 32)`` images for factor indices ``(n, 4)`` (white glyph on black)."""
    _, height, width = IMAGE_SHAPE
    fine = torch.arange(height * _SUPERSAMPLE, dtype=torch.float32)
    pixel = (fine + 0.5) / _SUPERSAMPLE  # sub-pixel centres, in pixels
    radius = torch.tensor(RADII)[factors[:, 1]].view(-1, 1, 1)
    cx = torch.tensor(CENTRES)[factors[:, 2]].view(-1, 1, 1)
    cy = torch.tensor(CENTRES)[factors[:, 3]].view(-1, 1, 1)
    u = (pixel.view(1, 1, -1) - cx) / radius
    v = (cy - pixel.view(1, -1, 1)) / radius  # rows grow downwards; glyphs stand upright
    ink = _inside(factors[:, 0].view(-1, 1, 1), u, v).float()
    coarse = torch.nn.functional.avg_pool2d(ink.unsqueeze(1), _SUPERSAMPLE)
    return (coarse * 255).round().to(torch.uint8)


class GlyphImages(TensorImageDataset):
    """All 1,452 glyph images in memory, with their factors; a complete factor grid."""

    factor_grid = True

    def __init__(self) -> None:
        factors = _grid.decode(torch.arange(math.prod(FACTOR_SIZES)), FACTOR_SIZES)
        super().__init__(render(factors), labels=factors[:, 0], factors=factors,
                         factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES)

    def factor_index(self, factors: Tensor) -> Tensor:
        """Factor indices ``(n, 4)`` -> flat image indices; ``ValueError`` outside the grid."""
        return _grid.encode(factors, FACTOR_SIZES, FACTOR_NAMES)


class GlyphsDataset(DatasetPlugin):
    """Three glyphs x 4 sizes x 11 x 11 positions, 1x32x32, generated (no files)."""

    description = "glyphs (square, ring, triangle) x size x position, 1x32x32, 4 factors, generated (no files)"
    needs_root = False

    def load(self, request: DatasetRequest) -> GlyphImages:
        """Return the 1,452 images; both splits are the same."""
        check_split(request, "glyphs")
        check_options(request, "glyphs", ())
        return GlyphImages()
