"""The shared-layout term ([loss.layout], the lab's regulariser plugin, research/plugins/infogan-tk-lab):
what it measures on real glyph images, which codes it redraws, the config keys, and a real training
run that logs it."""

from __future__ import annotations

import pytest
import torch
from conftest import generator_grads, train_tiny
from typer.testing import CliRunner

from infogan_tk_datasets.glyphs import GlyphImages
from infogan_tk_lab.layout import CODE_STEP, change_mismatch, gaussian_blur, ink_moments, layout_distance
from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.trainer import build_objective
from infogan_toolkit.errors import ConfigError


@pytest.fixture(scope="module")
def glyphs() -> GlyphImages:
    return GlyphImages()


def image(glyphs: GlyphImages, glyph: int, size: int, x: int, y: int) -> torch.Tensor:
    return glyphs.images(glyphs.factor_index(torch.tensor([[glyph, size, x, y]]))).float() / 255


# -- what the term measures -------------------------------------------------------------------------
def test_the_blur_keeps_the_ink_and_spreads_it():
    dot = torch.zeros(1, 1, 32, 32)
    dot[0, 0, 16, 16] = 1.0
    blurred = gaussian_blur(dot, 2.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5) and blurred.max().item() < 0.05
    assert blurred[0, 0, 16, 18].item() == pytest.approx(blurred[0, 0, 18, 16].item())  # round, not square


@pytest.mark.parametrize("move", [(5, 0), (0, 5)])
def test_two_glyphs_in_one_place_lie_alike_and_one_glyph_in_two_places_does_not(glyphs, move):
    blur = 6.0  # the term's default
    same_place = [
        layout_distance(image(glyphs, a, 2, 5, 5), image(glyphs, b, 2, 5, 5), blur).item()
        for a, b in ((0, 1), (0, 2), (1, 2))
    ]
    moved = [
        layout_distance(image(glyphs, g, 2, 5, 5), image(glyphs, g, 2, 5 + move[0], 5 + move[1]), blur).item()
        for g in range(3)
    ]
    # Another outline in the same place costs a fifth or less of the same outline 5 pixels away.
    assert max(same_place) < 0.02 and min(moved) > 0.08 and min(moved) > 5 * max(same_place)
    assert layout_distance(image(glyphs, 0, 2, 5, 5), image(glyphs, 0, 2, 5, 5), blur).item() == pytest.approx(
        0, abs=1e-6
    )
    # Nearly blind to size: one size larger costs less than the most another glyph in its place does.
    larger = [
        layout_distance(image(glyphs, g, s, 5, 5), image(glyphs, g, s + 1, 5, 5), blur).item()
        for g in range(3)
        for s in range(3)
    ]
    assert max(larger) < 0.005 and max(larger) < max(same_place)
    # Blind to the ink's total: a dimmer copy of the same image lies alike.
    assert layout_distance(image(glyphs, 1, 2, 5, 5), 0.3 * image(glyphs, 1, 2, 5, 5), blur).item() == pytest.approx(
        0, abs=1e-6
    )


def test_ink_moments_follow_the_glyphs_position_and_size(glyphs):
    moments = ink_moments(torch.cat([image(glyphs, g, s, x, 5) for g in range(3) for s in range(4) for x in (5, 6)]))
    moments = moments.view(3, 4, 2, 4)
    # One position step (one pixel) moves the centre by 1/32 of the frame and leaves the spread.
    assert torch.allclose(moments[:, :, 1, 0] - moments[:, :, 0, 0], torch.full((3, 4), 1 / 32), atol=1e-4)
    assert torch.allclose(moments[:, :, 1, 2:], moments[:, :, 0, 2:], atol=1e-4)
    # Each size step grows every glyph's spread, and over the four sizes by about the same factor
    # (log spread +0.37 to +0.44), though the ring spreads wider than the square at every size.
    assert (moments[:, 1:, 0, 2] > moments[:, :-1, 0, 2] + 0.09).all()
    growth = moments[:, -1, 0, 2] - moments[:, 0, 0, 2]
    assert growth.min() > 0.35 and growth.max() - growth.min() < 0.08
    assert (moments[1, :, 0, 2] - moments[0, :, 0, 2]).min() > 0.3  # the ring spreads wider than the square


def test_change_mismatch_is_small_when_two_glyphs_change_alike_and_large_otherwise(glyphs):
    def mismatch(a, b, c, d):
        return change_mismatch(
            image(glyphs, *a), image(glyphs, *b), image(glyphs, *c), image(glyphs, *d), CODE_STEP
        ).item()

    both_grow = mismatch((0, 1, 5, 5), (0, 2, 5, 5), (1, 1, 5, 5), (1, 2, 5, 5))
    one_shrinks = mismatch((0, 1, 5, 5), (0, 2, 5, 5), (1, 2, 5, 5), (1, 1, 5, 5))
    both_move_x = mismatch((0, 1, 5, 5), (0, 1, 6, 5), (2, 1, 5, 5), (2, 1, 6, 5))
    x_and_y = mismatch((0, 1, 5, 5), (0, 1, 6, 5), (2, 1, 5, 5), (2, 1, 5, 6))
    assert both_move_x == pytest.approx(0, abs=1e-6) and one_shrinks > 50 * both_grow and x_and_y > 0.02
    # A glyph that only fades while the other grows pays for the growth it lacks.
    fades = change_mismatch(
        image(glyphs, 0, 1, 5, 5),
        image(glyphs, 0, 2, 5, 5),
        image(glyphs, 2, 1, 5, 5),
        0.3 * image(glyphs, 2, 1, 5, 5),
        CODE_STEP,
    ).item()
    assert fades > 10 * both_grow


