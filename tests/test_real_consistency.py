"""The real-image consistency term ([loss.real_consistency], a built-in regulariser plugin): its
configuration and refusals, what it computes, which parts it trains, and a real run that logs it."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.objective import InfoGANObjective
from infogan_toolkit.engine.trainer import Trainer, build_objective
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.images import from_uint8

NO_JITTER = {"rotation": 0.0, "scale": 0.0, "shift": 0.0, "shear": 0.0}


def tiny_objective(host, **options) -> InfoGANObjective:
    cfg = apply_dict(
        Config(),
        {"model": {"backbone": "tiny"}, "loss": {"real_consistency": options}, "train": {"d_batch": "separate"}},
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def real_batch() -> torch.Tensor:
    return torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


# -- configuration ----------------------------------------------------------------------------------
def test_off_by_default_and_bad_values_are_refused_with_the_key(host):
    assert "real_consistency" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny"}}
    for options, message in (
        ({"weight": -1.0}, "weight must be >= 0"),
        ({"confidence": 1.0}, r"confidence must be in \[0, 1\)"),
        ({"shear": -5.0}, "shear must be >= 0"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve(apply_dict(Config(), {**base, "loss": {"real_consistency": options}}, "t"), host)
    with pytest.raises(ConfigError, match="Did you mean 'real_consistency'"):
        resolve(apply_dict(Config(), {**base, "loss": {"real_consistancy": {"weight": 1.0}}}, "t"), host)


def test_a_run_without_a_discrete_code_is_refused_in_one_line(host):
    cfg = apply_dict(
        Config(), {"model": {"backbone": "tiny", "codes": "unif2"}, "loss": {"real_consistency": {"weight": 1.0}}}, "t"
    )
    with pytest.raises(
        ConfigError,
        match=r"'unif2' have no discrete code, and the consistency term .*set loss.real_consistency.weight=0",
    ):
        resolve(cfg, host)


def test_cli_refuses_a_mistyped_option_in_one_line(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backbone",
            "shapes",
            "--out",
            str(tmp_path / "r"),
            "--steps",
            "1",
            "--set",
            "loss.real_consistency.confidence=1.5",
        ],
    )
    assert result.exit_code != 0
    assert "confidence must be in [0, 1)" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


# -- what it computes -------------------------------------------------------------------------------
def test_without_jitter_or_threshold_it_is_minus_the_log_of_qs_top_probability_on_real_images(host):
    obj = tiny_objective(host, weight=1.0, confidence=0.0, **NO_JITTER)
    real = real_batch()
    _, _, _, stats, _ = obj.losses(real, torch.Generator().manual_seed(2))
    names = obj.stat_names
    with torch.no_grad():
        _, q_real = obj.D(from_uint8(real, "unit"))  # training mode: the batch's own statistics, as in the step
        code = next(c for c in obj.codes if c.code.discrete)
        top = F.log_softmax(q_real[:, code.param_slice].float(), dim=1).max(dim=1).values
    assert stats[names.index("loss_real_consistency")].item() == pytest.approx(-top.mean().item(), abs=1e-5)
    assert stats[names.index("real_confident")].item() == 1.0


def test_only_confident_images_count(host):
    unsure = tiny_objective(host, weight=1.0, confidence=0.99)  # an untrained cat4 head is near 1/4 everywhere
    _, _, _, stats, _ = unsure.losses(real_batch(), torch.Generator().manual_seed(2))
    names = unsure.stat_names
    assert stats[names.index("real_confident")].item() == 0.0
    assert stats[names.index("loss_real_consistency")].item() == 0.0


def test_the_term_trains_q_and_the_trunk_on_real_images_and_never_the_generator(host):
    def gradients(obj):
        loss_d, loss_g, info, _, _ = obj.losses(real_batch(), torch.Generator().manual_seed(2))
        obj.backward(loss_d, loss_g, info)
        return [p.grad.clone() for p in obj.g_params], [p.grad.clone() for p in obj.qhead_params + obj.trunk_params]

    g_off, d_off = gradients(tiny_objective(host, weight=0.0, confidence=0.0))
    g_on, d_on = gradients(tiny_objective(host, weight=1.0, confidence=0.0))
    assert any(not torch.allclose(a, b) for a, b in zip(d_off, d_on))
    assert all(torch.equal(a, b) for a, b in zip(g_off, g_on))


def test_a_real_run_logs_the_term(host, tmp_path):
    cfg = apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "loss": {"real_consistency": {"weight": 1.0, "confidence": 0.0}},
            "train": {
                "batch_size": 16,
                "steps": 6,
                "log_every": 3,
                "checkpoint_every": 6,
                "device": "cpu",
                "figures": False,
                "callbacks": [],
            },
        },
        "t",
    )
    Trainer(cfg, tmp_path / "run", host=host, progress=False).run()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    assert all(r["loss_real_consistency"] > 0 and r["real_confident"] == 1.0 for r in records)
