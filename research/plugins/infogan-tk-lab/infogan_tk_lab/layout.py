"""The shared-layout term (the lab's): the continuous codes lay out every category's image in the same place.

For each fake, G draws the image again with every discrete code drawn afresh and the continuous
codes and noise kept. Both images are blurred by a Gaussian of ``blur`` pixels, so what is left is
where the ink lies and how far it spreads, not the outline; ``weight`` times the mean of
``1 - cos`` between the two blurred images joins G's loss.

The blur hides size: a glyph one size larger can cost less than another glyph in its place. So with
``change > 0`` G also draws both images again after one small step of the continuous codes, and pays
``change`` times the squared difference between the two categories' changes of the ink's centre
(in frame widths) and of the log of its spread, per unit of code: a code that grows one glyph must
grow the other the same, and a glyph drawn empty, whose spread no code moves, costs.

Why: InfoGAN's objective lets G give a continuous code one meaning for one category and another
for the next (x for the square, y for the ring), since Q reads the codes knowing the category.
This term says that the category sets the small-scale shape and the continuous codes (with the
noise) the large-scale layout, the same way for every category. That is a prior about the data,
true of glyphs drawn anywhere at any size, not of digits whose class changes their layout; which
code takes which part of the layout is left to training.
"""

from __future__ import annotations

import math

import attrs
import torch
from torch import Tensor

from infogan_tk_regularisers._options import pixels, weight_value
from infogan_toolkit.api import (
    ConfigError,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
    to_unit,
)


