"""What a user sees when plugins clash, are disabled or are missing: `infogan-tk plugins` and
`infogan-tk inspect` through typer's runner, with a real third-party distribution made discoverable
by writing its .dist-info folder onto sys.path (what pip would write, without the seconds pip takes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import install_fake
from safetensors.torch import save_file
from typer.testing import CliRunner

from infogan_toolkit.checkpoint import MODEL_FORMAT
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config

CLASHER = """
from infogan_tk_codes import Categorical
from infogan_toolkit import hookimpl


@hookimpl
def register_code_kinds(register):
    register("cat", lambda args: [Categorical(int(args))])   # the built-in's name: a clash
    register("bern", lambda args: [Categorical(2) for _ in range(int(args or 1))])
"""


@pytest.fixture
def clasher(tmp_path, monkeypatch):
    install_fake(tmp_path / "site", "infogan-tk-clasher", "infogan_tk_clasher", "clasher", CLASHER)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
    sys.modules.pop("infogan_tk_clasher", None)


def test_plugins_reports_a_clash_with_both_distributions_and_exits_1(clasher):
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 1
    rows = {p["name"]: p for p in json.loads(result.stdout)}
    assert rows["clasher"]["status"] == "loaded" and rows["clasher"]["distribution"] == "infogan-tk-clasher"
    assert rows["clasher"]["clashes"] == ["code kind 'cat' also registered by plugin 'codes' (infogan-toolkit)"]
    assert rows["codes"]["clashes"] == ["code kind 'cat' also registered by plugin 'clasher' (infogan-tk-clasher)"]
    assert rows["heads"]["clashes"] == []
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: code kind 'cat' is registered twice: by plugin 'clasher' (infogan-tk-clasher 1.0) and by plugin "
        "'codes' (infogan-toolkit "
    )
    assert line.endswith(
        "; disable the third-party plugin with INFOGAN_TK_DISABLE_PLUGINS=clasher or rename its code kind"
    )

    table = CliRunner().invoke(app, ["plugins"])
    assert table.exit_code == 1 and "clash" in table.stdout  # the status column (wrapped to the width)


def test_disabling_the_third_party_plugin_resolves_it_and_unknown_names_point_at_it(clasher, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", "clasher")
    runner = CliRunner()
    assert runner.invoke(app, ["plugins"]).exit_code == 0
    result = runner.invoke(app, ["config", "show", "--backbone", "mnist", "--codes", "cat10,bern2"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: unknown code kind 'bern' in 'cat10,bern2' (token 2); plugin 'clasher' (infogan-tk-clasher) "
        "provides it but is disabled by INFOGAN_TK_DISABLE_PLUGINS; remove 'clasher' from that list"
    )
    assert "infogan_tk_clasher" in sys.modules  # imported to list its names, yet nothing registered
    assert runner.invoke(app, ["config", "show", "--backbone", "mnist", "--codes", "cat10"]).exit_code == 0


def fake_checkpoint(path: Path, provenance: dict) -> Path:
    """A weights file whose metadata passes the schema (inspect reads no tensor), with ``provenance``."""
    config = Config().to_dict()
    config["model"].update(backbone="mnist", codes="cat10")
    detail = [{"name": "c1", "kind": "cat", "token": "cat10", "prior": "Cat(10)", "head": "softmax"}]
    save_file(
        {"x": torch.zeros(1)},
        str(path),
        metadata={
            "format": MODEL_FORMAT,
            "config": json.dumps(config),
            "codes": "cat10",
            "codes_detail": json.dumps(detail),
            "step": "3",
            "toolkit_version": "0.1.0",
            "plugins": json.dumps(provenance),
            "backbone": "mnist",
            "image_shape": "[1, 28, 28]",
            "output_range": "unit",
        },
    )
    return path


def prov(name: str, plugin: str, dist: str | None, version: str | None = "0.1.0") -> dict:
    return {"name": name, "plugin": plugin, "distribution": dist, "version": version}


def test_inspect_warns_about_missing_distributions_and_unregistered_names(tmp_path, monkeypatch):
    ckpt = fake_checkpoint(
        tmp_path / "model.safetensors",
        {
            "backbone": prov("mnist", "paper", "infogan-toolkit"),
            "code:cat": prov("cat", "codes", "infogan-toolkit"),
            "code:bern": prov("bern", "bern", "infogan-tk-bern"),
            "head:bernoulli": prov("bernoulli", "bern", "infogan-tk-bern"),
            "code:circ": prov("circ", "circular", "infogan-tk-circular"),
        },
    )
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", "circular")
    result = CliRunner().invoke(app, ["inspect", str(ckpt), "--json"])
    assert result.exit_code == 0
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "warning: the checkpoint's code kind 'bern', Q head 'bernoulli' come from distribution 'infogan-tk-bern', "
        "which is not installed; pip install infogan-tk-bern to load, evaluate or sample it",
        "warning: the checkpoint's code kind 'circ' is not registered here: plugin 'circular' (infogan-tk-circular) "
        "provides it but is disabled by INFOGAN_TK_DISABLE_PLUGINS; remove 'circular' from that list",
    ]
    out = json.loads(result.stdout)
    assert out["warnings"] == [line.removeprefix("warning: ") for line in lines]
    assert out["metadata"]["step"] == "3"


def test_inspect_of_a_checkpoint_whose_plugins_are_all_here_is_quiet(tmp_path):
    ckpt = fake_checkpoint(
        tmp_path / "model.safetensors",
        {
            "backbone": prov("mnist", "paper", "infogan-toolkit"),
            "code:circ": prov("circ", "circular", "infogan-tk-circular"),
        },
    )
    result = CliRunner().invoke(app, ["inspect", str(ckpt)])
    assert result.exit_code == 0 and result.stderr == ""
    assert "model.safetensors" in result.stdout
