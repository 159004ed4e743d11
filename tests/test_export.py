"""`infogan-tk export`, `TrainedModel.save_pretrained` and `from_pretrained` on a real two-step run
made by the train CLI: the folder round trip, the model card, the refusals, and Hub ids without the
Hub client (or without a network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

import infogan_toolkit
from infogan_toolkit import load_checkpoint
from infogan_toolkit.checkpoint import resolve_checkpoint
from infogan_toolkit.cli.app import app
from infogan_toolkit.errors import CheckpointError, PluginError, ToolkitError
from infogan_toolkit.evaluate.factor_map import factor_map

TRAIN = [
    "--steps",
    "2",
    "--batch-size",
    "8",
    "--quiet",
    "--no-eval",
    "--set",
    "train.checkpoint_every=2",
    "--set",
    "train.figures=false",
]
EVAL_SIZES = {"accuracy_samples": 64, "factor_samples": 64, "factor_test_samples": 32, "batch": 64}
HUB_ID = "someone/infogan-mnist"


def one_line_error(result) -> str:
    """Exit code 2, nothing on stdout, and the error as stderr's only line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def run(runner, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "run"
    result = runner.invoke(app, ["train", "--out", str(out), *TRAIN])
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def exported(runner, run, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "mnist-model"
    result = runner.invoke(app, ["export", str(run), str(folder), "--samples", "16", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["step"] == 2 and summary["evaluation"] is False
    assert "no eval.json" in result.stderr
    return folder


def test_round_trip_gives_bit_identical_samples(run, exported):
    original = load_checkpoint(run)
    loaded = infogan_toolkit.from_pretrained(exported)
    images, values = loaded.sample(16, seed=0)
    want_images, want_values = original.sample(16, seed=0)
    assert torch.equal(images, want_images)
    assert all(torch.equal(a, b) for a, b in zip(values, want_values)) and len(values) == len(want_values)
    assert loaded.step == original.step == 2 and loaded.codes.spec == original.codes.spec
    # The folder's weights are the checkpoint's G and D/Q tensors, under its metadata.
    checkpoint = load_file(str(resolve_checkpoint(run)))
    weights = load_file(str(exported / "model.safetensors"))
    assert weights and all(torch.equal(t, checkpoint[k]) for k, t in weights.items())
    assert {k.split(".")[0] for k in weights} == {"generator", "discriminator", "q"}
    with safe_open(str(exported / "model.safetensors"), framework="pt") as fh:
        assert fh.metadata() == original.metadata


def test_folder_holds_the_weights_metadata_card_and_pictures(exported, run):
    codes = [c.name for c in load_checkpoint(run).codes]
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(
        [
            "README.md",
            "metadata.json",
            "model.safetensors",
            "report.html",
            "samples.png",
            *[f"traversal-{c}.png" for c in codes],
        ]
    )
    record = json.loads((exported / "metadata.json").read_text())
    assert record["format"] == "infogan-tk-export/1" and record["metadata"]["step"] == "2"
    assert record["metadata"]["config"]["model"]["backbone"] == "mnist" and record["samples"]["n"] == 16
    assert list(record["traversals"]) == codes
    for png in exported.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    # 16 samples of 28x28 with 2-pixel padding: a 4 x 4 grid.
    assert Image.open(exported / "samples.png").size == (4 * 30 + 2, 4 * 30 + 2)


def test_card_names_every_plugin_the_codes_the_data_set_and_the_config(exported, run):
    card = (exported / "README.md").read_text()
    model = load_checkpoint(run)
    plugins = json.loads(model.metadata["plugins"])
    assert {"backbone", "dataset"} <= set(plugins) and any(k.startswith("code:") for k in plugins)
    for piece, info in plugins.items():
        row = next(line for line in card.splitlines() if line.startswith(f"| {piece} |"))
        assert info["distribution"] in row and info["version"] in row and info["plugin"] in row, row
    for code in model.codes:
        row = next(line for line in card.splitlines() if line.startswith(f"| {code.name} |"))
        assert code.code.describe() in row and code.head_name in row and "not evaluated" in row
        assert f"(traversal-{code.name}.png)" in card
    assert "- name: mnist" in card and "- license: MNIST (LeCun, Cortes and Burges), CC BY-SA 3.0" in card
    assert "(samples.png)" in card and "## Evaluation" not in card
    assert 'backbone = "mnist"' in card and f'codes = "{model.codes.spec}"' in card
    assert card.startswith("---\nlibrary_name: infogan-toolkit\n")


def test_card_of_an_evaluated_run_gives_its_numbers_and_what_each_code_controls(runner, tmp_path):
    # A data set with ground-truth factors, so that the card has factor metrics and a factor per code.
    evaluated = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", "shapes", "--out", str(evaluated), *TRAIN])
    assert result.exit_code == 0, result.stderr
    sizes = [arg for k, v in EVAL_SIZES.items() for arg in ("--size", f"{k}={v}")]
    result = runner.invoke(
        app, ["eval", str(evaluated), "--metrics", "mi,accuracy,mig", "--samples", "64", "--json", *sizes]
    )
    assert result.exit_code == 0, result.stderr
    evaluation = json.loads((evaluated / "eval.json").read_text())
    folder = tmp_path / "model"
    result = runner.invoke(app, ["export", str(evaluated), str(folder), "--samples", "4", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["evaluation"] is True
    card = (folder / "README.md").read_text()
    assert "## Evaluation" in card and f"| mig | mig | {evaluation['mig']['mig']:.4g} |" in card
    for name, code in evaluation["mi"]["codes"].items():
        assert f"L_I of {name}" in card and f"{code['L_I']:.4g}" in card
    rows = {line.split(" | ")[0][2:]: line for line in card.splitlines() if line.startswith("| c")}
    for name, code in evaluation["accuracy"]["codes"].items():
        assert f"{code['accuracy']:.1%} accuracy" in rows[name]
    for row in factor_map(evaluation):
        assert f"factor '{row['factor']}'" in rows[row["column"].split("[")[0]]
    assert json.loads((folder / "metadata.json").read_text())["evaluation"] == evaluation


def test_an_evaluation_of_another_step_is_left_out(runner, run, tmp_path):
    other = tmp_path / "run"
    shutil.copytree(run, other)
    (other / "eval.json").write_text(json.dumps({"step": 1, "mig": {"mig": 0.5}}))
    result = runner.invoke(app, ["export", str(other), str(tmp_path / "model"), "--samples", "4"])
    assert result.exit_code == 0, result.stderr
    assert "is of step 1, the checkpoint of step 2" in " ".join(result.stderr.split())
    assert "## Evaluation" not in (tmp_path / "model" / "README.md").read_text()
    model = load_checkpoint(run)
    with pytest.raises(ToolkitError, match="evaluation is of step 1, the model of step 2"):
        model.save_pretrained(tmp_path / "python", evaluation={"step": 1})


def test_loading_a_folder_checks_plugins_like_a_checkpoint(exported, monkeypatch):
    backbone = json.loads((exported / "metadata.json").read_text())["metadata"]["plugins"]["backbone"]
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", backbone["plugin"])
    with pytest.raises(PluginError, match=f"checkpoint '{exported / 'model.safetensors'}' needs backbone 'mnist'"):
        infogan_toolkit.from_pretrained(exported)


def test_sample_and_traverse_read_an_exported_folder(runner, exported, run, tmp_path):
    result = runner.invoke(app, ["sample", str(exported), "--n", "4", "--out", str(tmp_path / "s.png"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["step"] == 2 and (tmp_path / "s.png").is_file()


def test_a_hub_id_without_the_hub_client_is_a_one_line_error(runner, run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as when it is not installed
    with pytest.raises(ToolkitError) as caught:
        infogan_toolkit.from_pretrained(HUB_ID)
    message = str(caught.value)
    assert "\n" not in message and f"'{HUB_ID}' is not a folder or file here" in message
    assert message.endswith("needs huggingface_hub: pip install 'infogan-toolkit[hub]'")
    assert "pip install 'infogan-toolkit[hub]'" in one_line_error(runner.invoke(app, ["sample", HUB_ID]))
    folder = tmp_path / "model"
    error = one_line_error(runner.invoke(app, ["export", str(run), str(folder), "--push", HUB_ID]))
    assert f"--push {HUB_ID} needs huggingface_hub" in error and not folder.exists()
    with pytest.raises(ToolkitError, match=r"pushing to 'someone/infogan-mnist' needs huggingface_hub"):
        load_checkpoint(run).push_to_hub(HUB_ID)


def test_a_hub_id_offline_is_a_one_line_error(tmp_path):
    pytest.importorskip("huggingface_hub")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = (
        "import infogan_toolkit\nfrom infogan_toolkit.errors import ToolkitError\n"
        f"try:\n    infogan_toolkit.from_pretrained({HUB_ID!r})\nexcept ToolkitError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"could not download '{HUB_ID}' on the Hugging Face Hub"), (
        proc.stdout
    )
    assert "HF_HUB_OFFLINE=1" in lines[0]


def test_a_hub_id_downloaded_before_loads_offline_from_the_cache(exported, run, tmp_path):
    """The Hub client's own cache layout (models--OWNER--NAME, refs/main, snapshots/COMMIT), filled
    with the export as a download leaves it: from_pretrained takes the folder the client returns."""
    pytest.importorskip("huggingface_hub")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / ("models--" + HUB_ID.replace("/", "--"))
    shutil.copytree(exported, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    code = (
        "import infogan_toolkit, torch\n"
        f"m = infogan_toolkit.from_pretrained({HUB_ID!r})\n"
        f"want = infogan_toolkit.load_checkpoint({str(run)!r}).sample(16, seed=0)[0]\n"
        "print(m.step, torch.equal(m.sample(16, seed=0)[0], want))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "True"]


def test_a_missing_path_that_is_no_hub_id_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        infogan_toolkit.from_pretrained(tmp_path / "nope" / "model.safetensors")
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        infogan_toolkit.from_pretrained(tmp_path)


def test_a_non_empty_folder_is_refused_unless_forced(runner, run, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "traversal-c9.png").write_bytes(b"old sheet")
    error = one_line_error(runner.invoke(app, ["export", str(run), str(folder)]))
    assert "is not empty" in error and "--force" in error
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "traversal-c9.png"]
    with pytest.raises(ToolkitError, match="is not empty"):
        load_checkpoint(run).save_pretrained(folder)
    result = runner.invoke(app, ["export", str(run), str(folder), "--force", "--samples", "4"])
    assert result.exit_code == 0, result.stderr
    assert (folder / "notes.txt").read_text() == "mine" and not (folder / "traversal-c9.png").exists()
    assert torch.equal(
        infogan_toolkit.from_pretrained(folder).sample(4, seed=1)[0], load_checkpoint(run).sample(4, seed=1)[0]
    )
    file = tmp_path / "a-file"
    file.write_text("x")
    assert "is a file" in one_line_error(runner.invoke(app, ["export", str(run), str(file), "--force"]))


def test_writing_follows_no_symbolic_link(runner, run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = {
        name: outside / f"victim-{name}" for name in ("README.md", "model.safetensors", "samples.png", "metadata.json")
    }
    folder = tmp_path / "model"
    folder.mkdir()
    for name, victim in victims.items():
        victim.write_text("keep me")
        (folder / name).symlink_to(victim)
    result = runner.invoke(app, ["export", str(run), str(folder), "--force", "--samples", "4"])
    assert result.exit_code == 0, result.stderr
    for name, victim in victims.items():
        assert victim.read_text() == "keep me" and not (folder / name).is_symlink() and (folder / name).is_file()
    assert infogan_toolkit.from_pretrained(folder).step == 2
    # The folder itself a link: refused even with --force, and nothing is written where it points.
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    assert "is a symbolic link" in one_line_error(runner.invoke(app, ["export", str(run), str(link), "--force"]))
    assert list(target.iterdir()) == []
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left
