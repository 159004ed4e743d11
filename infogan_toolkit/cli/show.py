"""`infogan-tk list`, `infogan-tk plugins` and `infogan-tk inspect`: what is installed, what a checkpoint holds."""

from __future__ import annotations

import json
import sys
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import typer
from rich.table import Table

from ..callbacks import options_class
from ..checkpoint import MODEL_FORMAT, read_metadata, resolve_checkpoint
from ..checkpoint_schema import check_model_metadata, check_state_metadata
from ..errors import PluginError
from ..plugins import HOOK_REGISTRIES, PluginHost
from ..registry import install_advice
from ..text import one_line, printable
from .common import one_line_errors, out_console, print_json

#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


class Kind(str, Enum):
    codes = "codes"
    heads = "heads"
    backbones = "backbones"
    datasets = "datasets"
    configs = "configs"
    regularisers = "regularisers"
    callbacks = "callbacks"
    metrics = "metrics"
    extractors = "extractors"
    executors = "executors"


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
        options = f"; --option keys: {', '.join(obj.options)}" if obj.options else ""
        return obj.description + ("" if obj.default else "; on request only (--metrics)") + options
    if kind == "extractors":
        return obj.description + (f"; default for {', '.join(obj.datasets)}" if obj.datasets else "")
    if kind == "executors":
        return obj.description
    if kind == "callbacks":
        first = ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
        cls = options_class(obj)
        if cls is None:
            return first
        keys = ", ".join(f.name for f in attrs.fields(cls))
        return f"{first.rstrip('.')}; options (train.callback_options.NAME): {keys}"
    if kind == "regularisers":
        return ((type(obj).__doc__ or "").strip().splitlines() or [""])[
            0
        ] + f"; options: {', '.join(f.name for f in attrs.fields(obj.options))}"
    return ""


