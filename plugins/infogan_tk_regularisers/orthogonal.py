"""The orthogonal-change term: each continuous code must change a fake in a direction of its own.

After the orthogonal Jacobian regulariser of Wei et al. (2021, OroJaR: "Orthogonal Jacobian
regularization for unsupervised disentanglement in image generation"), with a finite difference in
place of the Jacobian and the cosine in place of the raw inner product. For each fake and each
continuous code dimension ``k``, G makes the image again with that value moved by ``step`` (towards
the middle of its range, so it stays inside the prior's support) and the change ``d_k`` is taken.
``weight`` times the mean over fakes and pairs ``k != l`` of ``cos(d_k, d_l)**2`` joins G's loss.

Why: two codes that both move a glyph to the right, one of them also growing it, change the image
along directions that overlap; a code for position and one for size do not (a shift changes the
image in a way that is odd about the glyph's centre, a growth in one that is even). The cosine
makes the term blind to how much a code changes the image, so G cannot pay it by making every
code do less; which code takes which change is left to training, so no factor is named to the network.
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor

from infogan_toolkit.api import (
    ConfigError,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
)

from ._options import code_step, weight_value


@attrs.define
class OrthogonalOptions:
    """``[loss.orthogonal]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    # How far each code value moves for its finite difference, in the code's own units.
    step: float = attrs.field(default=0.1, validator=code_step)  # (0, 100]


class OrthogonalTerm(Regulariser):
    """One run's orthogonal-change term."""

    stat_names = ("loss_orthogonal",)

    def __init__(self, options: OrthogonalOptions, setup: RegulariserSetup) -> None:
        self.codes = setup.assembly.codes
        # (index into the step's values, the code) for each continuous code.
        self.continuous = [(i, c) for i, c in enumerate(self.codes) if not c.code.discrete]
        self.weight = options.weight
        self.step = options.step

    def moved_inputs(self, gin: Tensor, values: list[Tensor], noise_dim: int) -> Tensor:
        """G's inputs with one continuous code dimension moved by ``step``, stacked ``(dims * n, width)``:
        every row of the batch for the first dimension, then for the next."""
        rows = []
        for i, code in self.continuous:
            value = values[i].float()
            flat = value.reshape(value.shape[0], -1)
            for j in range(flat.shape[1]):
                moved = flat.clone()
                # Towards the middle: a value at the top of a bounded range is not pushed past it.
                moved[:, j] -= self.step * torch.where(moved[:, j] > 0, 1.0, -1.0)
                gin_moved = gin.clone()
                columns = slice(noise_dim + code.input_slice.start, noise_dim + code.input_slice.stop)
                gin_moved[:, columns] = code.code.encode(moved.reshape(value.shape)).to(gin.dtype)
                rows.append(gin_moved)
        return torch.cat(rows)

    def terms(self, view: StepView) -> Terms:
        """G's share: the weighted mean squared cosine between the changes of different code dimensions."""
        n = view.fake.shape[0]
        moved_input = self.moved_inputs(view.generator_input, view.values, view.noise_dim)
        with view.autocast():
            moved = view.generate(moved_input)
        change = moved.float().reshape(-1, n, view.fake[0].numel()) - view.fake.float().reshape(1, n, -1)
        unit = change / change.norm(dim=2, keepdim=True).clamp_min(1e-6)
        cosine = torch.einsum("kni,lni->nkl", unit, unit)  # (n, dims, dims)
        dims = cosine.shape[1]
        off_diagonal = ~torch.eye(dims, dtype=torch.bool, device=cosine.device)
        loss = cosine.pow(2)[:, off_diagonal].mean()
        return Terms(generator=self.weight * loss, stats={"loss_orthogonal": loss})


class Orthogonal(RegulariserPlugin):
    """Each continuous code dimension changes a fake in a direction of its own (after OroJaR)."""

    options = OrthogonalOptions

    def check(self, options: OrthogonalOptions, assembly) -> None:
        """Two continuous codes at least; a run with fewer is refused."""
        continuous = sum(1 for c in assembly.codes if not c.code.discrete)
        if continuous < 2:
            raise ConfigError(
                f"loss.orthogonal.weight is {options.weight} but the codes '{assembly.config.model.codes}' have "
                f"{continuous} continuous code(s), and the term compares the changes of two or more; "
                "set loss.orthogonal.weight=0 or add continuous codes (e.g. unif2)"
            )

    def build(self, options: OrthogonalOptions, setup: RegulariserSetup) -> OrthogonalTerm:
        """The term for one run."""
        return OrthogonalTerm(options, setup)
