"""Checkpoints as safetensors: no pickle anywhere, atomic writes, metadata readable without weights.

A checkpoint is two files side by side:

* ``step-NNNNNNN.safetensors``: the weights with prefixed keys (``generator.``, ``discriminator.``
  for the trunk and D logit, ``q.`` for the Q head, ``NAME.`` or ``NAME.KEY.`` for the networks of
  regulariser ``NAME``, which only resuming reads) and ``__metadata__`` holding the resolved
  config as JSON, the code spec, the toolkit and plugin versions, and the step;
* ``step-NNNNNNN.state.safetensors``: what exact resume needs: Adam moments and step counts,
  optimiser hyper-parameters (JSON in metadata) and the random-generator states.

Reading goes through :mod:`infogan_toolkit.checkpoint_schema` first: metadata keys and types,
every tensor's name, shape and dtype against the networks and optimisers that will receive it,
finite values; only then is anything loaded.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .callbacks import RAW_GENERATOR
from .checkpoint_schema import (
    ModelMetadata,
    check_finite,
    check_generators,
    check_model_metadata,
    check_param_groups,
    check_state_metadata,
    check_state_tensors,
    check_tensors,
    file_specs,
    layout_of,
)
from .errors import CheckpointError
from .files import make_dirs

# noqa: F401  (re-exported)
from .rundir import MODEL_FORMAT, STATE_FORMAT, checkpoint_dir, exported_model, list_steps, model_path, state_path

PREFIXES = {
    "generator": "generator.",
    "trunk": "discriminator.trunk.",
    "d_head": "discriminator.d_head.",
    "q_head": "q.",
}


def atomic_save(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file through a temporary file and a rename, so a crash leaves no half file."""
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as exc:  # its I/O errors (a full disk) arrive as text: an OSError again
            found = re.search(r"os error (\d+)", str(exc))
            raise OSError(
                int(found[1]) if found else errno.EIO, os.strerror(int(found[1])) if found else str(exc)
            ) from None
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parts(generator: nn.Module, discriminator: nn.Module, extra: dict[str, nn.Module] | None) -> dict[str, nn.Module]:
    """Prefix -> module: G and D/Q under PREFIXES, each ``extra`` network under its own name plus a dot."""
    parts = {
        PREFIXES["generator"]: generator,
        **{PREFIXES[p]: getattr(discriminator, p) for p in ("trunk", "d_head", "q_head")},
    }
    for name, module in (extra or {}).items():
        prefix = name + "."
        if any(prefix.startswith(p) or p.startswith(prefix) for p in parts):
            raise ValueError(f"extra network '{name}' would share its key prefix with another network; rename it")
        parts[prefix] = module
    return parts


def model_tensors(
    generator: nn.Module, discriminator: nn.Module, extra: dict[str, nn.Module] | None = None
) -> dict[str, Tensor]:
    """The state of G and D/Q (and ``extra`` networks, prefixed by their names) under the checkpoint's key prefixes."""
    return {
        prefix + k: v
        for prefix, module in _parts(generator, discriminator, extra).items()
        for k, v in module.state_dict().items()
    }


def load_model_tensors(
    path: Path,
    generator: nn.Module,
    discriminator: nn.Module,
    extra: dict[str, nn.Module] | None = None,
    passthrough: tuple[str, ...] = (),
) -> None:
    """Load a weights file into G and D/Q (and ``extra``). Its tensors must be exactly those of
    these networks by name, shape and dtype, apart from any under the ``passthrough`` prefixes
    (networks the caller does not build, left unread), and finite; otherwise a one-line error and
    nothing is loaded."""
    path = Path(path)
    parts = _parts(generator, discriminator, extra)
    layout = layout_of(parts, passthrough)
    check_tensors(path, file_specs(path), layout, "the networks its config builds")
    tensors = load_tensors(path, keys=layout.tensors)
    check_finite(path, tensors)
    for prefix, module in parts.items():
        sub = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(
                f"checkpoint '{path}' does not fit the networks its config builds ({prefix.rstrip('.')}: {first})"
            ) from None


