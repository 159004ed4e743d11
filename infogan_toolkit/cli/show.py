"""`infogan-tk list`, `infogan-tk plugins` and `infogan-tk inspect`: what is installed, what a checkpoint holds."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import attrs
import typer
from rich.table import Table

from ..checkpoint import read_metadata, resolve_checkpoint
from ..plugins import PluginHost
from .app import app
from .common import one_line_errors, out_console, print_json


class Kind(str, Enum):
    codes = "codes"
    heads = "heads"
    backbones = "backbones"
    datasets = "datasets"
    sinks = "sinks"
    configs = "configs"
    regularisers = "regularisers"
    callbacks = "callbacks"
    metrics = "metrics"


def _describe(kind: str, obj) -> str:
    if kind == "codes":
        return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
    if kind == "heads":
        return f"family {obj.family}"
    if kind == "backbones":
        return obj.describe()
    if kind == "datasets":
        return getattr(obj, "description", "")
    if kind == "configs":
        return str(obj)
    if kind == "metrics":
        return obj.description
    if kind == "callbacks":
        return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
    if kind == "regularisers":
        return ((type(obj).__doc__ or "").strip().splitlines() or [""])[0] + f"; options: {', '.join(f.name for f in attrs.fields(obj.options))}"
    return ""


@app.command("list")
@one_line_errors
def list_(
    kind: Kind = typer.Argument(None, help="What to list; all kinds when left out."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """List registered code kinds, Q heads, backbones, datasets, metric sinks, configs, regularisers, callbacks and metrics, with their plugins."""
    regs = PluginHost().registries
    kinds = [kind.value] if kind else [k.value for k in Kind]
    rows = {
        k: [
            {"name": e.name, "plugin": e.plugin, "distribution": e.distribution, "version": e.version, "description": _describe(k, e.obj)}
            for e in getattr(regs, k)
        ]
        for k in kinds
    }
    if json_out:
        print_json(rows if kind is None else rows[kind.value])
        return
    console = out_console()
    for k in kinds:
        table = Table(title=k, title_justify="left")
        for col in ("name", "plugin", "distribution", "description"):
            table.add_column(col)
        for r in rows[k]:
            table.add_row(r["name"], r["plugin"], f"{r['distribution']} {r['version']}", r["description"])
        console.print(table)


@app.command()
@one_line_errors
def plugins(json_out: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Show every plugin: status, distribution and version, and the hooks it implements."""
    infos = PluginHost().plugins()
    if json_out:
        print_json([p.as_dict() for p in infos])
        return
    table = Table(title="plugins", title_justify="left")
    for col in ("name", "status", "distribution", "hooks"):
        table.add_column(col)
    for p in infos:
        status = p.status if not p.error else f"{p.status}: {p.error}"
        table.add_row(p.name, status, f"{p.distribution} {p.version}", ", ".join(p.hooks))
    out_console().print(table)


@app.command()
@one_line_errors
def inspect(
    checkpoint: Path = typer.Argument(..., help="A .safetensors checkpoint or a run directory."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Print a checkpoint's metadata without loading its tensors."""
    path = resolve_checkpoint(checkpoint)
    meta = read_metadata(path)
    decoded = {}
    for key, value in meta.items():
        try:
            decoded[key] = json.loads(value) if value[:1] in "[{" else value
        except json.JSONDecodeError:
            decoded[key] = value
    if json_out:
        print_json({"path": str(path), "metadata": decoded})
        return
    console = out_console()
    console.print(f"[bold]{path}[/]")
    table = Table(show_header=False)
    for key, value in decoded.items():
        if key == "config":
            continue
        table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    console.print(table)
    if "config" in decoded:
        from ..config import dict_to_toml

        console.print(dict_to_toml(decoded["config"]), markup=False)
