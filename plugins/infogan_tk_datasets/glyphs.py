"""Procedural glyphs: three distinct outlines at every size, brightness and position of a grid, 1x32x32 gray.

Built for the first run of ``infogan-tk train``: small enough to train in minutes on two CPU cores,
with ground-truth factors for evaluation. By default the factors are (glyph, size, pos_x, pos_y)
with sizes (3, 4, 11, 11), 1,452 images; the options ``sizes``, ``min_radius`` and ``max_radius``
set the size axis, ``intensities`` and ``min_intensity`` add a brightness axis, and ``positions``
sets how many centres each position axis has. An axis of one
value is no factor: it is left out of the factor list. Image ``i`` is the mixed-radix number of its
factors, in the order glyph, size, intensity, pos_x, pos_y, pos_y varying fastest. The glyphs differ
in outline and area (a filled square, a ring and an upright triangle), so that which one is drawn is
the most visible discrete choice in the data; size, brightness and the two position axes are
continuous choices on a grid. Positions span 10 pixels, about a glyph's width, so that position
does not outweigh the glyph as the largest difference between images.

Each image is rendered at 4x the resolution and averaged down, so edges are anti-aliased and a
shift of a fraction of a pixel changes the image. No randomness and no files: the same images
on every machine, built in well under a second. Both splits are the same images.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.api import (
    ConfigError,
    DatasetPlugin,
    DatasetRequest,
    TensorImageDataset,
)

from . import _grid
from ._common import check_options, check_split
from ._options import float_option, int_option

#: Every axis the grid can have, in image order; an axis of one value is left out of the factors.
AXES = ("glyph", "size", "intensity", "pos_x", "pos_y")
GLYPH_NAMES = ("square", "ring", "triangle")
IMAGE_SHAPE = (1, 32, 32)
#: Default positions per axis, and the span of the centres in pixels on both axes: far enough
#: from the border for the largest glyph.
POSITIONS, FIRST_CENTRE, LAST_CENTRE = 11, 11.0, 21.0
#: More positions than this would be steps of well under a pixel.
MAX_POSITIONS = 41
#: Default radii of the enclosing circle, in pixels: 4 sizes from 6 to 9.
SIZES, MIN_RADIUS, MAX_RADIUS = 4, 6.0, 9.0
#: Default brightness: one level, full white (no intensity factor).
INTENSITIES, MIN_INTENSITY = 1, 0.35
#: The largest radius that stays inside the frame at the outermost centres.
RADIUS_LIMIT = 10.0
#: More radii than this would be steps of well under a pixel on the 32-pixel frame.
MAX_SIZES = 32
#: More levels than this would be steps of under one grey level of 255 at the dimmest range.
MAX_INTENSITIES = 32
_SUPERSAMPLE = 4


def _inside(glyph: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Whether the point (u, v), in units of the glyph's radius with v pointing up, is ink."""
    square = torch.maximum(u.abs(), v.abs()) <= 0.72
    radius = torch.sqrt(u * u + v * v)
    ring = (radius <= 1.0) & (radius >= 0.58)
    triangle = (v >= -0.62) & (u.abs() <= 0.95 * (1.0 - v) / 1.62)
    return torch.where(glyph == 0, square, torch.where(glyph == 1, ring, triangle))


def _spaced(count: int, low: float, high: float, single: float) -> tuple[float, ...]:
    """``count`` values evenly spaced from ``low`` to ``high``; ``single`` when there is one."""
    if count == 1:
        return (single,)
    return tuple(low + (high - low) * i / (count - 1) for i in range(count))


def even_radii(sizes: int = SIZES, low: float = MIN_RADIUS, high: float = MAX_RADIUS) -> tuple[float, ...]:
    """``sizes`` radii evenly spaced from ``low`` to ``high`` pixels; one size is the middle of the two."""
    return _spaced(sizes, low, high, (low + high) / 2)


def even_intensities(levels: int = INTENSITIES, low: float = MIN_INTENSITY) -> tuple[float, ...]:
    """``levels`` brightnesses of the ink evenly spaced from ``low`` to 1 (full white); one level is 1."""
    return _spaced(levels, low, 1.0, 1.0)


def even_centres(positions: int = POSITIONS) -> tuple[float, ...]:
    """``positions`` centres, in pixels, evenly spaced over the span on each axis (at least 2)."""
    return _spaced(positions, FIRST_CENTRE, LAST_CENTRE, (FIRST_CENTRE + LAST_CENTRE) / 2)


