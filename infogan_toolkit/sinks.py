"""Metrics at log intervals: a JSONL file in the run directory plus the registered sinks (a callback).

Pictures other callbacks publish (:class:`~infogan_toolkit.callbacks.ImageEvent`) go to the
sinks that take them: those with a ``write_images(step, images)`` method. At the end of the run a
sink with a ``finish(step, checkpoint, interrupted)`` method hears of the last checkpoint before
``close()``.

A factory is called ``factory(run_dir)``, or ``factory(run_dir, setup)`` with a :class:`SinkSetup`
when it takes a second argument: the run's resolved configuration, the sink's validated
``[train.sink_options.NAME]`` table (checked against the factory's ``options`` attrs class, when
it declares one) and whether ``train.sinks`` named it."""

from __future__ import annotations

import inspect
import json
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from torch import Tensor

from .callbacks import Callback, ImageEvent, LogEvent, RunEndEvent
from .config import coerce_value
from .errors import ConfigError, ToolkitError, option_error
from .files import open_for_write
from .plugins import PluginHost
from .registry import Registry
from .rundir import metrics_path
from .suggest import did_you_mean


class SinkStartError(ToolkitError):
    """A metric sink the run asked for could not start; the run stops before training."""


class MetricSink(ABC):
    """What a ``register_metric_sinks`` factory returns: it receives the metrics log. Subclassing is
    optional; any object with ``write`` and ``close`` works (``write_images`` where it takes pictures)."""

    @abstractmethod
    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """One log interval's metrics (means; a value may be nan or inf), at log intervals only, never per step."""

    def close(self) -> None:
        """The run ended: flush and release what the sink holds."""

    def write_images(self, step: int, images: Mapping[str, Tensor]) -> None:
        """Pictures a callback published at ``step`` (an ``ImageEvent``, such as the figures
        callback's ``traversal`` and ``samples`` at each checkpoint): tag -> a ``(C, H, W)`` float
        image in [0, 1] on the CPU, C being 1 or 3. Optional; the default ignores them."""

    def finish(self, step: int, checkpoint: Path | None, interrupted: bool) -> None:
        """The run ended at ``step`` (stopped early when ``interrupted``); ``checkpoint`` is the
        last model file written (weights), or None. Called once, before ``close()``; optional,
        the default does nothing."""


@attrs.frozen
class SinkSetup:
    """What a two-argument sink factory gets besides the run directory."""

    #: The run directory (``infogan_toolkit.rundir`` knows its layout).
    run_dir: Path
    #: The sink's ``[train.sink_options.NAME]`` table: an instance of the factory's ``options``
    #: class (defaults filled in) when it declares one, else the table as given (empty when none).
    options: Any
    #: Whether the run gave a ``[train.sink_options.NAME]`` table for this sink.
    configured: bool
    #: Whether ``train.sinks`` names this sink (not only ``"*"``): the user asked for it.
    requested: bool
    #: The run's resolved configuration as a nested dict (what ``config.toml`` holds).
    config: Mapping[str, Any] = attrs.field(factory=dict)


def parse_sink_options(registry: Registry, tables: Mapping[str, Any]) -> dict[str, Any]:
    """``train.sink_options`` checked: every key a registered sink, every table valid against its
    factory's ``options`` attrs class (when it has one); sink name -> options. A one-line ConfigError."""
    parsed: dict[str, Any] = {}
    for name, table in tables.items():
        entry = registry.exact(name, "train.sink_options")  # unknown or miscased: an error with a suggestion
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"train.sink_options.{name} must be a table of options, e.g. "
                f'train.sink_options.{name}={{key = "value"}}'
            )
        if table and not takes_setup(entry.obj):
            raise ConfigError(
                f"train.sink_options.{name} sets {', '.join(sorted(map(str, table)))}, but sink '{name}' "
                f"({entry.source()}) takes no options; remove the table"
            )
        parsed[name] = parse_sink_table(name, entry.obj, table, entry.source())
    return parsed


def parse_sink_table(name: str, factory: Any, table: Mapping[str, Any], source: str = "") -> Any:
    """One sink's table checked against its factory's ``options`` attrs class (an instance, defaults
    filled in), or the table as a dict when the factory declares none; a one-line ConfigError."""
    cls = getattr(factory, "options", None)
    if cls is None or not attrs.has(cls):
        return dict(table)
    fields = {f.name: f for f in attrs.fields(cls)}
    where = f"train.sink_options.{name}"
    for key in table:
        if key not in fields:
            raise ConfigError(
                f"unknown option '{where}.{key}'.{did_you_mean(key, fields)} Known: {', '.join(fields) or 'none'}."
            )
    values = {key: coerce_value(where, key, value, fields[key]) for key, value in table.items()}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(option_error(where, exc, source)) from None