def load_module_tensors(path: Path, module: nn.Module, prefix: str) -> None:
    """Load the file's tensors under ``prefix`` (e.g. ``"ema.module."``) into ``module``: exactly its
    names, shapes and dtypes, finite, or a one-line error and nothing loaded."""
    path = Path(path)
    layout = layout_of({prefix: module})
    found = {k: v for k, v in file_specs(path).items() if k.startswith(prefix)}
    check_tensors(path, found, layout, f"the networks under '{prefix}'")
    tensors = load_tensors(path, keys=layout.tensors)
    check_finite(path, tensors)
    sub = {k[len(prefix) :]: v for k, v in tensors.items()}
    try:
        module.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"checkpoint '{path}' does not fit the networks its config builds ({prefix.rstrip('.')}: {first})"
        ) from None


def offered_generators(meta: dict[str, str], path: Path) -> dict[str, str]:
    """The generators a weights file offers, name -> key prefix, the default first: those in its
    ``generators`` metadata (written by the run's callbacks, e.g. ``ema``), then ``raw``."""
    # The same schema as the rest of the file: size, depth and types checked, one-line errors.
    declared = check_generators(path, meta["generators"]) if "generators" in meta else {}
    return {**{k: v for k, v in declared.items() if k != RAW_GENERATOR}, RAW_GENERATOR: PREFIXES["generator"]}


def read_metadata(path: str | Path) -> dict[str, str]:
    """The checkpoint's metadata, without loading any tensor; one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        if path.exists():  # a FIFO or device is never opened: reading it could block
            raise CheckpointError(
                f"checkpoint '{path}' is not a regular file; give a .safetensors file or a run directory"
            )
        raise CheckpointError(f"checkpoint '{path}' does not exist; give a .safetensors file or a run directory")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises several types for a bad header
        raise CheckpointError(
            f"'{path}' is not a readable safetensors file (truncated or another format: {str(exc).splitlines()[0]})"
        ) from None
    if meta.get("format") not in (MODEL_FORMAT, STATE_FORMAT):
        raise CheckpointError(
            f"'{path}' is a safetensors file but not an infogan-tk checkpoint (no infogan-tk format tag)"
        )
    return meta


def read_model_metadata(path: str | Path) -> ModelMetadata:
    """A weights file's metadata, checked against the schema and decoded (no tensor is loaded)."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"'{path}' is a trainer-state file; give the model file next to it (without .state)")
    return check_model_metadata(path, meta)


def load_tensors(path: Path, keys: Iterable[str] | None = None) -> dict[str, Tensor]:
    """The tensors of a checkpoint file (only ``keys`` when given), on the CPU."""
    try:
        if keys is None:
            return load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            return {key: fh.get_tensor(key) for key in keys}
    except Exception as exc:
        raise CheckpointError(
            f"'{path}' could not be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); the file "
            "may be truncated"
        ) from None


# -- optimiser and RNG state, without pickle ---------------------------------------------------------
def optimizer_to_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], str]:
    """Flatten an optimiser's state into tensors plus its param groups as JSON."""
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{name}.{idx}.{key}"] = t
    return tensors, json.dumps(sd["param_groups"])


def optimizer_from_tensors(
    name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: str | list
) -> None:
    """Inverse of :func:`optimizer_to_tensors` (``groups`` as the JSON it wrote, or decoded)."""
    prefix = f"optim.{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    groups = json.loads(groups) if isinstance(groups, str) else [dict(g) for g in groups]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    match_parameter_layouts(optimizer)


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments) its parameter's memory layout.

    A file stores tensors contiguous, while a channels_last run's conv weights are not; the fused
    Adam kernel pairs a parameter with its state element by element in memory, so mismatched
    layouts would update each weight with another weight's moments."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


