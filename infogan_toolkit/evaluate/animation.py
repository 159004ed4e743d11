"""Animated traversals: one code swept across its range and back, as a GIF.

Every frame is a grid of the same generated images (fixed noise and other codes, one cell per row
of the Fig. 2 traversal), with the swept code at that frame's value, written under a header
naming the code and the value. The frames come from :func:`~infogan_toolkit.evaluate.traverse.traversal_images`,
so frame ``k``'s cell ``r`` is exactly row ``r``, column ``k`` of the PNG traversal with the same
seed. Written with Pillow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import attrs
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import make_grid

from ..codes import CodeSet
from ..files import make_dirs, open_for_write
from .traverse import columns_for, traversal_images

#: A cell is drawn at least this many pixels wide (small images are scaled up by a whole factor).
MIN_CELL_PIXELS = 64
HEADER_PIXELS = 16
PADDING = 2


def sweep_order(columns: int) -> list[int]:
    """Column indices there and back, ``0 .. n-1`` then ``n-2 .. 1``: a looping GIF neither jumps
    from the last value to the first nor shows an end value twice."""
    return list(range(columns)) + list(range(columns - 2, 0, -1))


@attrs.frozen
class TraversalAnimation:
    """One code's animated traversal: a grid per frame, in play order, and the code's value in each."""

    code: str
    prior: str
    discrete: bool
    frames: list[Tensor]  # (C, H, W) grids in [0, 1], one per entry of ``order``
    column_values: list[float]  # the code's value in each traversal column
    order: list[int]  # the column each frame shows (:func:`sweep_order`)
    cell: tuple[int, int]  # one image's (height, width)
    grid_columns: int

    @property
    def values(self) -> list[float]:
        """The code's value in each frame."""
        return [self.column_values[c] for c in self.order]


@torch.no_grad()
def traversal_animation(
    generate: Callable[[Tensor, Sequence[Tensor]], Tensor],
    codes: CodeSet,
    noise_dim: int,
    code_index: int,
    rows: int = 5,
    steps: int = 10,
    value_range: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    device: torch.device | str = "cpu",
    noise_kind: str = "normal",
) -> TraversalAnimation:
    """The frames of code ``code_index`` swept across its traversal values and back; ``rows``
    images per frame (the traversal's rows), laid out ``ceil(sqrt(rows))`` to a line."""
    images = (
        traversal_images(
            generate,
            codes,
            noise_dim,
            code_index,
            rows,
            steps,
            value_range,
            seed=seed,
            device=device,
            noise_kind=noise_kind,
        )
        .float()
        .cpu()
    )
    cols = columns_for(codes, code_index, steps)
    by_column = images.reshape(rows, cols, *images.shape[1:]).transpose(0, 1)  # (cols, rows, C, H, W)
    grid_columns = math.ceil(math.sqrt(rows))
    code = codes.codes[code_index]
    values = code.code.traversal(steps, *value_range)
    column_values = [float(v) for v in values.reshape(values.shape[0], -1)[:, 0]]
    order = sweep_order(cols)
    return TraversalAnimation(
        code=code.name,
        prior=code.code.describe(),
        discrete=bool(code.code.discrete),
        frames=[make_grid(by_column[c], nrow=grid_columns, padding=PADDING, pad_value=1.0) for c in order],
        column_values=column_values,
        order=order,
        cell=cast("tuple[int, int]", tuple(images.shape[-2:])),
        grid_columns=grid_columns,
    )


def cell_scale(cell: tuple[int, int]) -> int:
    """The whole factor that draws a cell at least :data:`MIN_CELL_PIXELS` wide."""
    return max(1, math.ceil(MIN_CELL_PIXELS / max(1, cell[1])))


def value_label(animation: TraversalAnimation, value: float) -> str:
    """The header of a frame: ``c1 = 3`` for a category, ``c2 = +0.33`` for a continuous value."""
    return f"{animation.code} = {value:.0f}" if animation.discrete else f"{animation.code} = {value:+.2f}"


def write_gif(animation: TraversalAnimation, out: Path, frame_ms: int = 150) -> Path:
    """Write the animation as a looping GIF, ``frame_ms`` milliseconds a frame; each frame is the
    grid scaled by :func:`cell_scale` (nearest neighbour) under a header with the code's value.
    The code, its prior and the values swept go into the GIF's comment."""
    scale = cell_scale(animation.cell)
    font = ImageFont.load_default()
    pictures = []
    for grid, value in zip(animation.frames, animation.values):
        pixels = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
        pixels = pixels.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
        array = pixels.permute(1, 2, 0).numpy()
        mode = "L" if array.shape[2] == 1 else "RGB"
        body = Image.fromarray(np.ascontiguousarray(array[:, :, 0] if mode == "L" else array[:, :, :3]), mode)
        label = value_label(animation, value)
        probe = ImageDraw.Draw(body)
        width = max(body.width, math.ceil(probe.textlength(label, font=font)) + 2 * PADDING)
        white = 255 if mode == "L" else (255, 255, 255)
        frame = Image.new(mode, (width, body.height + HEADER_PIXELS), white)
        frame.paste(body, ((width - body.width) // 2, HEADER_PIXELS))
        ImageDraw.Draw(frame).text((PADDING, 2), label, fill=0 if mode == "L" else (0, 0, 0), font=font)
        pictures.append(frame)
    make_dirs(out.parent)
    first, last = (
        value_label(animation, v).split(" = ")[1] for v in (animation.column_values[0], animation.column_values[-1])
    )
    comment = (
        f"{animation.code} {animation.prior}: {first} to {last} and back; each cell keeps its noise and other codes"
    )
    with open_for_write(out, binary=True) as fh:  # whole or not at all, never through a planted link
        pictures[0].save(
            fh,
            format="GIF",
            save_all=True,
            append_images=pictures[1:],
            duration=frame_ms,
            loop=0,
            comment=comment.encode(),
        )
    return out


__all__ = ["TraversalAnimation", "cell_scale", "sweep_order", "traversal_animation", "value_label", "write_gif"]
