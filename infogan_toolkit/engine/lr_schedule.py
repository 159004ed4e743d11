"""The learning-rate decay of ``optim.decay``: a factor on D's and G's configured rates per step.

The rates hold at their configured values until ``optim.decay_from`` of ``train.steps`` and then
fall to 0 at the last step, linearly or along half a cosine. The factor depends only on the step
and the run's length, so a resumed run continues the same schedule (resuming with a different
``train.steps`` stretches what is left of it).
"""

from __future__ import annotations

import math

from ..config import DECAY_KINDS


def lr_factor(kind: str, decay_from: float, total_steps: int, step: int) -> float:
    """The factor on the configured learning rates for the update of ``step`` (0-based)."""
    if kind == "none":
        return 1.0
    start = decay_from * total_steps
    if step < start:
        return 1.0
    progress = min(1.0, (step - start) / max(total_steps - start, 1.0))
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown decay {kind!r}; known: {', '.join(DECAY_KINDS)}")
