"""The CLI through typer's test runner: stdout and stderr checked apart, one-line errors, real runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from infogan_toolkit import __version__
from infogan_toolkit.cli.app import app


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"infogan-tk {__version__}"


def test_list_codes_shows_builtins_with_their_plugin(runner):
    result = runner.invoke(app, ["list", "codes", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    for kind in ("cat", "unif", "gauss"):
        assert rows[kind]["plugin"] == "codes" and rows[kind]["distribution"] == "infogan-toolkit"


def test_list_everything_as_table(runner):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    for word in ("codes", "heads", "backbones", "datasets", "configs", "softmax", "gaussian-fixed"):
        assert word in result.stdout


def test_plugins_json_is_pure_json(runner):
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["codes"]["status"] == "loaded"
    assert "register_code_kinds" in plugins["codes"]["hooks"]
    assert plugins["heads"]["distribution"] == "infogan-toolkit"


def test_disabled_plugin_disappears(runner, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", "heads")
    result = runner.invoke(app, ["plugins", "--json"])
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["heads"]["status"] == "disabled"
    result = runner.invoke(app, ["config", "show", "--backbone", "mnist"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: unknown Q head 'softmax': plugin 'heads' (infogan-toolkit) provides it but is disabled"
    )


def test_config_show_resolves_backbone_defaults(runner):
    result = runner.invoke(app, ["config", "show", "--backbone", "svhn", "--codes", "cat10x4,unif2", "--json"])
    assert result.exit_code == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert cfg["model"]["noise_dim"] == 124 and cfg["model"]["codes"] == "cat10x4,unif2"
    assert cfg["data"]["dataset"] == "svhn"


def test_config_show_by_name_and_set(runner):
    result = runner.invoke(app, ["config", "show", "--config", "mnist", "--set", "train.steps=12"])
    assert result.exit_code == 0
    assert "steps = 12" in result.stdout and 'backbone = "mnist"' in result.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["config", "show", "--backbone", "svnh"], "unknown backbone 'svnh'. Did you mean 'svhn'?"),
        (
            ["config", "show", "--backbone", "mnist", "--codes", "cat10,unf2"],
            "unknown code kind 'unf' in 'cat10,unf2' (token 2)",
        ),
        (["config", "show", "--set", "train.step=3"], "Did you mean 'steps'?"),
        (["config", "show", "--config", "nope.toml"], "config file 'nope.toml' does not exist"),
        (["train", "--backbone", "mnist", "--data-root", "/nonexistent/mnist", "--steps", "1"], "/nonexistent/mnist"),
        (["train", "--backbone", "mnist", "--device", "cuda:7", "--steps", "1"], "cuda"),
        (["inspect", "/nonexistent.safetensors"], "does not exist"),
    ],
)
def test_user_mistakes_are_one_line_errors(runner, args, fragment):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0]


def test_debug_variable_shows_the_traceback(runner, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_DEBUG", "1")
    result = runner.invoke(app, ["config", "show", "--backbone", "svnh"])
    assert result.exit_code != 0 and result.exception is not None


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = [
        "train",
        "--backbone",
        "glyphs",
        "--dataset",
        "glyphs",
        "--codes",
        "cat3,unif3",
        "--set",
        "model.noise_dim=0",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--quiet",
        "--json",
        "--no-eval",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.log_every=2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return out, result


def test_train_glyphs_prints_json(default_run):
    out, result = default_run
    summary = json.loads(result.stdout)
    assert summary["step"] == 4 and summary["checkpoint"].endswith("step-0000004.safetensors")
    assert "li_c1" in summary["metrics"]
    assert "training glyphs on glyphs" in result.stderr
    numerics = next(line for line in result.stderr.splitlines() if line.startswith("numerics on cpu"))
    assert "fp32" in numerics and "native bf16" in numerics
    # On a CPU the layout and Adam kernel are chosen for it, and the line says so.
    assert "channels_last layout; Adam fused; linear layers " in numerics and "chosen for cpu" in numerics
    assert (out / "config.toml").is_file() and (out / "metrics.jsonl").is_file()


def test_inspect_reads_metadata(default_run, runner):
    out, _ = default_run
    result = runner.invoke(app, ["inspect", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)["metadata"]
    assert meta["step"] == "4" and meta["codes"] == "cat3,unif3" and meta["config"]["model"]["backbone"] == "glyphs"
    human = runner.invoke(app, ["inspect", str(out)])
    assert "toolkit_version" in human.stdout


def test_resume_continues_to_more_steps(default_run, runner):
    out, _ = default_run
    result = runner.invoke(app, ["train", "--resume", str(out), "--steps", "6", "--quiet", "--json", "--no-eval"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["step"] == 6
    changed = runner.invoke(app, ["train", "--resume", str(out), "--codes", "cat10", "--steps", "8"])
    assert changed.exit_code == 2 and "keeps its model" in changed.stderr


def test_sample_and_traverse_write_pngs(default_run, runner, tmp_path):
    out, _ = default_run
    result = runner.invoke(app, ["sample", str(out), "--n", "9", "--out", str(tmp_path / "s.png"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "s.png").stat().st_size > 0
    result = runner.invoke(app, ["traverse", str(out), "--range", "-2", "2", "--out", str(tmp_path / "t"), "--json"])
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["traversals"]
    assert [f["code"] for f in files] == ["c1", "c2", "c3", "c4"]
    assert all((tmp_path / "t" / f"traverse-{f['code']}.png").is_file() for f in files)
    bad = runner.invoke(app, ["traverse", str(out), "--code", "c9"])
    assert bad.exit_code == 2 and "unknown code 'c9'" in bad.stderr


@pytest.mark.parametrize("codes, width", [("cat10x4,unif2", 42), ("cat10x4,unif4", 44)])
def test_train_svhn_with_the_papers_code_layouts(runner, tmp_path, codes, width):
    """`infogan-tk train --backbone svhn --codes cat10x4,unif2` on a small real-format .mat file."""
    import numpy as np
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    savemat(
        tmp_path / "train_32x32.mat",
        {
            "X": rng.integers(0, 256, (32, 32, 3, 40), dtype=np.uint8),
            "y": rng.integers(1, 11, (40, 1)).astype(np.uint8),
        },
    )
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--backbone",
            "svhn",
            "--codes",
            codes,
            "--data-root",
            str(tmp_path),
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--out",
            str(out),
            "--quiet",
            "--json",
            "--set",
            "train.figures=false",
        ],
    )
    assert result.exit_code == 0, result.stderr
    meta = json.loads(runner.invoke(app, ["inspect", str(out), "--json"]).stdout)["metadata"]
    assert meta["codes"] == codes
    detail = meta["codes_detail"]
    assert sum(10 if c["prior"] == "Cat(10)" else 1 for c in detail) == width


@pytest.mark.parametrize("bounds", [("nan", "2"), ("-inf", "2"), ("1", "1"), ("0", "1e9")])
def test_traverse_refuses_a_range_that_is_not_two_finite_numbers(runner, tmp_path, bounds):
    result = runner.invoke(
        app, ["traverse", str(tmp_path / "no-run"), "--range", *bounds, "--out", str(tmp_path / "t")]
    )
    assert result.exit_code == 2 and "--range takes two different finite numbers" in result.stderr, result.stderr
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["sample", "RUN", "--seed", "-1", "--out", "s.png"],
            "--seed must be a whole number in [0, 4,294,967,295], got -1",
        ),
        (
            ["traverse", "RUN", "--seed", "4294967296", "--out", "t"],
            "--seed must be a whole number in [0, 4,294,967,295]",
        ),
        (["export", "RUN", "EXP", "--seed", "-2"], "--seed must be a whole number in [0, 4,294,967,295], got -2"),
        (["export", "RUN", "EXP", "--samples", "100000000"], "--samples must be in [1, 10,000], got 100000000"),
    ],
)
def test_seeds_and_sizes_of_the_picture_commands_are_bounded(runner, tmp_path, args, message):
    args = [str(tmp_path / a) if a in ("RUN", "EXP", "s.png", "t") else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written
