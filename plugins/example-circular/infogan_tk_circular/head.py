"""The ``von-mises`` Q head: a von Mises distribution over an angle, from two raw outputs."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.api import QHead

_LOG_2PI = math.log(2.0 * math.pi)


class VonMisesHead(QHead):
    """Q predicts a vector (a, b) per angle: direction atan2(b, a), concentration kappa = |(a, b)|.

    Letting the vector's length be the concentration lets Q say how sure it is: a short vector is a
    flat density, a long one a sharp peak. Since kappa * cos(theta - mu) = a cos(theta) + b sin(theta),
    the log-likelihood needs no atan2 and its gradient is smooth even at (0, 0).
    """

    family = "angle"

    def __init__(self, min_concentration: float = 1e-4) -> None:
        # Floor for kappa inside log I0; below it the density is off by at most I0(floor) - 1 ~ floor**2 / 4.
        self.min_concentration = min_concentration

    def param_width(self, target_size: int) -> int:
        return 2 * target_size

    @staticmethod
    def pairs(params: Tensor) -> Tensor:
        """(a, b) per angle, ``(n, k, 2)``, from outputs laid out as (a1, b1, a2, b2, ...)."""
        return params.float().reshape(params.shape[0], -1, 2)

    def concentration(self, params: Tensor) -> Tensor:
        """kappa per angle, ``(n, k)``, floored."""
        # vector_norm, not hypot: its gradient at (0, 0) is 0 where hypot's is NaN.
        return torch.linalg.vector_norm(self.pairs(params), dim=-1).clamp_min(self.min_concentration)

    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        ab = self.pairs(params)
        a, b = ab[..., 0], ab[..., 1]
        theta = target.float().reshape(a.shape)
        kappa = self.concentration(params)
        # log I0(kappa) = log(i0e(kappa)) + kappa, stable for large kappa where I0 overflows.
        log_i0 = torch.log(torch.special.i0e(kappa)) + kappa
        return (a * torch.cos(theta) + b * torch.sin(theta) - _LOG_2PI - log_i0).sum(dim=1)

    def point_estimate(self, params: Tensor) -> Tensor:
        """The mean direction in [0, 2*pi), ``(n, k)``."""
        ab = self.pairs(params)
        return torch.atan2(ab[..., 1], ab[..., 0]).remainder(2.0 * math.pi)
