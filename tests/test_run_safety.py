"""One process per run directory, SIGTERM like Ctrl-C, a full disk, leftover partial writes, and
settings changed on --resume: nothing silent, nothing lost."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from infogan_toolkit import checkpoint as checkpoint_module
from infogan_toolkit.checkpoint import list_steps, load_tensors, model_path, read_metadata
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.engine.run_folder import CheckpointWriteError
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.errors import ToolkitError
from infogan_toolkit.rundir import LOCK_FILE

CLI = [str(Path(sys.executable).parent / "infogan-tk")]  # the installed entry point, as a user runs it


def tiny(steps: int = 4, **optim) -> Config:
    return apply_dict(
        Config(),
        {
            "model": {"backbone": "tiny"},
            "data": {"dataset": "tiny-bars"},
            "optim": optim,
            "train": {
                "batch_size": 8,
                "steps": steps,
                "log_every": 2,
                "checkpoint_every": 2,
                "device": "cpu",
                "figures": False,
                "callbacks": [],
            },
        },
        "t",
    )


def hold_lock(run: Path) -> subprocess.Popen:
    """Another process that claims ``run`` and sleeps."""
    code = (
        f"from infogan_toolkit.rundir import acquire_lock; acquire_lock({str(run)!r}); "
        "print('held', flush=True); import time; time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_cannot_train_into_a_claimed_directory(host, tmp_path):
    run = tmp_path / "run"
    holder = hold_lock(run)
    try:
        with pytest.raises(
            ToolkitError, match=rf"run directory '{run}' is in use by process {holder.pid} .*train into another --out"
        ):
            Trainer(tiny(), run, host=host, progress=False)
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing written beside the lock
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: its lock is stale and the next run takes it over
    Trainer(tiny(), run, host=host, progress=False).run()
    assert list_steps(run) == [2, 4] and not (run / LOCK_FILE).exists()  # released at the end


def test_resume_while_another_process_holds_the_run_is_refused(host, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny(2), run, host=host, progress=False).run()
    holder = hold_lock(run)
    try:
        with pytest.raises(ToolkitError, match="is in use by process"):
            Trainer(tiny(4), run, host=host, resume=True, progress=False)
        assert list_steps(run) == [2]
    finally:
        holder.kill()
        holder.wait()


def test_leftover_partial_writes_are_removed_when_a_run_resumes(host, tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(tiny(2), run, host=host, progress=False).run()
    partial = run / "checkpoints" / ".step-0000004.safetensors.x1y2.tmp"
    partial.write_bytes(b"\0" * 1024)
    Trainer(tiny(4), run, host=host, resume=True, progress=False).run()
    assert not partial.exists() and list_steps(run) == [2, 4]


def test_a_full_disk_is_one_error_and_the_last_good_checkpoint_stays(host, tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_save = checkpoint_module.save_file
    calls = {"n": 0}

    def save_until_full(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] > 2:  # the weights and state of step 2 fit; step 4's weights do not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint_module, "save_file", save_until_full)
    with pytest.raises(
        CheckpointWriteError,
        match=r"could not write the checkpoint of step 4 .*No space left on device; "
        r"the last good checkpoint is step 2; free space .* --resume",
    ):
        Trainer(tiny(4), run, host=host, progress=False).run()
    assert list_steps(run) == [2] and not list((run / "checkpoints").glob(".*.tmp"))
    assert not (run / LOCK_FILE).exists()
    monkeypatch.setattr(checkpoint_module, "save_file", real_save)
    Trainer(tiny(4), run, host=host, resume=True, progress=False).run()
    assert list_steps(run) == [2, 4]


def test_a_learning_rate_changed_on_resume_takes_effect_and_is_recorded(host, tmp_path):
    run = tmp_path / "run"
    Trainer(tiny(2), run, host=host, progress=False).run()
    resumed = Trainer(tiny(4, lr_g=5e-4), run, host=host, resume=True, progress=False)
    assert [g["lr"] for g in resumed.objective.opt_g.param_groups] == [5e-4]
    assert [g["lr"] for g in resumed.objective.opt_d.param_groups] == [2e-4]  # unchanged stays
    resumed.run()
    saved = json.loads(read_metadata(model_path(run, 4))["config"])
    assert saved["optim"]["lr_g"] == 5e-4 and "lr_g = 0.0005" in (run / "config.toml").read_text()
    # and without a change, resume is exact as before
    Trainer(tiny(2), tmp_path / "a", host=host, progress=False).run()
    Trainer(tiny(4), tmp_path / "a", host=host, resume=True, progress=False).run()
    Trainer(tiny(4), tmp_path / "b", host=host, progress=False).run()
    a, b = load_tensors(model_path(tmp_path / "a", 4)), load_tensors(model_path(tmp_path / "b", 4))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigterm_checkpoints_exits_non_zero_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "--steps",
        "100000",
        "--batch-size",
        "8",
        "--out",
        str(run),
        "--quiet",
        "--no-eval",
        "--set",
        "train.log_every=5",
        "--set",
        "train.figures=false",
        "--set",
        "train.callbacks=[]",
    ]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted at step" in err and f"--resume {run}" in err and "Traceback" not in err
    step = list_steps(run)[-1]
    assert step >= 5 and not (run / LOCK_FILE).exists()
    again = subprocess.run(
        [*CLI, "train", "--resume", str(run), "--steps", str(step + 2), "--quiet", "--no-eval"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert list_steps(run)[-1] == step + 2


# -- careless and hostile code specs -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cat١٠", "cannot parse token"),  # Arabic-Indic digits are not read as numbers
        ("cat10x" + "9" * 5000, "the repeat count in 'cat10x9999"),  # thousands of digits: no int() overflow
        ("cat" + "9" * 5000, "out of range 1..4096"),
        ("cat4096x1000", "need more than 65,536 generator inputs"),  # refused before anything is allocated
    ],
)
def test_code_specs_that_would_crash_or_allocate_are_one_line_errors(host, spec, message):
    from infogan_toolkit.codes import CodeSpecError

    with pytest.raises(CodeSpecError, match=message) as info:
        from infogan_toolkit.assembly import resolve

        resolve(apply_dict(Config(), {"model": {"backbone": "tiny", "codes": spec}}, "t"), host)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_an_empty_code_spec_is_refused_not_replaced_by_the_default(host):
    from infogan_toolkit.assembly import resolve
    from infogan_toolkit.codes import CodeSpecError

    with pytest.raises(CodeSpecError, match="empty code spec"):
        resolve(apply_dict(Config(), {"model": {"backbone": "tiny", "codes": ""}}, "t"), host)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.beta1=5", r"optim.beta1 must be in \[0, 1\), got 5.0"),
        ("train.seed=123456789012345", r"train.seed must be in \[0, 4,294,967,295\]"),
        ("train.device=cpu:abc", "train.device must be auto, cpu, cuda, cuda:N or mps, got 'cpu:abc'"),
        ("train.batch_size=100000000000", r"train.batch_size must be in \[1, 1,048,576\]"),
    ],
)
def test_values_training_would_reject_are_refused_by_config_show_already(override, message):
    from typer.testing import CliRunner

    from infogan_toolkit.cli.app import app

    result = CliRunner().invoke(app, ["config", "show", "--set", override])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr


def test_resuming_with_fewer_total_steps_than_done_is_refused_and_keeps_the_config(host, tmp_path):
    run = tmp_path / "r"
    Trainer(tiny(4), run, host=host, progress=False).run()
    before = (run / "config.toml").read_text()
    with pytest.raises(
        ToolkitError,
        match=r"train.steps = 2 is the total number of steps, .* already at step 4; pass --steps N with N > 4",
    ):
        Trainer(tiny(2), run, host=host, resume=True, progress=False)
    assert (run / "config.toml").read_text() == before and list_steps(run)[-1] == 4
