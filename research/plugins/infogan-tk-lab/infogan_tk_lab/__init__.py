"""The lab's plugin: regularisers and a config that are experiments, not the product.

None of these is a published method or has a measured benefit on two data sets, so they are not
built into infogan-toolkit (docs/regularisers.md says what ships). They register through the same
hooks and entry-point group as the built-ins:

* ``equivariance``: moving a fake moves Q's continuous readings by one affine map of the shift for
  the whole batch, so a code cannot mean one thing for one image and another for the next;
* ``layout``: the continuous codes lay out every category's image in the same place (a prior about
  data where any category can sit anywhere at any size, such as the glyphs);
* the ``glyphs`` config (``infogan-tk train --config glyphs``), which turns both on.
"""

from __future__ import annotations

from pathlib import Path

from infogan_toolkit.api import hookimpl

from .equivariance import Equivariance
from .layout import Layout

#: The lab's experiment configs, registered by file name.
CONFIGS = Path(__file__).resolve().parent / "configs"


@hookimpl
def register_regularisers(register):
    """The lab's terms."""
    register("equivariance", Equivariance())
    register("layout", Layout())


@hookimpl
def register_configs(register):
    """Every TOML file in ``configs/``, under its file name."""
    for path in sorted(CONFIGS.glob("*.toml")):
        register(path.stem, path)
