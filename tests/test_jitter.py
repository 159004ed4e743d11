"""The built-in jitter helpers that move and scale a batch by given amounts (``translate``,
``scale_and_translate`` in infogan_tk_regularisers.jitter, used by plugins such as the lab's
equivariance term): where the content goes, how its area scales, and that gradients flow back."""

from __future__ import annotations

import torch
from conftest import position, square_images

from infogan_tk_regularisers.jitter import scale_and_translate, translate


# -- the translation --------------------------------------------------------------------------------
def test_translate_moves_the_content_by_the_asked_fraction_of_the_side():
    x = square_images(6, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([[0.125, 0.0], [-0.125, 0.0], [0.0, 0.125], [0.0, -0.0625], [0.0, 0.0], [0.0625, 0.0625]])
    moved = position(translate(x, shift)) - position(x)
    assert torch.allclose(moved, shift * 16, atol=0.05)  # right and down are positive
    assert torch.allclose(translate(x, torch.zeros(6, 2)), x, atol=1e-6)


def test_scaling_keeps_the_centre_of_mass_and_scales_the_area():
    x = square_images(4, size=32, generator=torch.Generator().manual_seed(3))
    factor = torch.tensor([1.25, 0.8, 1.1, 1.0])
    scaled = scale_and_translate(x, factor, torch.zeros(4, 2))
    assert torch.allclose(position(scaled), position(x), atol=0.05)  # scaled about the glyph, not the frame
    assert torch.allclose(scaled.sum(dim=(1, 2, 3)), factor**2 * x.sum(dim=(1, 2, 3)), rtol=0.06)
    shift = torch.tensor([[0.1, 0.0], [0.0, -0.05], [0.05, 0.05], [0.0, 0.0]])
    assert torch.allclose(position(scale_and_translate(x, factor, shift)) - position(x), shift * 32, atol=0.05)
    assert torch.allclose(scale_and_translate(x, torch.ones(4), shift), translate(x, shift), atol=1e-5)


def test_gradients_flow_back_through_the_translation():
    x = square_images(2).requires_grad_()
    translate(x, torch.full((2, 2), 0.1)).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
