"""The ``wandb`` callback: a Weights & Biases run, online or offline.

Logged: the resolved config as the run's config (nested as in ``config.toml``), each log
interval's metrics at their step (nan and inf as they are: W&B records them), and the pictures
callbacks publish at checkpoints (the figures callback's ``traversal`` and ``samples``) as images
at their step. ``WANDB_MODE=offline`` (or the option ``mode = "offline"``) writes the run only to
disk, ``DIR/wandb/offline-run-*``, for ``wandb sync`` later; nothing goes over the network.

Where: the option ``project``, else ``WANDB_PROJECT``, else ``infogan-tk``; the files under the
option ``dir``, else ``WANDB_DIR``, else the run directory. W&B's other variables (``WANDB_ENTITY``,
``WANDB_API_KEY``, ``WANDB_SILENT``...) apply as usual.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import torch

from infogan_toolkit.api import (
    Callback,
    ConfigError,
    ImageEvent,
    LogEvent,
    RunEndEvent,
    RunInfo,
    TrainStartEvent,
)

from .common import (
    DEFAULT_TIMEOUT,
    TrackerFactory,
    check_reachable,
    timeout_seconds,
)

ENV_VARS = ("WANDB_PROJECT",)
MODES = ("", "online", "offline", "disabled")


def _mode(instance: Any, attribute: Any, value: str) -> None:
    if value not in MODES:
        raise ConfigError(f"mode must be one of online, offline, disabled, got {value!r}")


@attrs.frozen
class WandbOptions:
    """``[train.callback_options.wandb]``: every key optional."""

    #: Project; else ``WANDB_PROJECT``, else ``infogan-tk``.
    project: str = ""
    #: Entity (user or team); else ``WANDB_ENTITY``, else the account's default.
    entity: str = ""
    #: ``online``, ``offline`` or ``disabled``; else ``WANDB_MODE``, else W&B's default (online).
    mode: str = attrs.field(default="", validator=_mode)
    #: The W&B run's name; else the run directory's name.
    run_name: str = ""
    #: Tags on the W&B run.
    tags: list[str] = attrs.field(factory=list)
    #: Where W&B writes its files; else ``WANDB_DIR``, else the run directory.
    dir: str = ""
    #: Log the pictures published at checkpoints (traversal sheet, sample grid).
    images: bool = True
    #: Seconds to reach the W&B server (online mode) and to start the run, in (0, 600]; no answer
    #: stops the run before training.
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=timeout_seconds)


def _picture(image: torch.Tensor) -> Any:
    """A ``(C, H, W)`` float image in [0, 1] as the ``(H, W[, C])`` uint8 array W&B takes."""
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


class WandbTracker(Callback):
    """One W&B run (a ``wandb.Run``), started with the training run and fed with ``run.log`` at log
    intervals and checkpoints."""

    def __init__(self, info: RunInfo, options: WandbOptions, wandb: Any) -> None:
        self.info = info
        self.options = options
        self.wandb = wandb  # the module, imported by the factory
        self.run: Any = None

    def on_train_start(self, event: TrainStartEvent) -> None:
        """Reach the server (online mode) and start the W&B run with the resolved config."""
        options, wandb = self.options, self.wandb
        run_dir = Path(self.info.run_dir)
        # Resolved here, not left to W&B: it reads its settings once per process.
        where = options.dir or os.environ.get("WANDB_DIR") or str(run_dir)
        mode = options.mode or os.environ.get("WANDB_MODE") or "online"
        if mode == "online":  # no network: one line within the timeout, not W&B's long wait
            check_reachable(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai", options.timeout, "W&B server")
        self.run = wandb.init(
            project=options.project or os.environ.get("WANDB_PROJECT") or "infogan-tk",
            entity=options.entity or None,
            name=options.run_name or run_dir.name,
            mode=options.mode or os.environ.get("WANDB_MODE") or None,
            dir=where,
            tags=list(options.tags) or None,
            config=self.info.config(),
            reinit="create_new",
            # The toolkit's own output stays the terminal's: W&B does not wrap stdout and stderr.
            settings=wandb.Settings(console="off", init_timeout=options.timeout),
        )

    def on_log(self, event: LogEvent) -> None:
        """One history row at the interval's step (nan and inf as they are)."""
        self.run.log({name: float(value) for name, value in event.metrics.items()}, step=int(event.step))

    def on_images(self, event: ImageEvent) -> None:
        """Each picture as a ``wandb.Image`` under its tag at its step."""
        if self.options.images:
            images = {tag: self.wandb.Image(_picture(image)) for tag, image in event.images.items()}
            self.run.log(images, step=int(event.step))

    def on_run_end(self, event: RunEndEvent) -> None:
        """End the W&B run (exit code 1 when the training run stopped early)."""
        if self.run is not None:
            run, self.run = self.run, None
            run.finish(exit_code=1 if event.interrupted else 0)


class WandbFactory(TrackerFactory):
    """Weights & Biases tracking, when asked for (train.callbacks, an options table or WANDB_PROJECT).

    ``factory(info)`` for the ``wandb`` callback; ``options`` is its options table's class."""

    name = package = "wandb"
    env_vars = ENV_VARS
    options = WandbOptions
    client = "wandb"
    tracker = WandbTracker
