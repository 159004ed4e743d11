"""Built-in plugin ``configs``: registers every TOML file in this folder as a named experiment config.

``default`` (what ``infogan-tk train`` runs with no arguments) is ``mnist-fast``: the paper's MNIST
networks and codes on the MNIST copy that ``scripts/install`` installs (plugins/mnist-data), within
minutes on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from infogan_toolkit.api import hookimpl

_HERE = Path(__file__).resolve().parent
DEFAULT = "mnist-fast"


@hookimpl
def register_configs(register):
    for path in sorted(_HERE.glob("*.toml")):
        register(path.stem, path)
    if (_HERE / f"{DEFAULT}.toml").is_file():
        register("default", _HERE / f"{DEFAULT}.toml")
