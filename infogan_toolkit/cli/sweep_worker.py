"""One sweep run in its own process: ``python -m infogan_toolkit.cli.sweep_worker JOB.json``.

Trains (or, when the run directory holds a checkpoint, resumes) and then evaluates with the sweep's
metrics and sizes, through the same commands a user types, in one process so that the start-up
(torch, the plugins) is paid once per run. Exit status 0 only when both finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..rundir import list_steps


def train_args(job: dict[str, Any]) -> list[str]:
    """The ``infogan-tk train`` arguments of a job: a fresh run, or ``--resume`` where a checkpoint exists."""
    run_dir = Path(job["run_dir"])
    if (run_dir / "checkpoints").is_dir() and list_steps(run_dir):
        # A resumed run keeps its saved config; --device only picks where it continues.
        return [
            "train",
            "--resume",
            str(run_dir),
            "--no-eval",
            "--quiet",
            *(["--device", job["device"]] if job.get("device") else []),
        ]
    args = ["train", "--out", str(run_dir), "--no-eval", "--quiet", "--seed", str(job["seed"])]
    if job.get("config"):
        args += ["--config", job["config"]]
    if job.get("device"):
        args += ["--device", job["device"]]
    for override in job.get("sets", []):
        args += ["--set", override]
    return args


def eval_args(job: dict[str, Any]) -> list[str]:
    """The ``infogan-tk eval`` arguments of a job (writes ``RUN/eval.json``)."""
    ev = job.get("eval", {})
    args = ["eval", str(job["run_dir"]), "--seed", str(ev.get("seed", 0)), "--samples", str(ev.get("samples", 10000))]
    if ev.get("metrics"):
        args += ["--metrics", ",".join(ev["metrics"])]
    for key, value in sorted(ev.get("sizes", {}).items()):
        args += ["--size", f"{key}={value}"]
    if job.get("device"):
        args += ["--device", job["device"]]
    return args


def main(argv: list[str]) -> int:
    """Run the job file's train and eval; the exit status of the first that fails, else 0."""
    from .app import app

    if len(argv) != 1:
        sys.stderr.write("error: usage: python -m infogan_toolkit.cli.sweep_worker JOB.json\n")
        return 2
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    for args in (train_args(job), eval_args(job)):
        sys.stderr.write(f"# infogan-tk {' '.join(args)}\n")
        sys.stderr.flush()
        code = app(args=args, prog_name="infogan-tk", standalone_mode=False)
        if code not in (None, 0):
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
