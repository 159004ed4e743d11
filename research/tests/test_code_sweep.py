"""research/code_sweep.py: the ink geometry on drawn images, and the script on a real trained run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "research"))
from code_sweep import ink_geometry, picture_check  # noqa: E402


def test_the_centre_of_mass_follows_the_ink_and_the_ink_counts_it():
    images = torch.zeros(3, 1, 32, 32)
    images[0, 0, 4:8, 20:24] = 1.0  # a 4x4 block, centre (21.5, 5.5)
    images[1, 0, 10, 3] = 0.5
    images[2, 0, 10:12, 10:12] = 1.0  # a 2x2 block: every pixel 0.5 px from the centre in x and y
    x, y, spread, ink = ink_geometry(images)
    assert x.tolist() == [21.5, 3.0, 10.5] and y.tolist() == [5.5, 10.0, 10.5] and ink.tolist() == [16.0, 0.5, 4.0]
    assert spread[1].item() == 0.0 and spread[2].item() == pytest.approx(math.sqrt(0.5))
    assert spread[0].item() == pytest.approx(math.sqrt(2 * 1.25))  # a 4x4 block: offsets 0.5 and 1.5 px along each axis


def sweep_rows(changes: dict[str, list[float]], measure: str, cross: float = 0.0) -> list[dict]:
    other = {"dx": "dy", "dy": "dx"}.get(measure)
    return [
        {"category": k, "code": code, measure: values[k], **({other: cross} if other else {})}
        for k in range(3)
        for code, values in changes.items()
    ]


def test_the_picture_check_wants_each_code_to_move_its_factor_alike_in_every_category_and_nothing_empty():
    blanks = [{"category": k, "blank_share": 0.0} for k in range(3)]
    alike = sweep_rows({"c2": [9.0, 8.0, 10.0]}, "dx")
    assert picture_check(alike, blanks, {"c2": "pos_x"})["ok"]
    # One glyph moves the other way, or hardly at all: the code means something else for it.
    assert not picture_check(sweep_rows({"c2": [9.0, -8.0, 10.0]}, "dx"), blanks, {"c2": "pos_x"})["ok"]
    assert not picture_check(sweep_rows({"c2": [9.0, 1.0, 10.0]}, "dx"), blanks, {"c2": "pos_x"})["ok"]
    # A diagonal: the code moves y half as far as x in every category.
    diagonal = picture_check(sweep_rows({"c2": [9.0, 8.0, 10.0]}, "dx", cross=4.5), blanks, {"c2": "pos_x"})["codes"][
        "c2"
    ]
    assert (diagonal["alike"], diagonal["visible"], diagonal["straight"], diagonal["ok"]) == (True, True, False, False)
    assert picture_check(sweep_rows({"c2": [9.0, 9.5, 10.0]}, "dx", cross=4.0), blanks, {"c2": "pos_x"})["ok"]
    sizes = picture_check(sweep_rows({"c4": [1.2, -0.9, 1.0]}, "dspread"), blanks, {"c4": "size"})
    assert not sizes["ok"] and sizes["codes"]["c4"] == {
        "factor": "size",
        "measured": True,
        "changes": [1.2, -0.9, 1.0],
        "alike": False,
        "visible": True,
        "straight": True,
        "ok": False,
    }
    # A factor with no measure here is listed, not judged.
    assert picture_check(alike, blanks, {"c2": "glyph"})["codes"]["c2"] == {
        "factor": "glyph",
        "measured": False,
        "ok": True,
    }
    emptied = [dict(b, blank_share=0.25 if b["category"] == 2 else 0.0) for b in blanks]
    check = picture_check(alike, emptied, {"c2": "pos_x"})
    assert not check["ok"] and not check["blank_ok"] and check["codes"]["c2"]["ok"]


def test_the_script_sweeps_every_continuous_code_in_every_category_of_a_trained_run(tmp_path: Path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "glyphs",
            "--steps",
            "2",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--quiet",
            "--set",
            "train.batch_size=8",
            "--set",
            "train.figures=false",
        ],
    )
    assert result.exit_code == 0, result.output
    proc = subprocess.run(
        [sys.executable, "research/code_sweep.py", str(run), "--steps", "3", "--samples", "4", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows, blanks = report["sweep"], report["blank"]
    # The glyphs config: Cat(3) and three Unif(-1,1) codes.
    assert [(r["category"], r["code"]) for r in rows] == [(k, c) for k in range(3) for c in ("c2", "c3", "c4")]
    for r in rows:
        assert r["values"] == [-1.0, 0.0, 1.0] and all(
            math.isfinite(v) for v in r["x"] + r["y"] + r["spread"] + r["ink"]
        )
        assert r["dx"] == r["x"][-1] - r["x"][0] and r["dink"] == r["ink"][-1] - r["ink"][0]
        assert r["dspread"] == r["spread"][-1] - r["spread"][0]
    assert [b["category"] for b in blanks] == [0, 1, 2] and all(0 <= b["blank_share"] <= 1 for b in blanks)
    # Nothing drawn is empty under a threshold of 0; every fake is empty under one above the frame's area.
    for threshold, share in (("0", 0.0), ("1025", 1.0)):
        again = subprocess.run(
            [
                sys.executable,
                "research/code_sweep.py",
                str(run),
                "--steps",
                "2",
                "--samples",
                "4",
                "--blank-ink",
                threshold,
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert again.returncode == 0, again.stderr
        assert all(b["blank_share"] == share for b in json.loads(again.stdout)["blank"])
