"""The run directory: where every file of a run lives, and what a checkpoint's metadata holds.

One place knows the layout, so the trainer, the CLI, the figures and the evaluation agree on it::

    RUN/config.toml                              the resolved configuration (what --resume reads)
    RUN/metrics.jsonl                            one JSON object per log interval
    RUN/eval.json                                the end-of-run or `infogan-tk eval` evaluation
    RUN/figures/information.png                  L_I per code against H(c), over the steps
    RUN/figures/traversal-NNNNNNN.png            the traversal sheet of each checkpoint
    RUN/figures/samples-NNNNNNN.png              a grid of samples of each checkpoint (the same noise every time)
    RUN/checkpoints/step-NNNNNNN.safetensors     weights and metadata (:func:`checkpoint_metadata`)
    RUN/checkpoints/step-NNNNNNN.state.safetensors   optimiser and random-generator state
    RUN/.lock                                    the process training in it (pid, host), while it runs

and an exported model's folder (``infogan-tk export``, ``TrainedModel.save_pretrained``)::

    DIR/model.safetensors                        the weights file of one checkpoint (G and D/Q only)
    DIR/metadata.json                            its metadata as JSON, with what the export wrote
    DIR/README.md                                the model card
    DIR/samples.png                              a grid of samples
    DIR/traversal-CODE.png                       one traversal sheet per code
    DIR/report.html                              what `infogan-tk explore` shows, as one self-contained page

Nothing is written through a symbolic link placed in a run directory: :func:`check_run_dir` refuses
one at any of these names before a run starts, and every write opens its file with ``O_NOFOLLOW``
(:mod:`infogan_toolkit.files`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import time
from pathlib import Path
from typing import Any

from .errors import CheckpointError, ToolkitError
from .files import OutputError, make_missing_dirs, read_bytes, remove_made_dirs, write_problem

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
FIGURES_DIR = "figures"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = ".lock"
EXPORT_MODEL_FILE = "model.safetensors"
EXPORT_METADATA_FILE = "metadata.json"
EXPORT_CARD_FILE = "README.md"
EXPORT_SAMPLES_FILE = "samples.png"
EXPORT_REPORT_FILE = "report.html"
MODEL_FORMAT = "infogan-tk-model/1"
STATE_FORMAT = "infogan-tk-state/1"


def config_path(run_dir: Path) -> Path:
    """The run's resolved configuration."""
    return Path(run_dir) / CONFIG_FILE


def metrics_path(run_dir: Path) -> Path:
    """The run's metrics log."""
    return Path(run_dir) / METRICS_FILE


def eval_path(run_dir: Path) -> Path:
    """The run's evaluation."""
    return Path(run_dir) / EVAL_FILE


def figures_dir(run_dir: Path) -> Path:
    """Where the run's figures go."""
    return Path(run_dir) / FIGURES_DIR


def information_figure(run_dir: Path) -> Path:
    """The L_I curve."""
    return figures_dir(run_dir) / "information.png"


def traversal_figure(run_dir: Path, step: int) -> Path:
    """The traversal sheet of one checkpoint."""
    return figures_dir(run_dir) / f"traversal-{step:07d}.png"


def samples_figure(run_dir: Path, step: int) -> Path:
    """The sample grid of one checkpoint."""
    return figures_dir(run_dir) / f"samples-{step:07d}.png"


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run keeps its checkpoints."""
    return Path(run_dir) / CHECKPOINTS_DIR


def model_path(run_dir: Path, step: int) -> Path:
    """Weights file for a step."""
    return checkpoint_dir(run_dir) / f"step-{step:07d}.safetensors"


def state_path(run_dir: Path, step: int) -> Path:
    """Trainer-state file for a step."""
    return checkpoint_dir(run_dir) / f"step-{step:07d}.state.safetensors"


def exported_model(folder: Path) -> Path:
    """The weights file of an exported model's folder."""
    return Path(folder) / EXPORT_MODEL_FILE


def exported_traversal(folder: Path, code: str) -> Path:
    """An exported model's traversal sheet of one code."""
    return Path(folder) / f"traversal-{code}.png"


_STEP_FILE = re.compile(r"^step-([0-9]{7,13})(\.state)?\.safetensors$", re.ASCII)


def list_steps(run_dir: Path) -> list[int]:
    """Steps with a complete checkpoint (both files), ascending. A file named ``step-*.safetensors``
    that is not a checkpoint name (``step-abc.safetensors``) is a one-line error, not skipped."""
    steps = []
    for p in checkpoint_dir(run_dir).glob("step-*.safetensors"):
        m = _STEP_FILE.match(p.name)
        if m is None or (state_path if m[2] else model_path)(run_dir, int(m[1])).name != p.name:
            raise CheckpointError(
                f"'{p}' is not named as a checkpoint (step-NNNNNNN.safetensors with its .state.safetensors); "
                f"move it out of {checkpoint_dir(run_dir)}"
            )
        if m[2]:
            continue
        step = int(m[1])
        if state_path(run_dir, step).is_file():
            steps.append(step)
    return sorted(steps)


#: The names in a run directory that the toolkit writes (a symbolic link at any of them is refused).
WRITTEN = (CONFIG_FILE, METRICS_FILE, EVAL_FILE, FIGURES_DIR, CHECKPOINTS_DIR, LOCK_FILE)


#: Names that mark a folder as a run directory (or one a sweep prepared for a run: its job file).
RUN_MARKERS = (CONFIG_FILE, METRICS_FILE, CHECKPOINTS_DIR, LOCK_FILE, "job.json")


