"""Built-in backbones: the InfoGAN paper's networks and a small network for the shapes data.

``mnist`` (Table 1), ``svhn`` (Table 2), ``celeba`` (Table 3), ``faces`` (Table 4), ``chairs``
(Table 6) and ``shapes`` (a toolkit choice for 64x64 gray). See ``docs/backbones.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from infogan_toolkit.api import hookimpl

from .networks import BACKBONES


@hookimpl
def register_backbones(register: Callable[[str, object], None]) -> None:
    """Register one instance of each built-in backbone under its name."""
    for name, cls in BACKBONES.items():
        register(name, cls())
