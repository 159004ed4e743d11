"""benchmarks/gpu_session.sh without a GPU: its syntax, its phase list, and the settings it sweeps.

A lent GPU's minutes are few, so a typo in a sweep setting must show up here, not there: settings
of the shapes and MNIST sweeps are trained for two real steps on the CPU through the real CLI.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_session.sh"
TEXT = SCRIPT.read_text()


def test_script_parses() -> None:
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_documented_phase_is_implemented_and_vice_versa() -> None:
    header = TEXT.split("set -u")[0]
    documented = set(re.findall(r"^#   ([a-z-]+)\s", header, flags=re.M))
    implemented = set(re.findall(r"^    ([a-z-]+)\)$", TEXT, flags=re.M))
    assert documented == implemented
    assert {"sanity", "sweep-robust", "shapes-sweep", "pack"} <= implemented


def phase_runs(phase: str, tmp_path: Path) -> list[list[str]]:
    """The reproduce_results.py command lines a phase would start, captured without starting them.

    The script is sourced (which runs nothing), ``timeout`` -- the first word of every run -- is
    replaced by a function that records its arguments, ``tar`` (the logs archive) by a no-op, and
    the phase is run. Its empty run logs still land in /tmp/sweep-logs, as on the GPU machine.
    """
    capture = tmp_path / "calls.txt"
    shell = (
        f'source "{SCRIPT}"; OUTDIR="{tmp_path}"; MNIST=/nonexistent; '
        f'timeout() {{ shift; local IFS=$\'\\x1f\'; echo "$*" >>"{capture}"; }}; tar() {{ :; }}; run_phase {phase}'
    )
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return [line.split("\x1f") for line in capture.read_text().splitlines()]


def option(words: list[str], flag: str) -> str:
    """The word after ``flag`` in a captured command line."""
    return words[words.index(flag) + 1]


def shapes_settings(tmp_path: Path) -> dict[str, list[str]]:
    """Label -> the --set values of seed 0's run of that setting in the shapes-sweep phase."""
    settings = {}
    for words in phase_runs("shapes-sweep", tmp_path):
        assert words[:3] == ["python3", "benchmarks/reproduce_results.py", "shapes"], words
        if option(words, "--seeds") == "0":
            settings[option(words, "--label")] = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    return settings


def test_shapes_sweep_runs_four_settings_on_three_seeds(tmp_path: Path) -> None:
    runs = phase_runs("shapes-sweep", tmp_path)
    assert sorted((option(w, "--label"), option(w, "--seeds")) for w in runs) == sorted(
        (label, seed) for label in ("wide-bn", "lean-lit-l1", "lean-lit-l0.3", "lean-lit-l1-invariance") for seed in "012"
    )


@pytest.mark.parametrize("label", ["wide-bn", "lean-lit-l1-invariance"])
def test_shapes_sweep_settings_train_on_the_cpu(tmp_path: Path, label: str) -> None:
    sets = [s for s in shapes_settings(tmp_path)[label] if not s.startswith("train.cuda_graph")]
    args = [arg for s in sets for arg in ("--set", s)]
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--config", "shapes", "--steps", "2", "--device", "cpu", "--out", str(out),
                                      "--quiet", *args, "--set", "train.batch_size=8", "--set", "train.log_every=1"])
    assert result.exit_code == 0, result.output
    config = tomllib.loads((out / "config.toml").read_text())
    model, loss = config["model"], config["loss"]
    if label == "lean-lit-l1-invariance":
        assert model["options"]["layout"] == "lean" and model["options"]["d_norm"] == "none"
        assert model["heads"] == {"unif": "gaussian-fixed"} and model["noise"] == "uniform"
        assert loss["invariance"] == 1.0 and config["optim"]["lr_d"] == 2e-3
    else:
        assert model["options"]["layout"] == "wide" and model["options"]["d_norm"] == "batch"
        assert model["heads"] == {} and loss["lambda_continuous"] == 0.1 and loss["invariance"] == 0.0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_sweep_robust_runs_three_mnist_settings_on_seeds_3_to_7(tmp_path: Path) -> None:
    runs = phase_runs("sweep-robust", tmp_path)
    assert all(w[:3] == ["python3", "benchmarks/reproduce_results.py", "mnist"] for w in runs)
    assert sorted((option(w, "--label"), option(w, "--seeds")) for w in runs) == sorted(
        (label, seed) for label in ("invariance-batch-64", "invariance-2", "invariance-lambda-disc-2") for seed in "34567"
    )


def test_sweep_robust_setting_trains_on_the_cpu(tmp_path: Path, tiny_mnist: Path) -> None:
    words = next(w for w in phase_runs("sweep-robust", tmp_path) if option(w, "--label") == "invariance-lambda-disc-2")
    args = [arg for i, w in enumerate(words) if w == "--set" and not words[i + 1].startswith("train.cuda_graph")
            for arg in ("--set", words[i + 1])]
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--config", "mnist", "--data-root", str(tiny_mnist), "--steps", "2",
                                      "--device", "cpu", "--out", str(out), "--quiet", *args, "--set", "train.batch_size=8"])
    assert result.exit_code == 0, result.output
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["loss"]["invariance"] == 1.0 and config["loss"]["lambda_discrete"] == 2.0
    assert config["model"]["noise"] == "uniform" and config["train"]["d_batch"] == "separate"