# -- which codes it redraws -------------------------------------------------------------------------
def layout_objective(host, codes: str = "cat4,unif2", weight: float = 1.0, change: float = 0.0):
    layout = {"weight": weight, "change": change}
    cfg = apply_dict(Config(), {"model": {"backbone": "tiny", "codes": codes}, "loss": {"layout": layout}}, "t")
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def test_the_swapped_input_redraws_the_discrete_codes_and_keeps_noise_and_continuous_codes(host):
    term = layout_objective(host, codes="cat4,cat3,unif2").regularisers["layout"]
    codes = term.codes
    n, noise_dim = 256, 2
    values = codes.sample(n, torch.Generator().manual_seed(0))
    gin = torch.cat([torch.randn(n, noise_dim), codes.encode(values)], dim=1)
    swapped = term.swapped_input(gin, values, noise_dim, torch.Generator().manual_seed(1))
    assert swapped.shape == gin.shape and torch.equal(swapped[:, :noise_dim], gin[:, :noise_dim])
    for c in codes:
        columns = slice(noise_dim + c.input_slice.start, noise_dim + c.input_slice.stop)
        if c.code.discrete:
            assert not torch.equal(swapped[:, columns], gin[:, columns])  # redrawn
            assert torch.equal(swapped[:, columns].sum(dim=1), torch.ones(n))  # still one category each
        else:
            assert torch.equal(swapped[:, columns], gin[:, columns])


def test_the_stepped_input_moves_only_the_continuous_codes_towards_zero(host):
    term = layout_objective(host, codes="cat4,unif2,unif1", change=1.0).regularisers["layout"]
    codes, n, noise_dim = term.codes, 64, 2
    values = codes.sample(n, torch.Generator().manual_seed(0))
    gin = torch.cat([torch.randn(n, noise_dim), codes.encode(values)], dim=1)
    stepped = term.stepped_input(gin, noise_dim)
    for c in codes:
        columns = slice(noise_dim + c.input_slice.start, noise_dim + c.input_slice.stop)
        if c.code.discrete:
            assert torch.equal(stepped[:, columns], gin[:, columns])
        else:
            towards_zero = -CODE_STEP * gin[:, columns].sign()
            assert torch.allclose(stepped[:, columns] - gin[:, columns], towards_zero)
            assert stepped[:, columns].abs().max() <= 1
    assert torch.equal(stepped[:, :noise_dim], gin[:, :noise_dim])


# -- configuration ----------------------------------------------------------------------------------
def test_layout_is_off_by_default_and_refuses_bad_values(host):
    assert "layout" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny", "codes": "cat2,unif2"}}
    on = resolve(apply_dict(Config(), {**base, "loss": {"layout": {"weight": 2.0}}}, "t"), host)
    assert [t.name for t in on.regularisers] == ["layout"]
    assert on.config.loss.regularisers["layout"] == {"weight": 2.0, "blur": 6.0, "change": 0.0}
    for table, message in (
        ({"weight": -1.0}, "loss.layout.weight must be >= 0"),
        ({"change": -1.0}, "loss.layout.change must be >= 0"),
        ({"blur": 0.0}, "loss.layout.blur must be > 0"),
        ({"blurr": 2.0}, "unknown option 'loss.layout.blurr'. Did you mean 'blur'"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve(apply_dict(Config(), {**base, "loss": {"layout": table}}, "t"), host)


@pytest.mark.parametrize("codes, lacking", [("cat3", "a continuous"), ("unif2", "a discrete")])
def test_layout_without_both_kinds_of_code_is_refused_in_one_line(tmp_path, codes, lacking):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backbone",
            "shapes",
            "--codes",
            codes,
            "--steps",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "loss.layout.weight=1",
        ],
    )
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"lack {lacking} code" in result.stderr and "set loss.layout.weight=0" in result.stderr
    assert not (tmp_path / "r").exists()


# -- in training ------------------------------------------------------------------------------------
def test_the_term_reaches_the_generator(host):
    off, on = generator_grads(layout_objective(host, weight=0.0)), generator_grads(layout_objective(host, weight=5.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))
    with_change = generator_grads(layout_objective(host, weight=5.0, change=1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(on, with_change))


def test_training_with_layout_logs_the_term(host, tmp_path):
    records = train_tiny(host, tmp_path / "run", {"layout": {"weight": 1.0}}, steps=4, log_every=2, codes="cat4,unif2")
    assert [r["step"] for r in records] == [2, 4] and all(0 <= r["loss_layout"] <= 1 for r in records)
    assert all("loss_layout_change" not in r for r in records)


def test_training_with_the_change_match_logs_it(host, tmp_path):
    records = train_tiny(
        host, tmp_path / "run", {"layout": {"weight": 1.0, "change": 1.0}}, steps=4, log_every=2, codes="cat4,unif2"
    )
    assert [r["step"] for r in records] == [2, 4] and all(r["loss_layout_change"] > 0 for r in records)
