"""The regulariser interface: a third-party term plugs in without touching the engine; configs saved
before the built-in terms moved behind it still load. That the move changed no result is
tests/test_regression.py's to check, on any machine."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

from infogan_toolkit.assembly import resolve
from infogan_toolkit.checkpoint import load_tensors, model_path, read_metadata
from infogan_toolkit.config import Config, apply_dict, parse_override
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.registry import is_builtin


# -- a third-party regulariser: the example distribution plugins/example-meanink -----------------
@pytest.fixture
def ink_host(host):
    """The host with the installed example regulariser (``mean_ink``, distribution infogan-tk-meanink)."""
    if "mean_ink" not in host.registries.regularisers:
        pytest.skip("infogan-tk-meanink is not installed; run: pip install --no-deps -e plugins/example-meanink")
    return host


def tiny(steps: int = 6, **loss) -> Config:
    return apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "data": {"dataset": "tiny-bars"},
            "loss": loss,
            "train": {
                "batch_size": 16,
                "steps": steps,
                "log_every": 2,
                "checkpoint_every": 3,
                "device": "cpu",
                "figures": False,
                "callbacks": [],
            },
        },
        "test",
    )


def test_a_third_party_term_trains_logs_checkpoints_and_resumes_exactly(ink_host, tmp_path):
    cfg = lambda steps: tiny(steps, mean_ink={"weight": 2.0})  # noqa: E731
    straight = Trainer(cfg(6), tmp_path / "a", host=ink_host, progress=False)
    assert straight.objective.stat_names[-2:] == ["mean_ink", "ink_tracker"]
    straight.run()
    assert straight.objective.regularisers["mean_ink"].steps_seen == 6  # schedule() ran before every step
    logs = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["mean_ink"] <= 1.0 for r in logs) and logs[-1]["ink_tracker"] != 0.0
    Trainer(cfg(3), tmp_path / "b", host=ink_host, progress=False).run()
    Trainer(cfg(6), tmp_path / "b", host=ink_host, resume=True, progress=False).run()
    a, b = load_tensors(model_path(tmp_path / "a", 6)), load_tensors(model_path(tmp_path / "b", 6))
    assert "mean_ink.tracker.weight" in a and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    state = read_metadata(tmp_path / "a" / "checkpoints" / "step-0000006.state.safetensors")
    assert "optim.mean_ink.adam.param_groups" in state
    saved = json.loads(read_metadata(model_path(tmp_path / "a", 6))["plugins"])
    assert (saved["regulariser:mean_ink"]["plugin"], saved["regulariser:mean_ink"]["distribution"]) == (
        "meanink",
        "infogan-tk-meanink",
    )


def test_the_term_changes_g_and_its_weight_zero_turns_it_off(ink_host, tmp_path):
    Trainer(tiny(3), tmp_path / "off", host=ink_host, progress=False).run()
    Trainer(tiny(3, mean_ink={"weight": 0.0}), tmp_path / "zero", host=ink_host, progress=False).run()
    Trainer(tiny(3, mean_ink={"weight": 5.0}), tmp_path / "on", host=ink_host, progress=False).run()
    off, zero, on = (load_tensors(model_path(tmp_path / n, 3)) for n in ("off", "zero", "on"))
    assert off.keys() == zero.keys() and all(torch.equal(off[k], zero[k]) for k in off)
    g = [k for k in off if k.startswith("generator.")]
    assert any(not torch.equal(off[k], on[k]) for k in g)
    assert resolve(tiny(3, mean_ink={"weight": 0.0}), ink_host).config.loss.regularisers["mean_ink"] == {
        "weight": 0.0,
        "target": 0.5,
        "lr": 1e-2,
    }


def test_options_are_validated_like_every_other_key(ink_host):
    with pytest.raises(
        ConfigError, match=r"unknown option 'loss.mean_ink.targt'. Did you mean 'target'\?.*Known: loss.mean_ink.weight"
    ):
        resolve(tiny(mean_ink={"targt": 1.0}), ink_host)
    with pytest.raises(ConfigError, match="unknown regulariser 'loss.mean_inc'. Did you mean 'mean_ink'"):
        resolve(tiny(mean_inc={"weight": 1.0}), ink_host)
    with pytest.raises(ConfigError, match=r"unknown config key 'loss.mean_ink'.*turned on with a table of options"):
        apply_dict(Config(), {"loss": {"mean_ink": 3}}, "t")


def test_set_reaches_a_key_of_a_table_and_tables_merge_over_lower_layers():
    assert parse_override("loss.invariance.shear=20") == {"loss": {"invariance": {"shear": 20}}}
    assert parse_override("model.options.leak=0.01") == {"model": {"options": {"leak": 0.01}}}
    cfg = apply_dict(Config(), {"loss": {"invariance": {"weight": 1.0, "shear": 20.0}}}, "file")
    cfg = apply_dict(cfg, parse_override("loss.invariance.weight=2"), "--set")
    assert cfg.loss.regularisers == {"invariance": {"weight": 2, "shear": 20.0}}
    cfg = apply_dict(
        apply_dict(Config(), {"model": {"options": {"leak": 0.1, "width": 8}}}, "f"),
        parse_override("model.options.leak=0.2"),
        "s",
    )
    assert cfg.model.options == {"leak": 0.2, "width": 8}
    with pytest.raises(ConfigError, match="must name section.key or section.table.key"):
        parse_override("a.b.c.d=1")
    assert (
        Config.to_dict(cfg)["loss"].keys() >= {"lambda_discrete"} and "regularisers" not in Config.to_dict(cfg)["loss"]
    )


# -- the flat keys of before the terms were plugins are ordinary unknown keys ----------------------
@pytest.mark.parametrize("old", ["loss.invariance=1.0", "loss.jitter_shear=20", "optim.lr_contrastive=0.002"])
def test_an_old_flat_key_is_an_unknown_key(old):
    with pytest.raises(ConfigError, match=f"unknown config key '{old.split('=')[0]}'"):
        apply_dict(Config(), parse_override(old), "--set")


# -- what ships: published methods only -------------------------------------------------------------
#: Each built-in term and the authors of the method it implements or adapts, as its module docstring
#: and docs/regularisers.md cite them. A term without one belongs in the lab (research/plugins/infogan-tk-lab).
SHIPPED = {
    "contrastive": "Lin et al. 2020",
    "invariance": "Sajjadi, Javanmardi & Tasdizen",
    "orthogonal": "Wei et al.",
    "real_consistency": "Sohn et al. 2020",
    "real_information": "Krause, Perona & Gomes",
}


def test_every_built_in_term_cites_the_method_it_implements(host):
    assert {e.name for e in host.registries.regularisers if is_builtin(e.distribution)} == set(SHIPPED)
    guide = (Path(__file__).resolve().parents[1] / "docs" / "regularisers.md").read_text()
    for name, authors in SHIPPED.items():
        assert authors in importlib.import_module(f"infogan_tk_regularisers.{name}").__doc__, name
        assert f"`{name}`" in guide and authors in guide, name
