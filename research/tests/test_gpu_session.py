"""research/gpu_session.sh without a GPU: its syntax, its phase list, and the settings it sweeps.

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

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "research" / "gpu_session.sh"
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


def run_of(phase: str, label: str, seed: str, tmp_path: Path) -> list[str]:
    """The captured command line of one setting and seed of a phase."""
    return next(
        w for w in phase_runs(phase, tmp_path) if option(w, "--label") == label and option(w, "--seeds") == seed
    )


def train_two_cpu_steps(words: list[str], out: Path, *extra: str) -> dict:
    """Train the run's config with its --set values (CUDA graph left out) for 2 steps; the resolved config."""
    config = words[2]
    sets = [
        arg
        for i, w in enumerate(words)
        if w == "--set" and not words[i + 1].startswith("train.cuda_graph")
        for arg in ("--set", words[i + 1])
    ]
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            config,
            "--steps",
            "2",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--quiet",
            *sets,
            "--set",
            "train.batch_size=8",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return tomllib.loads((out / "config.toml").read_text())


def test_shapes_sweep_runs_four_settings_on_three_seeds(tmp_path: Path) -> None:
    runs = phase_runs("shapes-sweep", tmp_path)
    assert sorted((option(w, "--label"), option(w, "--seeds")) for w in runs) == sorted(
        (label, seed)
        for label in ("wide-bn", "lean-lit-l1", "lean-lit-l0.3", "lean-lit-l1-invariance")
        for seed in "012"
    )
    # Evaluated at the sizes of the CPU sweep's rows, so the two sets of rows compare.
    assert all(option(w, "--eval-size") == "reduced" for w in runs)


def weight(loss: dict, name: str) -> float:
    """The weight of regulariser ``name`` in a saved config's loss section (0 when it is absent)."""
    return loss.get(name, {}).get("weight", 0.0)


@pytest.mark.parametrize("label", ["wide-bn", "lean-lit-l1-invariance"])
def test_shapes_sweep_settings_train_on_the_cpu(tmp_path: Path, label: str) -> None:
    words = run_of("shapes-sweep", label, "0", tmp_path)
    assert words[:3] == ["python3", "research/reproduce_results.py", "shapes"], words
    config = train_two_cpu_steps(words, tmp_path / "run", "--set", "train.log_every=1")
    model, loss = config["model"], config["loss"]
    if label == "lean-lit-l1-invariance":
        assert model["options"]["layout"] == "lean" and model["options"]["d_norm"] == "none"
        assert model["heads"] == {"unif": "gaussian-fixed"} and model["noise"] == "uniform"
        assert weight(loss, "invariance") == 1.0 and config["optim"]["lr_d"] == 2e-3
    else:
        assert model["options"]["layout"] == "wide" and model["options"]["d_norm"] == "batch"
        assert model["heads"] == {} and loss["lambda_continuous"] == 0.1 and weight(loss, "invariance") == 0.0
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_shapes_cr_runs_lins_recipe_without_and_with_the_regulariser(tmp_path: Path) -> None:
    runs = phase_runs("shapes-cr", tmp_path)
    lin = ("lean-sn-unif5-l0.05", "lean-sn-unif5-l0.05-cr2", "lean-sn-unif5-l0.05-cr2-late")
    assert sorted((option(w, "--label"), option(w, "--seeds")) for w in runs) == sorted(
        (label, seed) for label in (*lin, "lean-lit-l1-cr2-half") for seed in "012"
    )
    assert all(option(w, "--eval-size") == "reduced" for w in runs)
    # Lin et al.'s recipe has no discrete code to score
    assert all(option(w, "--metrics") == "mi,mig,sap,dci,factorvae" for w in runs if option(w, "--label") in lin)


@pytest.mark.parametrize("label", ["lean-sn-unif5-l0.05", "lean-sn-unif5-l0.05-cr2-late", "lean-lit-l1-cr2-half"])
def test_shapes_cr_settings_train_on_the_cpu(tmp_path: Path, label: str) -> None:
    words = run_of("shapes-cr", label, "0", tmp_path)
    config = train_two_cpu_steps(words, tmp_path / "run", "--set", "train.log_every=1")
    model, loss = config["model"], config["loss"]
    if label == "lean-lit-l1-cr2-half":
        assert (
            model["codes"] == "cat3,unif4" and model["options"]["d_norm"] == "none" and loss["lambda_continuous"] == 1.0
        )
        assert weight(loss, "contrastive") == 2.0 and loss["contrastive"]["start"] == 5000
    else:
        assert model["codes"] == "unif5" and model["options"]["d_norm"] == "spectral"
        assert loss["lambda_continuous"] == 0.05 and weight(loss, "invariance") == 0.0
    if label == "lean-sn-unif5-l0.05":
        assert weight(loss, "contrastive") == 0.0
    elif label == "lean-sn-unif5-l0.05-cr2-late":
        assert weight(loss, "contrastive") == 2.0 and loss["contrastive"]["start"] == 7500
    if weight(loss, "contrastive"):
        logged = (tmp_path / "run" / "metrics.jsonl").read_text()
        assert "contrastive_accuracy" in logged


SWEEP_ROBUST = ("shear-20-batch-64", "invariance-batch-64", "real-information-batch-64")


def test_sweep_robust_runs_three_mnist_settings_on_seeds_3_to_7(tmp_path: Path) -> None:
    runs = phase_runs("sweep-robust", tmp_path)
    assert all(w[:3] == ["python3", "research/reproduce_results.py", "mnist"] for w in runs)
    assert sorted((option(w, "--label"), option(w, "--seeds")) for w in runs) == sorted(
        (label, seed) for label in SWEEP_ROBUST for seed in "34567"
    )


@pytest.mark.parametrize("label", SWEEP_ROBUST)
def test_sweep_robust_settings_train_on_the_cpu(tmp_path: Path, tiny_mnist: Path, label: str) -> None:
    words = run_of("sweep-robust", label, "3", tmp_path)
    config = train_two_cpu_steps(words, tmp_path / "run", "--data-root", str(tiny_mnist))
    loss = config["loss"]
    assert (
        weight(loss, "invariance") == 1.0
        and config["model"]["noise"] == "uniform"
        and config["train"]["d_batch"] == "separate"
    )
    assert weight(loss, "real_information") == (1.0 if label == "real-information-batch-64" else 0.0)
    assert loss["invariance"]["shear"] == (20.0 if label == "shear-20-batch-64" else 0.0)
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    batch = [s for s in sets if s.startswith("train.batch_size=")][-1]  # the last --set wins
    assert batch == "train.batch_size=64"
