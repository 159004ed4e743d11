"""What both trackers share: when one is wanted, the line said when its package is missing, and
the resolved config as flat ``section.key`` parameters."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from infogan_toolkit.engine.metrics import SinkSetup


def wanted(setup: SinkSetup, env_vars: Iterable[str]) -> bool:
    """Whether the run asked for the tracker: named in ``train.sinks``, given an options table, or
    one of the tracker's own environment variables set (non-empty)."""
    return setup.requested or setup.configured or any(os.environ.get(var) for var in env_vars)


def say_missing(name: str, package: str, exc: BaseException) -> None:
    """The one line a wanted tracker says when its package does not import."""
    if isinstance(exc, ImportError):
        why = f"the {package} package is not installed (pip install 'infogan-toolkit[{name}]')"
    else:
        why = f"the {package} package failed to import: {' '.join(str(exc).split())}"
    sys.stderr.write(f"infogan-tk: metric sink '{name}' is off: {why}\n")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"steps": 5}}`` -> ``{"train.steps": 5}``; nested tables become dotted keys, an
    empty table stays as ``{}`` so that every key of the config shows."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
