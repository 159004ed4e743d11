"""Latent traversals in the layout of the paper's Fig. 2: one code varied along the columns,
rows of fixed random noise and fixed other codes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..codes import CodeSet
from ..noise import sample_noise


@torch.no_grad()
def traversal_images(
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
) -> Tensor:
    """Images ``(rows * cols, C, H, W)`` in [0, 1], row-major, varying code ``code_index``.

    ``generate(z, values)`` maps noise and per-code values to [0, 1] images. A categorical code
    shows every category; a continuous one ``steps`` points across ``value_range``. The noise is
    drawn as the model was trained (``noise_kind``, see :mod:`infogan_toolkit.noise`).
    """
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    target = codes.codes[code_index].code
    column_values = target.traversal(steps, *value_range).to(device)
    cols = column_values.shape[0]
    z = sample_noise(noise_kind, rows, noise_dim, gen, device)
    base = codes.sample(rows, gen, device)
    z_all = z.repeat_interleave(cols, dim=0)
    values = []
    for i, v in enumerate(base):
        if i == code_index:
            values.append(column_values.repeat(rows, *([1] * (column_values.dim() - 1))))
        else:
            values.append(v.repeat_interleave(cols, dim=0))
    return generate(z_all, values)


def traversal_grid(images: Tensor, cols: int) -> Tensor:
    """Arrange traversal images into one picture tensor (C, H, W)."""
    from torchvision.utils import make_grid  # torchvision loads in about a second; only a picture needs it

    return make_grid(images.cpu(), nrow=cols, padding=2, pad_value=1.0)


def columns_for(codes: CodeSet, code_index: int, steps: int) -> int:
    """How many columns a traversal of this code has."""
    return int(codes.codes[code_index].code.traversal(steps).shape[0])
