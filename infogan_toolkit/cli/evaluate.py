"""`infogan-tk eval`: the metrics of a checkpoint as a table and as a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import typer
from rich.table import Table

from ..checkpoint import resolve_checkpoint
from ..errors import ConfigError
from ..evaluate.report import EvalSizes, evaluate, metric_names, parse_metrics
from ..files import OutputError, open_regular, output_file, write_file
from ..model import TrainedModel
from ..plugins import PluginHost
from ..rundir import EVAL_FILE, eval_path
from .common import GENERATOR_OPT, check_seed, err_console, one_line_errors, out_console, print_json

if TYPE_CHECKING:
    from rich.console import JustifyMethod

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


_SIZE_DEFAULTS = ", ".join(f"{k}={v}" for k, v in attrs.asdict(EvalSizes()).items())


def parse_sizes(pairs: list[str] | None) -> EvalSizes:
    """``["dci_trees=10", ...]`` -> :class:`EvalSizes`; a malformed pair or unknown key is one line."""
    overrides: dict[str, int] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        try:
            number = int(value.strip())
        except ValueError:
            number = None
        if not sep or not key or number is None:
            raise ConfigError(f"--size '{pair}' is not KEY=WHOLE_NUMBER; e.g. --size dci_trees=10")
        overrides[key] = number
    return EvalSizes().replace(overrides)


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """``["extractor=inception", ...]`` -> ``{"extractor": "inception"}``; a malformed or repeated key is one line."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise ConfigError(f"--option '{pair}' is not KEY=VALUE; e.g. --option images=5000")
        if key in options:
            raise ConfigError(f"--option {key} is given twice ({options[key]!r} and {value.strip()!r}); keep one")
        options[key] = value.strip()
    return options


#: The most generated samples ``--samples`` takes (one million; the default is 10,000).
MAX_SAMPLES = 1_000_000


def check_not_fuller(target: Path, chosen: list[str] | None, known: list[str]) -> None:
    """Refuse to replace an evaluation file that holds metrics this run (``chosen``: the metrics of
    ``--metrics``; None for the default set; ``known``: every metric's name) will not write again, such as a run's
    end-of-run
    ``eval.json`` that ``export``'s model card reads, with the fix (``--force`` or ``--out``)."""
    if chosen is None or chosen == ["all"] or not target.is_file():
        return
    try:
        with open_regular(target, "evaluation file", OutputError, 64 << 20) as fh:
            old = json.loads(fh.read())
    except (ValueError, RecursionError):
        return  # not an evaluation: nothing to keep
    if not isinstance(old, dict):
        return
    kept = [k for k in known if k in old and k not in chosen]
    if kept:
        raise OutputError(
            f"'{target}' holds an evaluation with {', '.join(kept)}, which --metrics {','.join(chosen)} would drop; "
            "pass --out FILE to write beside it, or --force to replace it"
        )