@attrs.define
class TrainState:
    """What a resume restores besides the weights."""

    step: int
    optimizers: dict[str, torch.optim.Optimizer]
    generators: dict[str, torch.Generator]
    extra: dict[str, str] = attrs.field(factory=dict)
    # Other ranks' generator states under torchrun, saved by rank 0: name -> per-rank states.
    rank_states: dict[str, list[Tensor]] = attrs.field(factory=dict)


def save_train_state(path: Path, state: TrainState) -> None:
    """Write optimiser and RNG state without pickle."""
    tensors: dict[str, Tensor] = {}
    meta = {"format": STATE_FORMAT, "step": str(state.step), **state.extra}
    for name, opt in state.optimizers.items():
        t, groups = optimizer_to_tensors(name, opt)
        tensors.update(t)
        meta[f"optim.{name}.param_groups"] = groups
    for name, gen in state.generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    for name, per_rank in state.rank_states.items():
        for rank, rank_state in enumerate(per_rank):
            tensors[f"rng.{name}.rank{rank}"] = rank_state
    atomic_save(tensors, path, meta)


def load_train_state(path: Path, state: TrainState, rank: int = 0, passthrough: tuple[str, ...] = ()) -> dict[str, str]:
    """Restore optimisers and generators in place (``rank``'s stream where saved); returns the metadata.
    Optimisers whose names start with a ``passthrough`` prefix (``NAME.`` of a regulariser the run no longer
    has) are left unread. The file is checked whole (:mod:`~infogan_toolkit.checkpoint_schema`)
    before anything is restored."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"'{path}' is a weights file, not a trainer-state file (.state.safetensors)")
    parsed = check_state_metadata(path, meta, state.extra)
    saved_as: dict[str, str] = {}
    for name in state.optimizers:
        saved = name
        if saved not in parsed.param_groups:
            raise CheckpointError(
                f"cannot resume from '{path}': it holds no state for optimiser '{name}' (it has "
                f"{', '.join(sorted(parsed.param_groups)) or 'none'}); "
                "it was written by another version or config of the run; start a new run from its weights instead"
            )
        saved_as[name] = saved
    strays = sorted(
        n for n in parsed.param_groups if n not in saved_as.values() and not (passthrough and n.startswith(passthrough))
    )
    if strays:
        raise CheckpointError(
            f"cannot resume from '{path}': it holds state for optimiser '{strays[0]}', which this run does not have "
            f"(it has {', '.join(state.optimizers)}); the file was edited or made by another config"
        )
    for name, opt in state.optimizers.items():
        check_param_groups(path, saved_as[name], parsed.param_groups[saved_as[name]], opt)
    check_state_tensors(
        path,
        file_specs(path),
        {saved_as[n]: opt for n, opt in state.optimizers.items()},
        state.generators,
        passthrough=tuple(f"optim.{p}" for p in passthrough),
    )
    tensors = load_tensors(path)
    check_finite(path, tensors)
    for name, opt in state.optimizers.items():
        try:
            optimizer_from_tensors(saved_as[name], opt, tensors, parsed.param_groups[saved_as[name]])
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(
                f"cannot resume from '{path}': the state of optimiser '{name}' does not restore "
                f"({str(exc).splitlines()[0][:120]})"
            ) from None
    for name, gen in state.generators.items():
        gen.set_state(tensors.get(f"rng.{name}.rank{rank}", tensors[f"rng.{name}"]))
    state.step = parsed.step
    return meta


# -- locating checkpoints ------------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """A .safetensors file as given, the weights of an exported model's folder, or the latest
    checkpoint of a run directory."""
    path = Path(path)
    if path.is_dir() and exported_model(path).is_file():
        return exported_model(path)
    if path.is_dir():
        steps = list_steps(path)
        if not steps:
            raise CheckpointError(f"run directory '{path}' holds no checkpoint yet (looked in {checkpoint_dir(path)})")
        return model_path(path, steps[-1])
    return path


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for step in list_steps(run_dir)[:-keep]:
        model_path(run_dir, step).unlink(missing_ok=True)
        state_path(run_dir, step).unlink(missing_ok=True)
