"""Whole-step CUDA graphs: record one training step once, then replay it.

A small network (a few tens of GFLOP per step) spends most of a step launching kernels, not running
them. Replaying a captured graph launches the whole step (batch draw, forward, backward, both
Adam updates) with one call. The first ``warmup`` calls run eagerly on a side stream, as CUDA
graph capture requires (lazy initialisation, allocator warm-up, optimiser state); they are real
training steps. The next call captures and replays; every later call only replays.

Requirements the engine meets when ``train.cuda_graph`` is on: Adam with ``capturable=True``,
autocast without its weight cache, and no host synchronisation inside a step. A plugin whose
code synchronises (``.item()``, data-dependent shapes) cannot be captured; that is reported as
one clear error naming the option to turn off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..errors import ToolkitError

#: Eager steps before capture (PyTorch's guidance for whole-network capture uses a few).
DEFAULT_WARMUP = 3


def check_cuda_graph_support(device: torch.device, processes: int = 1) -> None:
    """Refuse ``train.cuda_graph`` where it cannot work, before any data is loaded."""
    if device.type != "cuda":
        raise ToolkitError(
            f"train.cuda_graph needs a CUDA device, but this run is on '{device}'; set train.cuda_graph=false"
        )
    if processes > 1:
        raise ToolkitError("train.cuda_graph does not work with several processes yet; set train.cuda_graph=false")


class CudaGraphStep:
    """Calls ``step_fn`` eagerly ``warmup`` times, then captures it once and replays it ever after.

    ``step_fn`` must return a device tensor; after capture the same (static) tensor is returned
    by every call and is overwritten by the next replay, so consume it before calling again.
    ``generators`` are the non-default CUDA generators the step draws from; their state advances
    on every replay as it would eagerly.
    """

    def __init__(
        self,
        step_fn: Callable[[], Tensor],
        device: torch.device,
        generators: Sequence[torch.Generator] = (),
        warmup: int = DEFAULT_WARMUP,
    ) -> None:
        check_cuda_graph_support(device)
        self.step_fn = step_fn
        self.device = device
        self.generators = list(generators)
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_out: Tensor | None = None
        self.side = torch.cuda.Stream(device)

    @property
    def captured(self) -> bool:
        """Whether the step has been captured (later calls are replays)."""
        return self.graph is not None

    def __call__(self) -> Tensor:
        """One training step: eager during warm-up, a graph replay afterwards."""
        if self.graph is None:
            if self.calls < self.warmup:
                self.calls += 1
                return self._eager()
            self._capture()
        assert self.graph is not None and self.static_out is not None
        self.graph.replay()
        return self.static_out

    def _eager(self) -> Tensor:
        current = torch.cuda.current_stream(self.device)
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):
            out = self.step_fn()
        current.wait_stream(self.side)
        out.record_stream(current)
        return out

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        for gen in self.generators:
            if not hasattr(graph, "register_generator_state"):
                raise ToolkitError(
                    "train.cuda_graph needs torch >= 2.5 (CUDAGraph.register_generator_state); this is "
                    f"{torch.__version__}. "
                    "Upgrade torch or set train.cuda_graph=false"
                )
            graph.register_generator_state(gen)
        torch.cuda.synchronize(self.device)
        try:
            with torch.cuda.graph(graph):
                self.static_out = self.step_fn()
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:200]
            raise ToolkitError(
                f"the training step could not be captured as a CUDA graph ({detail}); "
                "a plugin may synchronise with the host inside the step. Set train.cuda_graph=false"
            ) from exc
        self.graph = graph
