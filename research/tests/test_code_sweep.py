"""research/code_sweep.py: the ink geometry on drawn images, and the script on a real trained run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import torch
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "research"))
from code_sweep import ink_geometry  # noqa: E402


def test_the_centre_of_mass_follows_the_ink_and_the_ink_counts_it():
    images = torch.zeros(2, 1, 32, 32)
    images[0, 0, 4:8, 20:24] = 1.0  # a 4x4 block, centre (21.5, 5.5)
    images[1, 0, 10, 3] = 0.5
    x, y, ink = ink_geometry(images)
    assert x.tolist() == [21.5, 3.0] and y.tolist() == [5.5, 10.0] and ink.tolist() == [16.0, 0.5]


def test_the_script_sweeps_every_continuous_code_in_every_category_of_a_trained_run(tmp_path: Path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--steps", "2", "--device", "cpu", "--out", str(run), "--quiet",
                                      "--set", "train.batch_size=8", "--set", "train.figures=false"])
    assert result.exit_code == 0, result.output
    proc = subprocess.run([sys.executable, "research/code_sweep.py", str(run), "--steps", "3", "--samples", "4", "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows, blanks = report["sweep"], report["blank"]
    # The default config: Cat(3) and three Unif(-1,1) codes.
    assert [(r["category"], r["code"]) for r in rows] == [(k, c) for k in range(3) for c in ("c2", "c3", "c4")]
    for r in rows:
        assert r["values"] == [-1.0, 0.0, 1.0] and all(math.isfinite(v) for v in r["x"] + r["y"] + r["ink"])
        assert r["dx"] == r["x"][-1] - r["x"][0] and r["dink"] == r["ink"][-1] - r["ink"][0]
    assert [b["category"] for b in blanks] == [0, 1, 2] and all(0 <= b["blank_share"] <= 1 for b in blanks)
    # Nothing drawn is empty under a threshold of 0; every fake is empty under one above the frame's area.
    for threshold, share in (("0", 0.0), ("1025", 1.0)):
        again = subprocess.run([sys.executable, "research/code_sweep.py", str(run), "--steps", "2", "--samples", "4",
                                "--blank-ink", threshold, "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert again.returncode == 0, again.stderr
        assert all(b["blank_share"] == share for b in json.loads(again.stdout)["blank"])
