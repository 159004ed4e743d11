"""research/reproduce_results.py end to end on a tiny real-format MNIST: one record per run,
the generated table, the figures, and sweeps kept apart by label."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from infogan_toolkit.checkpoint import list_steps, load_tensors, model_path
from infogan_toolkit.evaluate.report import EvalSizes

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "research" / "reproduce_results.py"
sys.path.insert(0, str(REPO / "research"))
import reproduce_results  # noqa: E402  (a benchmark script, not a package)


def reproduce(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env, cwd=REPO
    )


@pytest.mark.slow
def test_a_sweep_run_writes_its_record_table_and_figures(tiny_mnist, tmp_path):
    results, runs = tmp_path / "results", tmp_path / "runs"
    common = [
        "mnist",
        "--seeds",
        "3",
        "--steps",
        "2",
        "--data-root",
        str(tiny_mnist),
        "--runs",
        str(runs),
        "--results-dir",
        str(results),
        "--record-as",
        "sweep",
        "--device",
        "cpu",
    ]
    first = reproduce(*common, "--label", "uniform", "--set", "model.noise=uniform", "--set", "train.batch_size=8")
    assert first.returncode == 0, first.stderr[-2000:]
    # Four steps, with the step-2 checkpoint evaluated too (recorded as normal@2).
    second = reproduce(
        *common,
        "--label",
        "normal",
        "--no-figures",
        "--set",
        "model.noise=normal",
        "--set",
        "train.batch_size=8",
        "--steps",
        "4",
        "--set",
        "train.checkpoint_every=2",
        "--eval-at",
        "2",
        "--eval-size",
        "accuracy_samples=64",
        "--metrics",
        "mi",
    )
    assert second.returncode == 0, second.stderr[-2000:]

    records = [json.loads(line) for line in (results / "sweep.jsonl").read_text().splitlines()]
    assert [(r["label"], r["seed"], r["steps"]) for r in records] == [
        ("uniform", 3, 2),
        ("normal@2", 3, 2),
        ("normal", 3, 4),
    ]
    assert records[1]["eval"]["step"] == 2 and records[2]["eval"]["step"] == 4
    assert "step-0000002.safetensors" in records[1]["eval_command"]
    # --eval-size reaches both evaluations of the second run, and only those.
    assert all("--size accuracy_samples=64" in r["eval_command"] for r in records[1:])
    assert "--size" not in records[0]["eval_command"]
    # so does --metrics: the second run's evaluations score L_I alone
    assert all("--metrics mi " in r["eval_command"] and "accuracy" not in r["eval"] for r in records[1:])
    assert "--metrics mi,accuracy " in records[0]["eval_command"]
    assert "model.noise=uniform" in records[0]["train_command"]
    assert 0.0 <= records[0]["eval"]["accuracy"]["codes"]["c1"]["accuracy"] <= 1.0
    figures = results / records[0]["figures"]
    assert {p.name for p in figures.glob("*.png")} >= {
        "traverse-c1.png",
        "traverse-c2.png",
        "traverse-c3.png",
        "information.png",
    }
    assert records[2]["figures"] is None

    table = (results / "sweep.md").read_text()
    assert "| uniform | 3 | 2 |" in table and "| normal@2 | 3 | 2 |" in table and "| normal | 3 | 4 |" in table
    assert "Accuracy over 1 runs (uniform)" in table and "Accuracy over 1 runs (normal)" not in table


def test_the_table_names_the_evaluation_sizes_of_each_row():
    def report(*pairs: str) -> dict:
        """An eval report's recorded sizes after ``--size`` pairs, as infogan-tk eval writes them."""
        sizes = EvalSizes().replace({k: int(v) for k, v in (p.split("=") for p in pairs)})
        return {"sizes": {"mi_samples": 10000, **attrs.asdict(sizes)}}

    assert reproduce_results.eval_sizes(report()) == "reference"
    assert reproduce_results.eval_sizes(report(*reproduce_results.REDUCED_SIZES)) == "reduced"
    assert reproduce_results.eval_sizes(report("dci_trees=5")) == "dci_trees=5"


def test_table_only_without_records_is_one_line(tmp_path):
    result = reproduce("mnist", "--table-only", "--results-dir", str(tmp_path), "--record-as", "none")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: no results file {tmp_path / 'none.jsonl'}; run the experiment first (without --table-only)"
    ]


@pytest.mark.slow
def test_continue_from_equals_training_straight_through(tiny_mnist, tmp_path):
    results, runs = tmp_path / "results", tmp_path / "runs"
    common = [
        "mnist",
        "--seeds",
        "3",
        "--data-root",
        str(tiny_mnist),
        "--runs",
        str(runs),
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        "--no-figures",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.checkpoint_every=2",
    ]
    for label, extra in [
        ("straight", ["--steps", "4"]),
        ("short", ["--steps", "2"]),
        ("long", ["--steps", "4", "--continue-from", str(runs / "mnist-short-seed{seed}"), "--eval-at", "2"]),
    ]:
        result = reproduce(*common, "--label", label, *extra)
        assert result.returncode == 0, result.stderr[-2000:]

    records = {r["label"]: r for r in map(json.loads, (results / "mnist.jsonl").read_text().splitlines())}
    assert records["long"]["steps"] == 4 and records["long"]["continued_from"].endswith("mnist-short-seed3")
    assert "--resume" in records["long"]["train_command"] and records["straight"]["continued_from"] is None
    assert records["long@2"]["eval"]["step"] == 2
    straight = load_tensors(model_path(runs / "mnist-straight-seed3", 4))
    continued = load_tensors(model_path(runs / "mnist-long-seed3", 4))
    assert straight.keys() == continued.keys()
    assert all(straight[k].equal(continued[k]) for k in straight)
    # The source run is copied, not changed.
    assert list_steps(runs / "mnist-short-seed3") == [2]


def test_continue_from_a_folder_that_is_no_run_is_one_line(tmp_path):
    result = reproduce(
        "mnist",
        "--seeds",
        "0",
        "--runs",
        str(tmp_path / "runs"),
        "--results-dir",
        str(tmp_path),
        "--continue-from",
        str(tmp_path / "missing-seed{seed}"),
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: --continue-from: '{tmp_path / 'missing-seed0'}' is not a run directory (no config.toml)"
    ]


@pytest.mark.slow
def test_each_asked_for_generator_is_a_record_of_the_same_run(tiny_mnist, tmp_path):
    results, runs = tmp_path / "results", tmp_path / "runs"
    result = reproduce(
        "mnist",
        "--seeds",
        "3",
        "--steps",
        "2",
        "--data-root",
        str(tiny_mnist),
        "--runs",
        str(runs),
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        "--no-figures",
        "--label",
        "avg",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.ema=0.9",
        "--metrics",
        "mi",
        "--generators",
        "raw",
        "ema",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (results / "mnist.jsonl").read_text().splitlines()]
    assert [(r["label"], r["generator"], r["eval"]["generator"]) for r in records] == [
        ("avg[raw]", "raw", "raw"),
        ("avg[ema]", "ema", "ema"),
    ]
    assert records[0]["train_command"] == records[1]["train_command"]
    assert records[0]["eval_command"].endswith("--generator raw") and records[1]["eval_command"].endswith(
        "--generator ema"
    )
    # Two generators of one checkpoint: the averaged one after two steps at decay 0.9 differs from G.
    assert records[0]["eval"]["mi"] != records[1]["eval"]["mi"]
    table = (results / "mnist.md").read_text()
    assert "| avg[raw] | 3 | 2 |" in table and "| avg[ema] | 3 | 2 |" in table
