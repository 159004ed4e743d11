"""optim.decay: the learning rates' fall to 0 over the end of a run, its effect on training, exact
resume through it, and its refusals."""

from __future__ import annotations

import json

import pytest
import torch

from infogan_toolkit.checkpoint import load_tensors, model_path, read_metadata
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.lr_schedule import lr_factor
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.rundir import state_path


def tiny(steps: int = 8, **optim) -> Config:
    base = {
        "model": {"backbone": "tiny"},
        "optim": optim,
        "train": {
            "batch_size": 16,
            "steps": steps,
            "log_every": 2,
            "checkpoint_every": 4,
            "keep_checkpoints": 10,
            "device": "cpu",
            "figures": False,
            "callbacks": [],
        },
    }
    return apply_dict(Config(), base, "test")


def stopped_at_step_4(cfg: Config, run, host) -> None:
    """``run`` as an 8-step run of ``cfg`` stopped after its checkpoint of step 4 would leave it."""
    Trainer(cfg, run, host=host, progress=False).run()
    for path in (model_path(run, 8), state_path(run, 8)):
        path.unlink()


def saved_lrs(run, step: int) -> dict[str, float]:
    meta = read_metadata(state_path(run, step))
    return {name: json.loads(meta[f"optim.{name}.param_groups"])[0]["lr"] for name in ("d", "g")}


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_factor_holds_then_falls_monotonically_to_near_zero(kind):
    factors = [lr_factor(kind, 0.5, 100, step) for step in range(100)]
    assert factors[:50] == [1.0] * 50
    assert all(a > b for a, b in zip(factors[50:], factors[51:]))
    assert 0 < factors[-1] <= 1 / 50 + 1e-12  # the last of 50 decaying steps
    assert lr_factor(kind, 0.0, 100, 0) == 1.0 and lr_factor(kind, 0.0, 100, 1) < 1.0


def test_linear_and_cosine_differ_and_none_is_flat():
    assert lr_factor("linear", 0.5, 100, 75) == pytest.approx(0.5)
    assert lr_factor("cosine", 0.5, 100, 75) == pytest.approx(0.5)
    assert lr_factor("cosine", 0.5, 100, 60) > lr_factor("linear", 0.5, 100, 60)  # the cosine starts slower
    assert {lr_factor("none", 0.5, 100, s) for s in range(100)} == {1.0}


def test_the_rates_follow_the_schedule_and_training_changes_only_after_it_starts(host, tmp_path):
    Trainer(tiny(), tmp_path / "flat", host=host, progress=False).run()
    Trainer(
        tiny(decay="linear", decay_from=0.5, lr_d=4e-4, lr_g=1e-3), tmp_path / "decay", host=host, progress=False
    ).run()
    # Step 8's checkpoint holds the rates step 7 ran at: 1 - (7 - 4) / 4 of the configured ones.
    assert saved_lrs(tmp_path / "decay", 8) == pytest.approx({"d": 4e-4 / 4, "g": 1e-3 / 4})
    assert saved_lrs(tmp_path / "decay", 4) == pytest.approx({"d": 4e-4, "g": 1e-3})
    Trainer(tiny(lr_d=4e-4), tmp_path / "flat-same-rate", host=host, progress=False).run()
    same, flat, decay = (load_tensors(model_path(tmp_path / r, 4)) for r in ("flat-same-rate", "flat", "decay"))
    assert all(torch.equal(same[k], decay[k]) for k in same)  # before the decay: the same run
    end_flat, end_decay = (load_tensors(model_path(tmp_path / r, 8)) for r in ("flat-same-rate", "decay"))
    assert any(not torch.equal(end_flat[k], end_decay[k]) for k in end_flat if k.endswith("weight"))


def test_resume_through_the_decay_is_bitwise_exact_and_reports_no_change(host, tmp_path, capsys):
    cfg = tiny(decay="cosine", decay_from=0.25)
    Trainer(cfg, tmp_path / "straight", host=host, progress=False).run()
    stopped_at_step_4(cfg, tmp_path / "resumed", host)
    capsys.readouterr()
    Trainer(cfg, tmp_path / "resumed", host=host, resume=True, progress=False).run()
    assert "-> " not in capsys.readouterr().err  # no optimiser setting reported as changed
    a, b = (load_tensors(model_path(tmp_path / r, 8)) for r in ("straight", "resumed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_to_more_steps_stretches_the_rest_of_the_schedule_and_says_so(host, tmp_path, capsys):
    Trainer(tiny(steps=4, decay="linear"), tmp_path / "r", host=host, progress=False).run()
    capsys.readouterr()
    Trainer(tiny(decay="linear"), tmp_path / "r", host=host, resume=True, progress=False).run()
    # Step 3 ran at 1/2 of the rate as the last of 2 decaying steps; of 8 steps it is before the decay.
    assert "optimiser 'g' lr 0.0005 -> 0.001" in capsys.readouterr().err
    assert saved_lrs(tmp_path / "r", 8)["g"] == pytest.approx(1e-3 / 4)


def test_a_rate_changed_at_resume_is_reported_and_decays_from_the_new_value(host, tmp_path, capsys):
    stopped_at_step_4(tiny(decay="linear"), tmp_path / "r", host)
    capsys.readouterr()
    Trainer(tiny(decay="linear", lr_g=5e-4), tmp_path / "r", host=host, resume=True, progress=False).run()
    assert "optimiser 'g' lr 0.001 -> 0.0005" in capsys.readouterr().err
    assert saved_lrs(tmp_path / "r", 8)["g"] == pytest.approx(5e-4 / 4)


def test_a_mistyped_kind_or_start_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="decay must be one of none, linear, cosine, got 'linaer'.*'linear'"):
        tiny(decay="linaer")
    with pytest.raises(ConfigError, match=r"decay_from must be in \[0, 1\), got 1.0"):
        tiny(decay="linear", decay_from=1.0)


def test_a_captured_cuda_graph_is_refused_before_anything_is_built(host, tmp_path):
    cfg = apply_dict(tiny(decay="linear"), {"train": {"cuda_graph": True}}, "test")
    with pytest.raises(ConfigError, match="optim.decay cannot run in a captured CUDA graph.*optim.decay=none"):
        Trainer(cfg, tmp_path / "r", host=host, progress=False)
    assert not (tmp_path / "r").exists()
