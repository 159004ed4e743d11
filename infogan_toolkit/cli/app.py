"""The `infogan-tk` command: one typer app; each command lives in its own module."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="infogan-tk",
    help="InfoGAN toolkit: train, sample, traverse, evaluate and inspect InfoGAN models built from plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Show configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"infogan-tk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """InfoGAN toolkit."""


# Registering the commands (import for their side effect on `app`).
from . import train as _train  # noqa: E402,F401
from . import show as _show  # noqa: E402,F401
from . import pictures as _pictures  # noqa: E402,F401
from . import evaluate as _evaluate  # noqa: E402,F401
from . import export as _export  # noqa: E402,F401
from . import encode as _encode  # noqa: E402,F401
from . import plugin_tools as _plugin_tools  # noqa: E402,F401
from . import sweep as _sweep  # noqa: E402,F401
from . import explore as _explore  # noqa: E402,F401