def check_new_run_dir(run_dir: Path) -> None:
    """Refuse ``train --out`` at a place that is not a run directory and cannot become one: a file,
    a device, or a non-empty folder holding none of a run's files (``train --out .`` in a project
    folder would scatter a run among its files). A one-line :class:`OutputError`."""
    run_dir = Path(run_dir)
    try:
        info = os.lstat(run_dir)
    except FileNotFoundError:
        return
    except OSError as exc:  # a name too long, a permission: one line
        raise write_problem(exc, run_dir) from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(
            f"--out '{run_dir}' is a symbolic link; the toolkit trains only into a real folder, so name one"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"--out '{run_dir}' is a file, not a folder; name a new folder for the run")
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError as exc:
        raise write_problem(exc, run_dir) from None
    if names and not names & set(RUN_MARKERS):
        raise OutputError(
            f"--out '{run_dir}' is a folder with other files in it ({len(names)} entries) and no run; "
            "name a new or empty folder for the run"
        )


def check_run_dir(run_dir: Path) -> None:
    """Refuse a run directory with a symbolic link at a name the toolkit writes (or in checkpoints/),
    before anything is written; a one-line error names it."""
    run_dir = Path(run_dir)
    links = [run_dir / name for name in WRITTEN if (run_dir / name).is_symlink()]
    if (run_dir / CHECKPOINTS_DIR).is_dir() and not links:
        links = [p for p in (run_dir / CHECKPOINTS_DIR).iterdir() if p.is_symlink()]
    if links:
        raise ToolkitError(
            f"run directory '{run_dir}' has a symbolic link at {links[0]}, where the toolkit writes a file of its own; "
            "remove the link (was it put there by someone else?) or train into another --out"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def acquire_lock(run_dir: Path) -> Path:
    """Claim ``run_dir`` for this process (``RUN/.lock`` with its pid and host), so that a second
    ``train`` or ``--resume`` into it is refused. A lock of a dead process on this host is taken
    over; this process may claim a directory again. Returns the lock file."""
    run_dir = Path(run_dir)
    created = make_missing_dirs(run_dir)
    try:
        return _claim(run_dir)
    except BaseException:
        remove_made_dirs(created)  # a refused claim leaves no new empty folder behind
        raise


def _claim(run_dir: Path) -> Path:
    """Write ``RUN/.lock`` for this process in an existing ``run_dir`` (see :func:`acquire_lock`)."""
    path = run_dir / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            try:
                owner = json.loads(read_bytes(path, "lock file", limit=4096))
                pid, host = int(owner["pid"]), str(owner["host"])
                if not 0 < pid < 2**31:
                    raise ValueError(pid)
            except FileNotFoundError:  # released between the two calls: try again
                continue
            except (OSError, ToolkitError, ValueError, KeyError, TypeError):
                raise ToolkitError(
                    f"run directory '{run_dir}' has an unreadable lock file {path}; if no run is using it, delete the "
                    "file and retry"
                ) from None
            if host == me["host"] and (pid == me["pid"] or not _alive(pid)):
                path.unlink(missing_ok=True)  # our own, or left by a process that died
                continue
            raise ToolkitError(
                f"run directory '{run_dir}' is in use by process {pid} on {host!r} (since "
                f"{owner.get('started', '?')}); "
                "wait for it to finish, or train into another --out"
            ) from None
        except OSError as exc:  # read-only, permission, full disk: one line
            raise write_problem(exc, path) from None
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
        except OSError as exc:  # a full disk: no half-written lock left behind
            path.unlink(missing_ok=True)
            raise write_problem(exc, path) from None
        return path
    raise ToolkitError(f"could not claim run directory '{run_dir}' (its lock file keeps changing); retry")


def release_lock(run_dir: Path) -> None:
    """Give up this process's claim on ``run_dir`` (a lock of another process is left alone)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        owner = json.loads(read_bytes(path, "lock file", limit=4096))
    except (OSError, ToolkitError, ValueError):
        return
    if not isinstance(owner, dict):
        return
    if owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def remove_partial_writes(run_dir: Path) -> list[Path]:
    """Delete the temporary files of checkpoint writes that were interrupted (``.*.tmp`` in the
    checkpoints folder); returns what was removed. Call only while holding the run's lock."""
    removed = []
    for path in checkpoint_dir(run_dir).glob(".*.tmp"):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of a run's metrics log (none when it has none yet). A line that is not a JSON
    object (the cut-off last line of a process killed while writing it) is left out."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return []
    records = []
    for line in read_bytes(path, "metrics log").decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def checkpoint_metadata(
    assembly: Any,
    step: int,
    toolkit_version: str,
    generators: dict[str, str] | None = None,
    provenance: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """The metadata of a weights file (safetensors metadata is str -> str; structured values are JSON):
    ``format``, the resolved ``config``, the code spec and each code's description, the ``step``, the
    toolkit version, every registered piece's plugin and distribution (``plugins``: the assembly's
    and ``provenance``, e.g. the run's callbacks), what a reader needs without building networks
    (backbone, image shape, output range), and ``generators``: the generators besides the raw one
    that the file holds, name -> key prefix, the default first."""
    backbone = assembly.backbone
    return {
        "format": MODEL_FORMAT,
        "config": assembly.config.to_json(),
        "codes": assembly.codes.spec,
        "codes_detail": json.dumps(assembly.codes.describe()),
        "step": str(step),
        "toolkit_version": toolkit_version,
        "plugins": json.dumps({**assembly.provenance, **(provenance or {})}),
        "backbone": assembly.config.model.backbone,
        "image_shape": json.dumps(list(backbone.image_shape)),
        "output_range": backbone.output_range,
        "generators": json.dumps(generators or {}),
    }
