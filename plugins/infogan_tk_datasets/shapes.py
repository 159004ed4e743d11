"""Procedural dSprites-like shapes, rendered on demand from their five factors (no files, no randomness).

Image ``i`` of the 737,280 is the mixed-radix number (shape, scale, orientation, pos_x, pos_y) with
sizes (3, 6, 40, 32, 32), pos_y varying fastest, as in dSprites. Factor values follow dSprites:
scale ``linspace(0.5, 1, 6)``, orientation ``linspace(0, 2*pi, 40)`` (both ends included, so the
first and last orientation draw the same image), positions ``linspace(0, 1, 32)``.

Rendering is an implicit-function test at the pixel centres of a window around each shape (the
rest of the frame is black): pixel coordinates are moved to the shape's centre, rotated by the orientation and divided
by the scale, then tested against the unit
square, ellipse or heart. Every shape fits in a circle of radius ``RADIUS * scale`` about its centre,
and centres stay ``MARGIN`` away from the border, so a shape is never cut off by the frame at any
scale, orientation or position. Pixels are 0 or 255 (uint8), white shape on black.

The grid itself (length, ``factors``, ``labels``, ``decode``, ``factor_index``, the index checks) is
:class:`infogan_toolkit.datasets.FactorGridDataset`'s; this module only adds the renderer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from infogan_toolkit.api import (
    ConfigError,
    DatasetPlugin,
    DatasetRequest,
    FactorGridDataset,
)

from ._common import check_options, check_split, parse_shape

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
DEFAULT_SHAPE = (1, 64, 64)

#: Radius (in image widths) of the circle that holds every shape at scale 1, whatever its orientation.
RADIUS = 0.16
#: Closest a shape's centre comes to the border, in image widths: RADIUS plus about a pixel at 64x64.
MARGIN = 0.18
# The unit shapes, each inside the unit circle: a square with its corners on it, a 2:1 ellipse,
# and the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3, whose smallest enclosing circle has centre
# (0, 0.25) and radius 1.25 (1.26 keeps a safety gap).
_HALF_SIDE = 1 / math.sqrt(2)
_ELLIPSE_MINOR = 0.5
_HEART_SCALE = 1.26
_HEART_SHIFT = 0.25


class _Tables(NamedTuple):
    """Factor values and window offsets on one device: a few hundred numbers."""

    scale: Tensor  # (6,)
    angle: Tensor  # (40,) radians
    position: Tensor  # (32,) in [0, 1]
    offsets: Tensor  # (k,) int64: 0 .. k-1
    offsets_f: Tensor  # the same as float32


class ShapesImages(FactorGridDataset):
    """The 737,280 shape images, rendered in torch on the device of the requested indices.

    A :class:`FactorGridDataset` over (shape, scale, orientation, pos_x, pos_y) whose render
    function is :meth:`render`; the labels are the shape index (0 square, 1 ellipse, 2 heart).
    ``factors`` is ``(737280, 5)`` int64 on the CPU (29 MB, built on first use).
    """

    def __init__(self, image_shape: tuple[int, int, int] = DEFAULT_SHAPE) -> None:
        self.image_shape = image_shape
        self._tables: dict[torch.device, _Tables] = {}
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, self.render, image_shape=image_shape, label_factor="shape")

    def factor_values(self, factors: Tensor) -> Tensor:
        """Factor indices ``(n, 5)`` -> values ``(n, 5)`` float: shape index, scale, radians, x, y in [0, 1]."""
        shape_index, scale, angle, x, y = self._values(factors.long(), self._table(factors.device))
        return torch.stack((shape_index.float(), scale, angle, x, y), dim=1)

    # -- rendering --------------------------------------------------------------------------------
    def render(self, factors: Tensor) -> Tensor:
        """Render uint8 images for factor indices ``(n, 5)``, on ``factors``' device."""
        channels, height, width = self.image_shape
        table = self._table(factors.device)
        shape_index, scale, angle, x, y = self._values(factors.long(), table)
        n, k = factors.shape[0], self._window()
        # Only a k x k window around each centre can hold shape pixels: test those (about 1/8 of the
        # image at 64x64) and scatter them into a blank frame.
        cx, cy = (MARGIN + x * (1 - 2 * MARGIN)) * width, (MARGIN + y * (1 - 2 * MARGIN)) * height  # pixels
        reach = RADIUS * width
        ox = (cx - reach).floor().long().clamp(0, width - k)
        oy = (cy - reach).floor().long().clamp(0, height - k)
        steps = table.offsets_f
        # Pixel centres relative to the shape's centre, in image widths; rows grow downwards, shapes stand upright.
        dx = ((ox.view(n, 1, 1) + steps.view(1, 1, k) + 0.5) - cx.view(n, 1, 1)) / width
        up = (cy.view(n, 1, 1) - (oy.view(n, 1, 1) + steps.view(1, k, 1) + 0.5)) / width
        cos, sin = angle.cos().view(n, 1, 1), angle.sin().view(n, 1, 1)
        size = (RADIUS * scale).view(n, 1, 1)
        u = (cos * dx + sin * up) / size  # the pixel rotated back by the orientation, in shape units
        v = (cos * up - sin * dx) / size
        square = torch.maximum(u.abs(), v.abs()) <= _HALF_SIDE
        ellipse = u * u + (v * v) * (1 / _ELLIPSE_MINOR**2) <= 1
        hx2 = (u * _HEART_SCALE) ** 2
        hy = v * _HEART_SCALE + _HEART_SHIFT
        r = hx2 + hy * hy - 1
        heart = r * r * r <= hx2 * hy * hy * hy
        kind = shape_index.view(n, 1, 1)
        inside = torch.where(kind == 0, square, torch.where(kind == 1, ellipse, heart)).to(torch.uint8) * 255
        rows = oy.view(n, 1, 1) + table.offsets.view(1, k, 1)
        cols = ox.view(n, 1, 1) + table.offsets.view(1, 1, k)
        frame = torch.zeros(n, height * width, dtype=torch.uint8, device=factors.device)
        frame.scatter_(1, (rows * width + cols).view(n, k * k), inside.view(n, k * k))
        return frame.view(n, 1, height, width).expand(n, channels, height, width).contiguous()

    def _window(self) -> int:
        # Side of the square that holds any shape's pixels: its bounding circle plus a pixel each side.
        _, height, width = self.image_shape
        return min(height, math.ceil(2 * RADIUS * width) + 2)

    def to(self, device: torch.device | str) -> "ShapesImages":
        """Prepare the small lookup tables on ``device``; there are no stored images to move."""
        self._table(torch.device(device))
        return self

    def _table(self, device: torch.device) -> _Tables:
        if device not in self._tables:
            offsets = torch.arange(self._window(), device=device)
            self._tables[device] = _Tables(
                scale=torch.linspace(0.5, 1.0, FACTOR_SIZES[1], device=device),
                angle=torch.linspace(0.0, 2 * math.pi, FACTOR_SIZES[2], device=device),
                position=torch.linspace(0.0, 1.0, FACTOR_SIZES[3], device=device),
                offsets=offsets,
                offsets_f=offsets.float(),
            )
        return self._tables[device]

    @staticmethod
    def _values(factors: Tensor, table: _Tables) -> tuple[Tensor, ...]:
        position = table.position
        return (
            factors[:, 0],
            table.scale[factors[:, 1]],
            table.angle[factors[:, 2]],
            position[factors[:, 3]],
            position[factors[:, 4]],
        )


class ShapesDataset(DatasetPlugin):
    """dSprites-like shapes generated on demand; five ground-truth factors."""

    description = "dSprites-like shapes (square, ellipse, heart), 1x64x64, 5 factors, generated on demand (no files)"
    license = "generated by infogan-toolkit, no third-party data (MIT, as the toolkit)"
    needs_root = False

    def load(self, request: DatasetRequest) -> ShapesImages:
        """Return the generator; both splits are the same 737,280 images."""
        check_split(request, "shapes")
        check_options(request, "shapes", ())
        shape = parse_shape(request.image_shape or DEFAULT_SHAPE, "shapes")
        if shape[1] != shape[2] or shape[1] < 16:
            raise ConfigError(
                f"dataset 'shapes' draws square images of at least 16x16, not {shape}; use a backbone for 1x64x64"
            )
        return ShapesImages(shape)
