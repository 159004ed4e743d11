"""`infogan-tk export RUN DIR`: a trained model as a folder to share, with its model card."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..checkpoint import resolve_checkpoint
from ..errors import ConfigError, ToolkitError
from ..plugins import PluginHost
from ..pretrained import push_folder, require_hub
from ..rundir import CHECKPOINTS_DIR, EXPORT_METADATA_FILE, eval_path
from .common import check_seed, err_console, one_line_errors, print_json
from .pictures import DEVICE_OPT, MAX_IMAGES

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


def run_evaluation(checkpoint: Path, step: int) -> tuple[dict | None, str | None]:
    """The run's eval.json when it evaluated ``step`` -> (evaluation, why none)."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS_DIR else None
    if run_dir is None or not eval_path(run_dir).is_file():
        return None, "no eval.json beside the checkpoint; the card lists no evaluation (run infogan-tk eval RUN first)"
    path = eval_path(run_dir)
    try:
        evaluation = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ToolkitError(
            f"could not read {path} ({exc}); run infogan-tk eval RUN again, or delete it to export without it"
        ) from None
    if evaluation.get("step") != step:
        return (
            None,
            f"{path} is of step {evaluation.get('step')}, the checkpoint of step {step}; the card leaves it out",
        )
    return evaluation, None


@commands.command()
@one_line_errors
def export(
    run: Path = typer.Argument(..., help="A run directory (its latest checkpoint) or a .safetensors checkpoint."),
    folder: Path = typer.Argument(..., help="New or empty folder to write the model, its card and pictures into."),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty folder (the export's files are replaced, others kept)."
    ),
    samples: int = typer.Option(64, "--samples", help="Images in the card's sample grid."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample grid and traversals."),
    push: str = typer.Option(
        None, "--push", help="Also upload the folder to this Hugging Face Hub repository (owner/name)."
    ),
    private: bool = typer.Option(False, "--private", help="Create the --push repository as private."),
    device: str = DEVICE_OPT,
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Write a model to share: model.safetensors, metadata.json, README.md (the model card), samples and traversals."""
    from ..engine.devices import pick_device
    from ..model import TrainedModel

    if not 1 <= samples <= MAX_IMAGES:
        raise ConfigError(f"--samples must be in [1, {MAX_IMAGES:,}], got {samples}")
    check_seed(seed)
    if push is not None:
        require_hub(f"--push {push}")  # before the work, not after it
    checkpoint = resolve_checkpoint(run)
    host = PluginHost()
    model = TrainedModel.load(checkpoint, device=pick_device(device), host=host)
    evaluation, note = run_evaluation(checkpoint, model.step)
    record = model.save_pretrained(
        folder, evaluation=evaluation, force=force, samples=samples, seed=seed, source=str(run), host=host
    )
    url = push_folder(folder, push, private=private) if push is not None else None
    files = [
        record["model_file"],
        EXPORT_METADATA_FILE,
        record["card"],
        record["samples"]["file"],
        *record["traversals"].values(),
        record["report"],
    ]
    if json_out:
        print_json(
            {
                "folder": str(folder),
                "step": model.step,
                "checkpoint": str(checkpoint),
                "files": files,
                "evaluation": evaluation is not None,
                "pushed": url,
            }
        )
        if note:
            err_console().print(note, markup=False)
        return
    say = err_console()
    if note:
        say.print(note, markup=False)
    say.print(f"wrote {folder}: {', '.join(files)} (step {model.step})", markup=False)
    if url:
        say.print(f"pushed to {url}", markup=False)
