"""Checkpoints as safetensors: no pickle anywhere, atomic writes, metadata readable without weights.

A checkpoint is two files side by side:

* ``step-NNNNNNN.safetensors``: the weights with prefixed keys (``generator.``, ``discriminator.``
  for the trunk and D logit, ``q.`` for the Q head, ``NAME.`` or ``NAME.KEY.`` for the networks of
  regulariser ``NAME``, which only resuming reads) and ``__metadata__`` holding the resolved
  config as JSON, the code spec, the toolkit and plugin versions, and the step;
* ``step-NNNNNNN.state.safetensors``: what exact resume needs: Adam moments and step counts,
  optimiser hyper-parameters (JSON in metadata) and the random-generator states.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from .errors import CheckpointError

from .rundir import MODEL_FORMAT, STATE_FORMAT, checkpoint_dir, list_steps, model_path, state_path  # noqa: F401  (re-exported)
PREFIXES = {
    "generator": "generator.",
    "trunk": "discriminator.trunk.",
    "d_head": "discriminator.d_head.",
    "q_head": "q.",
}


def atomic_save(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file through a temporary file and a rename, so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parts(generator: nn.Module, discriminator: nn.Module, extra: dict[str, nn.Module] | None) -> dict[str, nn.Module]:
    """Prefix -> module: G and D/Q under PREFIXES, each ``extra`` network under its own name plus a dot."""
    parts = {PREFIXES["generator"]: generator, **{PREFIXES[p]: getattr(discriminator, p) for p in ("trunk", "d_head", "q_head")}}
    for name, module in (extra or {}).items():
        prefix = name + "."
        if any(prefix.startswith(p) or p.startswith(prefix) for p in parts):
            raise ValueError(f"extra network '{name}' would share its key prefix with another network; rename it")
        parts[prefix] = module
    return parts


def model_tensors(generator: nn.Module, discriminator: nn.Module, extra: dict[str, nn.Module] | None = None) -> dict[str, Tensor]:
    """The state of G and D/Q (and ``extra`` networks, prefixed by their names) under the checkpoint's key prefixes."""
    return {prefix + k: v for prefix, module in _parts(generator, discriminator, extra).items() for k, v in module.state_dict().items()}


def load_model_tensors(
    tensors: dict[str, Tensor], generator: nn.Module, discriminator: nn.Module, path: Path, extra: dict[str, nn.Module] | None = None
) -> None:
    """Load prefixed tensors into G and D/Q (and ``extra``); a shape or key mismatch is a one-line error."""
    parts = _parts(generator, discriminator, extra)
    for prefix, module in parts.items():
        sub = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(sub, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"checkpoint '{path}' does not fit the networks its config builds ({prefix.rstrip('.')}: {first})") from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The checkpoint's metadata, without loading any tensor; one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist; give a .safetensors file or a run directory")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises several types for a bad header
        raise CheckpointError(
            f"'{path}' is not a readable safetensors file (truncated or another format: {str(exc).splitlines()[0]})"
        ) from None
    if meta.get("format") not in (MODEL_FORMAT, STATE_FORMAT):
        raise CheckpointError(f"'{path}' is a safetensors file but not an infogan-tk checkpoint (no infogan-tk format tag)")
    return meta


def load_tensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a checkpoint file, on the CPU."""
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"'{path}' could not be read ({str(exc).splitlines()[0]}); the file may be truncated") from None


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


def optimizer_from_tensors(name: str, optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups_json: str) -> None:
    """Inverse of :func:`optimizer_to_tensors`."""
    prefix = f"optim.{name}."
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    groups = json.loads(groups_json)
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


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
        for rank, t in enumerate(per_rank):
            tensors[f"rng.{name}.rank{rank}"] = t
    atomic_save(tensors, path, meta)


def load_train_state(path: Path, state: TrainState, rank: int = 0, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Restore optimisers and generators in place (``rank``'s stream where saved); returns the metadata.
    ``aliases`` maps an optimiser's name to the name an older state file saved it under."""
    meta = read_metadata(path)
    tensors = load_tensors(path)
    for name, opt in state.optimizers.items():
        old = (aliases or {}).get(name)
        if f"optim.{name}.param_groups" not in meta and old and f"optim.{old}.param_groups" in meta:
            name = old
        groups = meta.get(f"optim.{name}.param_groups")
        if groups is None:
            saved = sorted(k[len("optim."):-len(".param_groups")] for k in meta if k.endswith(".param_groups"))
            raise CheckpointError(
                f"cannot resume from '{path}': it holds no state for optimiser '{name}' (it has {', '.join(saved) or 'none'}); "
                "it was written by another version or config of the run; start a new run from its weights instead"
            )
        optimizer_from_tensors(name, opt, tensors, groups)
    for name, gen in state.generators.items():
        gen.set_state(tensors.get(f"rng.{name}.rank{rank}", tensors[f"rng.{name}"]))
    state.step = int(meta["step"])
    return meta


# -- locating checkpoints ------------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """A .safetensors file as given, or the latest checkpoint of a run directory."""
    path = Path(path)
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
