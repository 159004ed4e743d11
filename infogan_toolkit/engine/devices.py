"""Device selection (``auto`` picks CUDA, then MPS, then the CPU) and process-wide precision switches."""

from __future__ import annotations

import torch

from ..errors import ConfigError

DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """Turn a ``--device`` value into a torch.device, refusing one this machine lacks."""
    kind = name.split(":")[0]
    if kind not in DEVICE_KINDS:
        raise ConfigError(f"unknown device '{name}'; use one of {', '.join(DEVICE_KINDS)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        return torch.device(name) if ":" in name else torch.device("cuda", local_rank)
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def apply_precision_switches(train) -> None:
    """Turn on the process-wide numerics switches a run's ``train`` settings ask for (TF32 on CUDA);
    only ever turned on, never silently off, as they belong to the whole process."""
    if train.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
