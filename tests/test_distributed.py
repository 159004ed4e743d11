"""A 2-process gloo job on the CPU through torchrun: ranks end with identical weights, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_two_rank_gloo_job_keeps_ranks_identical(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(HERE / "distributed_worker.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    assert any(k.startswith("contrastive.") for k in r0)  # the pair classifier stays in step as well
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]  # one writer, no duplicate lines
    state = load_file(str(run / "checkpoints" / "step-0000003.state.safetensors"))
    assert "rng.data.rank0" in state and "rng.data.rank1" in state
    assert not torch.equal(state["rng.data.rank0"], state["rng.data.rank1"])  # per-rank streams
