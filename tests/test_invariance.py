"""The invariance term ([loss.invariance], a built-in regulariser plugin): the random affine jitter, the config keys,
which parts the
term trains, and a real training run that logs it."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import centre_of_mass, generator_grads, train_tiny
from typer.testing import CliRunner

from infogan_tk_regularisers.jitter import random_affine
from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.objective import InfoGANObjective
from infogan_toolkit.engine.trainer import build_objective
from infogan_toolkit.errors import ConfigError


def dot_images(n: int = 64, size: int = 28) -> torch.Tensor:
    """A bright 4x4 square in the middle of a dark image."""
    x = torch.zeros(n, 1, size, size)
    x[:, :, size // 2 - 2 : size // 2 + 2, size // 2 - 2 : size // 2 + 2] = 1.0
    return x


# -- the jitter -------------------------------------------------------------------------------------
def test_zero_jitter_is_the_identity():
    x = torch.rand(8, 3, 16, 16)
    out = random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.allclose(out, x, atol=1e-6)


def test_jitter_is_reproducible_per_generator_and_differs_per_image():
    x = dot_images(16)
    a = random_affine(x, torch.Generator().manual_seed(3), 15.0, 0.1, 0.1)
    b = random_affine(x, torch.Generator().manual_seed(3), 15.0, 0.1, 0.1)
    c = random_affine(x, torch.Generator().manual_seed(4), 15.0, 0.1, 0.1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a[0], a[1])  # every image draws its own transform


def test_shift_moves_the_content_by_at_most_the_asked_fraction_and_uses_the_range():
    x = dot_images(256)
    out = random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.1)
    moved = centre_of_mass(out) - centre_of_mass(x)
    limit = 0.1 * 28
    assert moved.abs().max() <= limit + 0.5
    assert moved.abs().max() > 0.7 * limit  # not stuck near zero
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), rtol=0.05)  # moved, not lost


def test_rotation_alone_keeps_the_centre_and_changes_the_pixels():
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 6:22, 13:15] = 1.0  # a vertical bar through the centre
    out = random_affine(x, torch.Generator().manual_seed(0), 30.0, 0.0, 0.0)
    assert (centre_of_mass(out) - centre_of_mass(x)).abs().max() < 0.5
    assert (out - x).abs().sum(dim=(1, 2, 3)).max() > 5.0


def slant(x: torch.Tensor) -> torch.Tensor:
    """Per image lean of the ink (dx/dy, positive: the top leans right) from its second moments."""
    w = x[:, 0].double()
    h, wd = w.shape[-2:]
    rows = torch.arange(h, dtype=torch.float64).reshape(1, h, 1)
    cols = torch.arange(wd, dtype=torch.float64).reshape(1, 1, wd)
    mass = w.sum(dim=(1, 2)).clamp_min(1e-9)
    dr = rows - ((w * rows).sum(dim=(1, 2)) / mass).reshape(-1, 1, 1)
    dc = cols - ((w * cols).sum(dim=(1, 2)) / mass).reshape(-1, 1, 1)
    var_r = (w * dr * dr).sum(dim=(1, 2)) / mass
    # Rows grow downwards, so ink whose column falls as the row grows leans right: negate the slope.
    return -(w * dr * dc).sum(dim=(1, 2)) / mass / var_r.clamp_min(1e-9)


def test_shear_slants_a_vertical_stroke_by_at_most_the_asked_angle_both_ways():
    x = torch.zeros(256, 1, 28, 28)
    x[:, :, 4:24, 13:15] = 1.0  # a vertical bar through the centre
    out = random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0, 20.0)
    lean = slant(out)
    limit = math.tan(math.radians(20.0))
    assert lean.abs().max() <= limit * 1.05
    assert lean.max() > 0.7 * limit and lean.min() < -0.7 * limit  # both directions, not stuck near 0
    assert (centre_of_mass(out) - centre_of_mass(x)).abs().max() < 0.5  # slanted about the centre
    assert slant(random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0, 0.0)).abs().max() < 1e-3


def test_shear_off_draws_nothing_so_earlier_runs_repeat():
    x, gen = dot_images(16), torch.Generator().manual_seed(5)
    plain = random_affine(x, gen, 15.0, 0.1, 0.1)
    after = torch.rand(3, generator=gen)
    gen = torch.Generator().manual_seed(5)
    assert torch.equal(random_affine(x, gen, 15.0, 0.1, 0.1, 0.0), plain)
    assert torch.equal(torch.rand(3, generator=gen), after)


def test_gradients_flow_back_to_the_images():
    x = dot_images(4).requires_grad_()
    random_affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 0.1).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# -- configuration ----------------------------------------------------------------------------------
def test_invariance_is_off_by_default_and_its_options_refuse_bad_values(host):
    assert "invariance" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny"}}
    on = resolve(apply_dict(Config(), {**base, "loss": {"invariance": {"weight": 1.0}}}, "t"), host)
    assert [t.name for t in on.regularisers] == ["invariance"]
    assert on.config.loss.regularisers["invariance"] == {
        "weight": 1.0,
        "rotation": 15.0,
        "scale": 0.1,
        "shift": 0.1,
        "shear": 0.0,
    }
    for table, message in (
        ({"weight": -1.0}, "loss.invariance.weight must be >= 0"),
        ({"rotation": -5}, "loss.invariance.rotation must be >= 0"),
        ({"shear": -20}, "loss.invariance.shear must be >= 0"),
        ({"rotaton": 5}, "unknown option 'loss.invariance.rotaton'. Did you mean 'rotation'"),
        ({"weight": "high"}, "loss.invariance.weight must be a number"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve(apply_dict(Config(), {**base, "loss": {"invariance": table}}, "t"), host)
    with pytest.raises(ConfigError, match="unknown regulariser 'loss.invariace'. Did you mean 'invariance'"):
        resolve(apply_dict(Config(), {**base, "loss": {"invariace": {"weight": 1.0}}}, "t"), host)
    assert (
        resolve(apply_dict(Config(), {**base, "loss": {"invariance": {"weight": 0.0}}}, "t"), host).regularisers == []
    )


def test_cli_refuses_a_negative_invariance_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backbone",
            "shapes",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "loss.invariance.weight=-1",
        ],
    )
    assert result.exit_code == 2
    assert "loss.invariance.weight must be >= 0" in result.stderr and "Traceback" not in result.stderr


def test_the_old_flat_keys_get_a_one_line_pointer_to_the_table(tmp_path):
    result = CliRunner().invoke(
        app,
        ["train", "--backbone", "shapes", "--steps", "1", "--out", str(tmp_path / "r"), "--set", "loss.invariance=1"],
    )
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "unknown config key 'loss.invariance'" in result.stderr and "loss.NAME.weight=1.0" in result.stderr


def test_invariance_without_a_discrete_code_is_refused_in_one_line(host):
    cfg = apply_dict(
        Config(), {"model": {"backbone": "tiny", "codes": "unif2"}, "loss": {"invariance": {"weight": 1.0}}}, "t"
    )
    with pytest.raises(
        ConfigError,
        match=r"loss.invariance.weight is 1.0 but the codes 'unif2' have no discrete code"
        r".*set loss.invariance.weight=0",
    ):
        resolve(cfg, host)
    assert resolve(apply_dict(cfg, {"loss": {"invariance": {"weight": 0.0}}}, "t"), host).codes.width == 2


# -- the objective ----------------------------------------------------------------------------------
def tiny_objective(host, invariance: float, regular_gan: bool = False, shear: float = 0.0) -> InfoGANObjective:
    cfg = apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "loss": {"invariance": {"weight": invariance, "shear": shear}, "regular_gan": regular_gan},
        },
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def test_invariance_scores_only_discrete_codes_and_is_logged(host):
    off, on = tiny_objective(host, 0.0), tiny_objective(host, 2.0)
    assert "loss_invariance" not in off.stat_names and on.stat_names[-1] == "loss_invariance"
    assert on.regularisers["invariance"].weights.tolist() == [2.0, 0.0]  # tiny's codes: cat4, unif1
    real = torch.zeros(16, 1, 8, 8, dtype=torch.uint8)
    _, _, _, stats, _ = on.losses(real, torch.Generator().manual_seed(0))
    assert stats.shape == (len(on.stat_names),) and stats[-1] > 0


def test_the_objective_jitters_with_the_configured_shear(host):
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)

    def invariance_loss(shear: float) -> float:
        _, _, _, stats, _ = tiny_objective(host, 1.0, shear=shear).losses(real, torch.Generator().manual_seed(2))
        return stats[-1].item()

    assert invariance_loss(0.0) == invariance_loss(0.0)
    assert invariance_loss(30.0) != invariance_loss(0.0)


def test_invariance_reaches_the_generator_in_infogan_but_not_in_the_regular_gan_baseline(host):
    # The jitter draws after z and c, so with and without the term G sees the same batch.
    for a, b in zip(generator_grads(tiny_objective(host, 0.0)), generator_grads(tiny_objective(host, 1.0))):
        if not torch.allclose(a, b):
            break
    else:
        pytest.fail("the invariance term left every generator gradient unchanged")
    base_off = generator_grads(tiny_objective(host, 0.0, regular_gan=True))
    base_on = generator_grads(tiny_objective(host, 1.0, regular_gan=True))
    assert all(torch.equal(a, b) for a, b in zip(base_off, base_on))


def test_training_with_invariance_logs_the_term(host, tmp_path):
    records = train_tiny(host, tmp_path / "run", {"invariance": {"weight": 1.0}}, steps=6, log_every=3)
    assert [r["step"] for r in records] == [3, 6]
    assert all(r["loss_invariance"] > 0 for r in records)


def d_running_stats(obj: InfoGANObjective) -> list[torch.Tensor]:
    return [b.clone() for name, b in obj.D.named_buffers() if "running" in name]


def test_the_jittered_pass_leaves_the_running_statistics_alone(host):
    # Evaluation mode reads D's running statistics; the jittered copies are not data D judges.
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    off, on = tiny_objective(host, 0.0), tiny_objective(host, 1.0)
    assert off.d_batch_norms and all(torch.equal(a, b) for a, b in zip(d_running_stats(off), d_running_stats(on)))
    before = d_running_stats(on)
    off.losses(real, torch.Generator().manual_seed(2))
    on.losses(real, torch.Generator().manual_seed(2))
    after_off, after_on = d_running_stats(off), d_running_stats(on)
    assert any(not torch.equal(a, b) for a, b in zip(before, after_on))  # the real/fake pass did move them
    assert all(torch.equal(a, b) for a, b in zip(after_off, after_on))
    assert all(layer.track_running_stats for layer in on.d_batch_norms)
