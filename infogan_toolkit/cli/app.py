"""The `infogan-tk` command: one typer app; each command lives in its own module."""

from __future__ import annotations

import typer

from ..version import __version__
from . import encode, evaluate, explore, export, pictures, plugin_tools, show, sweep, train

app = typer.Typer(
    name="infogan-tk",
    help="InfoGAN toolkit: train, sample, traverse, evaluate and inspect InfoGAN models built from plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Each command module holds its commands in its own Typer and imports nothing from here, so that
# the command line is assembled in one place and no module imports back into it.
for _module in (train, show, pictures, evaluate, export, encode, plugin_tools, explore):
    app.registered_commands += _module.commands.registered_commands
app.add_typer(train.config_commands, name="config")
app.add_typer(sweep.sweep_app, name="sweep")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"infogan-tk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """InfoGAN toolkit."""