@commands.command("list")
@one_line_errors
def list_(
    kind: Kind = typer.Argument(None, help="What to list; all kinds when left out."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """List registered code kinds, Q heads, backbones, datasets, configs, regularisers, callbacks,
    metrics, feature extractors and sweep executors, with their plugins."""
    regs = PluginHost().registries
    kinds = [kind.value] if kind else [k.value for k in Kind]
    rows = {
        k: [
            {
                "name": e.name,
                "plugin": e.plugin,
                "distribution": e.distribution,
                "version": e.version,
                "description": _describe(k, e.obj),
            }
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


@commands.command()
@one_line_errors
def plugins(json_out: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Show every plugin: status, distribution and version, and the hooks it implements.

    Exits 1 when two plugins register the same name (each clash is named on stderr, with both
    distributions) or when a plugin's register hook fails.
    """
    host = PluginHost()
    infos = host.plugins()
    problems: list[str] = []
    clashes_of: dict[str, list[str]] = {p.name: [] for p in infos}
    try:
        for clash in host.name_clashes():
            problems.append(str(clash))
            for mine, theirs in ((clash.first, clash.second), (clash.second, clash.first)):
                clashes_of.setdefault(mine.plugin, []).append(
                    f"{clash.what} '{clash.name}' also registered by plugin '{theirs.plugin}' ({theirs.distribution})"
                )
    except PluginError as exc:  # a register hook that raises: the listing still shows
        problems.append(str(exc))
    if json_out:
        print_json([{**p.as_dict(), "clashes": clashes_of.get(p.name, [])} for p in infos])
    else:
        table = Table(title="plugins", title_justify="left")
        for col in ("name", "status", "distribution", "hooks"):
            table.add_column(col)
        for p in infos:
            status = p.status if not p.error else f"{p.status}: {p.error}"
            if clashes_of.get(p.name):
                status += ", name clash: " + "; ".join(clashes_of[p.name])
            table.add_row(p.name, status, f"{p.distribution} {p.version}", ", ".join(p.hooks))
        out_console().print(table)
    for problem in problems:
        sys.stderr.write(f"error: {one_line(problem)}\n")
    if problems:
        raise typer.Exit(1)


#: The key prefix in a checkpoint's ``plugins`` table -> (registry attribute, noun).
_PROVENANCE_KEYS = {
    "backbone": "backbones",
    "code": "codes",
    "head": "heads",
    "dataset": "datasets",
    "regulariser": "regularisers",
    "callback": "callbacks",
}


def missing_plugins(provenance: dict[str, dict], host: PluginHost) -> list[str]:
    """Warnings, one per distribution, for the pieces of a checkpoint's ``plugins`` table that this
    environment cannot provide: a distribution that is not installed, or a name nobody registers."""
    nouns = dict(HOOK_REGISTRIES.values())
    try:
        regs = host.registries
    except PluginError as exc:
        return [
            f"the installed plugins do not load ({' '.join(str(exc).split())}), so the checkpoint's plugins were not "
            "checked"
        ]
    absent: dict[str, list[str]] = {}  # distribution -> pieces
    unregistered: list[str] = []
    for key, prov in sorted(provenance.items()):
        attr = _PROVENANCE_KEYS.get(key.split(":")[0])
        if attr is None or not isinstance(prov, dict) or not prov.get("name"):
            continue
        reg = getattr(regs, attr, None)
        what = f"{nouns.get(attr, attr)} '{prov['name']}'"
        dist, installed = prov.get("distribution"), None
        if dist:
            try:
                installed = metadata.version(dist)
            except metadata.PackageNotFoundError:
                absent.setdefault(dist, []).append(what)
                continue
        if reg is not None and prov["name"] not in reg:
            note = reg.disabled_note(prov["name"])
            if not note:
                note = (
                    f"the checkpoint was made with {dist} {prov.get('version')}, {installed} is installed; install "
                    "that version"
                    if dist
                    else f"plugin '{prov.get('plugin')}' was registered in-process; register it again before loading"
                )
            unregistered.append(f"the checkpoint's {what} is not registered here: {note}")
    warnings = [
        f"the checkpoint's {', '.join(pieces)} come{'s' if len(pieces) == 1 else ''} from distribution '{dist}', "
        "which is not "
        f"installed; {install_advice(dist)} to load, evaluate or sample it"  # the schema admits valid names only
        for dist, pieces in absent.items()
    ]
    return warnings + unregistered


@commands.command()
@one_line_errors
def inspect(
    checkpoint: Path = typer.Argument(..., help="A .safetensors checkpoint or a run directory."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Print a checkpoint's metadata without loading its tensors.

    The metadata is checked against the checkpoint schema first (a malformed file is a one-line
    error) and printed as plain text: nothing in it is read as markup, control characters are
    escaped. Warns on stderr (one line each, the exit status stays 0) when a plugin distribution the
    checkpoint was made with is not installed, or a name it uses is not registered.
    """
    path = resolve_checkpoint(checkpoint)
    meta = read_metadata(path)
    if meta.get("format") == MODEL_FORMAT:
        check_model_metadata(path, meta)
    else:
        check_state_metadata(path, meta)
    decoded: dict[str, Any] = {}  # metadata values, the JSON ones decoded
    for key, value in meta.items():
        decoded[key] = json.loads(value) if key in _JSON_KEYS or key.endswith(".param_groups") else value
    provenance = decoded.get("plugins")
    warnings = missing_plugins(provenance, PluginHost()) if isinstance(provenance, dict) and provenance else []
    for warning in warnings:
        sys.stderr.write(f"warning: {one_line(warning)}\n")
    if json_out:
        print_json({"path": str(path), "metadata": decoded, "warnings": warnings})
        return
    console = out_console()  # plain: metadata is never read as markup, controls are escaped
    console.print(str(path), style="bold")
    table = Table(show_header=False)
    for key, value in decoded.items():
        if key == "config":
            continue
        table.add_row(printable(key), printable(json.dumps(value) if isinstance(value, (dict, list)) else value))
    console.print(table)
    if "config" in decoded:
        from ..config import dict_to_toml

        try:
            text = dict_to_toml(decoded["config"])
        except (TypeError, ValueError, RecursionError):  # JSON that TOML cannot hold (a null in a table, deep nesting)
            text = json.dumps(decoded["config"], indent=2)
        console.print(text)


#: Metadata keys of a weights file that hold JSON (checked by the schema before they are decoded).
_JSON_KEYS = ("config", "codes_detail", "plugins", "image_shape", "generators")
