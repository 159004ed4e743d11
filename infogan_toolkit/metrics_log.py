"""The run's metrics log: one JSON object per log interval in ``metrics.jsonl`` (the first
callback of every run, on the main process; not a plugin, so a run always has its record)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .callbacks import Callback, LogEvent
from .files import open_for_write
from .rundir import metrics_path


class MetricLog(Callback):
    """Appends each log interval's metrics to the run's ``metrics.jsonl``; nan and inf as text."""

    def __init__(self, run_dir: Path) -> None:
        self.path = metrics_path(run_dir)

    def on_log(self, event: LogEvent) -> None:
        """Record the interval's metrics."""
        record = {"step": event.step, **{k: (v if math.isfinite(v) else str(v)) for k, v in event.metrics.items()}}
        with open_for_write(self.path, append=True) as fh:  # never through a planted link
            fh.write(json.dumps(record) + "\n")
