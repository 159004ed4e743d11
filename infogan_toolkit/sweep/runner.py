"""The sweep directory, its manifest, and running what is not finished yet.

Layout::

    SWEEP/manifest.json                 the spec and every run: setting, seed, directory, status, error
    SWEEP/runs/SLUG/seed-N/             a normal run directory (config.toml, checkpoints, eval.json)
    SWEEP/runs/SLUG/seed-N/sweep.log    the run's output; SWEEP/runs/SLUG/seed-N/job.json its job

A run's status is ``pending``, ``queued`` (handed to the executor), ``done`` or ``failed``; only
``done`` is skipped when the sweep runs again: a run that was queued when the sweep died continues from its latest
checkpoint (the worker passes ``--resume``), a failed one is tried again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ToolkitError
from ..files import write_file
from .executors import ExecutorSetup, RunJob, RunOutcome, SweepExecutor
from .spec import SweepSpec, setting_sets

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "infogan-tk-sweep/1"


def manifest_path(sweep_dir: Path) -> Path:
    """The sweep's manifest."""
    return Path(sweep_dir) / MANIFEST


def read_manifest(sweep_dir: Path) -> dict[str, Any]:
    """The manifest as a dict; a missing or broken one is a one-line error."""
    path = manifest_path(sweep_dir)
    if not path.is_file():
        raise ToolkitError(f"'{sweep_dir}' has no {MANIFEST}; is it a sweep directory (made by `infogan-tk sweep`)?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"cannot read {path}: {exc}; restore it or start the sweep in a new directory") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ToolkitError(f"{path} is not a sweep manifest ({MANIFEST_FORMAT}); start the sweep in a new directory")
    return data


def plan(spec: SweepSpec, sweep_dir: Path) -> list[dict[str, Any]]:
    """Every run of ``spec`` as a manifest entry (status ``pending``), settings outer, seeds inner."""
    runs = []
    for setting in spec.settings():
        for seed in spec.seeds:
            run_dir = Path(sweep_dir) / "runs" / setting.slug / f"seed-{seed}"
            runs.append(
                {
                    "id": f"s{setting.index:02d}-seed{seed}",
                    "setting": setting.index,
                    "label": setting.label,
                    "overrides": {k: v for k, v in setting.overrides},
                    "seed": seed,
                    "dir": str(run_dir.relative_to(sweep_dir)),
                    "sets": setting_sets(spec, setting),
                    "status": "pending",
                    "error": None,
                    "seconds": None,
                    "attempts": 0,
                }
            )
    return runs


class Sweep:
    """A sweep directory: its manifest in memory, written atomically after every change."""

    def __init__(self, sweep_dir: Path, spec: SweepSpec, write: bool = True) -> None:
        self.dir = Path(sweep_dir)
        self.spec = spec
        self._lock = threading.Lock()
        fresh = plan(spec, self.dir)
        if manifest_path(self.dir).is_file():
            old = read_manifest(self.dir)
            if old.get("fingerprint") != spec.fingerprint():
                raise ConfigError(
                    f"'{sweep_dir}' holds another sweep (its config, grid, overrides or evaluation differ); "
                    "run it with its own spec (or only --out), or start this one with another --out"
                )
            known = {r["id"]: r for r in old.get("runs", [])}
            # A rerun keeps what each run did; added seeds come in as new pending runs.
            self.runs = [known.get(r["id"], r) for r in fresh]
            self.created = old.get("created")
        else:
            self.runs = fresh
            self.created = time.strftime("%Y-%m-%dT%H:%M:%S")
        if write:  # a dry run only reads
            self.write()

    def write(self) -> None:
        """Write the manifest; :func:`~infogan_toolkit.files.write_file` writes a temporary file and
        renames it, so a kill never leaves half of one."""
        data = {
            "format": MANIFEST_FORMAT,
            "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "fingerprint": self.spec.fingerprint(),
            "spec": self.spec.to_dict(),
            "runs": self.runs,
        }
        write_file(manifest_path(self.dir), json.dumps(data, indent=2, default=str) + "\n")  # whole or not at all

    def todo(self) -> list[dict[str, Any]]:
        """The runs not yet done."""
        return [r for r in self.runs if r["status"] != "done"]

    def job(self, run: dict[str, Any]) -> RunJob:
        """Write the run's job file and return its job."""
        run_dir = self.dir / run["dir"]
        job_file = run_dir / "job.json"  # write_file makes the folder
        body = {
            "run_dir": str(run_dir.resolve()),
            "seed": run["seed"],
            "config": self.spec.config,
            "sets": run["sets"],
            "device": self.spec.device,
            "eval": {
                "metrics": list(self.spec.eval.metrics),
                "samples": self.spec.eval.samples,
                "sizes": dict(self.spec.eval.sizes),
                "seed": self.spec.eval.seed,
            },
        }
        write_file(job_file, json.dumps(body, indent=2) + "\n")
        return RunJob(run["id"], run_dir.resolve(), job_file.resolve(), (run_dir / "sweep.log").resolve())

    def mark(self, run_id: str, **changes: Any) -> None:
        """Change one run's entry and write the manifest."""
        with self._lock:
            for run in self.runs:
                if run["id"] == run_id:
                    run.update(changes)
            self.write()

    def execute(self, executor: SweepExecutor, setup: ExecutorSetup, say: Callable[[str], None]) -> dict[str, int]:
        """Run every run not done with ``executor``; a failed run is recorded and the others go on.
        Returns counts by status."""
        todo = self.todo()
        skipped = len(self.runs) - len(todo)
        if skipped:
            say(f"{skipped} of {len(self.runs)} runs already done; skipping them")
        jobs = []
        for run in todo:
            jobs.append(self.job(run))
            self.mark(run["id"], status="queued", error=None, attempts=run.get("attempts", 0) + 1)

        def done(job: RunJob, outcome: RunOutcome) -> None:
            """Record how ``job`` ended in the manifest and say it."""
            status = "done" if outcome.returncode == 0 else "failed"
            self.mark(
                job.run_id,
                status=status,
                error=outcome.error,
                seconds=round(outcome.seconds, 2),
                returncode=outcome.returncode,
            )
            tail = "" if status == "done" else f": {outcome.error} (log {job.log_file})"
            say(f"{job.run_id} {status} in {outcome.seconds:.1f} s{tail}")

        if jobs:
            executor.execute(jobs, setup, done)
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run["status"]] = counts.get(run["status"], 0) + 1
        return counts
