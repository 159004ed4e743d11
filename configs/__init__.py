"""Built-in plugin ``configs``: registers every TOML file in this folder as a named experiment config.

``default`` (what ``infogan-tk train`` runs with no arguments) is the procedural glyphs config,
which needs no files and trains in minutes on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from infogan_toolkit import hookimpl

_HERE = Path(__file__).resolve().parent
DEFAULT = "glyphs"


@hookimpl
def register_configs(register):
    for path in sorted(_HERE.glob("*.toml")):
        register(path.stem, path)
    if (_HERE / f"{DEFAULT}.toml").is_file():
        register("default", _HERE / f"{DEFAULT}.toml")
