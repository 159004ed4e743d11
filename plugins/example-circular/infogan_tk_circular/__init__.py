"""infogan-tk plugin ``circular``: the ``circN`` code kind (angles) and the ``von-mises`` Q head.

infogan-tk finds this module through the ``infogan_toolkit`` entry point in pyproject.toml and
calls the two ``@hookimpl`` functions below when it builds its registries.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .code import CircularCode, make_circular
from .head import VonMisesHead

__all__ = ["CircularCode", "VonMisesHead", "make_circular"]


@hookimpl
def register_code_kinds(register):
    """Make ``circN`` available in code specs, e.g. ``--codes cat10,circ1``."""
    register("circ", make_circular)


@hookimpl
def register_heads(register):
    """The head that ``CircularCode.default_head`` names."""
    register("von-mises", VonMisesHead())
