"""The run folder's one owner: claiming it for a training process, checking and carrying out a
resume, writing checkpoints into it, and giving it back. The training loop asks it for these and
knows nothing of files."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from ..assembly import Assembly
from ..callbacks import Callback, callback_networks
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
from ..errors import ConfigError, ToolkitError
from ..files import real_directory, write_file
from ..rundir import acquire_lock, check_run_dir, checkpoint_metadata, config_path, release_lock, remove_partial_writes
from ..version import __version__
from . import distributed
from .objective import InfoGANObjective


class CheckpointWriteError(ToolkitError):
    """A checkpoint could not be written (a full disk, a read-only folder); the last good one stays."""


@attrs.define
class RunParts:
    """What a checkpoint of a run holds, and what resuming fills in."""

    #: G, D/Q, the regularisers' networks and every optimiser.
    objective: InfoGANObjective
    #: The run's callbacks by name (their networks are checkpointed under ``NAME.``).
    callbacks: dict[str, Callback]
    #: The training stream: batches and noise.
    rng: torch.Generator
    #: Generator name -> its key prefix in the checkpoint (the callbacks' generators).
    generator_prefixes: dict[str, str]
    #: ``callback:NAME`` -> the plugin and distribution of each callback whose state is checkpointed.
    provenance: dict[str, dict[str, str | None]]

    def networks(self) -> dict[str, nn.Module]:
        """Every network beside G and D by checkpoint prefix: the regularisers', then the callbacks'."""
        return {**self.objective.networks(), **callback_networks(self.callbacks)}

    def state(self, step: int) -> TrainState:
        """The step, the optimisers and the random stream, as the state file holds them."""
        return TrainState(step, self.objective.optimizers(), {"data": self.rng})


class RunFolder:
    """One run directory for one training process: refusals before anything is built, the lock,
    resume and checkpoints. ``callback_names`` are every registered callback's (a checkpoint's
    state of one this run has off is left unread)."""

    def __init__(
        self,
        path: Path,
        assembly: Assembly,
        dist: distributed.DistContext,
        console: Any,
        resume: bool,
        callback_names: Iterable[str] = (),
    ) -> None:
        self.path = Path(path)
        self.assembly = assembly
        self.config: Config = assembly.config
        self.dist = dist
        self.console = console
        self.callback_names = frozenset(callback_names)
        self._locked = False
        if not resume and dist.is_main and list_steps(self.path):
            raise ToolkitError(
                f"run directory '{self.path}' already holds checkpoints; pass --resume {self.path} to continue "
                "it or --out NEWDIR"
            )
        if resume and not list_steps(self.path):
            raise ToolkitError(f"cannot resume: '{self.path}' holds no complete checkpoint")
        if dist.is_main:
            check_run_dir(self.path)
        self.resume_point = self._check_resume() if resume else None

    # -- claiming ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def claimed(self) -> Iterator[RunFolder]:
        """Hold the folder's lock (rank 0) while the run is built inside; if building fails, give it
        back and remove the folder when this process made it, so a refused run leaves nothing."""
        created = not self.path.exists()
        try:
            if self.dist.is_main:
                acquire_lock(self.path)
                self._locked = True
                for path in remove_partial_writes(self.path):
                    self.console.print(f"removed {path}, left by an interrupted checkpoint write")
            yield self
        except BaseException:
            self.release()
            if created and self.dist.is_main and self.path.is_dir() and not self.path.is_symlink():
                # This process made the folder, so all in it (config.toml, a sink's folder) is its own.
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    def release(self) -> None:
        """Give up the claim on the folder (the trainer does at the end of its run)."""
        if self._locked:
            release_lock(self.path)
            self._locked = False

    def last_good(self) -> str:
        """Which checkpoint a stopped run keeps, in words."""
        steps = list_steps(self.path)
        return f"the last good checkpoint is step {steps[-1]}" if steps else "no checkpoint was written yet"

    # -- starting and resuming ---------------------------------------------------------------------
    def create(self) -> None:
        """A new run's folder and its ``config.toml`` (rank 0)."""
        if self.dist.is_main:
            self.path.mkdir(parents=True, exist_ok=True)
        self.write_config()

    def write_config(self) -> None:
        """Record the run's configuration in ``config.toml`` (rank 0): a new run's, or a resumed
        run's once it is sure to train (its new ``train.steps``, learning rates...)."""
        if self.dist.is_main:
            write_file(config_path(self.path), self.config.to_toml())

    def _check_resume(self) -> tuple[int, tuple[str, ...]]:
        """The step to resume from, once its weights file's metadata has passed the schema and
        agrees with this run's configuration (the model, codes and dataset cannot change, so an
        edited config.toml cannot put weights into the wrong codes); and the key prefixes of the
        regularisers that run had on and this one has off (their networks are not restored)."""
        step = list_steps(self.path)[-1]
        if self.config.train.steps < step:  # refused before config.toml is rewritten with it
            raise ConfigError(
                f"cannot resume: train.steps = {self.config.train.steps} is the total number of steps, and "
                f"'{self.path}' is already at step {step}; pass --steps N with N > {step}"
            )
        path = model_path(self.path, step)
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
                    f"with {was!r}; a resumed run keeps its model, codes and dataset (restore "
                    f"{config_path(self.path)} as the run wrote it)"
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

    def restore(self, parts: RunParts) -> tuple[int, frozenset[str]]:
        """Load the last checkpoint into ``parts``; its step, and the callbacks whose networks it
        restored. The configured learning rates and betas win over the saved ones; a callback with
        networks the checkpoint has no state of starts from its weights (``on_train_start``); a
        regulariser or callback this run has off is left unread. ``config.toml`` is left as it was
        (:meth:`write_config`)."""
        if self.resume_point is None:
            raise ToolkitError("this run folder was opened for a new run, not to resume")
        step, dropped = self.resume_point
        path = model_path(self.path, step)
        found = file_specs(path)
        objective = parts.objective
        networks = objective.networks()
        fresh = []  # callbacks the checkpoint has no state of (off when it was written): they start here
        for name, callback in parts.callbacks.items():
            owned = callback_networks({name: callback})
            if owned and any(key.startswith(prefix + ".") for key in found for prefix in owned):
                networks.update(owned)
            else:
                fresh.append(name)
        # State of a registered callback that this run has off is left unread; any other tensor
        # the run cannot place is the schema's to refuse.
        claimed = (*PREFIXES.values(), *(prefix + "." for prefix in networks), *dropped)
        unclaimed = sorted({key.split(".")[0] for key in found if not key.startswith(claimed)} & self.callback_names)
        load_model_tensors(
            path, objective.G, objective.D, networks, passthrough=(*dropped, *(p + "." for p in unclaimed))
        )
        if unclaimed and self.dist.is_main:
            self.console.print(
                f"resuming without the checkpoint's {', '.join(p + '.*' for p in unclaimed)} tensors: nothing in "
                "this run's configuration continues them, and its checkpoints will not hold them"
            )
        state = parts.state(0)
        # The rates the checkpointed step ran at under this configuration (optim.decay included).
        objective.schedule(step - 1)
        configured = {
            name: [{k: g[k] for k in ("lr", "betas") if k in g} for g in opt.param_groups]
            for name, opt in state.optimizers.items()
        }
        load_train_state(state_path(self.path, step), state, rank=self.dist.rank, passthrough=dropped)
        for prefix in dropped:
            if self.dist.is_main:
                self.console.print(
                    f"resuming without regulariser '{prefix[:-1]}' (off in the configuration): its saved networks "
                    "and optimiser state are not restored"
                )
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
            if parts.callbacks[name].networks() and self.dist.is_main:
                self.console.print(
                    f"resuming with callback '{name}', which the checkpoint of step {step} has no state of: it "
                    "starts from that step's weights"
                )
        return state.step, frozenset(parts.callbacks) - frozenset(fresh)

    # -- checkpoints -------------------------------------------------------------------------------
    def save(self, parts: RunParts, step: int, device: torch.device) -> Path | None:
        """Write the weights and the training state of ``step`` (rank 0; every rank takes part in
        the buffer averaging), then prune old checkpoints; the weights file, or None off rank 0."""
        objective = parts.objective
        for module in (objective.G, objective.D, *parts.networks().values()):
            distributed.average_buffers(module, self.dist)
        state = parts.state(step)
        if self.dist.enabled:
            state.rank_states["data"] = distributed.gather_states(parts.rng.get_state(), self.dist, device)
        if not self.dist.is_main:
            return None
        meta = checkpoint_metadata(
            self.assembly, step, __version__, generators=parts.generator_prefixes, provenance=parts.provenance
        )
        path = model_path(self.path, step)
        real_directory(checkpoint_dir(self.path))  # never a checkpoints/ link planted elsewhere
        try:
            atomic_save(model_tensors(objective.G, objective.D, parts.networks()), path, meta)
            save_train_state(state_path(self.path, step), state)
        except OSError as exc:
            # The weights file may be whole while its state file is not: without both the step
            # does not count, so the last complete checkpoint stays the one to resume from.
            path.unlink(missing_ok=True)
            raise CheckpointWriteError(
                f"could not write the checkpoint of step {step} in {checkpoint_dir(self.path)}: "
                f"{exc.strerror or exc}; {self.last_good()}; free space (or fix the folder) and continue with "
                f"--resume {self.path}"
            ) from None
        prune(self.path, self.config.train.keep_checkpoints)
        return path
