"""Built-in callback ``ema``: an exponential moving average of the generator's weights.

With ``train.ema = DECAY`` (0 < DECAY < 1) the run keeps, beside G, PyTorch's
:class:`torch.optim.swa_utils.AveragedModel` of it with :func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`
(``W_ema <- DECAY * W_ema + (1 - DECAY) * W``, after every step). Checkpoints hold it under
``ema.module.`` (with the update count ``ema.n_averaged``) and offer it as the generator ``ema``,
which ``sample``, ``traverse``, ``eval`` and ``load_checkpoint`` then use unless told
``--generator raw``. Training is unchanged: nothing reads the average while training.

Batch norm: the average covers G's buffers too (``use_buffers=True``), so the averaged weights are
normalised with running statistics averaged over the same steps. Left alone they would stay the
initial statistics, and G's own belong to other weights; PyTorch's note on ``AveragedModel`` names
averaging the buffers as one of the two ways (the other is recomputing them with data afterwards,
``update_bn``, which an average for a generator would have to do at every checkpoint).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from infogan_toolkit.api import Callback, RunInfo, TrainStartEvent, hookimpl


class GeneratorAverage(Callback):
    """The moving average of G's parameters and buffers, updated after every step."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.generator = generator
        self.decay = decay
        # On G's device, so the update count is a device tensor and a step never reads the host.
        device = next(generator.parameters()).device
        self.average = AveragedModel(
            generator, device=device, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True
        )
        self.average.requires_grad_(False)
        self.groups = _pair_groups(
            [*self.average.module.parameters(), *self.average.module.buffers()],
            [*generator.parameters(), *generator.buffers()],
        )

    def networks(self) -> dict[str, nn.Module]:
        """The AveragedModel: ``ema.module.*`` (the averaged generator) and ``ema.n_averaged``."""
        return {"": self.average}

    def generators(self) -> dict[str, nn.Module]:
        """The averaged generator, offered as ``ema``."""
        return {"ema": self.average.module}

    def on_train_start(self, event: TrainStartEvent) -> None:
        """Begin the average at G's current weights (AveragedModel's first update copies them),
        unless resuming restored it."""
        if event.restored:
            return
        self.average.n_averaged.zero_()
        self.average.update_parameters(self.generator)

    def on_step_end(self) -> None:
        """What ``AveragedModel.update_parameters`` does after its first call, without its host read
        of ``n_averaged`` (one synchronisation per step, and no CUDA graph capture): its EMA function
        over each device and dtype group, then the count."""
        for averaged, current in self.groups:
            self.average.multi_avg_fn(averaged, current, self.average.n_averaged)
        self.average.n_averaged.add_(1)


def _pair_groups(averaged: list[Tensor], current: list[Tensor]) -> list[tuple[list[Tensor], list[Tensor]]]:
    """Pairs of tensors grouped by device and dtype, in order (a foreach kernel takes one of each)."""
    if len(averaged) != len(current):
        raise ValueError("the averaged copy and the generator have different tensors")
    groups: dict[tuple, tuple[list[Tensor], list[Tensor]]] = {}
    for a, c in zip(averaged, current):
        pair = groups.setdefault((a.device, a.dtype), ([], []))
        pair[0].append(a.detach())
        pair[1].append(c.detach())
    return list(groups.values())


def make_average(info: RunInfo) -> GeneratorAverage | None:
    """Moving average of G's weights, offered as generator 'ema' (train.ema = its decay; off at 0).

    None, so no callback, for a run with ``train.ema = 0`` or no generator being trained."""
    decay = info.assembly.config.train.ema
    return GeneratorAverage(info.generator, decay) if decay and info.generator is not None else None


@hookimpl
def register_callbacks(register):
    """Register ``ema``."""
    register("ema", make_average)
