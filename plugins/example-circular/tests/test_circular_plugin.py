"""Tests of the circular example plugin, run with the toolkit's conformance kit."""

from __future__ import annotations

import math

import pytest
import torch

import infogan_tk_circular
from infogan_tk_circular import CircularCode, VonMisesHead, make_circular
from infogan_toolkit.api import PluginHost, resolve_codes
from infogan_toolkit.testing import check_code_kind, check_code_with_head, check_head

HEADS = {"von-mises": VonMisesHead()}


def test_code_kind_conforms():
    codes = check_code_kind(make_circular, "3", heads=HEADS)
    assert len(codes) == 3 and all(isinstance(c, CircularCode) for c in codes)


def test_head_conforms():
    angles = CircularCode().sample(32, torch.Generator().manual_seed(0))
    check_head(VonMisesHead(), target_size=1, sample_target=CircularCode().target(angles))
    check_code_with_head(CircularCode(), VonMisesHead())


@pytest.mark.parametrize("args", ["", "x", "0", "65"])
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError):
        make_circular(args)


def test_samples_lie_on_the_circle_and_encode_wraps():
    values = CircularCode().sample(10_000, torch.Generator().manual_seed(0))
    assert values.min() >= 0 and values.max() < 2 * math.pi
    enc = CircularCode().encode(torch.tensor([0.0, 2 * math.pi]))
    torch.testing.assert_close(enc[0], enc[1], atol=1e-6, rtol=0)


def test_density_integrates_to_one_over_the_circle():
    head = VonMisesHead()
    params = torch.tensor([[0.0, 0.0], [0.3, -0.2], [2.0, 1.0], [-15.0, 40.0]])
    grid = torch.arange(4096, dtype=torch.float64) * (2 * math.pi / 4096)
    for row in params:
        lp = head.log_prob(row.expand(grid.shape[0], 2), grid.reshape(-1, 1))
        # The rectangle rule is exact to high order for a smooth periodic function.
        total = lp.double().exp().sum() * (2 * math.pi / grid.shape[0])
        assert total.item() == pytest.approx(1.0, abs=1e-4), row


def test_matches_torch_von_mises():
    gen = torch.Generator().manual_seed(0)
    params = torch.randn(64, 2, generator=gen) * 3
    theta = torch.rand(64, generator=gen) * 2 * math.pi
    ref = torch.distributions.VonMises(torch.atan2(params[:, 1], params[:, 0]), params.norm(dim=1)).log_prob(theta)
    torch.testing.assert_close(VonMisesHead().log_prob(params, theta.reshape(-1, 1)), ref, atol=1e-4, rtol=1e-4)


def test_registers_through_a_host():
    host = PluginHost(load_entry_points=False)
    host.register(infogan_tk_circular, "circular-under-test")
    try:
        regs = host.registries
        codes = resolve_codes("circ2", regs.codes, regs.heads)
        assert [c.head_name for c in codes] == ["von-mises", "von-mises"]
        assert codes.width == 4 and codes.param_width == 4
    finally:
        host.unregister("circular-under-test")
