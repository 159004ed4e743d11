"""The incompressible noise z fed to G beside the latent codes.

The paper does not say how z is drawn; the authors' released code draws it from Uniform(-1, 1),
most reimplementations from N(0, I). Both are offered (``model.noise``) so that the choice is
measured rather than assumed.
"""

from __future__ import annotations

import torch
from torch import Tensor

NOISE_KINDS = ("normal", "uniform")


def sample_noise(kind: str, n: int, dim: int, generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """``n`` draws of ``dim``-dimensional noise: N(0, I) for ``normal``, Uniform(-1, 1) for ``uniform``."""
    if kind == "normal":
        return torch.randn(n, dim, generator=generator, device=device)
    if kind == "uniform":
        return torch.rand(n, dim, generator=generator, device=device).mul_(2.0).sub_(1.0)
    raise ValueError(f"unknown noise kind {kind!r}; known: {', '.join(NOISE_KINDS)}")
