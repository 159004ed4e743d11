"""Callbacks: everything that takes part in a training run besides the objective's terms.

A plugin registers a factory (``register_callbacks``); ``train.callbacks`` chooses which run
(``"*"``, the default: every registered one), and each factory, given the run's :class:`RunInfo`,
returns a :class:`Callback` or None to stay out (the built-in ``ema`` stays out unless
``train.ema`` is set, ``figures`` unless ``train.figures``). Factories run on every process.

A callback hears of the run in two ways:

* **Events**, on the main process only: a log interval (:class:`LogEvent`), a checkpoint written
  (:class:`CheckpointEvent`, with the checkpoint's generators), pictures another callback published
  (:class:`ImageEvent`, through ``RunInfo.publish_images``) and the end of the run
  (:class:`RunEndEvent`). A callback that raises in an event is turned off with a one-line
  message; training goes on. The metrics log is the first callback of every run.
* **Steps**, on every process: :meth:`Callback.on_step_end` after every optimiser step, inside the
  step (a captured CUDA graph replays it), so it must only queue device work. State it keeps
  there is the callback's :meth:`Callback.networks`: saved in every checkpoint under ``NAME.``
  (or ``NAME.KEY.``) and restored on ``--resume``; a checkpoint without it (the callback was off
  when it was written) calls :meth:`Callback.on_train_start` instead, with the resumed weights.
  :meth:`Callback.generators` are generators with G's architecture that checkpoints offer besides
  the raw one (``ema``); ``load_checkpoint``, ``sample``, ``traverse`` and ``eval`` use the first
  one by default (``--generator raw`` for the trained weights).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .errors import ConfigError, PluginError


@attrs.frozen
class ImageEvent:
    """Pictures of the run at ``step``: tag -> a ``(C, H, W)`` float image in [0, 1] on the CPU
    (C is 1 or 3), e.g. ``traversal`` and ``samples`` from the figures callback."""

    #: The step the pictures show (a checkpoint's, for the figures callback).
    step: int
    #: Tag -> a ``(C, H, W)`` float image in [0, 1] on the CPU, C being 1 or 3.
    images: Mapping[str, Tensor]


#: The name ``--generator`` and the checkpoint metadata use for the generator that training updates.
RAW_GENERATOR = "raw"


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
    #: G as it is trained: on ``device``, in the run's memory format, rank 0's weights under torchrun
    #: (None where no run is being trained, e.g. in the conformance kit's event checks).
    generator: nn.Module | None = None
    #: D and Q as they are trained (``InfoDiscriminator``), or None as ``generator``.
    discriminator: nn.Module | None = None
    #: Whether the step, ``on_step_end`` included, is captured in a CUDA graph (``train.cuda_graph``).
    cuda_graph: bool = False
    #: Whether this is the main process (the only one that hears events; every one runs steps).
    is_main: bool = True


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
    """Base class: override what you need. Events run on the main process only, steps on every one."""

    #: Whether :meth:`on_step_end` can be captured in a CUDA graph: the same device work every call,
    #: no host reads. ``train.cuda_graph`` refuses a callback that says no and overrides it.
    cuda_graph_capturable: bool = True

    def on_log(self, event: LogEvent) -> None:
        """A log interval ended."""

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        """A checkpoint was written."""

    def on_images(self, event: ImageEvent) -> None:
        """Another callback published pictures (``RunInfo.publish_images``)."""

    def on_run_end(self, event: RunEndEvent) -> None:
        """The run ended (also after Ctrl-C or an error that stops it)."""

    def on_train_start(self) -> None:
        """Called once before training with the networks' current weights, unless resuming restored
        this callback's :meth:`networks`."""

    def on_step_end(self) -> None:
        """Called after every optimiser step (D's, G's and the terms'), inside the step."""

    def networks(self) -> dict[str, nn.Module]:
        """Modules whose state is checkpointed under ``NAME.`` (key ``""``) or ``NAME.KEY.`` and
        restored on resume."""
        return {}

    def generators(self) -> dict[str, nn.Module]:
        """Generators (G's architecture) that checkpoints offer by name, each a module of
        :meth:`networks` or inside one; the first of the first callback is the default one."""
        return {}


