"""Built-in callback ``figures``: at every checkpoint, the L_I curve, the step's traversal sheet
and a grid of samples, drawn by the checkpoint's default generator (the moving average where the
run keeps one, ``train.ema``).

It hangs on the trainer's checkpoint event, so the engine draws nothing itself, and publishes the
sheet and the grid as an image event (tags ``traversal`` and ``samples``), which every other
callback hears (TensorBoard's and W&B's log them); ``train.figures = false`` (or leaving
``figures`` out of ``train.callbacks``) turns it off.
"""

from __future__ import annotations

from infogan_toolkit.api import (
    Callback,
    CheckpointEvent,
    ImageEvent,
    RunInfo,
    hookimpl,
    write_training_figures,
)


class TrainingFigures(Callback):
    """Writes ``figures/information.png``, ``figures/traversal-STEP.png`` and ``figures/samples-STEP.png`` of a run."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        """Draw the figures of the checkpoint just written and publish them."""
        name, generator = event.default_generator()
        named = name if len(event.generators) > 1 else None
        pictures = write_training_figures(
            self.info.run_dir, event.step, generator, self.info.assembly, self.info.device, named
        )
        self.info.publish_images(ImageEvent(event.step, pictures))


def make_figures(info: RunInfo) -> TrainingFigures | None:
    """L_I curve, traversal sheet and sample grid at every checkpoint (train.figures; off when false)."""
    return TrainingFigures(info) if info.assembly.config.train.figures else None


@hookimpl
def register_callbacks(register):
    """Register ``figures``."""
    register("figures", make_figures)
