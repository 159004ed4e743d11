"""Built-in plugin ``configs``: registers every TOML file in this folder as a named experiment config."""

from __future__ import annotations

from pathlib import Path

from infogan_toolkit import hookimpl

_HERE = Path(__file__).resolve().parent


@hookimpl
def register_configs(register):
    for path in sorted(_HERE.glob("*.toml")):
        register(path.stem, path)
