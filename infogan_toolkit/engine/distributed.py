"""Data parallelism under ``torchrun``: NCCL on GPUs, gloo on the CPU.

Each rank draws its own batches and noise from its own seed; gradients are averaged across ranks
after every backward, and the initial weights are broadcast from rank 0, so every rank holds the
same weights. The averaging is explicit (one flattened all-reduce per network) rather than through
``DistributedDataParallel``'s reducer: an InfoGAN step runs several backward passes restricted to
different parameter groups (``backward(inputs=...)``), and when the information term is limited
to some parts, some Q-head parameters get no gradient in a step. DDP's reducer expects exactly one
backward that reaches every parameter it tracks and breaks on both; explicit averaging does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import attrs
import torch
import torch.distributed as dist
from torch import nn


@attrs.frozen
class DistContext:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and prints progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1


def context_from_env() -> DistContext:
    """Read torchrun's environment variables (a plain run is rank 0 of 1)."""
    return DistContext(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init(ctx: DistContext, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise) when running distributed."""
    if ctx.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Make every rank hold rank 0's parameters and buffers."""
    if not ctx.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: Iterable[nn.Parameter], ctx: DistContext) -> None:
    """Average the gradients that exist, in one flattened all-reduce."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def average_buffers(module: nn.Module, ctx: DistContext) -> None:
    """Average floating buffers (batch-norm running statistics) so every rank saves the same model."""
    if not ctx.enabled:
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b /= ctx.world_size


def gather_states(state: torch.Tensor, ctx: DistContext, device: torch.device) -> list[torch.Tensor]:
    """Every rank's copy of a byte tensor (a generator state), in rank order, on the CPU."""
    if not ctx.enabled:
        return [state]
    # NCCL moves CUDA tensors only; gloo takes either.
    t = state.to(device if device.type == "cuda" else "cpu")
    out = [torch.empty_like(t) for _ in range(ctx.world_size)]
    dist.all_gather(out, t)
    return [o.cpu() for o in out]
