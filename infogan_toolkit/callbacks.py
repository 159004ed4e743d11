"""Callbacks: everything that takes part in a training run besides the objective's terms: the
moving average, the figures, TensorBoard, the experiment trackers, a plugin's own.

A plugin registers a factory (``register_callbacks``); ``train.callbacks`` chooses which run
(``"*"``, the default: every registered one that turns itself on), and each factory, given the
run's :class:`RunInfo`, returns a :class:`Callback` or None to stay out (the built-in ``ema`` stays
out unless ``train.ema`` is set, a tracker unless the run asks for it). A factory may declare an
``options`` attrs class: its ``[train.callback_options.NAME]`` table is checked against it before
anything is built and reaches the factory as ``RunInfo.options``. Factories run on every process.

A run **asks for** a callback by naming it in ``train.callbacks`` or giving it an options table.
One that was asked for and cannot start (its factory or :meth:`Callback.on_train_start` raises)
stops the run before training, in one line; one that was not is turned off with a line and the
run goes on.

A callback hears of the run in three ways:

* **The start**, on every process: :meth:`Callback.on_train_start` once the run is sure to train
  (a resume was accepted), before the first step. Connect to services and open files here, not in
  the factory, so that a refused run leaves nothing behind. ``TrainStartEvent.restored`` says
  whether resuming restored the callback's :meth:`Callback.networks`; when not, they start from
  the current weights.
* **Events**, on the main process only: a log interval (:class:`LogEvent`), a checkpoint written
  (:class:`CheckpointEvent`, with the checkpoint's generators), pictures another callback published
  (:class:`ImageEvent`, through ``RunInfo.publish_images``) and the end of the run
  (:class:`RunEndEvent`). A callback that raises in an event is turned off with a one-line
  message; training goes on. The metrics log (``metrics.jsonl``) hears every event first.
* **Steps**, on every process: :meth:`Callback.on_step_end` after every optimiser step, inside the
  step (a captured CUDA graph replays it), so it must only queue device work. State it keeps
  there is the callback's :meth:`Callback.networks`: saved in every checkpoint under ``NAME.``
  (or ``NAME.KEY.``) and restored on ``--resume``.
  :meth:`Callback.generators` are generators with G's architecture that checkpoints offer besides
  the raw one (``ema``); ``load_checkpoint``, ``sample``, ``traverse`` and ``eval`` use the first
  one by default (``--generator raw`` for the trained weights).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import attrs
import torch
from torch import Tensor, nn

from .config import parse_option_table
from .errors import ConfigError, PluginError, ToolkitError


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


class CallbackStartError(ToolkitError):
    """A callback the run asked for could not start; the run stops before training."""


@attrs.frozen
class RunInfo:
    """What a callback factory gets: the run it will follow, its options, and
    ``publish_images(ImageEvent)``, which hands pictures to every active callback's ``on_images``."""

    #: The run directory (``infogan_toolkit.rundir`` knows its layout).
    run_dir: Path
    #: The resolved run (``infogan_toolkit.assembly.Assembly``): ``config``, ``backbone``, ``codes``.
    assembly: Any
    #: The run's device.
    device: torch.device
    #: Whether the run continues from a checkpoint (``--resume``).
    resumed: bool
    #: Call with an ``ImageEvent`` to hand pictures to every active callback's ``on_images`` (such
    #: as TensorBoard's and the trackers').
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
    #: The callback's ``[train.callback_options.NAME]`` table: an instance of the factory's
    #: ``options`` attrs class (defaults filled in) when it declares one, else None.
    options: Any = None
    #: Whether the run asked for this callback (named it in ``train.callbacks``, not only through
    #: ``"*"``, or gave it an options table): if it cannot start, the run stops.
    requested: bool = False

    def config(self) -> dict[str, Any]:
        """The run's resolved configuration as a nested dict (what ``config.toml`` holds)."""
        return cast("dict[str, Any]", self.assembly.config.to_dict())


@attrs.frozen
class TrainStartEvent:
    """The run is about to train its first step (``step`` + 1)."""

    #: The step training continues from: 0 for a new run, the checkpoint's step on resume.
    step: int
    #: Whether resuming restored this callback's :meth:`Callback.networks` from the checkpoint;
    #: False for a new run, and for a resume from a checkpoint written while it was off.
    restored: bool = False


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

    def on_train_start(self, event: TrainStartEvent) -> None:
        """Called once on every process when the run is sure to train, before the first step: open
        files and connections here. Unless ``event.restored``, :meth:`networks` start from the
        current weights. Raising stops the run if it asked for this callback, else turns it off."""

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


def options_class(factory: Any) -> type | None:
    """The attrs class a callback factory declares as ``options`` (its options table's keys), or None."""
    cls = getattr(factory, "options", None)
    return cls if cls is not None and attrs.has(cls) else None