def render(
    factors: Tensor,
    radii: tuple[float, ...] = even_radii(),
    intensities: tuple[float, ...] = (1.0,),
    centres: tuple[float, ...] = even_centres(),
    chunk: int = 512,
) -> Tensor:
    """uint8 ``(n, 1, 32, 32)`` images for indices ``(n, 5)`` into every axis of :data:`AXES`
    (glyph, radius, intensity, pos_x, pos_y): a glyph of that brightness on black.

    Rendered ``chunk`` images at a time, so the 4x sub-pixel grid never holds more than that many.
    """
    _, height, width = IMAGE_SHAPE
    fine = torch.arange(height * _SUPERSAMPLE, dtype=torch.float32)
    pixel = (fine + 0.5) / _SUPERSAMPLE  # sub-pixel centres, in pixels
    out = []
    for part in factors.split(chunk):
        radius = torch.tensor(radii)[part[:, 1]].view(-1, 1, 1)
        brightness = torch.tensor(intensities)[part[:, 2]].view(-1, 1, 1, 1)
        cx = torch.tensor(centres)[part[:, 3]].view(-1, 1, 1)
        cy = torch.tensor(centres)[part[:, 4]].view(-1, 1, 1)
        u = (pixel.view(1, 1, -1) - cx) / radius
        v = (cy - pixel.view(1, -1, 1)) / radius  # rows grow downwards; glyphs stand upright
        ink = _inside(part[:, 0].view(-1, 1, 1), u, v).float()
        out.append(torch.nn.functional.avg_pool2d(ink.unsqueeze(1), _SUPERSAMPLE) * brightness)
    return (torch.cat(out) * 255).round().to(torch.uint8)


class GlyphImages(TensorImageDataset):
    """Every glyph image of the grid in memory, with its factors; a complete factor grid."""

    factor_grid = True

    def __init__(
        self,
        radii: tuple[float, ...] = even_radii(),
        intensities: tuple[float, ...] = (1.0,),
        centres: tuple[float, ...] = even_centres(),
    ) -> None:
        self.radii = tuple(radii)
        self.intensities = tuple(intensities)
        self.centres = tuple(centres)
        axes = (len(GLYPH_NAMES), len(self.radii), len(self.intensities), len(self.centres), len(self.centres))
        every_axis = _grid.decode(torch.arange(math.prod(axes)), axes)
        varying = [j for j, size in enumerate(axes) if size > 1]
        factors = every_axis[:, varying]
        names = tuple(AXES[j] for j in varying)
        super().__init__(
            render(every_axis, self.radii, self.intensities, self.centres),
            labels=factors[:, 0],
            factors=factors,
            factor_names=names,
            factor_sizes=tuple(axes[j] for j in varying),
        )

    def factor_index(self, factors: Tensor) -> Tensor:
        """Factor indices ``(n, len(factor_names))`` -> flat image indices; ``ValueError`` outside the grid."""
        return _grid.encode(factors, self.factor_sizes, self.factor_names)


class GlyphsDataset(DatasetPlugin):
    """Three glyphs x 4 sizes x 11 x 11 positions (by default), 1x32x32, generated (no files)."""

    description = "glyphs (square, ring, triangle) x size x brightness x position, 1x32x32, generated (no files)"
    license = "generated by infogan-toolkit, no third-party data (MIT, as the toolkit)"
    needs_root = False

    def load(self, request: DatasetRequest) -> GlyphImages:
        """Return the grid's images (1,452 by default); both splits are the same.

        Options: ``sizes`` (how many radii, default 4; 1 draws every glyph at the middle radius),
        ``min_radius`` and ``max_radius`` (pixels, default 6 and 9), the radii evenly spaced between
        the two; ``intensities`` (how many brightness levels, default 1: full white) evenly spaced
        from ``min_intensity`` (default 0.35) to 1; ``positions`` (per axis, default 11) spread
        over the same 10 pixels.
        """
        check_split(request, "glyphs")
        check_options(
            request, "glyphs", ("sizes", "min_radius", "max_radius", "intensities", "min_intensity", "positions")
        )
        sizes = int_option(request, "glyphs", "sizes", SIZES, minimum=1, maximum=MAX_SIZES)
        levels = int_option(request, "glyphs", "intensities", INTENSITIES, minimum=1, maximum=MAX_INTENSITIES)
        darkest = float_option(request, "glyphs", "min_intensity", MIN_INTENSITY, 0.05, 0.95)
        positions = int_option(request, "glyphs", "positions", POSITIONS, minimum=2, maximum=MAX_POSITIONS)
        low = float_option(request, "glyphs", "min_radius", MIN_RADIUS, 2.0, RADIUS_LIMIT)
        high = float_option(request, "glyphs", "max_radius", MAX_RADIUS, 2.0, RADIUS_LIMIT)
        if not low < high:
            raise ConfigError(
                f"dataset 'glyphs' option min_radius ({low:g}) must be below max_radius ({high:g}); swap or change them"
            )
        return GlyphImages(even_radii(sizes, low, high), even_intensities(levels, darkest), even_centres(positions))
