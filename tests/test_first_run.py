"""A short run through the real CLI on the built-in glyphs backbone and data set (factors known, nothing
to download): the summary a run ends with, its evaluation against the factors and its labelled figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from infogan_toolkit.evaluate.factor_map import factor_map

CLI = Path(sys.executable).with_name("infogan-tk")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_the_glyphs_run_ends_with_a_summary_and_labelled_figures(tmp_path):
    run = tmp_path / "run"
    done = _cli(
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
        "40",
        "--batch-size",
        "16",
        "--out",
        str(run),
        "--set",
        "train.checkpoint_every=20",
        "--set",
        "train.log_every=20",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stderr
    assert "done: step 40 of 40" in out
    assert f"run directory  {run}" in out and "step-0000040.safetensors" in out
    assert "traversal-0000040.png" in out and "samples-0000040.png" in out and "information.png" in out
    # L_I for every code of the config, then the evaluation against the factors.
    for line in ("c1 Cat(3)", "c2 Unif(-1,1)", "c3 Unif(-1,1)", "c4 Unif(-1,1)"):
        assert line in out, out
    assert "categorical codes against the labels of 'glyphs'" in out
    assert "what each code holds" in out and "MIG" in out
    assert f"infogan-tk traverse {run}" in out and f"infogan-tk train --resume {run} --steps 80" in out

    evaluation = json.loads((run / "eval.json").read_text())
    assert set(evaluation) >= {"mi", "accuracy", "mig", "representation"}
    assert evaluation["dataset"]["factor_names"] == ["glyph", "size", "pos_x", "pos_y"]
    rows = factor_map(evaluation)
    assert [r["column"] for r in rows] == ["c1", "c2", "c3", "c4"]
    for row in rows:  # the summary's figures are the report's
        assert f"{row['column']:<10} {row['factor']} {row['information']:.3f}" in out

    sheet = Image.open(run / "figures" / "traversal-0000040.png")
    assert sheet.info["Title"] == "run, step 40"
    captions = sheet.info["Description"].splitlines()
    assert [c.split(" ")[0] for c in captions] == ["c1", "c2", "c3", "c4"]
    assert captions[0].startswith("c1 Cat(3): category 0 to 2") and captions[1].startswith(
        "c2 Unif(-1,1): value -2.00 to +2.00"
    )

    traversals = tmp_path / "traversals"
    shown = _cli("traverse", str(run), "--code", "c2", "--range", "-1", "1", "--out", str(traversals), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    single = Image.open(traversals / "traverse-c2.png")
    assert single.info["Title"] == "run, step 40"
    assert single.info["Description"].startswith("c2 Unif(-1,1): value -1.00 to +1.00")


def test_factor_map_names_each_columns_top_factor():
    evaluation = {
        "dataset": {"factor_names": ["glyph", "size", "pos_x"]},
        "representation": {"columns": ["c1", "c2"]},
        "mig": {"mutual_information": [[1.2, 0.1, 0.05], [0.1, 0.3, 0.2]]},
    }
    first, second = factor_map(evaluation)
    assert (first["factor"], first["runner_up"], first["holds_alone"]) == ("glyph", "size", True)
    assert first["ratio"] == pytest.approx(12.0)
    assert (second["factor"], second["runner_up"], second["holds_alone"]) == ("size", "pos_x", False)
    assert factor_map({"mi": {}}) == []
