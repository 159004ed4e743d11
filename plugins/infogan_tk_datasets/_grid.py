"""Full factor grids: image ``i`` is the mixed-radix number of its factor indices, the last factor fastest."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def decode(index: Tensor, sizes: Sequence[int]) -> Tensor:
    """Flat image indices ``(n,)`` -> factor indices ``(n, len(sizes))`` int64, on ``index``'s device."""
    rest = index.long()
    digits = []
    for size in reversed(sizes):
        digits.append(rest % size)
        rest = rest // size
    return torch.stack(digits[::-1], dim=1)


def encode(factors: Tensor, sizes: Sequence[int], names: Sequence[str]) -> Tensor:
    """Factor indices ``(n, F)`` -> flat image indices ``(n,)`` int64: the inverse of :func:`decode`.

    Raises ``ValueError`` when ``factors`` has the wrong shape or an index is outside ``0 .. size - 1``.
    """
    if factors.dim() != 2 or factors.shape[1] != len(sizes):
        raise ValueError(f"factors must be (n, {len(sizes)}), got {tuple(factors.shape)}")
    factors = factors.long()
    limits = torch.tensor(list(sizes), device=factors.device)
    if bool(((factors < 0) | (factors >= limits)).any()):
        raise ValueError(f"factor indices out of range; sizes are {dict(zip(names, sizes))}")
    index = torch.zeros(factors.shape[0], dtype=torch.long, device=factors.device)
    for column, size in enumerate(sizes):
        index = index * size + factors[:, column]
    return index
