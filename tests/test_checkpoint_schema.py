"""Careless and hostile checkpoints: metadata and tensors are checked against the schema before
anything is used, so an edited file is one line naming the problem, never a traceback, a silent
cast, weights loaded into the wrong code, or markup and escapes reaching the terminal."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_engine import tiny_config
from typer.testing import CliRunner

from infogan_toolkit import load_checkpoint
from infogan_toolkit.checkpoint import model_path, read_metadata, state_path
from infogan_toolkit.cli.app import app
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import CheckpointError, ToolkitError


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-step tiny run, trained once for the module (each test works on a copy)."""
    from conftest import TinyPlugin

    from infogan_toolkit.plugins import PluginHost

    host = PluginHost()
    host.register(TinyPlugin(), "tiny-test-plugin")
    run = tmp_path_factory.mktemp("trained") / "run"
    Trainer(tiny_config(steps=3, checkpoint_every=3), run, host=host, progress=False).run()
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def rewrite(path: Path, meta: dict | None = None, tensors: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    """Rewrite a checkpoint file in place with metadata keys and tensors replaced (``None`` drops a key)."""
    old_meta, old_tensors = read_metadata(path), load_file(str(path))
    new_meta = {k: v for k, v in {**old_meta, **(meta or {})}.items() if v is not None and k not in drop}
    save_file({**old_tensors, **(tensors or {})}, str(path), metadata=new_meta)
    return path


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def with_config(path: Path, **model) -> str:
    config = json.loads(read_metadata(path)["config"])
    config["model"].update(model)
    return json.dumps(config)


# -- inspect: hostile text is printed plain --------------------------------------------------------
def test_inspect_prints_markup_and_escapes_in_metadata_as_plain_text(run):
    hostile = "unit [/oops] [link=http://evil.example]click[/link] \x1b[2J\x1b]8;;http://evil.example\x07"
    rewrite(model_path(run, 3), {"output_range": hostile})
    result = CliRunner().invoke(app, ["inspect", str(model_path(run, 3))], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "[/oops]" in result.stdout and "[link=http://evil.example]click[/link]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2J" in result.stdout and "\\x07" in result.stdout


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"config": None}, "metadata key 'config' is missing"),
        ({"config": "{not json"}, "metadata 'config' is not valid JSON"),
        ({"config": "[1, 2]"}, "metadata 'config' is not a JSON object of tables"),
        ({"plugins": "[]"}, "metadata 'plugins' is not a JSON object"),
        (
            {
                "plugins": json.dumps(
                    {
                        "backbone": {
                            "name": "tiny",
                            "plugin": "x",
                            "distribution": "evil --index-url http://evil.example",
                            "version": None,
                        }
                    }
                )
            },
            "names distribution 'evil --index-url http://evil.example', which is not a valid distribution name",
        ),
        ({"plugins": "{}"}, "metadata 'plugins' does not record where backbone 'tiny' comes from"),
        ({"codes_detail": "[]"}, "metadata 'codes_detail' describes no code"),
        ({"step": "abc"}, "metadata 'step' is 'abc', not a step"),
        ({"step": "\u0663"}, "metadata 'step' is '\u0663', not a step"),  # an Arabic-Indic 3 is not read as a number
        ({"step": "4"}, "the file is named for step 3 but its metadata says step 4"),
        ({"comment": "hi"}, "metadata has unknown key 'comment'"),
        ({"codes": "unif1,cat4"}, "the code spec 'unif1,cat4' differs from the config's model.codes 'cat4,unif1'"),
        ({"image_shape": "[1, 8]"}, "metadata 'image_shape' is [1, 8], not [channels, height, width]"),
    ],
)
def test_hostile_metadata_is_a_one_line_error_for_inspect_and_load(run, host, meta, message):
    path = rewrite(model_path(run, 3), meta)
    before = digest(run)
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr, (
        result.stderr
    )
    assert "pip install" not in result.stderr
    with pytest.raises(CheckpointError, match="^checkpoint .*"):
        load_checkpoint(path, host=host)
    assert digest(run) == before


def test_a_stray_file_named_like_a_checkpoint_is_named(run, host):
    (run / "checkpoints" / "step-abc.safetensors").write_bytes(b"")
    result = CliRunner().invoke(app, ["inspect", str(run)])
    assert result.exit_code == 2 and "step-abc.safetensors' is not named as a checkpoint" in result.stderr, (
        result.stderr
    )
    with pytest.raises(ToolkitError, match="is not named as a checkpoint"):
        Trainer(tiny_config(steps=6, checkpoint_every=3), run, host=host, progress=False, resume=True)


