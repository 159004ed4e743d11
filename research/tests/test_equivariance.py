"""The shift-equivariance term ([loss.equivariance], the lab's regulariser plugin,
research/plugins/infogan-tk-lab): what the residual measures, the config keys, and a real training run
that logs it. The shift it applies (the built-in jitter helpers) is tested in tests/test_jitter.py."""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import generator_grads, position, square_images, train_tiny
from typer.testing import CliRunner

from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import build_objective
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.regularisers import StepView


# -- what the residual measures ---------------------------------------------------------------------
def equivariance_term(host, weight: float = 1.0, shift: float = 0.1, scale: float = 0.0):
    cfg = apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny", "codes": "cat2,unif1"},
            "loss": {"equivariance": {"weight": weight, "shift": shift, "scale": scale}},
        },
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu")).regularisers["equivariance"]


def view_with_q(term, images: torch.Tensor, read) -> StepView:
    """A step view whose Q head reads the continuous code's mean as ``read(images)``."""
    (code,) = term.continuous

    def q_of(x: torch.Tensor) -> torch.Tensor:
        q = torch.zeros(x.shape[0], code.param_slice.stop)
        q[:, code.param_slice.start] = read(x)
        return q

    def discriminate(x, update_running_stats=True):
        return torch.zeros(x.shape[0]), q_of(x)

    n = images.shape[0]
    return StepView(
        real=images,
        fake=images,
        generator_input=torch.zeros(n, 1),
        values=[],
        logit_real=torch.zeros(n),
        logit_fake=torch.zeros(n),
        q_real=q_of(images),
        q_fake=q_of(images),
        rng=torch.Generator().manual_seed(0),
        noise_dim=1,
        generate=lambda g: g,
        discriminate=discriminate,
        prepare=lambda x: x,
        autocast=contextlib.nullcontext,
    )


def test_a_reading_that_moves_alike_for_every_image_leaves_no_residual_and_one_that_flips_does(host):
    term = equivariance_term(host)
    images = square_images(64, generator=torch.Generator().manual_seed(1))
    bright = torch.arange(64) % 2 == 0
    images[~bright] *= 0.5  # two kinds of glyph: bright and dim

    def column(x):  # the column of the square, the same meaning for both kinds
        return position(x)[:, 0] / 8 - 1

    def flipped(x):  # the column for bright squares, the row for dim ones
        com = position(x) / 8 - 1
        is_bright = x.amax(dim=(1, 2, 3)) > 0.75
        return torch.where(is_bright, com[:, 0], com[:, 1])

    consistent = term.terms(view_with_q(term, images, column)).stats["loss_equivariance"].item()
    mixed = term.terms(view_with_q(term, images, flipped)).stats["loss_equivariance"].item()
    assert consistent < 1e-4
    assert mixed > 100 * max(consistent, 1e-6)


def test_with_scaling_a_size_reading_that_flips_meaning_leaves_a_residual(host):
    term = equivariance_term(host, shift=0.05, scale=0.2)
    images = square_images(64, size=32, generator=torch.Generator().manual_seed(4))
    bright = torch.arange(64) % 2 == 0
    images[~bright] *= 0.5

    def size(x):  # log of the square's side, read the same way for both kinds
        ink = x.sum(dim=(1, 2, 3)) / x.amax(dim=(1, 2, 3))
        return 0.5 * ink.log()

    def flipped(x):  # the size for bright squares, the column for dim ones
        is_bright = x.amax(dim=(1, 2, 3)) > 0.75
        return torch.where(is_bright, size(x), position(x)[:, 0] / 16 - 1)

    consistent = term.terms(view_with_q(term, images, size)).stats["loss_equivariance"].item()
    mixed = term.terms(view_with_q(term, images, flipped)).stats["loss_equivariance"].item()
    assert mixed > 20 * consistent
    shift_only = equivariance_term(
        host, shift=0.05
    )  # without scaling, a size reading that flips to position is caught less
    assert mixed > 2 * shift_only.terms(view_with_q(shift_only, images, flipped)).stats["loss_equivariance"].item()


def test_the_loss_is_the_weighted_residual_and_joins_the_information_term(host):
    images = square_images(32, generator=torch.Generator().manual_seed(2))

    def read(x):
        return (position(x)[:, 0] / 8 - 1) ** 2  # curved: some residual

    one_term, three_term = equivariance_term(host, 1.0), equivariance_term(host, 3.0)
    one, three = (
        one_term.terms(view_with_q(one_term, images, read)),
        three_term.terms(view_with_q(three_term, images, read)),
    )
    assert one.stats["loss_equivariance"].item() > 0
    assert torch.allclose(three.information, 3 * one.information)
    assert one.generator is None and one.discriminator is None


# -- configuration ----------------------------------------------------------------------------------
def test_equivariance_is_off_by_default_and_its_options_refuse_bad_values(host):
    assert "equivariance" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny"}}
    on = resolve(apply_dict(Config(), {**base, "loss": {"equivariance": {"weight": 1.0}}}, "t"), host)
    assert [t.name for t in on.regularisers] == ["equivariance"]
    assert on.config.loss.regularisers["equivariance"] == {"weight": 1.0, "shift": 0.05, "scale": 0.0}
    for table, message in (
        ({"weight": -1.0}, "loss.equivariance.weight must be >= 0"),
        ({"shift": -0.1}, "loss.equivariance.shift must be >= 0"),
        ({"scale": -0.1}, "loss.equivariance.scale must be >= 0"),
        ({"shfit": 0.1}, "unknown option 'loss.equivariance.shfit'. Did you mean 'shift'"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve(apply_dict(Config(), {**base, "loss": {"equivariance": table}}, "t"), host)


def test_equivariance_without_a_continuous_code_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backbone",
            "shapes",
            "--codes",
            "cat3",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "loss.equivariance.weight=1",
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert (
        "the codes 'cat3' have no continuous code" in result.stderr
        and "set loss.equivariance.weight=0" in result.stderr
    )


def tiny_objective(host, weight: float):
    """The tiny run's objective with the term at ``weight``."""
    cfg = apply_dict(Config(), {"model": {"backbone": "tiny"}, "loss": {"equivariance": {"weight": weight}}}, "t")
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def test_the_term_reaches_the_generator(host):
    # The shifts are drawn after z and c, so with and without the term G sees the same batch.
    off, on = generator_grads(tiny_objective(host, 0.0)), generator_grads(tiny_objective(host, 1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))


def test_training_with_equivariance_logs_the_term(host, tmp_path):
    records = train_tiny(host, tmp_path / "run", {"equivariance": {"weight": 1.0}}, steps=4, log_every=2)
    assert [r["step"] for r in records] == [2, 4] and all(r["loss_equivariance"] > 0 for r in records)
