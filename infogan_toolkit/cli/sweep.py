"""`infogan-tk sweep`: a grid of settings times seeds as one resumable command, and `sweep report`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from ..errors import ConfigError, ToolkitError
from ..plugins import PluginHost
from ..suggest import did_you_mean
from .common import build_config, err_console, one_line_errors, out_console, print_json


class _RunByDefault(TyperGroup):
    """``infogan-tk sweep SPEC.toml`` and ``infogan-tk sweep --config ...`` mean ``sweep run ...``;
    ``infogan-tk sweep report DIR`` is the report."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Put ``run`` in front of arguments that name no subcommand (a spec file, or options)."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The group's help (its commands), then the options of ``run``, which ``infogan-tk sweep
        ...`` means: ``--executor``, ``--address``, ``--grid`` and the rest are options of ``sweep``."""
        super().format_help(ctx, formatter)
        run = self.commands["run"]
        with run.make_context(ctx.info_name, [], parent=ctx.parent, resilient_parsing=True) as run_ctx:
            run.format_help(run_ctx, formatter)


#: `infogan-tk sweep ...`; cli/app.py adds it to `infogan-tk`.
sweep_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Run a grid of settings x seeds (`sweep SPEC.toml` or `sweep --config NAME --grid KEY=V1,V2 --seeds 0-7`), "
    "resumably, and summarise it (`sweep report DIR`).",
)


def _spec(
    spec_file: Path | None,
    config: str | None,
    grid: list[str],
    seeds: str | None,
    sets: list[str],
    metrics: str | None,
    samples: int | None,
    sizes: list[str],
    device: str | None,
    out: Path | None,
) -> Any:
    """The spec from the file, the flags over it; with neither, the manifest's in ``out`` (a rerun)."""
    import attrs

    from ..sweep.runner import manifest_path, read_manifest
    from ..sweep.spec import SweepSpec, parse_grid_flag, parse_seeds
    from .evaluate import parse_sizes

    given = any(v for v in (config, grid, seeds, sets, metrics, samples, sizes, device))
    if spec_file is not None:
        if not Path(spec_file).is_file():
            raise ConfigError(
                f"sweep spec '{spec_file}' does not exist; give a TOML file (see docs/user-guide.md, Sweeps)"
            )
        spec = SweepSpec.from_file(spec_file)
    elif out is not None and manifest_path(out).is_file() and not given:
        spec = SweepSpec.from_dict(read_manifest(out)["spec"], str(manifest_path(out)))
    elif not given:
        raise ConfigError(
            "nothing to sweep; give a SPEC.toml, or --config NAME with --grid KEY=V1,V2 and/or --seeds 0-7, "
            "or --out DIR of a sweep to continue"
        )
    else:
        spec = SweepSpec()
    changes: dict[str, Any] = {}
    if config is not None:
        changes["config"] = config
    if grid:
        table = dict(spec.grid)
        for text in grid:
            key, values = parse_grid_flag(text)
            table[key] = tuple(values)
        changes["grid"] = tuple(table.items())
    if seeds is not None:
        changes["seeds"] = tuple(parse_seeds(seeds))
    if sets:
        changes["sets"] = spec.sets + tuple(sets)
    if device is not None:
        changes["device"] = device
    ev = spec.eval
    if metrics is not None:
        ev = attrs.evolve(ev, metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()))
    if samples is not None:
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        ev = attrs.evolve(ev, samples=samples)
    if sizes:
        parse_sizes(sizes)  # a bad key is a one-line error here
        ev = attrs.evolve(
            ev, sizes={**ev.sizes, **{k.strip().replace("-", "_"): int(v) for k, v in (s.split("=", 1) for s in sizes)}}
        )
    return attrs.evolve(spec, eval=ev, **changes)


