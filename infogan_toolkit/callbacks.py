"""Training events and the callbacks that hang on them.

The trainer announces three events to every active callback, on the main process only: a log
interval (:class:`LogEvent`, the interval's metrics), a checkpoint written (:class:`CheckpointEvent`,
with the checkpoint's generators, e.g. for figures) and the end of the run (:class:`RunEndEvent`,
finished or stopped). A callback may publish images (:class:`ImageEvent`, through
``RunInfo.publish_images``), which every other callback receives in ``on_images``: the figures
callback publishes its pictures so, and the metrics log hands them to the sinks that take images
(TensorBoard), without either knowing the other. Callbacks come from plugins
(``register_callbacks``) and are chosen by ``train.callbacks``; the metrics log and its sinks are
one such callback. A callback that raises is turned off with a one-line message; training goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn


@attrs.frozen
class ImageEvent:
    """Pictures of the run at ``step``: tag -> a ``(C, H, W)`` float image in [0, 1] on the CPU
    (C is 1 or 3), e.g. ``traversal`` and ``samples`` from the figures callback."""

    #: The step the pictures show (a checkpoint's, for the figures callback).
    step: int
    #: Tag -> a ``(C, H, W)`` float image in [0, 1] on the CPU, C being 1 or 3.
    images: Mapping[str, Tensor]


def _nowhere(event: ImageEvent) -> None:
    """Where a RunInfo made outside a trainer publishes: nobody listens."""


@attrs.frozen
class RunInfo:
    """What a callback factory gets: the run it will follow, and ``publish_images(ImageEvent)``,
    which hands pictures to every active callback's ``on_images``."""

    #: The run directory (``infogan_toolkit.rundir`` knows its layout).
    run_dir: Path
    #: The resolved run (``infogan_toolkit.assembly.Assembly``): ``config``, ``backbone``, ``codes``.
    assembly: Any
    #: The run's device.
    device: torch.device
    #: Whether the run continues from a checkpoint (``--resume``).
    resumed: bool
    #: Call with an ``ImageEvent`` to hand pictures to every active callback's ``on_images`` (the
    #: metrics log passes them on to the sinks that take images, such as TensorBoard's).
    publish_images: Callable[[ImageEvent], None] = _nowhere


@attrs.frozen
class LogEvent:
    """A log interval ended: ``metrics`` are its means (the metrics log's record)."""

    #: The last step of the interval.
    step: int
    #: Metric name -> the interval's mean (what the metrics log records).
    metrics: dict[str, float]


@attrs.frozen
class CheckpointEvent:
    """A checkpoint was written for ``step`` at ``path``; ``generator`` holds its raw (trained)
    generator; ``generators`` every generator it offers by name, the default one first (what
    ``sample``, ``traverse`` and ``eval`` load unless told otherwise: e.g. ``ema``, then ``raw``)."""

    #: The step the checkpoint holds.
    step: int
    #: The model checkpoint file.
    path: Path
    #: The raw (trained) generator with the checkpoint's weights (in training mode; switch a copy to eval to sample).
    generator: nn.Module
    #: Every generator the checkpoint offers by name, the default first (e.g. ``ema``, then ``raw``);
    #: empty means only ``generator``, as ``raw``.
    generators: Mapping[str, nn.Module] = attrs.field(factory=dict)

    def default_generator(self) -> tuple[str, nn.Module]:
        """The name and module of the checkpoint's default generator."""
        return next(iter(self.generators.items()), ("raw", self.generator))


@attrs.frozen
class RunEndEvent:
    """The run ended at ``step``: finished, or stopped early when ``interrupted``."""

    #: The last step trained.
    step: int
    #: The last checkpoint written, or None.
    checkpoint: Path | None
    #: True when the run stopped early (Ctrl-C, SIGTERM, an error).
    interrupted: bool


class Callback:
    """Base class: override the events you need; each is called on the main process only."""

    def on_log(self, event: LogEvent) -> None:
        """A log interval ended."""

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        """A checkpoint was written."""

    def on_images(self, event: ImageEvent) -> None:
        """Another callback published pictures (``RunInfo.publish_images``)."""

    def on_run_end(self, event: RunEndEvent) -> None:
        """The run ended (also after Ctrl-C or an error that stops it)."""


class Callbacks:
    """The active callbacks of one run, by name, in order; a failing one is turned off."""

    def __init__(self, callbacks: list[tuple[str, Callback]]) -> None:
        self.active = list(callbacks)

    @classmethod
    def from_registry(
        cls, registry: Any, enabled: list[str], info: RunInfo, first: Sequence[tuple[str, Callback]] = ()
    ) -> "Callbacks":
        """``first``, then every registered callback that ``enabled`` names (``"*"``: all) and whose
        factory returns one for this run; an unknown name is an error with a suggestion."""
        wanted = set(enabled)
        cls.check_names(registry, enabled)
        callbacks = list(first)
        for entry in registry:
            if "*" in wanted or entry.name in wanted:
                try:
                    callback = entry.obj(info)
                except Exception as exc:  # a callback must never stop training
                    sys.stderr.write(f"infogan-tk: callback '{entry.name}' failed to start and is off: {exc}\n")
                    continue
                if callback is not None:
                    callbacks.append((entry.name, callback))
        return cls(callbacks)

    @staticmethod
    def check_names(registry: Any, enabled: list[str]) -> None:
        """Refuse a name in ``enabled`` that no plugin registered, with a suggestion."""
        for name in sorted(set(enabled) - {"*"}):
            registry.get(name)

    def _emit(self, method: str, event: Any) -> None:
        for name, callback in list(self.active):
            if (
                name,
                callback,
            ) not in self.active:  # turned off meanwhile, by an event it received from inside this one
                continue
            try:
                getattr(callback, method)(event)
            except Exception as exc:
                sys.stderr.write(
                    f"infogan-tk: callback '{name}' failed in {method} and is turned off: {type(exc).__name__}: {exc}\n"
                )
                self.active.remove((name, callback))

    def log(self, event: LogEvent) -> None:
        """Announce a log interval."""
        self._emit("on_log", event)

    def checkpoint(self, event: CheckpointEvent) -> None:
        """Announce a written checkpoint."""
        self._emit("on_checkpoint", event)

    def images(self, event: ImageEvent) -> None:
        """Hand published pictures to every active callback."""
        self._emit("on_images", event)

    def run_end(self, event: RunEndEvent) -> None:
        """Announce the end of the run."""
        self._emit("on_run_end", event)
