"""The real-image information term: Q must sort real images as confidently as it sorts fakes.

For every code whose head defines ``batch_information`` (softmax does), the information Q's
predictions carry about the real batch, ``H(E_x Q(c|x)) - E_x H(Q(c|x))``; ``-weight`` times its
sum joins the information term. G never sees a real image, so with separate D batches it trains Q
and the trunk only (a joint batch's batch norm lets a little reach G).

This is the information term of regularized information maximization for discriminative
clustering (Krause, Perona & Gomes 2010, "Discriminative clustering by regularized information
maximization"; IMSAT, Hu et al. 2017), on each batch and on Q's own predictions, without RIM's
weight penalty or IMSAT's self-augmentation term.
"""

from __future__ import annotations

import attrs

from infogan_toolkit.api import (
    ConfigError,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
)

from ._options import weight_value


@attrs.define
class RealInformationOptions:
    """``[loss.real_information]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]


class RealInformationTerm(Regulariser):
    """One run's real-image information term."""

    stat_names = ("real_information",)

    def __init__(self, options: RealInformationOptions, setup: RegulariserSetup) -> None:
        self.codes = setup.assembly.codes
        self.weight = options.weight

    def terms(self, view: StepView) -> Terms:
        """Minus the weighted information about the real batch, as an addition to the information term."""
        real_info = self.codes.batch_informations(view.q_real.float()).sum()
        return Terms(information=-(self.weight * real_info), stats={"real_information": real_info})


class RealInformation(RegulariserPlugin):
    """Q must sort real images into confident, equally used categories."""

    options = RealInformationOptions

    def check(self, options: RealInformationOptions, assembly) -> None:
        """A run without a head that defines batch_information is refused."""
        if not any(c.head.has_batch_information for c in assembly.codes):
            raise ConfigError(
                f"loss.real_information.weight is {options.weight} but no code in '{assembly.config.model.codes}' has "
                "a "
                "head that defines batch_information (softmax does); set loss.real_information.weight=0 or add a "
                "categorical code (e.g. cat10)"
            )

    def build(self, options: RealInformationOptions, setup: RegulariserSetup) -> RealInformationTerm:
        """The term for one run."""
        return RealInformationTerm(options, setup)
