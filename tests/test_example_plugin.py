"""The example third-party plugin (plugins/example-circular), installed as its own distribution."""

from __future__ import annotations

import math
from importlib import metadata

import pytest
import torch
from torch import distributions as D

from infogan_toolkit.codes import resolve_codes
from infogan_toolkit.errors import CodeSpecError
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.testing import check_code_kind

DIST = "infogan-tk-circular"

try:
    metadata.distribution(DIST)
except metadata.PackageNotFoundError:
    pytest.skip(
        f"{DIST} is not installed; run: pip install --no-deps -e plugins/example-circular", allow_module_level=True
    )


@pytest.fixture(scope="module")
def host():
    return PluginHost()


def test_installed_plugin_shows_in_the_registries_with_its_distribution(host):
    info = host.plugin_info("circular")
    assert info.status == "loaded"
    assert (info.distribution, info.version) == (DIST, metadata.version(DIST))
    assert info.hooks == ("register_code_kinds", "register_heads")
    regs = host.registries
    for entry in (regs.codes.entry("circ"), regs.heads.entry("von-mises")):
        assert (entry.plugin, entry.distribution) == ("circular", DIST)
    assert regs.codes.entry("cat").distribution == "infogan-toolkit"


def test_resolve_cat10_circ1(host):
    regs = host.registries
    codes = resolve_codes("cat10,circ1", regs.codes, regs.heads)
    assert [(c.kind, c.head_name) for c in codes] == [("cat", "softmax"), ("circ", "von-mises")]
    assert codes.width == 10 + 2 and codes.param_width == 10 + 2
    circ = codes.codes[1]
    assert (circ.input_slice, circ.param_slice) == (slice(10, 12), slice(10, 12))
    assert circ.code.describe() == "Angle[0,2pi)"

    gen = torch.Generator().manual_seed(0)
    values = codes.sample(32, gen)
    z = codes.encode(values)
    assert z.shape == (32, 12)
    torch.testing.assert_close(z[:, 10:].norm(dim=1), torch.ones(32))  # (cos, sin) lies on the unit circle
    ll = codes.log_likelihoods(torch.randn(32, 12, generator=gen), values)
    assert ll.shape == (2,) and bool(torch.isfinite(ll).all())

    with pytest.raises(CodeSpecError, match=r"bad arguments in token 'circ' .*circ needs a number"):
        resolve_codes("cat10,circ", regs.codes, regs.heads)


def test_log_likelihood_matches_torch_von_mises(host):
    regs = host.registries
    codes = resolve_codes("cat10,circ1", regs.codes, regs.heads)
    circ = codes.codes[1]
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(256, codes.param_width, generator=gen) * 2
    q[:4, 10:] = torch.tensor([[30.0, 0.0], [0.0, -0.5], [-1.0, 1.0], [200.0, 150.0]])  # sharp, flat, large kappa
    theta = circ.code.sample(256, gen)
    a, b = q[:, 10], q[:, 11]
    ref = D.VonMises(torch.atan2(b, a), torch.sqrt(a * a + b * b)).log_prob(theta)
    torch.testing.assert_close(circ.log_likelihood(q, theta), ref, atol=2e-4, rtol=1e-4)
    # The head's mean direction is the von Mises location.
    torch.testing.assert_close(circ.head.point_estimate(q[:, 10:])[:, 0], torch.atan2(b, a).remainder(2 * math.pi))


def test_entropy_is_ln_2pi(host):
    (code,) = host.registries.codes.get("circ")("1")
    assert code.entropy() == pytest.approx(math.log(2 * math.pi))
    assert code.entropy() == pytest.approx(D.Uniform(0.0, 2 * math.pi).entropy().item())


def test_passes_the_conformance_kit(host):
    regs = host.registries
    assert len(check_code_kind(regs.codes.get("circ"), "2", heads=regs.heads)) == 2
