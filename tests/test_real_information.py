"""The real-data information term ([loss.real_information], a built-in regulariser plugin): the softmax head's batch
information,
the config keys, the conformance check, which parts the term trains, and a real run that logs it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.codes import QHead
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.objective import InfoGANObjective
from infogan_toolkit.engine.trainer import Trainer, build_objective
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.images import from_uint8
from infogan_toolkit.testing import check_head


# -- the softmax head's batch information -------------------------------------------------------------
def softmax(host) -> QHead:
    return host.registries.heads.get("softmax")


def test_confident_balanced_predictions_carry_log_k_and_uninformative_ones_nothing(host):
    head = softmax(host)
    k = 10
    confident = torch.eye(k).repeat(3, 1) * 40.0  # every class used equally, each row sure
    assert head.batch_information(confident).item() == pytest.approx(math.log(k), abs=1e-4)
    assert head.batch_information(torch.zeros(30, k)).item() == pytest.approx(0.0, abs=1e-5)  # unsure rows
    collapsed = torch.zeros(30, k)
    collapsed[:, 3] = 40.0  # sure, but every row the same class
    assert head.batch_information(collapsed).item() == pytest.approx(0.0, abs=1e-5)
    half = torch.zeros(30, k)
    half[:15, 0] = 40.0
    half[15:, 1] = 40.0  # two classes used: log 2
    assert head.batch_information(half).item() == pytest.approx(math.log(2), abs=1e-4)


def test_batch_information_stays_finite_with_extreme_logits(host):
    params = torch.zeros(8, 5)
    params[:, 0] = 1e4  # classes 1..4 get probability exp(-1e4): never used in the batch
    params.requires_grad_()
    info = softmax(host).batch_information(params)
    info.backward()
    assert torch.isfinite(info) and torch.isfinite(params.grad).all()


def test_heads_without_batch_information_say_so_and_pass_the_conformance_check(host):
    heads = host.registries.heads
    assert softmax(host).has_batch_information
    gaussian = heads.get("gaussian")
    assert not gaussian.has_batch_information
    with pytest.raises(NotImplementedError, match="GaussianHead defines no batch_information"):
        gaussian.batch_information(torch.zeros(4, 2))
    check_head(softmax(host), 10, torch.arange(20) % 10)


def test_conformance_check_catches_a_batch_information_that_ignores_the_parameters(host):
    class Broken(type(softmax(host))):
        def batch_information(self, params):
            return torch.tensor(1.0)

    with pytest.raises(AssertionError, match="no gradient reaches the parameters from batch_information"):
        check_head(Broken(), 10, torch.arange(20) % 10)


# -- configuration ----------------------------------------------------------------------------------
def test_real_information_is_off_by_default_and_refuses_bad_values(host):
    assert "real_information" not in Config().loss.regularisers
    base = {"model": {"backbone": "tiny"}}
    with pytest.raises(ConfigError, match="loss.real_information.weight must be >= 0"):
        resolve(apply_dict(Config(), {**base, "loss": {"real_information": {"weight": -1.0}}}, "t"), host)
    with pytest.raises(ConfigError, match="Did you mean 'real_information'"):  # a typo gets a suggestion, never silence
        resolve(apply_dict(Config(), {**base, "loss": {"real_informaton": {"weight": 1.0}}}, "t"), host)


def test_real_information_without_a_softmax_head_is_refused_in_one_line(host):
    cfg = apply_dict(
        Config(), {"model": {"backbone": "tiny", "codes": "unif2"}, "loss": {"real_information": {"weight": 1.0}}}, "t"
    )
    with pytest.raises(
        ConfigError,
        match=r"loss.real_information.weight is 1.0 but no code in 'unif2' .*set loss.real_information.weight=0",
    ):
        resolve(cfg, host)


def test_cli_refuses_a_negative_real_information_in_one_line(tmp_path):
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
            "loss.real_information.weight=-1",
        ],
    )
    assert result.exit_code != 0
    assert "loss.real_information.weight must be >= 0" in result.stderr and "Traceback" not in result.stderr


# -- the objective ----------------------------------------------------------------------------------
def tiny_objective(host, real_information: float, d_batch: str = "separate") -> InfoGANObjective:
    cfg = apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "loss": {"real_information": {"weight": real_information}},
            "train": {"d_batch": d_batch},
        },
        "t",
    )
    return build_objective(resolve(cfg, host), torch.device("cpu"))


def gradients(obj: InfoGANObjective) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    loss_d, loss_g, info, stats, _ = obj.losses(real, torch.Generator().manual_seed(2))
    obj.backward(loss_d, loss_g, info)
    return [p.grad.clone() for p in obj.g_params], [p.grad.clone() for p in obj.qhead_params]


@pytest.mark.parametrize("d_batch", ["separate", "joint"])
def test_the_term_trains_q_on_real_images_and_reaches_the_generator_only_through_a_joint_batch(host, d_batch):
    off, on = tiny_objective(host, 0.0, d_batch), tiny_objective(host, 1.0, d_batch)
    assert "real_information" not in off.stat_names and on.stat_names[-1] == "real_information"
    g_off, q_off = gradients(off)
    g_on, q_on = gradients(on)
    assert any(not torch.allclose(a, b) for a, b in zip(q_off, q_on))
    # Sent through D apart, the real batch never meets G; in one joint batch, D's batch norm
    # statistics mix the real and fake halves, so the term reaches G through them.
    same_g = all(torch.equal(a, b) for a, b in zip(g_off, g_on))
    assert same_g == (d_batch == "separate")


def test_the_logged_value_is_the_heads_information_on_the_real_batch(host):
    obj = tiny_objective(host, 1.0)
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    _, _, _, stats, _ = obj.losses(real, torch.Generator().manual_seed(2))
    with torch.no_grad():
        _, q_real = obj.D(from_uint8(real, "unit"))
        expected = obj.codes.batch_informations(q_real.float()).sum()
    assert stats[-1].item() == pytest.approx(expected.item(), abs=1e-5)
    assert 0.0 <= stats[-1].item() <= math.log(4) + 1e-5  # tiny's discrete code is cat4


def test_training_with_real_information_logs_the_term(host, tmp_path):
    cfg = apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "loss": {"real_information": {"weight": 1.0}, "invariance": {"weight": 1.0}},
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
    assert all(0.0 <= r["real_information"] <= math.log(4) and r["loss_invariance"] > 0 for r in records)
