"""Built-in Q heads: softmax for categorical codes; diagonal Gaussian with a learned or fixed std.

``gaussian`` follows the paper (the std is the exponential of a network output); ``gaussian-fixed``
follows the authors' released code (std fixed to 1, so the term is half a squared error plus a
constant).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.api import QHead, hookimpl

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class SoftmaxHead(QHead):
    """Q(c|x) = softmax(logits)."""

    family = "categorical"

    def param_width(self, target_size: int) -> int:
        return target_size

    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        logp = torch.log_softmax(params.float(), dim=1)
        return logp.gather(1, target.long().reshape(-1, 1)).squeeze(1)

    def point_estimate(self, params: Tensor) -> Tensor:
        return params.argmax(dim=1)

    def log_prob_ceiling(self, target_size: int) -> float:
        """log 1: a category read with certainty."""
        return 0.0

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """The most probable category and every category's probability."""
        return {"class": params.argmax(dim=1), "probabilities": torch.softmax(params.float(), dim=1)}

    has_batch_information = True

    def batch_information(self, params: Tensor) -> Tensor:
        logp = torch.log_softmax(params.float(), dim=1)
        p = logp.exp()
        conditional = -(p * logp).sum(dim=1).mean()
        # log of the batch-mean probability, computed in log space so an empty class stays finite
        log_marginal = torch.logsumexp(logp, dim=0) - math.log(p.shape[0])
        marginal = -(log_marginal.exp() * log_marginal).sum()
        return marginal - conditional


class GaussianHead(QHead):
    """Factored Gaussian: mean, and std = exp(output) (learned) or a fixed value."""

    family = "real"

    def __init__(self, learned_std: bool = True, fixed_std: float = 1.0, min_log_std: float = -5.0) -> None:
        self.learned_std = learned_std
        self.fixed_std = fixed_std
        # A floor on log std keeps one confident sample from producing an unbounded likelihood.
        self.min_log_std = min_log_std

    def param_width(self, target_size: int) -> int:
        return 2 * target_size if self.learned_std else target_size

    def split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log_std) from the raw outputs."""
        params = params.float()
        if self.learned_std:
            mean, log_std = params.chunk(2, dim=1)
            return mean, log_std.clamp(min=self.min_log_std)
        return params, torch.full_like(params, math.log(self.fixed_std))

    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        mean, log_std = self.split(params)
        z = (target.float() - mean) * torch.exp(-log_std)
        return (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(dim=1)

    def log_prob_ceiling(self, target_size: int) -> float | None:
        """With a fixed std, the density at a perfectly read value; a learned std has no ceiling."""
        if self.learned_std:
            return None
        return target_size * (-math.log(self.fixed_std) - _HALF_LOG_2PI)

    def point_estimate(self, params: Tensor) -> Tensor:
        return self.split(params)[0]

    def describe(self, params: Tensor) -> dict[str, Tensor]:
        """The mean, and the std where Q learns one (a fixed std says nothing about the image)."""
        mean, log_std = self.split(params)
        return {"mean": mean, "std": log_std.exp()} if self.learned_std else {"mean": mean}


@hookimpl
def register_heads(register):
    register("softmax", SoftmaxHead())
    register("gaussian", GaussianHead(learned_std=True))
    register("gaussian-fixed", GaussianHead(learned_std=False, fixed_std=1.0))
