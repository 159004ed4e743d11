"""Built-in sweep executors: ``local`` (processes on this machine) and ``ray`` (Ray tasks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from infogan_toolkit.api import (
    ExecutorSetup,
    RunJob,
    RunOutcome,
    SweepExecutor,
    ToolkitError,
    hookimpl,
    run_job,
)


class LocalExecutor(SweepExecutor):
    """Runs on this machine, one run after another, or ``--parallel N`` processes at once (several
    small runs sharing one GPU)."""

    description = "this machine: one run after another, or --parallel N processes at once (several runs on one GPU)"

    def execute(self, jobs: Sequence[RunJob], setup: ExecutorSetup, done: Callable[[RunJob, RunOutcome], None]) -> None:
        """Run the jobs as child processes, at most ``setup.parallel`` at a time."""
        if setup.address:
            raise ToolkitError(
                "the local executor takes no --address; leave it out, or use --executor ray --address ..."
            )
        if setup.parallel <= 1:
            for job in jobs:
                done(job, run_job(job))
            return
        with ThreadPoolExecutor(max_workers=setup.parallel) as pool:
            futures = {pool.submit(run_job, job): job for job in jobs}
            for future in as_completed(futures):
                done(futures[future], future.result())


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ToolkitError(
            "the ray executor needs Ray, which is not installed; install it with: pip install 'infogan-toolkit[ray]'"
        ) from None
    return ray


def _ray_run(job: RunJob) -> RunOutcome:
    """A Ray task: the run in a child process of the Ray worker (the same worker module as locally)."""
    return run_job(job)


class RayExecutor(SweepExecutor):
    """Dispatches each run as a Ray task to a cluster (``--address``; ``local`` starts one here)."""

    description = (
        "Ray tasks on a cluster (--address HOST:PORT, auto, or local to start one here); needs the [ray] extra"
    )

    def execute(self, jobs: Sequence[RunJob], setup: ExecutorSetup, done: Callable[[RunJob, RunOutcome], None]) -> None:
        """Submit every job as a task; report each as it ends. The run directories must be on a
        file system every node sees (the sweep directory is where they write)."""
        ray = _ray()
        address = setup.address or "local"
        started_here = not ray.is_initialized()
        if started_here:
            try:
                if address == "local":
                    ray.init(
                        address="local", num_cpus=max(1, setup.parallel), include_dashboard=False, log_to_driver=False
                    )
                else:
                    ray.init(address=address, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ToolkitError(
                    f"cannot reach a Ray cluster at '{address}': {' '.join(str(exc).split())[:200]}; "
                    "check --address (HOST:PORT, auto, or local)"
                ) from None
        try:
            task = ray.remote(num_cpus=1, num_gpus=setup.gpus_per_run or 0)(_ray_run)
            pending = {task.remote(job): job for job in jobs}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except (
                        ray.exceptions.RayError
                    ) as exc:  # a lost node, worker or task: this run failed, the others go on
                        outcome = RunOutcome(1, f"Ray task failed: {' '.join(str(exc).split())[:200]}", 0.0)
                    done(job, outcome)
        finally:
            if started_here:
                ray.shutdown()


@hookimpl
def register_sweep_executors(register: Callable[[str, SweepExecutor], None]) -> None:
    """The built-in executors."""
    register("local", LocalExecutor())
    register("ray", RayExecutor())
