"""Forward passes that must not move batch norm's running statistics.

Batch norm in training mode normalises with the batch's own statistics and also folds them into
the running statistics that evaluation mode uses. An auxiliary pass over transformed copies of the
fakes (a regulariser's transformed batch) would fold a batch unlike the data D is trained to
judge into them, so that D and Q in evaluation mode see other statistics than in training. Within
:func:`running_stats_frozen` the layers still normalise with batch statistics (the forward is the
same, bit for bit) but leave their running statistics as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from torch import nn


def batch_norm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch norm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def running_stats_frozen(layers: Sequence[nn.modules.batchnorm._BatchNorm]) -> Iterator[None]:
    """While inside, ``layers`` in training mode use batch statistics without updating their running ones."""
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in layers:
            layer.track_running_stats = True