@sweep_app.command("run")
@one_line_errors
def sweep_run(
    spec_file: Annotated[
        Path | None, typer.Argument(metavar="SPEC.toml", help="A sweep spec (TOML); flags add to it or override it.")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Base config: a TOML file or a registered name.")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="KEY=V1,V2,... one grid axis (repeatable); every combination is a setting."),
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds of every setting: 0,1,2 or a range 0-7 (default 0).")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="An override every run gets, section.key=value (repeatable).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="The sweep directory (default sweeps/<config>-<time>); rerun with it to resume."
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Who runs the runs (`infogan-tk list executors`): local or ray.")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="The Ray cluster (HOST:PORT, auto, or local to start one here).")
    ] = None,
    parallel: Annotated[
        int,
        typer.Option(
            "--parallel", help="Runs at once (local: processes, e.g. several on one GPU; a local Ray: its CPUs)."
        ),
    ] = 1,
    gpus_per_run: Annotated[
        float, typer.Option("--gpus-per-run", help="GPUs each Ray task asks for (fractions share a GPU).")
    ] = 0.0,
    device: Annotated[str | None, typer.Option("--device", help="Each run's --device (cpu, cuda, mps, auto).")] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="What each run's eval computes (default mi,accuracy,mig).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", help="Generated samples for each run's L_I estimate (default 10000).")
    ] = None,
    sizes: Annotated[
        list[str] | None,
        typer.Option("--size", help="An eval size KEY=N for every run (repeatable; see `infogan-tk eval --help`)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the runs and their status; run nothing, write nothing.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Only JSON on stdout.")] = False,
) -> None:
    """Run every setting x seed as a normal run directory under one sweep directory, with a manifest.

    `infogan-tk sweep ...` without `run` is the same. Rerunning the same command skips finished runs and resumes
    interrupted ones; a failed run is recorded with its error and the others go on. `infogan-tk sweep report DIR`
    summarises the sweep.
    """
    from ..evaluate.report import metric_names, parse_metrics
    from ..sweep.executors import ExecutorSetup
    from ..sweep.runner import Sweep
    from ..sweep.spec import check_overrides
    from .evaluate import parse_sizes

    host = PluginHost()
    spec = _spec(spec_file, config, grid or [], seeds, sets or [], metrics, samples, sizes or [], device, out)
    registry = host.registries.executors
    if executor not in registry:
        raise ConfigError(
            f"unknown executor '{executor}'.{did_you_mean(executor, registry.names())} Known: "
            f"{', '.join(registry.names())}."
        )
    if parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {parallel}")
    if gpus_per_run < 0:
        raise ConfigError(f"--gpus-per-run must be 0 or more, got {gpus_per_run}")
    # The evaluation's metric names and sizes, checked here rather than failing in every run.
    parse_metrics(list(spec.eval.metrics), metric_names(host.registries.metrics))
    parse_sizes([f"{k}={v}" for k, v in spec.eval.sizes.items()])
    # Every setting resolves before any run starts: a typo fails once, here, not in every run.
    check_overrides(spec, lambda overrides: build_config(host, spec.config, None, overrides))
    if out is None:
        name = Path(spec.config).stem if spec.config else "sweep"
        out = Path("sweeps") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    sweep = Sweep(out, spec, write=not dry_run)
    console = err_console()
    if dry_run:
        listing = [
            {"id": r["id"], "status": r["status"], "dir": str(out / r["dir"]), "seed": r["seed"], "sets": r["sets"]}
            for r in sweep.runs
        ]
        if json_out:
            print_json({"sweep": str(out), "runs": listing})
            return
        table = Table(title=f"{len(listing)} runs in {out} ({len(sweep.todo())} to run)")
        for column in ("run", "status", "seed", "overrides", "directory"):
            table.add_column(column)
        for r, entry in zip(sweep.runs, listing):
            table.add_row(r["id"], r["status"], str(r["seed"]), r["label"], entry["dir"])
        out_console().print(table)
        return
    console.print(
        f"sweep of {len(sweep.runs)} runs ({len(spec.settings())} settings x {len(spec.seeds)} seeds) -> {out} "
        f"({executor} executor)"
    )
    counts = sweep.execute(
        registry.get(executor),
        ExecutorSetup(parallel=parallel, address=address, gpus_per_run=gpus_per_run),
        console.print,
    )
    summary = {"sweep": str(out), "counts": counts, "runs": sweep.runs}
    if json_out:
        print_json(summary)
    failed = counts.get("failed", 0)
    console.print(f"{counts.get('done', 0)} of {len(sweep.runs)} runs done; report: infogan-tk sweep report {out}")
    if failed:
        raise ToolkitError(
            f"{failed} of {len(sweep.runs)} runs failed (errors in {out}/manifest.json); fix the cause and run the "
            "same command again to retry them"
        )


