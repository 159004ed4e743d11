"""What both trackers share: their factory (when one is wanted, the error when its package is
missing), the resolved config as flat ``section.key`` parameters, and the timeout every talk to a
server has."""

from __future__ import annotations

import importlib
import math
import os
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any

from infogan_toolkit.api import ConfigError, RunInfo, ToolkitError

#: The default connect and write timeout of a tracker's server, seconds.
DEFAULT_TIMEOUT = 10.0


class TrackerFactory:
    """What both trackers' factories share: a tracker runs on the main process only, when the run
    asked for it (named in ``train.callbacks`` or given an options table) or one of ``env_vars`` is
    set; a wanted tracker whose package does not import is an error with the install line (the run
    stops if it asked, else goes on without it). A subclass only names its parts."""

    #: The callback's name, which is also its extra (``pip install 'infogan-toolkit[NAME]'``).
    name: str
    #: The package the client comes from.
    package: str
    #: Environment variables that turn the tracker on under ``"*"``.
    env_vars: tuple[str, ...]
    #: The ``[train.callback_options.NAME]`` table's attrs class.
    options: type
    #: Where the client is, ``module`` or ``module:attribute``; imported only when the tracker is wanted.
    client: str
    #: The callback class, called ``(info, options, client)``; it connects in ``on_train_start``.
    tracker: type

    def __call__(self, info: RunInfo) -> Any:
        """The tracker, or None when this run does not want it."""
        if not (info.is_main and (info.requested or any(os.environ.get(var) for var in self.env_vars))):
            return None
        module, _, attribute = self.client.partition(":")
        try:
            loaded = importlib.import_module(module)
        except Exception as exc:  # ImportError, or a broken install that fails at import
            if isinstance(exc, ImportError):
                why = f"the {self.package} package is not installed (pip install 'infogan-toolkit[{self.name}]')"
            else:
                why = f"the {self.package} package failed to import: {' '.join(str(exc).split())}"
            raise ToolkitError(why) from None
        options = info.options if isinstance(info.options, self.options) else self.options()
        return self.tracker(info, options, getattr(loaded, attribute) if attribute else loaded)


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


def timeout_seconds(instance: Any, attribute: Any, value: float) -> None:
    """An attrs validator: a timeout in seconds, finite and in (0, 600]."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 600):
        raise ConfigError(f"{attribute.name} must be a number of seconds in (0, 600], got {value!r}")


def check_reachable(url: str, timeout: float, what: str) -> None:
    """Refuse, in one line and within ``timeout`` seconds, an ``http(s)://`` server where nothing
    answers: a TCP connection to its host and port is tried first, so that a client that retries
    for minutes never starts. Other URLs (a file, ``sqlite:///``) are left to the client."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ToolkitError(f"{what} '{url}' has no valid port; give http(s)://HOST:PORT") from None
    if not parts.hostname:
        raise ToolkitError(f"{what} '{url}' names no host; give http(s)://HOST:PORT")
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__ if not isinstance(exc, TimeoutError) else f"no answer in {timeout:g} s"
        raise ToolkitError(
            f"{what} '{url}' cannot be reached ({why}); start the server, fix the URL, or raise the tracker's timeout"
        ) from None