def takes_setup(factory: Callable[..., Any]) -> bool:
    """Whether a sink factory takes ``(run_dir, setup)`` rather than ``(run_dir)`` alone."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the one-argument form
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def start_sink(factory: Callable[..., Any], setup: SinkSetup) -> Any:
    """Call a sink factory in whichever form it takes; its sink or None."""
    if takes_setup(factory):
        return factory(Path(setup.run_dir), setup)
    return factory(Path(setup.run_dir))


class MetricLog(Callback):
    """Appends one JSON object per log interval and forwards it to every active sink."""

    def __init__(
        self,
        run_dir: Path,
        host: PluginHost,
        enabled_sinks: list[str],
        active: bool = True,
        sink_options: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = metrics_path(run_dir)
        self.active = active
        self.sinks: list[tuple[str, Any]] = []
        if not active:
            return
        wanted = set(enabled_sinks)
        known = host.registries.sinks
        for name in wanted - {"*"}:
            known.get(name)  # an unknown sink name is an error with a suggestion
        options = dict(sink_options or {})  # already checked by the trainer (parse_sink_options)
        for entry in known:
            if "*" in wanted or entry.name in wanted:
                configured = entry.name in options
                # A sink the user asked for (named in train.sinks, or given a table) that cannot
                # start stops the run here, before training, rather than train untracked.
                asked = entry.name in wanted or configured
                try:
                    table = options[entry.name] if configured else parse_sink_table(entry.name, entry.obj, {})
                    setup = SinkSetup(Path(run_dir), table, configured, entry.name in wanted, dict(config or {}))
                    sink = start_sink(entry.obj, setup)
                except Exception as exc:  # a sink not asked for must never stop training
                    why = " ".join(str(exc).split())[:300] or type(exc).__name__
                    if asked:
                        self.close()
                        raise SinkStartError(
                            f"metric sink '{entry.name}' was asked for but cannot start ({why}); fix its settings "
                            f"(train.sink_options.{entry.name}), or leave it out of train.sinks"
                        ) from None
                    sys.stderr.write(f"infogan-tk: metric sink '{entry.name}' failed to start and is off: {why}\n")
                    continue
                if sink is not None:
                    self.sinks.append((entry.name, sink))
                elif asked:
                    self.close()
                    raise SinkStartError(
                        f"metric sink '{entry.name}' was asked for but is not available (its package is missing, or "
                        "its plugin "
                        "turned it off; see the line above); install it, or leave it out of train.sinks and "
                        "train.sink_options"
                    )

    def write(self, step: int, metrics: dict[str, float]) -> None:
        """Record one interval's metrics."""
        if not self.active:
            return
        record = {"step": step, **{k: (v if math.isfinite(v) else str(v)) for k, v in metrics.items()}}
        with open_for_write(self.path, append=True) as fh:  # never through a planted link
            fh.write(json.dumps(record) + "\n")
        for name, sink in list(self.sinks):
            try:
                sink.write(step, metrics)
            except Exception as exc:
                sys.stderr.write(f"infogan-tk: metric sink '{name}' failed and is turned off: {exc}\n")
                self.sinks.remove((name, sink))

    def on_log(self, event: LogEvent) -> None:
        """Record the interval's metrics."""
        self.write(event.step, event.metrics)

    def on_images(self, event: ImageEvent) -> None:
        """Hand published pictures to every sink that takes images."""
        for name, sink in list(self.sinks):
            write_images = getattr(sink, "write_images", None)
            if write_images is None:
                continue
            try:
                write_images(event.step, event.images)
            except Exception as exc:
                sys.stderr.write(f"infogan-tk: metric sink '{name}' failed writing images and is turned off: {exc}\n")
                self.sinks.remove((name, sink))

    def on_run_end(self, event: RunEndEvent) -> None:
        """Tell the sinks that take it how the run ended, then close them."""
        for name, sink in list(self.sinks):
            finish = getattr(sink, "finish", None)
            if finish is None:
                continue
            try:
                finish(event.step, event.checkpoint, event.interrupted)
            except Exception as exc:
                sys.stderr.write(f"infogan-tk: metric sink '{name}' failed at the end of the run: {exc}\n")
        self.close()

    def close(self) -> None:
        """Close every sink."""
        for _name, sink in self.sinks:
            try:
                sink.close()
            except Exception:
                pass
