"""Metrics at log intervals: a JSONL file in the run directory plus the registered sinks (a callback).

Pictures other callbacks publish (:class:`~infogan_toolkit.engine.events.ImageEvent`) go to the
sinks that take them: those with a ``write_images(step, images)`` method."""

from __future__ import annotations

import json
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..files import open_for_write
from ..plugins import PluginHost
from ..rundir import metrics_path
from .events import Callback, ImageEvent, LogEvent, RunEndEvent


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


class MetricLog(Callback):
    """Appends one JSON object per log interval and forwards it to every active sink."""

    def __init__(self, run_dir: Path, host: PluginHost, enabled_sinks: list[str], active: bool = True) -> None:
        self.path = metrics_path(run_dir)
        self.active = active
        self.sinks: list[tuple[str, Any]] = []
        if not active:
            return
        wanted = set(enabled_sinks)
        known = host.registries.sinks
        for name in wanted - {"*"}:
            known.get(name)  # an unknown sink name is an error with a suggestion
        for entry in known:
            if "*" in wanted or entry.name in wanted:
                try:
                    sink = entry.obj(Path(run_dir))
                except Exception as exc:  # a sink must never stop training
                    sys.stderr.write(f"infogan-tk: metric sink '{entry.name}' failed to start and is off: {exc}\n")
                    continue
                if sink is not None:
                    self.sinks.append((entry.name, sink))

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
        """Close the sinks."""
        self.close()

    def close(self) -> None:
        """Close every sink."""
        for _name, sink in self.sinks:
            try:
                sink.close()
            except Exception:
                pass
