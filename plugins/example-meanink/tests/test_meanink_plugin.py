"""The example regulariser as an installed distribution: found by its entry point, trained through the CLI."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from infogan_toolkit.api import PluginHost
from infogan_toolkit.testing import (
    check_callback,
    check_metric,
    check_regulariser,
    invoke_cli,
)

DIST = "infogan-tk-meanink"
try:
    metadata.distribution(DIST)
except metadata.PackageNotFoundError:
    pytest.skip(
        f"{DIST} is not installed; run: pip install --no-deps -e plugins/example-meanink", allow_module_level=True
    )


def test_the_entry_point_registers_a_regulariser_a_metric_and_a_callback():
    regs = PluginHost().registries
    for registry, name in ((regs.regularisers, "mean_ink"), (regs.metrics, "mean_ink"), (regs.callbacks, "ink_log")):
        entry = registry.entry(name)
        assert (entry.plugin, entry.distribution) == ("meanink", DIST)


def test_each_plugin_passes_the_conformance_kit():
    from infogan_tk_meanink import MeanInk, MeanInkMetric, make_ink_log

    terms = check_regulariser(MeanInk(), "mean_ink")  # a small real run of the kit's backbone
    assert set(terms.stats) == {"mean_ink", "ink_tracker"}
    assert check_metric(MeanInkMetric(), "mean_ink")["samples"] == 64
    assert check_callback(make_ink_log, regularisers={"mean_ink": {}}).path.name == "mean-ink.txt"


def test_a_cli_run_trains_with_the_term_and_logs_its_stats(tmp_path):
    run = tmp_path / "run"
    result = invoke_cli(
        "train",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--out",
        str(run),
        "--no-eval",
        "--quiet",
        "--set",
        "loss.mean_ink.weight=2",
        "--set",
        "loss.mean_ink.target=0.3",
        "--set",
        "train.log_every=2",
        "--set",
        "train.figures=false",
    )
    assert result.exit_code == 0, result.output
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [2, 4] and all(0.0 <= r["mean_ink"] <= 1.0 for r in logs)
    # the callback wrote one line per checkpoint (the last step), with the interval's brightness
    step, ink = (run / "mean-ink.txt").read_text().split()
    assert step == "4" and float(ink) == pytest.approx(logs[-1]["mean_ink"])
    # the metric runs in eval with the built-ins
    evaluated = invoke_cli("eval", str(run), "--metrics", "mi,mean_ink", "--samples", "32", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert 0.0 <= report["mean_ink"]["generated"] <= 1.0 and 0.0 < report["mean_ink"]["data"] < 1.0
    bad = invoke_cli("train", "--steps", "1", "--out", str(tmp_path / "bad"), "--set", "loss.mean_ink.targt=0.3")
    assert bad.exit_code == 2 and "Did you mean 'target'" in bad.stderr


def test_a_run_with_the_term_samples_without_the_plugin_and_resumes_only_with_it(tmp_path, monkeypatch):
    run = tmp_path / "run"
    trained = invoke_cli(
        "train",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--out",
        str(run),
        "--no-eval",
        "--quiet",
        "--set",
        "loss.mean_ink.weight=1",
        "--set",
        "train.figures=false",
        "--set",
        "train.callbacks=[]",
    )
    assert trained.exit_code == 0, trained.output
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", "meanink")
    # generating needs the networks and codes only: the term's plugin matters to training it further
    sampled = invoke_cli("sample", str(run), "--n", "4", "--out", str(tmp_path / "s.png"))
    assert sampled.exit_code == 0, sampled.output
    resumed = invoke_cli("train", "--resume", str(run), "--steps", "4", "--quiet", "--no-eval")
    assert resumed.exit_code == 2 and "mean_ink" in resumed.stderr and "Traceback" not in resumed.output
