"""Full factor grids: image ``i`` is the mixed-radix number of its factor indices, the last factor fastest.

The implementation is :func:`infogan_toolkit.datasets.grid_decode` / :func:`grid_encode` (what
:class:`infogan_toolkit.datasets.FactorGridDataset` uses); these names remain for the data sets
that index a grid by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from infogan_toolkit.api import grid_decode, grid_encode


def decode(index: Tensor, sizes: Sequence[int]) -> Tensor:
    """Flat image indices ``(n,)`` -> factor indices ``(n, len(sizes))`` int64, on ``index``'s device."""
    return grid_decode(index, sizes)


def encode(factors: Tensor, sizes: Sequence[int], names: Sequence[str]) -> Tensor:
    """Factor indices ``(n, F)`` -> flat image indices ``(n,)`` int64: the inverse of :func:`decode`.

    Raises ``ValueError`` when ``factors`` has the wrong shape or an index is outside ``0 .. size - 1``.
    """
    return grid_encode(factors, sizes, names)
