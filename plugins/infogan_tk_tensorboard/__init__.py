"""Built-in plugin ``tensorboard``: a metric sink writing scalars, and the pictures callbacks
publish (the figures callback's traversal sheet and sample grid at each checkpoint), for TensorBoard.

Active only when ``torch.utils.tensorboard`` imports (``pip install infogan-toolkit[tensorboard]``);
otherwise its factory returns None and the run goes on without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infogan_toolkit.api import MetricSink, hookimpl, real_directory

SUBDIR = "tensorboard"


class TensorBoardSink(MetricSink):
    """Writes each metric as a scalar series, and each published picture as an image, under ``run_dir/tensorboard``."""

    def __init__(self, writer: Any) -> None:  # a SummaryWriter; imported lazily
        self.writer = writer

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """Add one point per metric at ``step``; flushed at once, as this runs at log intervals only."""
        for name, value in metrics.items():
            self.writer.add_scalar(name, float(value), int(step))
        self.writer.flush()

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        """Add each ``(C, H, W)`` picture in [0, 1] under its tag at ``step``; flushed at once (checkpoints only)."""
        for tag, image in images.items():
            self.writer.add_image(tag, image, int(step), dataformats="CHW")
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def make_sink(run_dir: Path) -> TensorBoardSink | None:
    """A sink for ``run_dir``, or None when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # ImportError, or a tensorboard/protobuf mismatch that fails at import
        return None
    # A real folder of the run, never a symbolic link planted at its name.
    return TensorBoardSink(SummaryWriter(log_dir=str(real_directory(Path(run_dir) / SUBDIR))))


@hookimpl
def register_metric_sinks(register):
    register("tensorboard", make_sink)
