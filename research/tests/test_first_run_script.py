"""research/first_run.py on a short real run: one record per seed with the bar's verdicts, the
picture check among them, and the table rewritten from every record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("time", path="/usr/bin") is None, reason="needs GNU time at /usr/bin/time")
def test_a_short_first_run_is_recorded_with_the_picture_check(tmp_path: Path):
    results = tmp_path / "first-run"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable,
        "research/first_run.py",
        "--seeds",
        "3",
        "--runs",
        str(tmp_path / "runs"),
        "--results",
        str(results),
        "--variant",
        "a short test",
        "--",
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--set",
        "train.checkpoint_every=6",
        "--set",
        "train.figures=false",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = [json.loads(line) for line in results.with_suffix(".jsonl").read_text().splitlines()]
    assert record["seed"] == 3 and record["variant"] == "a short test" and record["wall_s"] > 0
    picture = record["picture"]
    assert set(picture["codes"]) == {"c2", "c3", "c4"} and [b["category"] for b in picture["blank"]] == [0, 1, 2]
    # Six steps teach G nothing: whatever the verdicts, "passed" is every one of them together.
    verdicts = ("categorical_ok", "continuous_alone", "continuous_distinct", "time_ok", "picture_ok")
    assert record["passed"] == all(record[v] for v in verdicts) and record["picture_ok"] == picture["ok"]
    table = results.with_suffix(".md").read_text()
    assert "| picture | passed |" in table and "| a short test | cat3,unif3 | 3 |" in table

    # Judged again from the run still on disk: the same verdict; once the run is gone, left as it was.
    stale = {"codes": {}, "blank": [], "blank_ok": True, "ok": False, "stale": True}
    record["picture"] = stale
    results.with_suffix(".jsonl").write_text(json.dumps(record) + "\n")
    again = subprocess.run(
        [sys.executable, "research/first_run.py", "--seeds", "--recheck-picture", "--results", str(results)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (rechecked,) = [json.loads(line) for line in results.with_suffix(".jsonl").read_text().splitlines()]
    assert rechecked["picture"] == picture and rechecked["passed"] == record["passed"]
    shutil.rmtree(record["run_dir"])
    results.with_suffix(".jsonl").write_text(json.dumps(record) + "\n")
    subprocess.run(
        [sys.executable, "research/first_run.py", "--seeds", "--recheck-picture", "--results", str(results)],
        check=True,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert json.loads(results.with_suffix(".jsonl").read_text())["picture"] == stale