def _select(report: dict[str, Any], sweep_dir: Path, host: PluginHost, images: int, device: str, say: Any) -> None:
    """UDR over each setting's runs, from Q's codes on the same real images of the run's data set."""
    from ..assembly import load_dataset
    from ..checkpoint import resolve_checkpoint
    from ..engine.devices import pick_device
    from ..evaluate.report import dataset_assembly
    from ..model import TrainedModel
    from ..sweep.report import add_agreement
    from ..sweep.selection import code_representation, udr_scores

    dev = pick_device(device)
    scores: dict[str, float] = {}
    for setting in report["settings"]:
        members = [r for r in report["runs"] if r["setting"] == setting["setting"] and r.get("status") == "done"]
        if len(members) < 2:
            continue
        reps, data, data_name = [], None, None
        for run in members:
            model = TrainedModel.load(resolve_checkpoint(sweep_dir / run["dir"]), device=dev, host=host)
            name, assembly = dataset_assembly(model, None, None)
            if name is None:
                break
            if data is None or name != data_name:
                say(f"selection: loading '{name}' for setting s{setting['setting']:02d}")
                data, data_name = load_dataset(assembly, host, split="test", name=name), name
            reps.append(code_representation(model, data, images, seed=0))
        if len(reps) != len(members):
            continue
        for run, score in zip(members, udr_scores(reps)):
            scores[run["id"]] = score
    supervised = {e.name for e in host.registries.metrics if e.obj.needs_dataset}
    add_agreement(report, scores, supervised, "UDR")


@sweep_app.command("report")
@one_line_errors
def sweep_report(
    sweep_dir: Annotated[Path, typer.Argument(metavar="SWEEP_DIR", help="A sweep directory (it holds manifest.json).")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for report.json, report.md and report.png (default SWEEP_DIR/report)."
        ),
    ] = None,
    select: Annotated[
        bool,
        typer.Option(
            "--select/--no-select",
            help="Choose a run per setting without labels (UDR, Duan et al. 2020) and measure its agreement with the "
            "supervised metrics.",
        ),
    ] = True,
    select_images: Annotated[
        int, typer.Option("--select-images", help="Real images each run's codes are read on for the selection.")
    ] = 1000,
    device: Annotated[
        str, typer.Option("--device", help="Where the selection runs Q (cpu, cuda, mps, auto).")
    ] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Only JSON on stdout; the table goes to stderr.")] = False,
) -> None:
    """Each setting's metrics over its seeds: median, min, max and a bootstrap interval of the median.

    Also the run chosen without labels (UDR) and why, as a table, Markdown, JSON and a plot.
    """
    from ..sweep.report import HEADER, collect, rows, write_outputs

    host = PluginHost()
    if select_images < 2:
        raise ConfigError(f"--select-images must be at least 2, got {select_images}")
    metrics = host.registries.metrics
    report = collect(sweep_dir, lambda name, result: metrics.get(name).summary(result))
    console = err_console()
    if select:
        _select(report, Path(sweep_dir), host, select_images, device, lambda line: console.print(line, style="dim"))
    written = write_outputs(report, out or Path(sweep_dir) / "report")
    table = Table(title=f"sweep {sweep_dir}: {sum(s['evaluated'] for s in report['settings'])} runs evaluated")
    for column in HEADER:
        table.add_column(column, justify="left" if column in ("setting", "metric") else "right")
    for row in rows(report):
        table.add_row(*row)
    (console if json_out else out_console()).print(table)
    for s in report["settings"]:
        sel = s.get("selection")
        if sel:
            console.print(f"s{s['setting']:02d} chosen without labels: {sel['chosen']}, {sel['why']}")
            for name, a in sel["agreement"].items():
                rho = "-" if a["rho"] is None else f"{a['rho']:+.2f}"
                console.print(f"  Spearman rho of UDR with {name}: {rho} over {a['n']} runs")
    for run in report["runs"]:
        if "excluded" in run:
            console.print(f"left out: {run['id']}: {run['excluded']}")
    console.print("wrote " + ", ".join(str(p) for p in written.values()))
    if json_out:
        print_json(report)
