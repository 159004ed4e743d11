"""`infogan-tk sample` and `infogan-tk traverse`: pictures from a checkpoint."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import typer
from torchvision.utils import save_image

from ..errors import ConfigError
from ..evaluate.animation import traversal_animation, write_gif
from ..evaluate.figures import SHEET_RANGE, draw_traversal_sheet, traversal_panels
from ..files import OutputError, make_missing_dirs, open_for_write, output_file
from ..model import TrainedModel
from ..suggest import did_you_mean
from .common import GENERATOR_OPT, check_seed, err_console, one_line_errors, print_json

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


DEVICE_OPT = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto.")
#: The most images ``sample --n`` draws into one grid.
MAX_IMAGES = 10_000


def _load(checkpoint: Path, device: str, generator: str | None) -> TrainedModel:
    from ..engine.devices import pick_device
    from ..model import from_pretrained

    return from_pretrained(checkpoint, device=pick_device(device), generator=generator)


def describe_source(checkpoint: Path, model: TrainedModel) -> str:
    """``RUN, step N`` for a figure's title, naming the generator where the checkpoint has several."""
    source = checkpoint.name if checkpoint.is_dir() else f"{checkpoint.parent.parent.name}/{checkpoint.name}"
    which = f", {model.generator_name} generator" if len(model.generator_names) > 1 else ""
    return f"{source}, step {model.step}{which}"


@commands.command()
@one_line_errors
def sample(
    checkpoint: Path = typer.Argument(
        ..., help="A .safetensors checkpoint, a run directory, an exported folder or a Hub id (owner/name)."
    ),
    n: int = typer.Option(64, "--n", help="Number of images."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="PNG file to write."),
    device: str = DEVICE_OPT,
    generator: str = GENERATOR_OPT,
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Write random samples from the prior as one PNG grid."""
    if not 1 <= n <= MAX_IMAGES:
        raise ConfigError(f"--n must be in [1, {MAX_IMAGES:,}], got {n}")
    check_seed(seed)
    out = output_file(out, (".png",))  # checked before the model loads, written whole or not at all
    model = _load(checkpoint, device, generator)
    images, _values = model.sample(n, seed=seed)
    with open_for_write(out, binary=True) as fh:
        save_image(images.cpu(), fh, format="png", nrow=max(1, int(n**0.5)), padding=2, pad_value=1.0)
    if json_out:
        print_json({"out": str(out), "n": n, "seed": seed, "step": model.step, "generator": model.generator_name})
    else:
        err_console().print(f"wrote {n} samples from the {model.generator_name} generator to {out}")


#: The largest code value --range takes (far beyond any prior's range; larger only overflows G).
RANGE_LIMIT = 1e6


@commands.command()
@one_line_errors
def traverse(
    checkpoint: Path = typer.Argument(
        ..., help="A .safetensors checkpoint, a run directory, an exported folder or a Hub id (owner/name)."
    ),
    code: list[str] = typer.Option(None, "--code", help="Code(s) to vary, e.g. c1 (default: every code)."),
    value_range: tuple[float, float] = typer.Option(
        SHEET_RANGE, "--range", help="Range for continuous codes (default the paper's -2 2), e.g. --range -1 1."
    ),
    rows: int = typer.Option(5, "--rows", help="Rows of fixed noise and other codes."),
    steps: int = typer.Option(10, "--steps", help="Columns for a continuous code."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("traversals"), "--out", "-o", help="Folder for one PNG per code."),
    gif: bool = typer.Option(
        False,
        "--gif",
        help="Also one animated GIF per code: the --rows images in a grid, the code swept across its values and back.",
    ),
    frame_ms: int = typer.Option(150, "--frame-ms", help="Milliseconds per GIF frame."),
    device: str = DEVICE_OPT,
    generator: str = GENERATOR_OPT,
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """One grid per code in the layout of the paper's Fig. 2: the code varies along the columns."""
    if not (1 <= rows <= 1000 and 2 <= steps <= 1000):
        raise ConfigError(f"--rows must be in [1, 1,000] and --steps in [2, 1,000], got {rows} and {steps}")
    check_seed(seed)
    low, high = value_range
    if not all(math.isfinite(v) and abs(v) <= RANGE_LIMIT for v in value_range) or low == high:
        raise ConfigError(
            f"--range takes two different finite numbers within +-{RANGE_LIMIT:g}, got {low} {high}; e.g. --range -2 2"
        )
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out '{out}' is a file; traverse writes a folder of pictures, so name a folder")
    if frame_ms < 10:
        raise ConfigError(f"--frame-ms must be at least 10 (GIF viewers play shorter frames slower), got {frame_ms}")
    model = _load(checkpoint, device, generator)
    names = [c.name for c in model.codes]
    chosen = code or names
    for name in chosen:
        if name not in names:
            raise ConfigError(f"unknown code '{name}'.{did_you_mean(name, names)} This model has: {', '.join(names)}.")
    made = make_missing_dirs(out)  # the folders this call creates, outermost first
    written: list[dict] = []
    title = describe_source(checkpoint, model)
    noise_kind = model.assembly.config.model.noise
    try:
        _draw_sheets(
            model, chosen, names, out, rows, steps, value_range, seed, gif, frame_ms, title, noise_kind, written
        )
    except BaseException:
        # A full disk halfway: the sheets of this call are removed, so no partial set is left.
        for entry in written:
            for key in ("file", "gif"):
                if key in entry:
                    Path(entry[key]).unlink(missing_ok=True)
        if made:
            shutil.rmtree(made[0], ignore_errors=True)
        raise
    if json_out:
        print_json(
            {"step": model.step, "generator": model.generator_name, "range": list(value_range), "traversals": written}
        )
    else:
        for w in written:
            err_console().print(f"{w['code']} ({w['prior']}): {w['file']}" + (f", {w['gif']}" if "gif" in w else ""))


def _draw_sheets(
    model: TrainedModel,
    chosen: list[str],
    names: list[str],
    out: Path,
    rows: int,
    steps: int,
    value_range: tuple[float, float],
    seed: int,
    gif: bool,
    frame_ms: int,
    title: str,
    noise_kind: str,
    written: list[dict],
) -> None:
    """One sheet (and GIF) per chosen code into ``out``, each recorded in ``written`` as it is made."""
    for name in chosen:
        i = names.index(name)
        (panel,) = traversal_panels(
            model.generate, model.codes, model.noise_dim, [i], rows, steps, value_range, seed, model.device, noise_kind
        )
        path = draw_traversal_sheet([panel], title, out / f"traverse-{name}.png")
        entry: dict[str, Any] = {"code": name, "prior": panel.prior, "file": str(path)}
        written.append(entry)
        if gif:
            animation = traversal_animation(
                model.generate,
                model.codes,
                model.noise_dim,
                i,
                rows,
                steps,
                value_range,
                seed,
                model.device,
                noise_kind,
            )
            entry["gif"] = str(write_gif(animation, out / f"traverse-{name}.gif", frame_ms))
            entry["frames"] = len(animation.frames)
