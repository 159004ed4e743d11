"""Shared CLI plumbing: consoles, one-line errors, the --seed and --generator options."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any

import typer
from rich.console import Console

from ..config_builder import build_config, config_source
from ..errors import ConfigError, ToolkitError
from ..text import PlainConsole, one_line
from .interrupt import INTERRUPTED, INTERRUPTED_MESSAGE

DEBUG_ENV = "INFOGAN_TK_DEBUG"

GENERATOR_OPT = typer.Option(
    None,
    "--generator",
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


__all__ = [
    "GENERATOR_OPT",
    "build_config",
    "config_source",
    "err_console",
    "one_line_errors",
    "out_console",
    "print_json",
]
