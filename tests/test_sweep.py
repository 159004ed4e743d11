"""`infogan-tk sweep`: the spec, real tiny sweeps (a 2 x 2 grid that survives a kill and resumes,
the report over seeds, a Ray executor on a local Ray), and the unsupervised selection on
constructed representations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app
from infogan_toolkit.errors import ConfigError
from infogan_toolkit.plugins import PluginHost
from infogan_toolkit.sweep.report import bootstrap_interval
from infogan_toolkit.sweep.selection import (
    abs_rank_correlation,
    relative_strength,
    spearman,
    udr_scores,
)
from infogan_toolkit.sweep.spec import SweepSpec, parse_grid_flag, parse_seeds

CLI = [str(Path(sys.executable).parent / "infogan-tk")]  # the installed entry point, as a user runs it
# A few steps of the built-in shapes config, evaluated on a few hundred images: seconds per run.
TINY = [
    "--config",
    "shapes",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.log_every=5",
    "--set",
    "train.figures=false",
    "--device",
    "cpu",
    "--samples",
    "100",
    "--size",
    "accuracy_samples=100",
    "--size",
    "factor_samples=100",
    "--size",
    "factor_test_samples=20",
    "--size",
    "batch=50",
]


# -- the spec ----------------------------------------------------------------------------------------
def test_seeds_grid_and_settings_parse_and_bad_input_is_one_line():
    assert (
        parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("0..2,7") == [0, 1, 2, 7] and parse_seeds([2, 1]) == [1, 2]
    )
    assert parse_grid_flag("loss.lambda_continuous=0.1,1") == ("loss.lambda_continuous", [0.1, 1])
    spec = SweepSpec.from_dict(
        {"config": "shapes", "seeds": "0-1", "grid": {"train.batch_size": [8, 16], "optim.lr_g": [1e-3, 2e-3]}}, "t"
    )
    assert len(spec.settings()) == 4 and spec.settings()[3].label == "train.batch_size=16 optim.lr_g=0.002"
    assert (
        spec.fingerprint()
        == SweepSpec.from_dict({"config": "shapes", "seeds": [5], "grid": dict(spec.grid)}, "t").fingerprint()
    )
    for bad, match in (
        ({"seed": 1}, "(?i)did you mean 'seeds'"),
        ({"grid": {"steps": [1]}}, "section.key"),
        ({"seeds": "3-1"}, "backwards"),
    ):
        with pytest.raises(ConfigError, match=match):
            SweepSpec.from_dict(bad, "t")
    result = CliRunner().invoke(app, ["sweep", "--config", "shapes", "--grid", "train.batch_sise=8,16", "--dry-run"])
    assert result.exit_code == 2 and "Did you mean 'batch_size'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["sweep", "--config", "shapes", "--executor", "rey", "--dry-run"])
    assert result.exit_code == 2 and "did you mean 'ray'" in result.output.lower()


def test_dry_run_lists_the_runs_and_writes_nothing(tmp_path):
    out = tmp_path / "sw"
    result = CliRunner().invoke(
        app, ["sweep", *TINY, "--grid", "train.steps=2,3", "--seeds", "0-2", "--out", str(out), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["id"] for r in runs] == ["s00-seed0", "s00-seed1", "s00-seed2", "s01-seed0", "s01-seed1", "s01-seed2"]
    assert all(r["status"] == "pending" for r in runs) and not out.exists()


def test_executors_are_registered_plugins():
    executors = PluginHost().registries.executors
    assert {"local", "ray"} <= set(executors.names())
    assert executors.entry("local").plugin == "sweep"


# -- the selection on constructed representations ----------------------------------------------------
def test_udr_ranks_copies_together_and_a_random_model_last():
    rng = np.random.default_rng(0)
    factors = rng.uniform(-1, 1, size=(600, 4))

    def copy(
        seed: int,
    ) -> np.ndarray:  # the same code, permuted, sign-flipped, slightly noisy: what seeds of a disentangled setting give
        r = np.random.default_rng(seed)
        return factors[:, r.permutation(4)] * r.choice([-1, 1], size=4) + 0.05 * r.normal(size=factors.shape)

    reps = [copy(1), copy(2), copy(3), rng.normal(size=factors.shape)]
    scores = udr_scores(reps)
    assert scores[3] == min(scores) and scores[3] < 0.5
    assert min(scores[:3]) > 0.8 and max(scores[:3]) - min(scores[:3]) < 0.02  # the copies rank together, at the top
    # The pair score of Duan et al. (disentanglement_lib's relative_strength_disentanglement): a
    # one-to-one match scores 1, correlation spread evenly over d dimensions 1/d.
    assert relative_strength(np.eye(4)) == 1.0 and relative_strength(np.ones((4, 4))) == pytest.approx(0.25)
    # On a finite sample, independent factors correlate by chance (|rho| ~ 1/sqrt(n)), so even a model
    # paired with itself scores below 1: exactly the mean of 1 / (each column's sum).
    own = abs_rank_correlation(factors, factors)
    assert np.allclose(own, np.abs(stats.spearmanr(factors, factors).statistic[:4, 4:]))  # the same as scipy's Spearman
    assert np.allclose(np.diag(own), 1.0)
    assert relative_strength(own) == pytest.approx(np.mean(1 / own.sum(axis=0))) and 0.8 < relative_strength(own) < 1.0
    mixed = factors @ np.ones((4, 4))  # every column the same mixture: no one-to-one match
    assert relative_strength(abs_rank_correlation(factors, mixed)) < 0.5
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0) and spearman([1, 1, 1], [1, 2, 3]) is None


def test_bootstrap_interval_holds_the_median():
    values = [0.1, 0.2, 0.25, 0.3, 0.9]
    low, high = bootstrap_interval(values)
    assert low <= np.median(values) <= high and low >= min(values) and high <= max(values)
    assert bootstrap_interval([0.4]) == (0.4, 0.4)


# -- real sweeps ---------------------------------------------------------------------------------------
def _manifest(out: Path) -> dict:
    try:
        return json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def test_a_2x2_sweep_survives_a_kill_resumes_and_reports(tmp_path):
    out = tmp_path / "sw"
    args = [
        "sweep",
        *TINY,
        "--set",
        "train.steps=40",
        "--set",
        "train.checkpoint_every=5",
        "--grid",
        "optim.lr_g=0.001,0.002",
        "--seeds",
        "0,1",
        "--out",
        str(out),
    ]
    # Its own session, so that the kill takes the sweep and the run it is carrying out, as a crash would.
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    target = None
    deadline = time.monotonic() + 120
    try:
        # Killed once a run beyond the first has a checkpoint: one run finished, one half way.
        while target is None and time.monotonic() < deadline and proc.poll() is None:
            runs = _manifest(out).get("runs", [])
            for run in runs[1:]:
                if run["status"] == "queued" and list(
                    (out / run["dir"] / "checkpoints").glob("step-*.state.safetensors")
                ):
                    target = run
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert target is not None and proc.returncode == -signal.SIGKILL, proc.stderr.read()
    before = {r["id"]: r for r in _manifest(out)["runs"]}
    finished = [i for i, r in before.items() if r["status"] == "done"]
    assert finished and before[target["id"]]["status"] == "queued"

    again = subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    runs = _manifest(out)["runs"]
    assert [r["status"] for r in runs] == ["done"] * 4
    assert all(r["attempts"] == 1 for r in runs if r["id"] in finished)  # the finished runs were skipped
    assert f"{len(finished)} of 4 runs already done" in again.stderr
    assert (
        "train --resume" in (out / target["dir"] / "sweep.log").read_text()
    )  # the killed run continued from its checkpoint
    assert all((out / r["dir"] / "eval.json").is_file() for r in runs)

    report = subprocess.run(
        [*CLI, "sweep", "report", str(out), "--select-images", "64", "--device", "cpu", "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert [s["evaluated"] for s in data["settings"]] == [2, 2]
    mig = data["settings"][0]["metrics"]["mig"]
    assert mig["n"] == 2 and mig["min"] <= mig["ci_low"] <= mig["median"] <= mig["ci_high"] <= mig["max"]
    assert data["settings"][0]["selection"]["chosen"] in {"s00-seed0", "s00-seed1"}
    assert {"report.json", "report.md", "report.png"} <= {p.name for p in (out / "report").iterdir()}
    assert "| s01 optim.lr_g=0.002 | mig | 2 |" in (out / "report" / "report.md").read_text()


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "sw"
    # A data set no plugin provides passes the config's checks but fails in its run.
    result = subprocess.run(
        [*CLI, "sweep", *TINY, "--set", "train.steps=2", "--grid", "data.dataset=nosuch,shapes", "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    runs = _manifest(out)["runs"]
    assert [r["status"] for r in runs] == ["failed", "done"], result.stderr
    assert "nosuch" in runs[0]["error"] and runs[0]["error"].startswith("error:")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 runs failed")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_ray_executor_runs_a_sweep_on_a_local_ray(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "sw"
    result = subprocess.run(
        [
            *CLI,
            "sweep",
            *TINY,
            "--set",
            "train.steps=2",
            "--seeds",
            "0,1",
            "--executor",
            "ray",
            "--address",
            "local",
            "--parallel",
            "1",
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    runs = _manifest(out)["runs"]
    assert [r["status"] for r in runs] == ["done", "done"] and all(
        (out / r["dir"] / "eval.json").is_file() for r in runs
    )