# -- tensors: exact names, shapes, dtypes, finite ---------------------------------------------------
def test_weights_of_another_dtype_are_refused_not_cast(run, host):
    path = model_path(run, 3)
    key = next(k for k in load_file(str(path)) if k.startswith("generator.") and k.endswith("weight"))
    rewrite(path, tensors={key: load_file(str(path))[key].double()})
    with pytest.raises(
        CheckpointError, match=rf"tensor '{key}' is F64 \[.*\] where the networks its config builds need F32"
    ):
        load_checkpoint(path, host=host)


def test_unknown_tensors_and_nan_weights_are_refused(run, host):
    path = model_path(run, 3)
    rewrite(path, tensors={"generator.backdoor": torch.zeros(3)})
    with pytest.raises(
        CheckpointError, match="it holds tensor 'generator.backdoor', which the networks its config builds do not have"
    ):
        load_checkpoint(path, host=host)
    tensors = load_file(str(path))
    del tensors["generator.backdoor"]
    key = next(k for k in tensors if k.startswith("generator.") and k.endswith("weight"))
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, str(path), metadata=read_metadata(path))
    with pytest.raises(CheckpointError, match=f"tensor '{key}' holds NaN or infinite values"):
        load_checkpoint(path, host=host)


def test_a_reordered_code_spec_does_not_load_into_the_wrong_codes(run, host):
    # cat4,unif1 -> unif1,cat4 builds networks of the same shapes: only the recorded layout tells them apart
    path = rewrite(
        model_path(run, 3), {"codes": "unif1,cat4", "config": with_config(model_path(run, 3), codes="unif1,cat4")}
    )
    with pytest.raises(
        CheckpointError, match="its config builds code 1 as 'unif1' with head .* but the file recorded 'cat4'"
    ):
        load_checkpoint(path, host=host)


# -- resume: a tampered state file or a planted link changes nothing --------------------------------
@pytest.mark.parametrize("tamper", ["dtype", "lr", "unknown", "rng"])
def test_a_tampered_state_file_is_refused_on_resume_and_nothing_changes(run, host, tamper):
    path = state_path(run, 3)
    tensors, meta = load_file(str(path)), read_metadata(path)
    if tamper == "dtype":
        key = next(k for k in tensors if k.endswith(".exp_avg"))
        tensors[key], message = tensors[key].half(), rf"tensor '{key}' is F16"
    elif tamper == "lr":
        groups = json.loads(meta["optim.g.param_groups"])
        groups[0]["lr"] = "fast"
        meta["optim.g.param_groups"], message = json.dumps(groups), "'lr' is \"fast\", not a value of its type"
    elif tamper == "unknown":
        tensors["optim.g.0.evil"], message = (
            tensors["optim.g.0.exp_avg"].clone(),
            "parameter 0: field 'evil' is unknown",
        )
    else:
        key = next(k for k in tensors if k.startswith("rng."))
        tensors[key], message = (
            tensors[key][:10],
            re.escape(f"random-generator state '{key}' is U8 [10], the run's generator needs U8 ["),
        )
    save_file(tensors, str(path), metadata=meta)
    before = digest(run)
    with pytest.raises(CheckpointError, match=message):
        Trainer(tiny_config(steps=6, checkpoint_every=3), run, host=host, progress=False, resume=True).run()
    assert digest(run) == before


@pytest.mark.parametrize("resume", [False, True])
def test_a_symbolic_link_planted_at_config_toml_is_not_followed(run, host, tmp_path, resume):
    victim = tmp_path / "victim.toml"
    victim.write_text("precious = true\n")
    target = run if resume else tmp_path / "fresh"
    target.mkdir(exist_ok=True)
    (target / "config.toml").unlink(missing_ok=True)
    (target / "config.toml").symlink_to(victim)
    with pytest.raises(
        ToolkitError, match=r"has a symbolic link at .*config.toml, where the toolkit writes a file of its own"
    ):
        Trainer(tiny_config(steps=6, checkpoint_every=3), target, host=host, progress=False, resume=resume).run()
    assert victim.read_text() == "precious = true\n"
    assert (target / "config.toml").is_symlink() and not (target / ".lock").exists()
