"""The training loop: any registered backbone, code set and dataset, without knowing which.

Per step the loop only queues device work: batches are drawn by index from a uint8 dataset held on
the device, statistics accumulate in a device tensor, and the host reads them (one sync) at log
intervals and checkpoints only.
"""

from __future__ import annotations

import math
import shutil
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
from ..callbacks import Callbacks, CheckpointEvent, LogEvent, RunEndEvent, RunInfo
from ..checkpoint import (
    PREFIXES,
    TrainState,
    atomic_save,
    checkpoint_dir,
    list_steps,
    load_model_tensors,
    load_train_state,
    model_path,
    model_tensors,
    prune,
    read_model_metadata,
    save_train_state,
    state_path,
)
from ..checkpoint_schema import check_layout_detail, file_specs
from ..config import Config, apply_dict
from ..datasets import ImageDataset
from ..errors import ConfigError, ToolkitError
from ..extensions import (
    RAW_GENERATOR,
    Extension,
    ExtensionSetup,
    build_extensions,
    extension_networks,
    generator_prefixes,
)
from ..files import real_directory, write_file
from ..plugins import PluginHost
from ..regularisers import RegulariserSetup
from ..rundir import acquire_lock, check_run_dir, checkpoint_metadata, config_path, release_lock, remove_partial_writes
from ..sinks import MetricLog
from ..text import PlainConsole
from ..version import __version__
from . import distributed
from .cuda_graph import CudaGraphStep, check_cuda_graph_support
from .devices import Numerics, apply_precision_switches, pick_device
from .linear_kernels import use_onednn_linear
from .objective import InfoGANObjective, ObjectiveSettings
from .progress import make_progress


