"""The circular code ``circN``: N independent angles, each uniform on [0, 2*pi)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.api import CodeControl, LatentCode

TWO_PI = 2.0 * math.pi


class CircularCode(LatentCode):
    """One angle, uniform on [0, 2*pi), fed to the generator as (cos, sin).

    (cos, sin) rather than the raw angle, so that 0 and 2*pi -- the same point -- give the same input.
    """

    discrete = False
    head_family = "angle"
    default_head = "von-mises"

    @property
    def width(self) -> int:
        return 2

    @property
    def target_size(self) -> int:
        return 1  # one angle per code

    def sample(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
        # remainder: rand(...) * 2*pi can round up to exactly 2*pi in float32.
        return (torch.rand(n, generator=generator, device=device) * TWO_PI).remainder(TWO_PI)

    def encode(self, value: Tensor) -> Tensor:
        angle = value.reshape(-1).float()
        return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

    def target(self, value: Tensor) -> Tensor:
        return value.reshape(-1, 1).float()

    def entropy(self) -> float:
        return math.log(TWO_PI)

    def traversal(self, steps: int, low: float = -1.0, high: float = 1.0) -> Tensor:
        """``steps`` angles once round the circle; ``low``/``high`` are ignored (a circle has no ends)."""
        return torch.arange(steps, dtype=torch.float32) * (TWO_PI / steps)

    def describe(self) -> str:
        return "Angle[0,2pi)"

    def control(self) -> CodeControl:
        """A slider once round the circle; its two ends are the same angle."""
        return CodeControl(kind="range", low=0.0, high=TWO_PI, prior=(0.0, TWO_PI), wraps=True)


def make_circular(args: str) -> list[LatentCode]:
    """``circN`` -> N independent circular codes."""
    if not args:
        raise ValueError("circ needs a number of angles, e.g. 'circ1'")
    if not args.isdigit():
        raise ValueError(f"'{args}' is not a whole number")
    n = int(args)
    if not 1 <= n <= 64:
        raise ValueError(f"{n} is out of range 1..64")
    return [CircularCode() for _ in range(n)]
