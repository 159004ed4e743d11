"""`infogan-tk encode`: Q's prediction for every real image of a folder or a data set, as CSV and safetensors."""

from __future__ import annotations

from pathlib import Path

import typer

from ..checkpoint import atomic_save
from ..encode import encode_dataset
from ..errors import ConfigError
from ..files import output_file, write_file, write_problem
from .common import err_console, one_line_errors, print_json

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


@commands.command()
@one_line_errors
def encode(
    checkpoint: Path = typer.Argument(
        ..., help="A .safetensors checkpoint, a run directory, an exported folder or a Hub id (owner/name)."
    ),
    image_dir: Path = typer.Argument(
        None, help="A folder of png/jpg/bmp images (searched recursively; resized to the model's shape)."
    ),
    dataset: str = typer.Option(
        None, "--dataset", help="A registered dataset instead of a folder (`infogan-tk list datasets`)."
    ),
    data_root: str = typer.Option(
        None, "--data-root", help="Folder holding the dataset's files (default: the checkpoint's data.root)."
    ),
    split: str = typer.Option("test", "--split", help="train or test."),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Where to write, without extension: OUT.csv and OUT.safetensors (default: encoded-NAME-SPLIT in the "
        "current folder).",
    ),
    batch: int = typer.Option(
        512, "--batch", help="Images per forward pass (memory only; results do not depend on it)."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Write what Q says about each real image: the class and probabilities of each categorical code, the mean
    (and std where the head learns one) of each continuous code, with the image's path or index and its label."""
    from ..assembly import load_dataset
    from ..engine.devices import pick_device
    from ..evaluate.report import dataset_assembly
    from ..model import from_pretrained
    from ..plugins import PluginHost

    if (image_dir is None) == (dataset is None):
        raise ConfigError("give either an image folder or --dataset NAME (not both, not neither)")
    if image_dir is not None and data_root is not None:
        raise ConfigError("--data-root goes with --dataset; an image folder is its own root")
    if split not in ("train", "test"):
        raise ConfigError(f"--split must be train or test, got {split!r}")
    if batch < 1:
        raise ConfigError(f"--batch must be at least 1, got {batch}")
    if image_dir is not None and not image_dir.is_dir():
        raise ConfigError(
            f"image folder '{image_dir}' is not a directory; give a folder of png/jpg/bmp images or --dataset NAME"
        )
    host = PluginHost()
    model = from_pretrained(checkpoint, device=pick_device(device), host=host)
    name, assembly = dataset_assembly(
        model,
        "image-folder" if image_dir is not None else dataset,
        str(image_dir) if image_dir is not None else data_root,
    )
    prefix = out if out is not None else Path(f"encoded-{name}-{split}")
    csv_path, tensors_path = prefix.with_name(prefix.name + ".csv"), prefix.with_name(prefix.name + ".safetensors")
    for path in (csv_path, tensors_path):  # checked before the images are read and encoded
        output_file(path)
    data = load_dataset(assembly, host, split=split, name=name)
    encoding = encode_dataset(model, data, batch)
    write_file(csv_path, encoding.to_csv())
    tensors, meta = encoding.to_tensors()
    try:
        atomic_save(tensors, tensors_path, {**meta, "dataset": name, "split": split, "step": str(model.step)})
    except OSError as exc:  # a full disk: one line; the CSV alone would pass for the whole encoding
        csv_path.unlink(missing_ok=True)
        raise write_problem(exc, tensors_path) from None
    summary = {
        "csv": str(csv_path),
        "safetensors": str(tensors_path),
        "rows": encoding.rows,
        "dataset": name,
        "split": split,
        "step": model.step,
        "columns": [c for c, _ in encoding.columns()],
    }
    if json_out:
        print_json(summary)
    else:
        err_console().print(
            f"wrote Q's outputs for {encoding.rows} {name} {split} images to {csv_path} and {tensors_path}"
        )
