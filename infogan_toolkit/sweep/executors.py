"""The executor interface (``register_sweep_executors``): what runs a sweep's runs, and the one way a
run is carried out wherever it runs (a child process of :mod:`infogan_toolkit.cli.sweep_worker`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from ..files import make_dirs, open_for_write


@attrs.frozen
class RunJob:
    """One run of a sweep, as an executor receives it: where it lives and how to carry it out."""

    #: The run's id in the manifest (``s00-seed0``).
    run_id: str
    #: The run directory (a normal ``infogan-tk train`` directory).
    run_dir: Path
    #: The job file :mod:`infogan_toolkit.cli.sweep_worker` reads (the train and eval arguments).
    job_file: Path
    #: Where the run's output (stdout and stderr of its process) goes.
    log_file: Path

    def command(self) -> list[str]:
        """The command line that carries the run out: this Python running the sweep worker."""
        return [sys.executable, "-m", "infogan_toolkit.cli.sweep_worker", str(self.job_file)]


@attrs.frozen
class RunOutcome:
    """How a run ended: its exit status, a one-line error when it failed, and its wall time."""

    #: The worker's exit status (0: trained and evaluated).
    returncode: int
    #: One line saying why it failed (the run's last ``error:`` line), or None.
    error: str | None
    #: Wall-clock seconds the run took.
    seconds: float


@attrs.frozen
class ExecutorSetup:
    """What the ``sweep`` command passes on to an executor."""

    #: How many runs at once (``--parallel``; the local executor's processes, Ray's CPUs when it starts one).
    parallel: int = 1
    #: Where the cluster is (``--address``), for executors that dispatch elsewhere; None for the local machine.
    address: str | None = None
    #: GPUs each run asks for (``--gpus-per-run``, fractions allowed) where the executor schedules GPUs.
    gpus_per_run: float = 0.0


class SweepExecutor(ABC):
    """A registered sweep executor: runs every job and reports each as it ends."""

    #: One line for ``infogan-tk list executors``.
    description: str = ""

    @abstractmethod
    def execute(self, jobs: Sequence[RunJob], setup: ExecutorSetup, done: Callable[[RunJob, RunOutcome], None]) -> None:
        """Run ``jobs`` (each with :func:`run_job`, or its command, wherever the executor runs it) and
        call ``done(job, outcome)`` in this process as each ends; return when all have ended. A
        missing optional package is a :class:`infogan_toolkit.errors.ToolkitError` naming the extra."""


def last_error(log_file: Path, limit: int = 300) -> str | None:
    """The last ``error:`` line of a run's log (the toolkit's one-line errors), else its last line."""
    try:
        lines = [
            line.strip()
            for line in Path(log_file).read_text(encoding="utf-8", errors="replace").splitlines()
            if line.strip()
        ]
    except OSError:
        return None
    errors = [line for line in lines if line.startswith("error:")]
    pick = errors[-1] if errors else (lines[-1] if lines else None)
    return None if pick is None else pick[:limit]


def run_job(job: RunJob, env: dict[str, str] | None = None) -> RunOutcome:
    """Carry one run out in a child process, its output appended to the run's log; never raises for
    a failed run (the outcome says it failed and why)."""
    started = time.perf_counter()
    make_dirs(job.log_file.parent)
    with open_for_write(job.log_file, append=True) as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(job.command())}\n")
        log.flush()
        try:
            code = subprocess.call(
                job.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            return RunOutcome(127, f"could not start the run: {exc}", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    return RunOutcome(code, None if code == 0 else (last_error(job.log_file) or f"exit status {code}"), seconds)
