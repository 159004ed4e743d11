"""The shift-equivariance term (the lab's): moving a fake moves Q's continuous readings the same way for every image.

Each fake is moved by a random shift ``s_i`` (up to ``shift`` of its side along each axis) and,
when ``scale`` is above 0, first scaled about its centre of mass by ``exp(l_i)``, ``l_i`` up to
``scale``; Q reads its continuous codes from both copies. The change ``d_i`` of the readings is
fitted by one affine map of the transform shared by the whole batch, ``d_i ~ A (s_i, l_i) + b``; ``weight`` times the
mean
squared residual joins the information term. A code that means position for one glyph and size for
another, or for one noise vector and not the next, leaves a residual; which code carries which
direction of movement is left to training, so no factor is named to the network.
"""

from __future__ import annotations

import attrs
import torch

from infogan_tk_regularisers._options import log_scale, side_fraction, weight_value
from infogan_tk_regularisers.jitter import scale_and_translate, translate
from infogan_toolkit.api import (
    ConfigError,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
)


@attrs.define
class EquivarianceOptions:
    """``[loss.equivariance]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    shift: float = attrs.field(default=0.05, validator=side_fraction)  # fraction of the side, +-, in [0, 1]
    # Log of the largest scale factor, +-; 0 moves only. Scaled about each fake's centre of mass.
    scale: float = attrs.field(default=0.0, validator=log_scale)  # in [0, 3]


class EquivarianceTerm(Regulariser):
    """One run's shift-equivariance term."""

    stat_names = ("loss_equivariance",)
    # The least-squares solve has not been run under CUDA graph capture; refused there until it is.
    cuda_graph_capturable = False

    def __init__(self, options: EquivarianceOptions, setup: RegulariserSetup) -> None:
        self.continuous = [c for c in setup.assembly.codes if not c.code.discrete]
        self.weight = options.weight
        self.shift = options.shift
        self.scale = options.scale

    def readings(self, q: torch.Tensor) -> torch.Tensor:
        """Q's point estimates of the continuous codes, ``(n, k)``."""
        return torch.cat(
            [c.head.point_estimate(q[:, c.param_slice].float()).reshape(q.shape[0], -1) for c in self.continuous], dim=1
        )

    def terms(self, view: StepView) -> Terms:
        """The residual of the shared affine fit, as an addition to the information term."""
        fake = view.fake.float()
        n = fake.shape[0]
        shift = torch.rand(n, 2, generator=view.rng, device=fake.device).mul_(2.0).sub_(1.0).mul_(self.shift)
        columns = [shift]
        if self.scale > 0:  # drawn after the shift, so a run without scaling draws as before it existed
            log_factor = torch.rand(n, 1, generator=view.rng, device=fake.device).mul_(2.0).sub_(1.0).mul_(self.scale)
            moved = scale_and_translate(fake, log_factor.exp().squeeze(1), shift)
            columns.append(log_factor)
        else:
            moved = translate(fake, shift)
        # Both copies in one pass, so batch norm treats them alike and the change is the transform's alone.
        _, q = view.discriminate(view.prepare(torch.cat([fake, moved])), update_running_stats=False)
        readings = self.readings(q)
        change = readings[n:] - readings[:n]
        design = torch.cat([*columns, torch.ones(n, 1, device=fake.device)], dim=1)
        fit = torch.linalg.lstsq(design, change).solution
        residual = (change - design @ fit).pow(2).sum(dim=1).mean()
        loss = self.weight * residual
        return Terms(information=loss, stats={"loss_equivariance": residual})


class Equivariance(RegulariserPlugin):
    """Moving a fake moves Q's continuous readings by one affine map of the shift for the whole batch."""

    options = EquivarianceOptions

    def check(self, options: EquivarianceOptions, assembly) -> None:
        """The term scores continuous codes only: a run without one is refused."""
        if not any(not c.code.discrete for c in assembly.codes):
            raise ConfigError(
                f"loss.equivariance.weight is {options.weight} but the codes '{assembly.config.model.codes}' have no "
                "continuous code, and the equivariance term scores only continuous codes; set "
                "loss.equivariance.weight=0 or add one (e.g. unif2)"
            )

    def build(self, options: EquivarianceOptions, setup: RegulariserSetup) -> EquivarianceTerm:
        """The term for one run."""
        return EquivarianceTerm(options, setup)
