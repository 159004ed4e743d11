"""Random affine jitter of an image batch: small rotations, scalings and shifts, differentiable.

Used by the invariance term (``loss.invariance``): Q must still read each discrete code from a
jittered copy of the generated image, so a category cannot be carried by slant, width or position
alone (those are what split one digit over two categories). Nothing here knows a dataset: it works
on any ``(n, channels, height, width)`` batch, and the border pixels fill what moves into view.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(
    images: Tensor,
    generator: torch.Generator | None,
    max_rotation_deg: float,
    max_scale: float,
    max_shift: float,
) -> Tensor:
    """Each image rotated by U(-r, r) degrees, scaled by U(1 - s, 1 + s) and shifted by U(-t, t) of
    its side along each axis (``t = max_shift``); gradients flow back to ``images``.

    Random numbers come from ``generator`` on the images' device, so CUDA graph capture records them.
    """
    n = images.shape[0]
    u = torch.rand(n, 4, generator=generator, device=images.device, dtype=torch.float32).mul_(2.0).sub_(1.0)
    angle = u[:, 0] * math.radians(max_rotation_deg)
    scale = 1.0 + u[:, 1] * max_scale
    # affine_grid maps output to input coordinates in [-1, 1] (a side is 2 units long).
    shift = u[:, 2:] * (2.0 * max_shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], dim=1), torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1
    )
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
