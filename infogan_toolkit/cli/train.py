"""`infogan-tk train` and `infogan-tk config show`."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import typer

from ..config import Config, apply_dict, load_toml
from ..engine.devices import describe_numerics
from ..errors import ConfigError, ToolkitError
from ..files import write_file
from ..plugins import PluginHost
from ..rundir import CONFIG_FILE, check_new_run_dir, config_path, eval_path
from .common import build_config, err_console, one_line_errors, out_console, print_json

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()
#: `infogan-tk config ...`.
config_commands = typer.Typer(help="Show configurations.", no_args_is_help=True)


CONFIG_OPT = typer.Option(
    None, "--config", "-c", help="A TOML file or a registered config name (see `infogan-tk list configs`)."
)
BACKBONE_OPT = typer.Option(None, "--backbone", "-b", help="Backbone name (see `infogan-tk list backbones`).")
CODES_OPT = typer.Option(None, "--codes", help="Latent codes, e.g. cat10x4,unif2 or cat10,unif2@0.1.")
DATASET_OPT = typer.Option(None, "--dataset", help="Dataset name (default: the backbone's).")
ROOT_OPT = typer.Option(None, "--data-root", help="Folder holding the dataset's files.")
SET_OPT = typer.Option(None, "--set", help="Override any key: section.key=value (repeatable).")


def _flags(backbone, codes, dataset, data_root, download, steps, batch_size, device, seed, regular_gan) -> dict:
    return {
        "model": {"backbone": backbone, "codes": codes},
        "data": {"dataset": dataset, "root": data_root, "download": True if download else None},
        "train": {"steps": steps, "batch_size": batch_size, "device": device, "seed": seed},
        "loss": {"regular_gan": True if regular_gan else None},
    }


@commands.command()
@one_line_errors
def train(
    config: str = CONFIG_OPT,
    backbone: str = BACKBONE_OPT,
    codes: str = CODES_OPT,
    dataset: str = DATASET_OPT,
    data_root: str = ROOT_OPT,
    download: bool = typer.Option(False, "--download", help="Let the dataset plugin fetch its files (needs internet)."),
    steps: int = typer.Option(None, "--steps", help="Total training steps."),
    batch_size: int = typer.Option(None, "--batch-size", help="Images per step (per process under torchrun)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, mps or auto."),
    seed: int = typer.Option(None, "--seed", help="Seed for initialisation, batches and noise."),
    out: Path = typer.Option(None, "--out", "-o", help="Run directory (default runs/<backbone>-<time>)."),
    resume: Path = typer.Option(
        None, "--resume", help="Continue the run in this directory from its latest checkpoint."
    ),
    regular_gan: bool = typer.Option(
        False, "--regular-gan", help="Baseline: no information term for G (Q still trained)."
    ),
    sets: list[str] = SET_OPT,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    no_eval: bool = typer.Option(
        False, "--no-eval", help="Skip the evaluation at the end (L_I, accuracy, which factor each code holds)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Train an InfoGAN, then evaluate it. With no arguments: the registered config `default`."""
    from ..engine.trainer import Trainer
    from .summary import evaluate_run, print_summary

    host = PluginHost()
    flags = _flags(backbone, codes, dataset, data_root, download, steps, batch_size, device, seed, regular_gan)
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise ConfigError("--out and --resume name different directories; --resume continues in its own directory")
        saved = config_path(Path(resume))
        if not saved.is_file():
            raise ToolkitError(f"cannot resume: '{resume}' has no {CONFIG_FILE}; is it a run directory?")
        base = apply_dict(Config(), load_toml(saved), str(saved))
        cfg = build_config(host, config, flags, sets, base=base)
        if cfg.model != base.model or cfg.data.dataset != base.data.dataset:
            raise ConfigError(
                "a resumed run keeps its model, codes and dataset; change only train/optim settings, or start a new run"
            )
        run_dir = Path(resume)
    else:
        cfg = build_config(host, config, flags, sets)
        run_dir = out or Path("runs") / f"{cfg.model.backbone or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
        check_new_run_dir(run_dir)
    console = err_console()
    trainer = Trainer(cfg, run_dir, host=host, resume=resume is not None, console=console, progress=not quiet)
    if trainer.dist.is_main:
        c = trainer.config
        console.print(
            f"training {c.model.backbone} on {c.data.dataset} with codes {c.model.codes} "
            f"(noise {c.model.noise_dim}) on {trainer.device}, {c.train.steps} steps x {c.train.batch_size} -> "
            f"{run_dir}"
        )
        numerics, warning = describe_numerics(c, trainer.device)
        console.print(numerics, markup=False, highlight=False)
        if warning:
            console.print(warning, style="yellow", markup=False, highlight=False)
    started = time.perf_counter()
    result = trainer.run()
    seconds = time.perf_counter() - started
    if not trainer.dist.is_main:
        return
    summary = {
        "run_dir": str(result.run_dir),
        "step": result.step,
        "steps": trainer.config.train.steps,
        "seconds": seconds,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "images_per_second": result.images_per_second,
        "interrupted": result.interrupted,
        "metrics": result.metrics,
    }
    evaluation, evaluation_error, eval_file = None, None, None
    if not no_eval and result.checkpoint is not None and not result.interrupted:
        try:
            evaluation = evaluate_run(
                result.checkpoint,
                trainer.device,
                host,
                log=None if quiet else lambda line: console.print(line, style="dim"),
            )
        except ToolkitError as exc:
            evaluation_error = " ".join(str(exc).split())
        else:
            eval_file = eval_path(Path(result.run_dir))
            write_file(eval_file, json.dumps(evaluation, indent=2) + "\n")  # never through a planted link
    summary["evaluation"] = evaluation
    if json_out:
        print_json(summary)
    else:
        print_summary(console, summary, evaluation, evaluation_error, eval_file)
    if result.interrupted:
        # Not finished: a script or scheduler must not take the run for done (128 + the signal).
        raise typer.Exit(128 + (result.stop_signal or signal.SIGINT))


@config_commands.command("show")
@one_line_errors
def config_show(
    config: str = CONFIG_OPT,
    backbone: str = BACKBONE_OPT,
    codes: str = CODES_OPT,
    dataset: str = DATASET_OPT,
    data_root: str = ROOT_OPT,
    steps: int = typer.Option(None, "--steps"),
    batch_size: int = typer.Option(None, "--batch-size"),
    device: str = typer.Option(None, "--device"),
    seed: int = typer.Option(None, "--seed"),
    regular_gan: bool = typer.Option(False, "--regular-gan"),
    sets: list[str] = SET_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of TOML."),
) -> None:
    """Print the resolved configuration (defaults < file < flags, backbone defaults filled in)."""
    from ..assembly import check_training_names, resolve

    host = PluginHost()
    cfg = build_config(
        host,
        config,
        _flags(backbone, codes, dataset, data_root, False, steps, batch_size, device, seed, regular_gan),
        sets,
    )
    resolved = resolve(cfg, host).config
    check_training_names(resolved, host)  # what train would refuse, show refuses too
    if json_out:
        print_json(resolved.to_dict())
    else:
        out_console().print(resolved.to_toml(), markup=False)