def steps_of(callback: Callback) -> bool:
    """Whether ``callback`` overrides :meth:`Callback.on_step_end` (the step calls only those)."""
    return type(callback).on_step_end is not Callback.on_step_end


class Callbacks:
    """The active callbacks of one run, by name, in order; a failing one is turned off."""

    def __init__(self, callbacks: list[tuple[str, Callback]], events: bool = True) -> None:
        self.active = list(callbacks)
        #: Whether events are announced here (the main process); steps run everywhere.
        self.events = events

    @classmethod
    def from_registry(cls, registry: Any, enabled: list[str], info: RunInfo) -> "Callbacks":
        """Every registered callback that ``enabled`` names (``"*"``: all) and whose factory returns
        one for this run, in name order; an unknown name is an error with a suggestion."""
        wanted = set(enabled)
        cls.check_names(registry, enabled)
        callbacks: list[tuple[str, Callback]] = []
        for entry in sorted(registry, key=lambda e: e.name):
            if "*" in wanted or entry.name in wanted:
                try:
                    callback = entry.obj(info)
                except Exception as exc:  # a callback must never stop training
                    sys.stderr.write(f"infogan-tk: callback '{entry.name}' failed to start and is off: {exc}\n")
                    continue
                if callback is None:
                    if entry.name in wanted and info.is_main:  # named, yet its own switch keeps it out
                        sys.stderr.write(
                            f"infogan-tk: callback '{entry.name}' is named in train.callbacks but its plugin keeps it "
                            "off in this run; `infogan-tk list callbacks` says what turns it on\n"
                        )
                    continue
                if info.cuda_graph and steps_of(callback) and not callback.cuda_graph_capturable:
                    raise ConfigError(
                        f"callback '{entry.name}' cannot be captured in a CUDA graph; set train.cuda_graph=false"
                    )
                callbacks.append((entry.name, callback))
        return cls(callbacks, events=info.is_main)

    @staticmethod
    def check_names(registry: Any, enabled: list[str]) -> None:
        """Refuse a name in ``enabled`` that no plugin registered, with a suggestion."""
        for name in sorted(set(enabled) - {"*"}):
            registry.get(name)

    def put_first(self, name: str, callback: Callback) -> None:
        """Make ``callback`` the first to hear every event (the metrics log)."""
        self.active.insert(0, (name, callback))

    def by_name(self) -> dict[str, Callback]:
        """The active callbacks by name, in order."""
        return dict(self.active)

    def _emit(self, method: str, event: Any) -> None:
        if not self.events:
            return
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


def callback_networks(callbacks: Mapping[str, Callback]) -> dict[str, nn.Module]:
    """The callbacks' networks by checkpoint prefix (``NAME`` or ``NAME.KEY``)."""
    return {
        f"{name}.{key}" if key else name: module
        for name, callback in callbacks.items()
        for key, module in callback.networks().items()
    }


def generator_prefixes(callbacks: Mapping[str, Callback]) -> dict[str, str]:
    """Generator name -> the key prefix its tensors have in a checkpoint, in default order; a
    generator that is no module of its callback's networks is a PluginError naming the callback."""
    prefixes: dict[str, str] = {}
    for name, callback in callbacks.items():
        owned = callback_networks({name: callback})
        for variant, generator in callback.generators().items():
            if variant == RAW_GENERATOR or variant in prefixes:
                raise PluginError(
                    f"callback '{name}' offers a generator named '{variant}', which is taken; the plugin must rename it"
                )
            prefixes[variant] = _prefix_of(generator, owned, name)
    return prefixes


def _prefix_of(target: nn.Module, owned: dict[str, nn.Module], owner: str) -> str:
    for prefix, module in owned.items():
        for sub, candidate in module.named_modules():
            if candidate is target:
                return f"{prefix}.{sub}." if sub else f"{prefix}."
    raise PluginError(
        f"callback '{owner}' offers a generator that is not one of its networks(); the plugin must return it "
        "from networks() too"
    )
