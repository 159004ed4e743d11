"""The real-image consistency term: Q must sort a jittered real image as it sorts the image itself.

For each discrete code, Q's category for a real image (its point estimate) becomes the target for
a randomly rotated, scaled, shifted and sheared copy of that image, wherever Q gives the category
at least ``confidence`` of its probability: ``-weight * mean(kept * log Q(c_hat | jitter(x)))``
joins the information term. The target is not differentiated, so the term moves Q's reading of
the jittered copy only, towards a decision that the jitter cannot change. After FixMatch's
confidence-thresholded consistency (Sohn et al. 2020, "FixMatch: simplifying semi-supervised learning
with consistency and confidence"): there the label comes from a weakly augmented copy and trains a
strongly augmented one; here it comes from the image itself and trains one random affine jitter,
and Q's categories stand in for class labels. G never sees a real
image, so with separate D batches it trains Q and the trunk only. The jittered copies pass
through D without moving its batch norm running statistics.
"""

from __future__ import annotations

import math

import attrs
import torch

from infogan_toolkit.api import (
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
)

from ._options import (
    degrees,
    fraction,
    require_discrete_code,
    scale_jitter,
    shear_degrees,
    side_fraction,
    weight_value,
)
from .jitter import random_affine


@attrs.define
class RealConsistencyOptions:
    """``[loss.real_consistency]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    confidence: float = attrs.field(default=0.9, validator=fraction)  # Q's probability of its category, at least
    rotation: float = attrs.field(default=15.0, validator=degrees)  # degrees, +-, in [0, 180]
    scale: float = attrs.field(default=0.1, validator=scale_jitter)  # scale in 1 +- this, in [0, 1)
    shift: float = attrs.field(default=0.1, validator=side_fraction)  # fraction of the side, +-, in [0, 1]
    shear: float = attrs.field(default=0.0, validator=shear_degrees)  # horizontal shear, degrees, +-, in [0, 80]


class RealConsistencyTerm(Regulariser):
    """One run's real-image consistency term."""

    stat_names = ("loss_real_consistency", "real_confident")

    def __init__(self, options: RealConsistencyOptions, setup: RegulariserSetup) -> None:
        self.discrete = [c for c in setup.assembly.codes if c.code.discrete]
        self.weight = options.weight
        self.log_confidence = math.log(options.confidence) if options.confidence > 0 else -math.inf
        self.jitter = (options.rotation, options.scale, options.shift, options.shear)

    def terms(self, view: StepView) -> Terms:
        """The jittered real images' likelihood of Q's own confident categories, as an addition to the
        information term; also the share of (image, code) pairs confident enough to count."""
        jittered = view.prepare(random_affine(view.real.float(), view.rng, *self.jitter))
        q_jittered = view.discriminate(jittered, update_running_stats=False)[1].float()
        q_real = view.q_real.detach().float()
        loss = q_jittered.new_zeros((), dtype=torch.float32)
        kept_share = loss.clone()
        for code in self.discrete:
            params = q_real[:, code.param_slice]
            category = code.head.point_estimate(params)
            kept = (code.head.log_prob(params, code.code.target(category)) >= self.log_confidence).float()
            loglik = code.log_likelihood(q_jittered, category)
            loss = loss - self.weight * (kept * loglik).mean()
            kept_share = kept_share + kept.mean() / len(self.discrete)
        return Terms(information=loss, stats={"loss_real_consistency": loss, "real_confident": kept_share})


class RealConsistency(RegulariserPlugin):
    """Q must sort a jittered real image as it sorts the image."""

    options = RealConsistencyOptions

    def check(self, options: RealConsistencyOptions, assembly) -> None:
        """A run without a discrete code is refused: the term has nothing to hold."""
        require_discrete_code(
            "real_consistency", options.weight, assembly, "the consistency term holds only discrete codes"
        )

    def build(self, options: RealConsistencyOptions, setup: RegulariserSetup) -> RealConsistencyTerm:
        """The term for one run."""
        return RealConsistencyTerm(options, setup)