def default_out(checkpoint: Path, resolved: Path) -> Path:
    """``RUN/eval.json`` for a run directory; ``<stem>.eval.json`` beside a checkpoint file.

    A file gets its own name so that evaluating several steps of one run keeps every result.
    """
    if checkpoint.is_dir():
        return eval_path(checkpoint)
    return resolved.with_name(f"{resolved.name.removesuffix('.safetensors')}.{EVAL_FILE}")


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def result_table(result: dict, metrics: Any) -> Table:
    """One row per number worth reading, from each metric's ``summary`` (``metrics``: the metrics
    registry); the JSON holds the matrices and per-factor details."""
    dataset = (result.get("dataset") or {}).get("name")
    which = f", {result['generator']} generator" if result.get("generator") else ""
    table = Table(title=f"step {result['step']}{which}, codes {result['codes']}, dataset {dataset or '-'}")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("metric", "left"),
        ("of", "left"),
        ("value", "right"),
        ("detail", "left"),
        ("seconds", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    secs = result.get("seconds", {})
    for name in [k for k in metric_names(metrics) if k in result]:
        metric = metrics.get(name)
        for i, (of, value, detail) in enumerate(metric.summary(result[name])):
            table.add_row(
                (metric.label or name) if i == 0 else "", of, _f(value), detail, _f(secs.get(name), 1) if i == 0 else ""
            )
    for name, reason in result.get("skipped", {}).items():
        table.add_row(name, "skipped", "-", reason, "")
    return table


@commands.command("eval")
@one_line_errors
def eval_command(
    checkpoint: Path = typer.Argument(
        ..., help="A .safetensors checkpoint or a run directory (its latest checkpoint)."
    ),
    dataset: str = typer.Option(None, "--dataset", help="Dataset name (default: the checkpoint's data.dataset)."),
    data_root: str = typer.Option(
        None, "--data-root", help="Folder holding the dataset's files (default: the checkpoint's data.root)."
    ),
    samples: int = typer.Option(10000, "--samples", help="Generated samples for the L_I estimate."),
    seed: int = typer.Option(0, "--seed", help="Seed for every random draw (samples, image subsets, classifiers)."),
    metrics: str = typer.Option(
        None,
        "--metrics",
        help="Comma-separated metric names (`infogan-tk list metrics`; built in: mi,accuracy,mig,sap,dci,factorvae); "
        "default: those that apply, apart from on-request ones such as fid and kid; `all`: every one that "
        "applies.",
    ),
    options: list[str] = typer.Option(
        None,
        "--option",
        help="A metric's setting, KEY=VALUE (repeatable; `infogan-tk list metrics` names each metric's keys), e.g. "
        "images=5000.",
    ),
    sizes: list[str] = typer.Option(
        None,
        "--size",
        help=f"Change a size: KEY=N (repeatable). Keys and defaults: {_SIZE_DEFAULTS}.",
    ),
    split: str = typer.Option(
        "test",
        "--split",
        help="The dataset split the dataset metrics read: test for results, a validation split its dataset declares "
        "(e.g. val) for choosing anything.",
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, mps or auto."),
    generator: str = GENERATOR_OPT,
    out: Path = typer.Option(
        None, "--out", "-o", help="JSON file to write (default: RUN/eval.json, or <checkpoint>.eval.json)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Only JSON on stdout; the table and messages go to stderr."),
    force: bool = typer.Option(
        False, "--force", help="Replace an evaluation file that holds metrics this run does not compute."
    ),
) -> None:
    """Evaluate a checkpoint: L_I per code, categorical accuracy, MIG, SAP, DCI, FactorVAE."""
    from ..engine.devices import pick_device

    # Cheap checks first, so a typo costs no model load.
    host = PluginHost()
    chosen = parse_metrics(metrics, metric_names(host.registries.metrics))
    size_set = parse_sizes(sizes)
    option_set = parse_options(options)
    check_seed(seed)  # before the output checks: the argument's own mistake comes first
    if not 1 <= samples <= MAX_SAMPLES:
        raise ConfigError(f"--samples must be in [1, {MAX_SAMPLES:,}], got {samples}; the L_I estimate needs no more")
    resolved = resolve_checkpoint(checkpoint)
    target = output_file(out or default_out(checkpoint, resolved), (".json",))
    if not force:
        check_not_fuller(target, chosen, metric_names(host.registries.metrics))
    errors = err_console()
    model = TrainedModel.load(resolved, device=pick_device(device), host=host, generator=generator)
    result = evaluate(
        model,
        host,
        dataset=dataset,
        data_root=data_root,
        samples=samples,
        seed=seed,
        metrics=chosen,
        sizes=size_set,
        options=option_set,
        log=lambda line: errors.print(line, style="dim"),
        split=split,
    )
    result = {"checkpoint": str(resolved), **result}
    write_file(target, json.dumps(result, indent=2) + "\n")  # whole or not at all, never through a planted link
    if json_out:
        errors.print(result_table(result, host.registries.metrics))
        print_json(result)
    else:
        out_console().print(result_table(result, host.registries.metrics))
    errors.print(f"wrote {target}")
