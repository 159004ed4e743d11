"""The training loop: any registered backbone, code set and dataset, without knowing which.

Per step the loop only queues device work: batches are drawn by index from a uint8 dataset held on
the device, statistics accumulate in a device tensor, and the host reads them (one sync) at log
intervals and checkpoints only.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import torch
from rich.console import Console
from torch import Tensor

from ..assembly import (
    Assembly,
    build_networks,
    build_request,
    check_training_names,
    load_dataset,
    plugin_errors,
    provenance_of,
    provenance_source,
    resolve,
)
from ..callbacks import (
    RAW_GENERATOR,
    Callbacks,
    CheckpointEvent,
    LogEvent,
    RunEndEvent,
    RunInfo,
    generator_prefixes,
    steps_of,
)
from ..config import Config
from ..datasets import ImageDataset
from ..errors import ConfigError, ToolkitError
from ..metrics_log import MetricLog
from ..plugins import PluginHost
from ..regularisers import RegulariserSetup
from ..text import PlainConsole
from . import distributed
from .cuda_graph import CudaGraphStep, check_cuda_graph_support
from .devices import Numerics, apply_precision_switches, pick_device
from .linear_kernels import use_onednn_linear
from .objective import InfoGANObjective, ObjectiveSettings
from .progress import make_progress
from .run_folder import RunFolder, RunParts


class NonFiniteLossError(ToolkitError):
    """A loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@attrs.define
class TrainResult:
    """What a finished (or stopped) run reports."""

    run_dir: Path
    step: int
    checkpoint: Path | None
    metrics: dict[str, float]
    images_per_second: float
    interrupted: bool = False
    stop_signal: int | None = None  # the signal that stopped the run early (SIGINT, SIGTERM), if any


def build_objective(
    assembly: Assembly, device: torch.device, dist: distributed.DistContext | None = None
) -> InfoGANObjective:
    """G, D and the regularisers' networks, initialised from ``train.seed``, in
    ``train.channels_last``'s memory format on ``device`` (rank 0's weights on every rank of
    ``dist``), wrapped in the objective that trains them."""
    config = assembly.config
    tc = config.train
    ctx = dist or distributed.DistContext()
    settings = ObjectiveSettings.from_config(config)
    numerics = Numerics.choose(config, device)
    memory_format = numerics.memory_format
    nets = build_networks(assembly, seed=tc.seed)
    terms = {}
    for resolved in assembly.regularisers:
        setup = RegulariserSetup(
            assembly=assembly,
            build_request=build_request(assembly),
            device=device,
            seed=tc.seed,
            cuda_graph=tc.cuda_graph,
            make_optimizer=lambda params, lr: numerics.make_adam(params, lr, settings.betas, device),
            prepare_module=lambda module: _place(
                module, device, memory_format, ctx, numerics.onednn_linear_min_weights
            ),
        )
        with plugin_errors(f"loss.{resolved.name}", provenance_source(assembly, f"regulariser:{resolved.name}")):
            term = resolved.plugin.build(resolved.options, setup)
        if tc.cuda_graph and not term.cuda_graph_capturable:
            raise ConfigError(
                f"regulariser 'loss.{resolved.name}' cannot be captured in a CUDA graph; set train.cuda_graph=false "
                f"or loss.{resolved.name}.weight=0"
            )
        terms[resolved.name] = term
    for module in (nets.generator, nets.discriminator):
        _place(module, device, memory_format, ctx, numerics.onednn_linear_min_weights)
    return InfoGANObjective(
        nets.generator,
        nets.discriminator,
        assembly.codes,
        settings,
        numerics,
        assembly.backbone.output_range,
        device,
        ctx,
        regularisers=terms,
    )


def _place(
    module: torch.nn.Module,
    device: torch.device,
    memory_format: torch.memory_format,
    ctx: distributed.DistContext,
    onednn_linear_min_weights: int | None,
) -> torch.nn.Module:
    # torch's stubs lack the to(device, memory_format=...) form that Module.to accepts at run time.
    module.to(device, memory_format=memory_format)  # type: ignore[call-overload]
    if onednn_linear_min_weights is not None:
        use_onednn_linear(module, onednn_linear_min_weights)
    distributed.broadcast_module(module, ctx)
    return module


def make_train_step(
    objective: InfoGANObjective,
    dataset: ImageDataset,
    rng: torch.Generator,
    batch_size: int,
    cuda_graph: bool = False,
    after_step: Sequence[Callable[[], None]] = (),
) -> Callable[[], Tensor]:
    """One training step as a closure: draw a batch by index from the on-device images, update,
    call each of ``after_step`` (the callbacks' step hooks), return the step's statistics. With
    ``cuda_graph`` the step is captured once and replayed."""

    def step() -> Tensor:
        index = torch.randint(len(dataset), (batch_size,), generator=rng, device=objective.device)
        stats = objective.step(dataset.images(index), rng)
        for update in after_step:
            update()
        return stats

    return CudaGraphStep(step, objective.device, generators=[rng]) if cuda_graph else step


