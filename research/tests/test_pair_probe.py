"""research/pair_probe.py on a real (tiny) trained shapes run: it learns pairs from a frozen G."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from infogan_toolkit.checkpoint import load_tensors, model_path
from infogan_toolkit.cli.app import app

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "research" / "pair_probe.py"


def probe(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240, env=env, cwd=REPO
    )


def test_probe_trains_a_fresh_classifier_on_a_frozen_generator(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "shapes",
            "--steps",
            "2",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--quiet",
            "--set",
            'model.options={width=4,layout="lean",d_norm="spectral"}',
            "--set",
            "train.batch_size=8",
        ],
    )
    assert result.exit_code == 0, result.output
    before = load_tensors(model_path(run, 2))
    proc = probe(str(run), "--steps", "4", "--batch", "8", "--log-every", "2", "--held-out", "40")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["step"] for line in lines[:-1]] == [2, 4]
    final = lines[-1]
    assert final["checkpoint_step"] == 2 and final["held_out_pairs"] == 40 and final["chance"] == 0.2
    assert set(final["recall_per_code"]) == {"c1", "c2", "c3", "c4", "c5"}
    assert 0.0 <= final["held_out_accuracy"] <= 1.0
    after = load_tensors(model_path(run, 2))  # the run is only read
    assert all((before[k] == after[k]).all() for k in before)


def test_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    proc = probe(str(tmp_path / "nothing"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: checkpoint '{tmp_path / 'nothing'}' does not exist; give a .safetensors file or a run directory"
    ]