def parse_callback_options(registry: Any, enabled: list[str], tables: Mapping[str, Any]) -> dict[str, Any]:
    """``train.callbacks`` and ``train.callback_options`` checked before anything is built: every
    name a registered callback's (case included) or ``"*"``, none twice; every table a registered
    callback's, valid against its factory's ``options`` class. Returns name -> options instance for
    every registered callback that declares an options class (defaults where no table is given).
    A one-line ConfigError with a suggestion."""
    twice = sorted({name for name in enabled if enabled.count(name) > 1})
    if twice:
        raise ConfigError(f"train.callbacks names {', '.join(map(repr, twice))} more than once; name each once")
    for name in enabled:
        if name != "*":
            registry.exact(name, "train.callbacks")
    for name in tables:
        registry.exact(name, "train.callback_options")
    parsed: dict[str, Any] = {}
    for entry in registry:
        cls = options_class(entry.obj)
        table = tables.get(entry.name)
        where = f"train.callback_options.{entry.name}"
        if cls is not None:
            parsed[entry.name] = parse_option_table(where, cls, {} if table is None else table, entry.source())
        elif table is not None:
            raise ConfigError(
                f"{where} is given, but callback '{entry.name}' ({entry.source()}) takes no options; remove the table"
            )
    return parsed


class Callbacks:
    """The active callbacks of one run, by name, in order; a failing one is turned off, or stops the
    run before training when the run asked for it."""

    def __init__(self, callbacks: list[tuple[str, Callback]], events: bool = True, asked: frozenset[str] = frozenset()):
        self.active = list(callbacks)
        #: Whether events are announced here (the main process); steps run everywhere.
        self.events = events
        #: The callbacks the run asked for: named in train.callbacks or given options.
        self.asked = asked

    @classmethod
    def from_registry(
        cls,
        registry: Any,
        enabled: list[str],
        info: RunInfo,
        options: Mapping[str, Any] | None = None,
        configured: Iterable[str] = (),
    ) -> Callbacks:
        """Every registered callback that ``enabled`` names (``"*"``: all) or that has a table in
        ``configured``, and whose factory returns one for this run, in name order. ``options`` are
        :func:`parse_callback_options`'; a factory gets its own in ``RunInfo.options``."""
        options = dict(options or {})
        wanted = set(enabled)
        asked = frozenset(wanted - {"*"}) | frozenset(configured)
        callbacks: list[tuple[str, Callback]] = []
        for entry in sorted(registry, key=lambda e: e.name):
            if not ("*" in wanted or entry.name in wanted or entry.name in asked):
                continue
            requested = entry.name in asked
            mine = attrs.evolve(info, options=options.get(entry.name), requested=requested)
            try:
                callback = entry.obj(mine)
            except Exception as exc:
                cls._refuse(entry.name, requested, exc, info.is_main)
                continue
            if callback is None:
                if requested and info.is_main:  # asked for, yet its own switch keeps it out
                    sys.stderr.write(
                        f"infogan-tk: callback '{entry.name}' is asked for but its plugin keeps it off in this run; "
                        "`infogan-tk list callbacks` says what turns it on\n"
                    )
                continue
            if info.cuda_graph and steps_of(callback) and not callback.cuda_graph_capturable:
                raise ConfigError(
                    f"callback '{entry.name}' cannot be captured in a CUDA graph; set train.cuda_graph=false"
                )
            callbacks.append((entry.name, callback))
        return cls(callbacks, events=info.is_main, asked=asked)

    @staticmethod
    def _refuse(name: str, asked: bool, exc: BaseException, say: bool) -> None:
        """A callback that cannot start: the run stops when it asked for it, else a line (``say``)."""
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        if asked:
            raise CallbackStartError(
                f"callback '{name}' was asked for but failed to start ({why}); fix it or its "
                f"train.callback_options.{name}, or leave it out of train.callbacks"
            ) from None
        if say:
            sys.stderr.write(f"infogan-tk: callback '{name}' failed to start and is off: {why}\n")

    def start(self, step: int, restored: frozenset[str] | set[str] = frozenset()) -> None:
        """Every callback's :meth:`Callback.on_train_start` (``restored``: those whose networks the
        resume restored). One the run asked for that raises stops the run, after the callbacks
        already started hear that it ended; another is turned off."""
        started: list[tuple[str, Callback]] = []
        for name, callback in list(self.active):
            try:
                callback.on_train_start(TrainStartEvent(step, name in restored))
            except Exception as exc:
                self.active.remove((name, callback))
                try:
                    self._refuse(name, name in self.asked, exc, self.events)
                except CallbackStartError:
                    self.active = started
                    self.run_end(RunEndEvent(step, None, True))
                    raise
            else:
                started.append((name, callback))

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
