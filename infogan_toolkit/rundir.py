"""The run directory: where every file of a run lives, and what a checkpoint's metadata holds.

One place knows the layout, so the trainer, the CLI, the figures and the evaluation agree on it::

    RUN/config.toml                              the resolved configuration (what --resume reads)
    RUN/metrics.jsonl                            one JSON object per log interval
    RUN/eval.json                                the end-of-run or `infogan-tk eval` evaluation
    RUN/figures/information.png                  L_I per code against H(c), over the steps
    RUN/figures/traversal-NNNNNNN.png            the traversal sheet of each checkpoint
    RUN/checkpoints/step-NNNNNNN.safetensors     weights and metadata (:func:`checkpoint_metadata`)
    RUN/checkpoints/step-NNNNNNN.state.safetensors   optimiser and random-generator state
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
EVAL_FILE = "eval.json"
FIGURES_DIR = "figures"
CHECKPOINTS_DIR = "checkpoints"
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


def checkpoint_dir(run_dir: Path) -> Path:
    """Where a run keeps its checkpoints."""
    return Path(run_dir) / CHECKPOINTS_DIR


def model_path(run_dir: Path, step: int) -> Path:
    """Weights file for a step."""
    return checkpoint_dir(run_dir) / f"step-{step:07d}.safetensors"


def state_path(run_dir: Path, step: int) -> Path:
    """Trainer-state file for a step."""
    return checkpoint_dir(run_dir) / f"step-{step:07d}.state.safetensors"


def list_steps(run_dir: Path) -> list[int]:
    """Steps with a complete checkpoint (both files), ascending."""
    steps = []
    for p in checkpoint_dir(run_dir).glob("step-*.safetensors"):
        if p.name.endswith(".state.safetensors"):
            continue
        step = int(p.stem.split("-")[1])
        if state_path(run_dir, step).is_file():
            steps.append(step)
    return sorted(steps)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of a run's metrics log (none when it has none yet)."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def checkpoint_metadata(assembly: Any, step: int, toolkit_version: str) -> dict[str, str]:
    """The metadata of a weights file (safetensors metadata is str -> str; structured values are JSON):
    ``format``, the resolved ``config``, the code spec and each code's description, the ``step``, the
    toolkit version, every registered piece's plugin and distribution (``plugins``), and what a
    reader needs without building networks (backbone, image shape, output range)."""
    backbone = assembly.backbone
    return {
        "format": MODEL_FORMAT,
        "config": assembly.config.to_json(),
        "codes": assembly.codes.spec,
        "codes_detail": json.dumps(assembly.codes.describe()),
        "step": str(step),
        "toolkit_version": toolkit_version,
        "plugins": json.dumps(assembly.provenance),
        "backbone": assembly.config.model.backbone,
        "image_shape": json.dumps(list(backbone.image_shape)),
        "output_range": backbone.output_range,
    }
