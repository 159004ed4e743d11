"""The orthogonal-change term ([loss.orthogonal], a built-in regulariser plugin): what it measures,
where the finite difference steps, the config keys, and a real training run that logs it."""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import generator_grads, train_tiny
from typer.testing import CliRunner

from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import build_objective
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.regularisers import StepView


def orthogonal_term(host, codes: str = "cat2,unif3", weight: float = 1.0, step: float = 0.1):
    cfg = apply_dict(
        Config(),
        {"model": {"backbone": "tiny", "codes": codes}, "loss": {"orthogonal": {"weight": weight, "step": step}}},
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu")).regularisers["orthogonal"]


def linear_view(term, directions: torch.Tensor, n: int = 8, noise_dim: int = 2) -> StepView:
    """A step view whose G adds ``directions[k]`` (a 4x4 image) per unit of continuous code ``k``
    to a base image made from the rest of the input."""
    codes = term.codes
    values = [torch.randint(0, 2, (n,)) if c.code.discrete else torch.rand(n) * 2 - 1 for c in codes]
    gin = torch.cat([torch.randn(n, noise_dim), codes.encode(values)], dim=1)
    starts = [noise_dim + c.input_slice.start for c in codes if not c.code.discrete]

    def generate(g: torch.Tensor) -> torch.Tensor:
        image = g[:, :noise_dim].sum(dim=1).view(-1, 1, 1, 1) * torch.ones(1, 1, 4, 4)
        for k, column in enumerate(starts):
            image = image + g[:, column].view(-1, 1, 1, 1) * directions[k]
        return image

    fake = generate(gin)
    return StepView(
        real=fake,
        fake=fake,
        generator_input=gin,
        values=values,
        logit_real=torch.zeros(n),
        logit_fake=torch.zeros(n),
        q_real=torch.zeros(n, 1),
        q_fake=torch.zeros(n, 1),
        rng=torch.Generator().manual_seed(0),
        noise_dim=noise_dim,
        generate=generate,
        discriminate=None,
        prepare=lambda x: x,
        autocast=contextlib.nullcontext,
    )


def pixel(i: int) -> torch.Tensor:
    image = torch.zeros(1, 4, 4)
    image.view(-1)[i] = 1.0
    return image


# -- what the term measures -------------------------------------------------------------------------
def test_codes_that_change_separate_pixels_cost_nothing_and_two_that_share_one_do(host):
    term = orthogonal_term(host)
    apart = term.terms(linear_view(term, torch.stack([pixel(0), pixel(5), pixel(10)])))
    assert apart.stats["loss_orthogonal"].item() < 1e-10
    # Codes 1 and 2 change the same pixel: cos = +-1 for that pair, 0 for the others, so 2 of 6 entries.
    shared = term.terms(linear_view(term, torch.stack([pixel(0), pixel(0) * 3, pixel(10)])))
    assert shared.stats["loss_orthogonal"].item() == pytest.approx(1 / 3, abs=1e-5)
    # A code that mixes two changes half and half: cos^2 = 1/2 with the code holding one of them.
    mixed = term.terms(linear_view(term, torch.stack([pixel(0), pixel(0) + pixel(5), pixel(10)])))
    assert mixed.stats["loss_orthogonal"].item() == pytest.approx(2 * 0.5 / 6, abs=1e-5)


def test_the_loss_is_blind_to_how_much_a_code_changes_the_image_and_goes_to_g(host):
    term = orthogonal_term(host, weight=2.0)
    small = term.terms(linear_view(term, torch.stack([pixel(0), pixel(0) + pixel(5), pixel(10)]) * 0.01))
    large = term.terms(linear_view(term, torch.stack([pixel(0), pixel(0) + pixel(5), pixel(10)]) * 10))
    assert small.stats["loss_orthogonal"].item() == pytest.approx(large.stats["loss_orthogonal"].item(), rel=1e-4)
    assert torch.allclose(large.generator, 2 * large.stats["loss_orthogonal"])
    assert large.information is None and large.discriminator is None


def test_each_code_steps_towards_the_middle_of_its_range(host):
    term = orthogonal_term(host, step=0.25)
    values = [torch.zeros(3, dtype=torch.long), torch.tensor([0.9, -0.9, 0.0]), torch.zeros(3), torch.zeros(3)]
    gin = torch.cat([torch.zeros(3, 2), term.codes.encode(values)], dim=1)
    moved = term.moved_inputs(gin, values, noise_dim=2)
    assert moved.shape == (9, gin.shape[1])  # three continuous codes, each the whole batch
    column = 2 + term.continuous[0][1].input_slice.start
    assert moved[:3, column].tolist() == pytest.approx([0.65, -0.65, 0.25])  # never past +-1
    assert torch.equal(moved[:3, :column], gin[:, :column]) and torch.equal(
        moved[:3, column + 1 :], gin[:, column + 1 :]
    )


# -- configuration ----------------------------------------------------------------------------------
def test_orthogonal_is_off_by_default_and_its_options_refuse_bad_values(host):
    assert "orthogonal" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny", "codes": "cat2,unif2"}}
    on = resolve(apply_dict(Config(), {**base, "loss": {"orthogonal": {"weight": 1.0}}}, "t"), host)
    assert [t.name for t in on.regularisers] == ["orthogonal"]
    assert on.config.loss.regularisers["orthogonal"] == {"weight": 1.0, "step": 0.1}
    for table, message in (
        ({"weight": -1.0}, "loss.orthogonal.weight must be >= 0"),
        ({"step": 0.0}, "loss.orthogonal.step must be > 0"),
        ({"stpe": 0.1}, "unknown option 'loss.orthogonal.stpe'. Did you mean 'step'"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve(apply_dict(Config(), {**base, "loss": {"orthogonal": table}}, "t"), host)


def test_orthogonal_with_one_continuous_code_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backbone",
            "shapes",
            "--codes",
            "cat3,unif1",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "loss.orthogonal.weight=1",
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "have 1 continuous code(s)" in result.stderr and "set loss.orthogonal.weight=0" in result.stderr
    assert not (tmp_path / "r").exists()


# -- in training ------------------------------------------------------------------------------------
def tiny_objective(host, weight: float):
    """The tiny run's objective (two continuous codes) with the term at ``weight``."""
    cfg = apply_dict(
        Config(),
        {"model": {"backbone": "tiny", "codes": "cat4,unif2"}, "loss": {"orthogonal": {"weight": weight}}},
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def test_the_term_reaches_the_generator(host):
    off, on = generator_grads(tiny_objective(host, 0.0)), generator_grads(tiny_objective(host, 1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))


def test_training_with_orthogonal_logs_the_term(host, tmp_path):
    records = train_tiny(
        host, tmp_path / "run", {"orthogonal": {"weight": 1.0}}, steps=4, log_every=2, codes="cat4,unif2"
    )
    assert [r["step"] for r in records] == [2, 4] and all(0 < r["loss_orthogonal"] <= 1 for r in records)
