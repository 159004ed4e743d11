"""Built-in callback ``tensorboard``: each log interval's metrics as scalars, and the pictures
callbacks publish (the figures callback's traversal sheet and sample grid at each checkpoint) as
images, in ``RUN/tensorboard`` for TensorBoard.

On whenever ``torch.utils.tensorboard`` imports (``pip install infogan-toolkit[tensorboard]``);
otherwise the run goes on without it, unless the run asked for it (named in ``train.callbacks``),
which then stops before training with the install line.
"""

from __future__ import annotations

from typing import Any

from infogan_toolkit.api import (
    Callback,
    ImageEvent,
    LogEvent,
    RunEndEvent,
    RunInfo,
    ToolkitError,
    TrainStartEvent,
    hookimpl,
    real_directory,
)

SUBDIR = "tensorboard"


class TensorBoardLog(Callback):
    """Writes each metric as a scalar series, and each published picture as an image, under ``RUN/tensorboard``."""

    def __init__(self, info: RunInfo, writer_class: Any) -> None:
        self.info = info
        self.writer_class = writer_class  # SummaryWriter, imported by the factory
        self.writer: Any = None

    def on_train_start(self, event: TrainStartEvent) -> None:
        """Open the event file: in a real folder of the run, never a symbolic link planted at its name."""
        self.writer = self.writer_class(log_dir=str(real_directory(self.info.run_dir / SUBDIR)))

    def on_log(self, event: LogEvent) -> None:
        """Add one point per metric at the interval's step; flushed at once (log intervals only)."""
        for name, value in event.metrics.items():
            self.writer.add_scalar(name, float(value), int(event.step))
        self.writer.flush()

    def on_images(self, event: ImageEvent) -> None:
        """Add each ``(C, H, W)`` picture in [0, 1] under its tag at its step; flushed at once."""
        for tag, image in event.images.items():
            self.writer.add_image(tag, image, int(event.step), dataformats="CHW")
        self.writer.flush()

    def on_run_end(self, event: RunEndEvent) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()


def make_tensorboard(info: RunInfo) -> TensorBoardLog | None:
    """TensorBoard scalars and images in RUN/tensorboard, when torch.utils.tensorboard imports.

    None off the main process, and where TensorBoard is not installed and the run did not ask for it."""
    if not info.is_main:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # ImportError, or a tensorboard/protobuf mismatch that fails at import
        if not info.requested:
            return None
        why = " ".join(str(exc).split())[:200]
        raise ToolkitError(
            f"torch.utils.tensorboard does not import ({why}); pip install 'infogan-toolkit[tensorboard]'"
        ) from None
    return TensorBoardLog(info, SummaryWriter)


@hookimpl
def register_callbacks(register):
    """Register ``tensorboard``."""
    register("tensorboard", make_tensorboard)


__all__ = ["TensorBoardLog", "make_tensorboard", "SUBDIR"]