class Trainer:
    """Builds a run from a configuration and trains it; ``resume`` continues a run directory."""

    def __init__(
        self,
        config: Config,
        run_dir: Path,
        host: PluginHost | None = None,
        resume: bool = False,
        console: Console | None = None,
        progress: bool = True,
    ) -> None:
        self.host = host or PluginHost()
        self.dist = distributed.context_from_env()
        self.device = pick_device(config.train.device, self.dist.local_rank)
        if config.train.cuda_graph and config.optim.decay != "none":
            raise ConfigError(
                "optim.decay cannot run in a captured CUDA graph, which holds the learning rates fixed; set "
                "optim.decay=none or train.cuda_graph=false"
            )
        if config.train.cuda_graph:
            check_cuda_graph_support(self.device, self.dist.world_size)
        distributed.init(self.dist, self.device)
        apply_precision_switches(config.train)
        self.run_dir = Path(run_dir)
        self.console = console or PlainConsole(stderr=True, soft_wrap=True)
        self.show_progress = progress and self.dist.is_main
        self.assembly: Assembly = resolve(config, self.host)
        self.config = self.assembly.config
        # Callbacks and their options, checked before anything is built, so a mistyped name or
        # option costs no data loading.
        self.callback_options = check_training_names(self.config, self.host)
        self.folder = RunFolder(
            self.run_dir, self.assembly, self.dist, self.console, resume, self.host.registries.callbacks.names()
        )
        with self.folder.claimed():
            self._build(resume)

    def _build(self, resume: bool) -> None:
        tc = self.config.train
        self.dataset = load_dataset(self.assembly, self.host, "train").to(self.device)
        self.objective = build_objective(self.assembly, self.device, self.dist)
        self.G, self.D = self.objective.G, self.objective.D
        if tc.compile:
            self.objective.compile()
        if not resume:
            self.folder.create()
        registry = self.host.registries.callbacks
        info = RunInfo(
            self.run_dir,
            self.assembly,
            self.device,
            resumed=resume,
            publish_images=lambda event: self.callbacks.images(event),
            generator=self.G,
            discriminator=self.D,
            cuda_graph=tc.cuda_graph,
            is_main=self.dist.is_main,
        )
        self.callbacks = Callbacks.from_registry(
            registry, tc.callbacks, info, self.callback_options, configured=tc.callback_options
        )
        # Checked here, so a plugin's mistake costs no training.
        generator_prefixes(self.callbacks.by_name())
        self.rng = torch.Generator(device=self.device)
        # Per-rank streams: rank r draws its own batches and noise.
        self.rng.manual_seed(tc.seed * 1_000_003 + self.dist.rank)
        self.parts = RunParts(self.objective, self.callbacks.by_name(), self.rng, {}, {})
        self.step, restored = self.folder.restore(self.parts) if resume else (0, frozenset[str]())
        # Callbacks open their files and connections only once the run is sure to train: a refused
        # resume leaves the folder as it was. One that cannot start may drop out here.
        self.callbacks.start(self.step, restored)
        try:
            self._prepare_training(resume)
        except BaseException:  # the callbacks started (a tracker's run) hear that this one ended
            self.callbacks.run_end(RunEndEvent(self.step, None, True))
            raise

    def _prepare_training(self, resume: bool) -> None:
        """With the callbacks that started: the resumed config recorded, what checkpoints hold, the
        step with the callbacks' step hooks, and the metrics log first to hear every event."""
        tc = self.config.train
        registry = self.host.registries.callbacks
        if resume:
            self.folder.write_config()
        active = self.callbacks.by_name()
        self.parts.callbacks = active
        self.parts.generator_prefixes = generator_prefixes(active)
        # The callbacks whose state a checkpoint holds, and where each came from.
        self.parts.provenance = {
            f"callback:{name}": provenance_of(registry.entry(name)) for name, cb in active.items() if cb.networks()
        }
        self.train_step = make_train_step(
            self.objective,
            self.dataset,
            self.rng,
            tc.batch_size,
            tc.cuda_graph,
            after_step=[callback.on_step_end for callback in active.values() if steps_of(callback)],
        )
        if self.dist.is_main:
            self.callbacks.put_first("metrics", MetricLog(self.run_dir))
        self._stop = threading.Event()
        self._stop_signal: int | None = None

    def release(self) -> None:
        """Give up the claim on the run directory (done at the end of :meth:`run`)."""
        self.folder.release()

    def generators(self) -> dict[str, torch.nn.Module]:
        """Every generator a checkpoint of this run offers, the default first: the callbacks' (such
        as ``ema``), then the raw G."""
        offered = {
            name: module for callback in self.parts.callbacks.values() for name, module in callback.generators().items()
        }
        return {**offered, RAW_GENERATOR: self.G}

    def save_checkpoint(self) -> Path | None:
        """Write weights and trainer state for the current step (rank 0), prune old ones, and tell
        the callbacks."""
        if self.config.train.batch_norm_refresh:
            self._refresh_batch_norm()
        path = self.folder.save(self.parts, self.step, self.device)
        if path is not None:
            self.callbacks.checkpoint(CheckpointEvent(self.step, path, self.G, self.generators()))
        return path

    def _refresh_batch_norm(self) -> None:
        # Its own random stream, seeded by step and rank, so the training stream is untouched and a
        # resumed run refreshes exactly as a straight one.
        tc = self.config.train
        rng = torch.Generator(device=self.device)
        rng.manual_seed((tc.seed * 1_000_003 + self.step * 7_919 + self.dist.rank + 1) % 2**63)

        def draw_real() -> Tensor:
            index = torch.randint(len(self.dataset), (tc.batch_size,), generator=rng, device=self.device)
            return self.dataset.images(index)

        self.objective.refresh_batch_norm(draw_real, tc.batch_norm_refresh, rng)

    # -- loop --------------------------------------------------------------------------------------
    def _handle_stop(self, signum, frame) -> None:
        self._stop_signal = signum
        self._stop.set()

    def run(self) -> TrainResult:
        """Train until ``train.steps`` (or Ctrl-C, which checkpoints and returns)."""
        tc = self.config.train
        names = self.objective.stat_names
        entropies = self.assembly.codes.entropies()
        reaches = self.assembly.codes.reaches()
        acc = torch.zeros(len(names), device=self.device)
        acc_steps = 0
        batch = tc.batch_size
        last_ckpt: Path | None = None
        last_metrics: dict[str, float] = {}
        rate = 0.0
        interrupted = False
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C and a scheduler's SIGTERM both stop at the next step with a checkpoint.
            old_handlers = {sig: signal.signal(sig, self._handle_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        progress = make_progress(self.console, self.show_progress, tc.steps, self.step, batch * self.dist.world_size)
        code_names = [code.name for code in self.assembly.codes]
        try:
            with progress:
                t_last = time.perf_counter()
                steps_since = 0
                while self.step < tc.steps:
                    if self._stop.is_set():
                        interrupted = True
                        break
                    self.objective.schedule(self.step)
                    acc += self.train_step()
                    acc_steps += 1
                    steps_since += 1
                    self.step += 1
                    progress.advance(self.step)
                    at_log = self.step % tc.log_every == 0 or self.step == tc.steps
                    at_ckpt = self.step % tc.checkpoint_every == 0 or self.step == tc.steps
                    if at_log or at_ckpt:
                        values = (acc / acc_steps).tolist()  # the one host sync of an interval
                        now = time.perf_counter()
                        rate = steps_since * batch * self.dist.world_size / max(now - t_last, 1e-9)
                        self._check_finite(names, values)
                        last_metrics = self._metrics(names, values, entropies, reaches, rate)
                        if at_log:
                            self.callbacks.log(LogEvent(self.step, last_metrics))
                            progress.log(self.step, last_metrics, code_names, rate)
                        acc.zero_()
                        acc_steps = 0
                        if at_ckpt:
                            last_ckpt = self.save_checkpoint() or last_ckpt
                        t_last = time.perf_counter()
                        steps_since = 0
            if interrupted and acc_steps:
                values = (acc / acc_steps).tolist()
                self._check_finite(names, values)
            if interrupted:
                last_ckpt = self.save_checkpoint() or last_ckpt
                if self.dist.is_main:
                    self.console.print(
                        f"interrupted at step {self.step}; checkpoint saved; continue with --resume {self.run_dir}"
                    )
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
            self.callbacks.run_end(RunEndEvent(self.step, last_ckpt, interrupted or self.step < tc.steps))
            self.release()
        return TrainResult(self.run_dir, self.step, last_ckpt, last_metrics, rate, interrupted, self._stop_signal)

    def _check_finite(self, names: list[str], values: list[float]) -> None:
        bad = [n for n, v in zip(names, values) if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(
                f"{', '.join(bad)} became NaN or infinite by step {self.step}; stopped, {self.folder.last_good()}; "
                "try a lower learning rate or lambda"
            )

    def _metrics(
        self, names: list[str], values: list[float], entropies: list[float], reaches: list[float | None], rate: float
    ) -> dict[str, float]:
        m = dict(zip(names, values))
        for code, h, reach in zip(self.assembly.codes, entropies, reaches):
            m[f"li_{code.name}"] = m[f"loglik_{code.name}"] + h
            m[f"entropy_{code.name}"] = h
            if reach is not None:
                m[f"reach_{code.name}"] = reach
        m["img_per_s"] = rate
        return m
