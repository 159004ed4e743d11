"""Random affine jitter of an image batch (small rotations, scalings, shifts and shears) and plain
translation by given shifts, both differentiable.

Used by the invariance term (``[loss.invariance]``): Q must still read each discrete code from a
jittered copy of the generated image, so a category cannot be carried by slant, width or position
alone (those are what split one digit over two categories), and by the real-image consistency term.
``translate`` and ``scale_and_translate`` serve plugins outside this package (the lab's
equivariance term, research/plugins/infogan-tk-lab). Nothing here knows a dataset: it works
on any ``(n, channels, height, width)`` batch, and the border pixels fill what moves into view.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _warp(images: Tensor, theta: Tensor) -> Tensor:
    """``images`` resampled through the output-to-input affine maps ``theta`` ``(n, 2, 3)``:
    bilinear, the border pixels filling what moves into view, differentiable in ``images``."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _scale_shift_theta(inverse: Tensor | float, offset: Tensor) -> Tensor:
    """Output-to-input maps ``p -> inverse * p + offset`` (no rotation), ``(n, 2, 3)`` float32."""
    theta = torch.zeros(offset.shape[0], 2, 3, device=offset.device, dtype=torch.float32)
    theta[:, 0, 0] = inverse
    theta[:, 1, 1] = inverse
    theta[:, :, 2] = offset
    return theta


def random_affine(
    images: Tensor,
    generator: torch.Generator | None,
    max_rotation_deg: float,
    max_scale: float,
    max_shift: float,
    max_shear_deg: float = 0.0,
) -> Tensor:
    """Each image rotated by U(-r, r) degrees, scaled by U(1 - s, 1 + s), shifted by U(-t, t) of
    its side along each axis (``t = max_shift``) and, when ``max_shear_deg`` is above 0, slanted by a
    horizontal shear of U(-a, a) degrees (rows move sideways in proportion to their height, so a
    vertical stroke leans by that angle); gradients flow back to ``images``.

    Random numbers come from ``generator`` on the images' device, so CUDA graph capture records them.
    The shear draws after the rest and only when asked for, so a batch without it is jittered exactly
    as before the shear existed.
    """
    n = images.shape[0]
    u = torch.rand(n, 4, generator=generator, device=images.device, dtype=torch.float32).mul_(2.0).sub_(1.0)
    angle = u[:, 0] * math.radians(max_rotation_deg)
    scale = 1.0 + u[:, 1] * max_scale
    # affine_grid maps output to input coordinates in [-1, 1] (a side is 2 units long).
    shift = u[:, 2:] * (2.0 * max_shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # The second column of the output-to-input map; with a shear it is rotation/scale applied after
    # the inverse shear [[1, -k], [0, 1]], k = tan(shear). Without one nothing is computed for it.
    col_x, col_y = -sin, cos
    if max_shear_deg > 0:
        v = torch.rand(n, generator=generator, device=images.device, dtype=torch.float32).mul_(2.0).sub_(1.0)
        k = torch.tan(v * math.radians(max_shear_deg))
        col_x, col_y = col_x - cos * k, col_y - sin * k
    theta = torch.stack(
        [torch.stack([cos, col_x, shift[:, 0]], dim=1), torch.stack([sin, col_y, shift[:, 1]], dim=1)], dim=1
    )
    return _warp(images, theta)


def scale_and_translate(images: Tensor, factor: Tensor, shift: Tensor) -> Tensor:
    """Each image's content scaled by ``factor[i]`` about its own centre of mass, then moved by
    ``shift[i] = (dx, dy)`` of its side; bilinear, border-filled, differentiable in ``images``.

    Scaling about the content rather than the frame's centre keeps a glyph where it was, so its
    size changes and its position does not.
    """
    centre = centre_of_mass(images)
    inverse = 1.0 / factor.float()
    # Output point p reads input c + (p - c - t) / k: the content scaled by k about c, then moved by t.
    return _warp(images, _scale_shift_theta(inverse, centre - (centre + 2.0 * shift.float()) * inverse.unsqueeze(1)))


def centre_of_mass(images: Tensor) -> Tensor:
    """Each image's centre of mass ``(x, y)`` in ``affine_grid`` coordinates ([-1, 1], x to the right,
    y down), weighting pixels by how far they stand above the image's darkest value; the image
    centre for a flat image. Not differentiated: it says where to scale about, not what to learn."""
    with torch.no_grad():
        n, _, height, width = images.shape
        ink = images.float().sum(dim=1)
        ink = ink - ink.flatten(1).amin(dim=1).view(n, 1, 1)
        total = ink.sum(dim=(1, 2)).clamp_min(1e-12)
        ys = (torch.arange(height, device=images.device, dtype=torch.float32) + 0.5) * (2.0 / height) - 1.0
        xs = (torch.arange(width, device=images.device, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
        x = (ink.sum(dim=1) * xs).sum(dim=1) / total
        y = (ink.sum(dim=2) * ys).sum(dim=1) / total
        return torch.stack([x, y], dim=1)


def translate(images: Tensor, shift: Tensor) -> Tensor:
    """Each image moved by ``shift[i] = (dx, dy)`` of its side (positive: right and down),
    bilinearly, the border pixels filling what moves into view; gradients flow back to ``images``."""
    # affine_grid maps output to input coordinates in [-1, 1]: moving the content by +t reads from -t.
    return _warp(images, _scale_shift_theta(1.0, -2.0 * shift.float()))