@attrs.define
class LayoutOptions:
    """``[loss.layout]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    # The Gaussian's standard deviation, in pixels: wide enough to wash out the outline.
    blur: float = attrs.field(default=6.0, validator=pixels)  # (0, 100]
    # G's weight on matching the two categories' changes of ink centre and spread (0: off).
    change: float = attrs.field(default=0.0, validator=weight_value)  # [0, 1e6]


#: How far (in code units; a Unif(-1, 1) code spans 2) the continuous codes step for ``change``.
CODE_STEP = 0.2


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Each channel blurred by a separable Gaussian of ``sigma`` pixels (zero outside the frame)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    rows = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    columns = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    out = torch.nn.functional.conv2d(images, rows, padding=(radius, 0), groups=channels)
    return torch.nn.functional.conv2d(out, columns, padding=(0, radius), groups=channels)


def layout_distance(a: Tensor, b: Tensor, sigma: float) -> Tensor:
    """Per image, ``1 - cos`` between the blurred images ``a`` and ``b`` (``(n,)``, 0 when they lie alike)."""
    blurred_a = gaussian_blur(a, sigma).flatten(1)
    blurred_b = gaussian_blur(b, sigma).flatten(1)
    return 1.0 - torch.nn.functional.cosine_similarity(blurred_a, blurred_b, dim=1, eps=1e-6)


def ink_moments(images: Tensor) -> Tensor:
    """Per image ``(n, 4)``: the ink's centre x and y in frame widths and the log of its spread
    (standard deviation, pixels) along x and y; ink is the squared [0, 1] intensity, summed over channels,
    so a faint background weighs little."""
    ink = images.pow(2).sum(dim=1)
    height, width = ink.shape[-2:]
    total = ink.sum(dim=(1, 2)) + 1e-6
    xs = torch.arange(width, dtype=ink.dtype, device=ink.device)
    ys = torch.arange(height, dtype=ink.dtype, device=ink.device)
    along_x, along_y = ink.sum(dim=1) / total[:, None], ink.sum(dim=2) / total[:, None]
    mean_x, mean_y = along_x @ xs, along_y @ ys
    var_x = (along_x * (xs[None] - mean_x[:, None]) ** 2).sum(dim=1)
    var_y = (along_y * (ys[None] - mean_y[:, None]) ** 2).sum(dim=1)
    return torch.stack(
        [mean_x / width, mean_y / height, 0.5 * torch.log(var_x + 1e-6), 0.5 * torch.log(var_y + 1e-6)], dim=1
    )


def change_mismatch(base: Tensor, stepped: Tensor, other_base: Tensor, other_stepped: Tensor, step: float) -> Tensor:
    """Per pair ``(n,)``: the squared difference between how the ink moments change from ``base`` to
    ``stepped`` and from ``other_base`` to ``other_stepped``, per unit of code (``step``)."""
    change = ink_moments(stepped) - ink_moments(base)
    other_change = ink_moments(other_stepped) - ink_moments(other_base)
    return (change - other_change).pow(2).sum(dim=1) / step**2


class LayoutTerm(Regulariser):
    """One run's shared-layout term."""

    def __init__(self, options: LayoutOptions, setup: RegulariserSetup) -> None:
        self.codes = setup.assembly.codes
        self.weight = options.weight
        self.blur = options.blur
        self.change = options.change
        self.stat_names = ("loss_layout", "loss_layout_change") if self.change > 0 else ("loss_layout",)
        self.output_range = setup.assembly.backbone.output_range

    def swapped_input(self, gin: Tensor, values: list[Tensor], noise_dim: int, rng: torch.Generator) -> Tensor:
        """G's input with every discrete code drawn afresh from ``rng``; noise and continuous codes kept."""
        fresh = [c.code.sample(v.shape[0], rng, v.device) if c.code.discrete else v for c, v in zip(self.codes, values)]
        return torch.cat([gin[:, :noise_dim], self.codes.encode(fresh).to(gin.dtype)], dim=1)

    def stepped_input(self, gin: Tensor, noise_dim: int) -> Tensor:
        """``gin`` with each continuous code's entries moved ``CODE_STEP`` towards 0 (so a bounded
        code stays in its range); noise and discrete codes kept."""
        stepped = gin.clone()
        for c in self.codes:
            if not c.code.discrete:
                columns = slice(noise_dim + c.input_slice.start, noise_dim + c.input_slice.stop)
                stepped[:, columns] = gin[:, columns] - CODE_STEP * gin[:, columns].sign()
        return stepped

    def terms(self, view: StepView) -> Terms:
        """G's share: the weighted mean ``1 - cos`` between the blurred fakes of two categories, plus,
        with ``change``, the weighted mismatch of their ink moments' changes under one code step."""
        swapped = self.swapped_input(view.generator_input, view.values, view.noise_dim, view.rng)
        with view.autocast():
            other = view.generate(swapped)
        # Ink measured from black ([0, 1]), so an empty frame counts as no ink.
        fake, other = to_unit(view.fake.float(), self.output_range), to_unit(other.float(), self.output_range)
        loss = layout_distance(fake, other, self.blur).mean()
        if self.change == 0:
            return Terms(generator=self.weight * loss, stats={"loss_layout": loss})
        stepped = self.stepped_input(view.generator_input, view.noise_dim)
        # The same step for the other category: its continuous codes equal this one's.
        stepped_swapped = swapped + (stepped - view.generator_input)
        with view.autocast():
            images = [view.generate(stepped), view.generate(stepped_swapped)]
        fake_stepped, other_stepped = (to_unit(x.float(), self.output_range) for x in images)
        mismatch = change_mismatch(fake, fake_stepped, other, other_stepped, CODE_STEP).mean()
        return Terms(
            generator=self.weight * loss + self.change * mismatch,
            stats={"loss_layout": loss, "loss_layout_change": mismatch},
        )


class Layout(RegulariserPlugin):
    """The continuous codes lay out the image the same way for every category."""

    options = LayoutOptions

    def check(self, options: LayoutOptions, assembly) -> None:
        """A discrete code to swap and a continuous code to keep; a run without both is refused."""
        kinds = {c.code.discrete for c in assembly.codes}
        if kinds != {True, False}:
            raise ConfigError(
                f"loss.layout.weight is {options.weight} but the codes '{assembly.config.model.codes}' lack "
                f"{'a discrete' if True not in kinds else 'a continuous'} code, and the term swaps the discrete codes "
                "under fixed continuous ones; set loss.layout.weight=0 or add one (e.g. cat3,unif2)"
            )

    def build(self, options: LayoutOptions, setup: RegulariserSetup) -> LayoutTerm:
        """The term for one run."""
        return LayoutTerm(options, setup)