class NonFiniteLossError(ToolkitError):
    """A loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class CheckpointWriteError(ToolkitError):
    """A checkpoint could not be written (a full disk, a read-only folder); the last good one stays."""


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
    call each of ``after_step`` (the extensions), return the step's statistics. With
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
        # Sinks, callbacks, extensions and sink options, checked before anything is built, so a
        # mistyped name or option costs no data loading.
        self.sink_options = check_training_names(self.config, self.host)
        if not resume and self.dist.is_main and list_steps(self.run_dir):
            raise ToolkitError(
                f"run directory '{self.run_dir}' already holds checkpoints; pass --resume {self.run_dir} to continue "
                "it or --out NEWDIR"
            )
        if resume and not list_steps(self.run_dir):
            raise ToolkitError(f"cannot resume: '{self.run_dir}' holds no complete checkpoint")
        if self.dist.is_main:
            check_run_dir(self.run_dir)
        self._resume_point = self._check_resume() if resume else None
        self._locked = False
        created = not self.run_dir.exists()
        try:
            if self.dist.is_main:
                acquire_lock(self.run_dir)
                self._locked = True
            self._build(resume)
        except BaseException:
            self.release()
            if created and self.dist.is_main and self.run_dir.is_dir() and not self.run_dir.is_symlink():
                # This process made the folder, so all in it (config.toml, a sink's folder) is its
                # own: a refused run leaves nothing behind.
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _build(self, resume: bool) -> None:
        if self.dist.is_main:
            for path in remove_partial_writes(self.run_dir):
                self.console.print(f"removed {path}, left by an interrupted checkpoint write")
        tc = self.config.train
        self.dataset = load_dataset(self.assembly, self.host, "train").to(self.device)
        self.objective = build_objective(self.assembly, self.device, self.dist)
        self.G, self.D = self.objective.G, self.objective.D
        if tc.compile:
            self.objective.compile()
        registry = self.host.registries.extensions
        self.extensions: dict[str, Extension] = build_extensions(
            registry, tc.extensions, ExtensionSetup(self.assembly, self.G, self.D, self.device, tc.cuda_graph)
        )
        self.extension_provenance = {
            f"extension:{name}": provenance_of(registry.entry(name)) for name in self.extensions
        }
        self.generator_prefixes = generator_prefixes(
            self.extensions
        )  # checked here, so a plugin's mistake costs no training
        self.rng = torch.Generator(device=self.device)
        # Per-rank streams: rank r draws its own batches and noise.
        self.rng.manual_seed(tc.seed * 1_000_003 + self.dist.rank)
        self.train_step = make_train_step(
            self.objective,
            self.dataset,
            self.rng,
            tc.batch_size,
            tc.cuda_graph,
            after_step=[extension.after_step for extension in self.extensions.values()],
        )
        self.step = 0
        if resume:
            self._restore()
        else:
            for extension in self.extensions.values():
                extension.start()
            if self.dist.is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                write_file(config_path(self.run_dir), self.config.to_toml())
        self.log = MetricLog(
            self.run_dir,
            self.host,
            tc.sinks,
            active=self.dist.is_main,
            sink_options=self.sink_options,
            config=self.config.to_dict(),
        )
        info = RunInfo(
            self.run_dir,
            self.assembly,
            self.device,
            resumed=resume,
            publish_images=lambda event: self.callbacks.images(event),
        )
        self.callbacks = (
            Callbacks.from_registry(self.host.registries.callbacks, tc.callbacks, info, first=[("metrics", self.log)])
            if self.dist.is_main
            else Callbacks([])
        )
        self._stop = threading.Event()
        self._stop_signal: int | None = None

    def release(self) -> None:
        """Give up the claim on the run directory (done at the end of :meth:`run`)."""
        if self._locked:
            release_lock(self.run_dir)
            self._locked = False

    # -- state -----------------------------------------------------------------------------------
    def _train_state(self) -> TrainState:
        return TrainState(self.step, self.objective.optimizers(), {"data": self.rng})

    def _extra_networks(self) -> dict[str, torch.nn.Module]:
        return {**self.objective.networks(), **extension_networks(self.extensions)}

    def generators(self) -> dict[str, torch.nn.Module]:
        """Every generator a checkpoint of this run offers, the default first: the extensions' (such
        as ``ema``), then the raw G."""
        offered = {
            name: module for extension in self.extensions.values() for name, module in extension.generators().items()
        }
        return {**offered, RAW_GENERATOR: self.G}

    def _check_resume(self) -> tuple[int, tuple[str, ...]]:
        """The step to resume from, once its weights file's metadata has passed the schema and
        agrees with this run's configuration (the model, codes and dataset cannot change, so an
        edited config.toml cannot put weights into the wrong codes); and the key prefixes of the
        regularisers that run had on and this one has off (their networks are not restored)."""
        step = list_steps(self.run_dir)[-1]
        if self.config.train.steps < step:  # refused before config.toml is rewritten with it
            raise ConfigError(
                f"cannot resume: train.steps = {self.config.train.steps} is the total number of steps, and "
                f"'{self.run_dir}' "
                f"is already at step {step}; pass --steps N with N > {step}"
            )
        path = model_path(self.run_dir, step)
        saved = read_model_metadata(path)
        then = apply_dict(Config(), saved.config, f"the metadata of {path}")
        now = self.config
        differ = [
            (f"model.{k}", getattr(then.model, k), getattr(now.model, k))
            for k in ("backbone", "codes", "noise_dim", "noise", "heads")
        ]
        differ += [(f"model.options.{k}", v, now.model.options.get(k)) for k, v in then.model.options.items()]
        differ += [("data.dataset", then.data.dataset, now.data.dataset)]
        for key, was, is_now in differ:
            if was != is_now:
                raise ConfigError(
                    f"cannot resume: the configuration has {key} = {is_now!r} but checkpoint '{path}' was trained "
                    f"with {was!r}; "
                    f"a resumed run keeps its model, codes and dataset (restore {config_path(self.run_dir)} as the "
                    "run wrote it)"
                )
        check_layout_detail(path, saved, self.assembly.codes, self.assembly.backbone)
        active = {term.name for term in self.assembly.regularisers}
        dropped = tuple(
            sorted(
                f"{name}."
                for name, table in then.loss.regularisers.items()
                if table.get("weight") and name not in active
            )
        )
        return step, dropped

    def _restore(self) -> None:
        assert self._resume_point is not None  # _restore runs only when resuming, after _check_resume
        step, dropped = self._resume_point
        path = model_path(self.run_dir, step)
        found = file_specs(path)
        networks = self.objective.networks()
        fresh = []  # extensions the checkpoint has no state of (off when it was written): they start here
        for name, extension in self.extensions.items():
            owned = extension_networks({name: extension})
            if any(key.startswith(prefix + ".") for key in found for prefix in owned):
                networks.update(owned)
            elif owned:
                fresh.append(name)
        # State of a registered extension that this run has off is left unread; any other tensor
        # the run cannot place is the schema's to refuse.
        claimed = (*PREFIXES.values(), *(prefix + "." for prefix in networks), *dropped)
        unclaimed = sorted(
            {key.split(".")[0] for key in found if not key.startswith(claimed)}
            & set(self.host.registries.extensions.names())
        )
        load_model_tensors(path, self.G, self.D, networks, passthrough=(*dropped, *(p + "." for p in unclaimed)))
        if unclaimed and self.dist.is_main:
            self.console.print(
                f"resuming without the checkpoint's {', '.join(p + '.*' for p in unclaimed)} tensors: nothing in this "
                "run's "
                "configuration continues them, and its checkpoints will not hold them"
            )
        state = self._train_state()
        # The rates the checkpointed step ran at under this configuration (optim.decay included).
        self.objective.schedule(step - 1)
        configured = {
            name: [{k: g[k] for k in ("lr", "betas") if k in g} for g in opt.param_groups]
            for name, opt in state.optimizers.items()
        }
        load_train_state(state_path(self.run_dir, step), state, rank=self.dist.rank, passthrough=dropped)
        for prefix in dropped:
            if self.dist.is_main:
                self.console.print(
                    f"resuming without regulariser '{prefix[:-1]}' (off in the configuration): its saved networks and "
                    "optimiser state are not restored"
                )
        self.step = state.step
        # The configured learning rates and betas take effect: a --resume --set optim.lr_g=... is
        # written into the restored optimiser, and the new checkpoints' metadata records it.
        for name, opt in state.optimizers.items():
            for group, wanted in zip(opt.param_groups, configured[name]):
                for key, value in wanted.items():
                    if group[key] != value and self.dist.is_main:
                        self.console.print(
                            f"resuming with optimiser '{name}' {key} {group[key]} -> {value} (from the configuration)"
                        )
                    group[key] = value
        for name in fresh:
            self.extensions[name].start()
            if self.dist.is_main:
                self.console.print(
                    f"resuming with extension '{name}', which the checkpoint of step {step} has no state of: it "
                    "starts from that step's weights"
                )
        if self.dist.is_main:
            write_file(config_path(self.run_dir), self.config.to_toml())

    def save_checkpoint(self) -> Path | None:
        """Write weights and trainer state for the current step (rank 0), then prune old ones."""
        if self.config.train.batch_norm_refresh:
            self._refresh_batch_norm()
        distributed.average_buffers(self.G, self.dist)
        distributed.average_buffers(self.D, self.dist)
        for module in self._extra_networks().values():
            distributed.average_buffers(module, self.dist)
        state = self._train_state()
        if self.dist.enabled:
            state.rank_states["data"] = distributed.gather_states(self.rng.get_state(), self.dist, self.device)
        if not self.dist.is_main:
            return None
        meta = checkpoint_metadata(
            self.assembly,
            self.step,
            __version__,
            generators=self.generator_prefixes,
            provenance=self.extension_provenance,
        )
        path = model_path(self.run_dir, self.step)
        real_directory(checkpoint_dir(self.run_dir))  # never a checkpoints/ link planted elsewhere
        try:
            atomic_save(model_tensors(self.G, self.D, self._extra_networks()), path, meta)
            save_train_state(state_path(self.run_dir, self.step), state)
        except OSError as exc:
            # The weights file may be whole while its state file is not: without both the step
            # does not count, so the last complete checkpoint stays the one to resume from.
            path.unlink(missing_ok=True)
            steps = list_steps(self.run_dir)
            kept = f"the last good checkpoint is step {steps[-1]}" if steps else "no checkpoint was written yet"
            raise CheckpointWriteError(
                f"could not write the checkpoint of step {self.step} in {checkpoint_dir(self.run_dir)}: "
                f"{exc.strerror or exc}; {kept}; free space (or fix the folder) and continue with --resume "
                f"{self.run_dir}"
            ) from None
        prune(self.run_dir, self.config.train.keep_checkpoints)
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
            steps = list_steps(self.run_dir)
            kept = f"the last good checkpoint is step {steps[-1]}" if steps else "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"{', '.join(bad)} became NaN or infinite by step {self.step}; stopped, {kept}; "
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
