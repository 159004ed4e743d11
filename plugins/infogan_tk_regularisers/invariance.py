"""The invariance term: Q must also read the discrete codes from a jittered copy of each fake.

``-weight * sum_discrete E[log Q(c_i | jitter(G(z, c)))]`` joins the information term, so it trains
what that term trains. The jitter is a random rotation, scaling, shift and (optionally) shear per
image, drawn from the step's generator; continuous codes are not scored, as they may well be slant
or width. The jittered copies are not data D judges, so they pass through D without moving its
batch norm running statistics.

After the transformation-stability regulariser of Sajjadi, Javanmardi & Tasdizen (2016,
"Regularization with stochastic transformations and perturbations for deep semi-supervised
learning"), which asks the predictions for random transformations of one input to agree: here the
target is the code the fake was drawn with, so the term is the information term read from a
jittered copy.
"""

from __future__ import annotations

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
    require_discrete_code,
    scale_jitter,
    shear_degrees,
    side_fraction,
    weight_value,
)
from .jitter import random_affine


@attrs.define
class InvarianceOptions:
    """``[loss.invariance]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    rotation: float = attrs.field(default=15.0, validator=degrees)  # degrees, +-, in [0, 180]
    scale: float = attrs.field(default=0.1, validator=scale_jitter)  # scale in 1 +- this, in [0, 1)
    shift: float = attrs.field(default=0.1, validator=side_fraction)  # fraction of the side, +-, in [0, 1]
    shear: float = attrs.field(default=0.0, validator=shear_degrees)  # horizontal shear, degrees, +-, in [0, 80]


class InvarianceTerm(Regulariser):
    """One run's invariance term."""

    stat_names = ("loss_invariance",)

    def __init__(self, options: InvarianceOptions, setup: RegulariserSetup) -> None:
        codes = setup.assembly.codes
        self.codes = codes
        self.weights = torch.tensor(
            [options.weight if c.code.discrete else 0.0 for c in codes], dtype=torch.float32, device=setup.device
        )
        self.jitter = (options.rotation, options.scale, options.shift, options.shear)

    def terms(self, view: StepView) -> Terms:
        """The jittered fakes' discrete-code likelihood, as an addition to the information term."""
        jittered = view.prepare(random_affine(view.fake.float(), view.rng, *self.jitter))
        _, q_jittered = view.discriminate(jittered, update_running_stats=False)
        loss = -(self.weights * self.codes.log_likelihoods(q_jittered, view.values)).sum()
        return Terms(information=loss, stats={"loss_invariance": loss})


class Invariance(RegulariserPlugin):
    """Q must read the discrete codes from a jittered copy of each fake."""

    options = InvarianceOptions

    def check(self, options: InvarianceOptions, assembly) -> None:
        """The term scores discrete codes only: a run without one is refused."""
        require_discrete_code("invariance", options.weight, assembly, "the invariance term scores only discrete codes")

    def build(self, options: InvarianceOptions, setup: RegulariserSetup) -> InvarianceTerm:
        """The term for one run."""
        return InvarianceTerm(options, setup)
