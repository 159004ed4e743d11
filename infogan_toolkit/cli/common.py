"""Shared CLI plumbing: consoles, one-line errors, and building a configuration from flags."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..config import Config, apply_dict, load_toml, parse_override
from ..errors import ConfigError, ToolkitError
from ..plugins import PluginHost
from ..suggest import did_you_mean
from ..text import PlainConsole, one_line
from .entry import INTERRUPTED, INTERRUPTED_MESSAGE

DEBUG_ENV = "INFOGAN_TK_DEBUG"

GENERATOR_OPT = typer.Option(
    None, "--generator",
    help="Which of the checkpoint's generators: raw (the trained weights) or one the run kept beside it, "
         "such as ema (train.ema's moving average); default: the averaged one where it exists, else raw.",
)


#: The largest --seed a command takes (torch's and numpy's generators take 64-bit seeds; the
#: config's train.seed is 32-bit, and one range for every command keeps them interchangeable).
MAX_SEED = 2**32 - 1


def check_seed(seed: int) -> None:
    """Refuse a ``--seed`` outside ``[0, MAX_SEED]`` with one line."""
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be a whole number in [0, {MAX_SEED:,}], got {seed}")


def err_console() -> Console:
    """Messages and progress go to stderr, so stdout stays clean for --json.

    soft_wrap: a message is one line however narrow the terminal, and a log file gets it whole.
    Plain: text from checkpoints, configs and paths is never read as markup (``infogan_toolkit.text``).
    """
    return PlainConsole(stderr=True, soft_wrap=True)


def out_console() -> Console:
    """Human output on stdout, plain as :func:`err_console`."""
    return PlainConsole()


def print_json(data: Any) -> None:
    """Only JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def one_line_errors(fn):
    """Turn a ToolkitError into one line on stderr and exit code 2 (INFOGAN_TK_DEBUG=1 shows the traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ToolkitError as exc:
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            sys.stderr.write(f"error: {one_line(exc)}\n")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # Ctrl-C before a command handles it itself (training, once it runs, does)
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            sys.stderr.write(INTERRUPTED_MESSAGE)
            raise typer.Exit(INTERRUPTED) from None

    return wrapper


def config_source(ref: str, host: PluginHost) -> tuple[dict, str]:
    """A config given as a TOML path or as a registered name -> (data, description)."""
    path = Path(ref).expanduser()
    if path.is_file() or ref.endswith(".toml"):
        return load_toml(path), str(path)
    registry = host.registries.configs
    if ref not in registry:
        raise ConfigError(
            f"'{ref}' is neither a TOML file nor a registered config.{did_you_mean(ref, registry.names())} "
            f"Known: {', '.join(registry.names()) or 'none'}."
        )
    entry = registry.entry(ref)
    return load_toml(Path(entry.obj)), f"config '{entry.name}' ({entry.obj})"


def build_config(
    host: PluginHost,
    config: str | None = None,
    flags: dict[str, dict[str, Any]] | None = None,
    sets: list[str] | None = None,
    base: Config | None = None,
) -> Config:
    """defaults < config file < flags < --set. With neither a config nor a backbone, the registered 'default'."""
    cfg = base or Config()
    flags = {s: {k: v for k, v in d.items() if v is not None} for s, d in (flags or {}).items()}
    flags = {s: d for s, d in flags.items() if d}
    sets = sets or []
    override_backbone = "backbone" in flags.get("model", {}) or any(s.strip().startswith("model.backbone=") for s in sets)
    if config is None and base is None and not override_backbone:
        if "default" in host.registries.configs:
            config = "default"
    if config is not None:
        data, source = config_source(config, host)
        cfg = apply_dict(cfg, data, source)
    cfg = apply_dict(cfg, flags, "the command-line flags")
    for s in sets:
        cfg = apply_dict(cfg, parse_override(s), f"--set {s}")
    return cfg


__all__ = ["GENERATOR_OPT", "build_config", "err_console", "one_line_errors", "out_console", "print_json"]
