"""Built-in latent-code kinds: categorical ``catK``, uniform ``unifN`` on (-1, 1), Gaussian ``gaussN``.

``catK`` is one K-way categorical code; ``unifN`` and ``gaussN`` are N independent scalar codes
(``unif2`` is the paper's c2 and c3), so every code has its own L_I and its own traversal.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from infogan_toolkit.api import CodeControl, LatentCode, hookimpl


def _count(args: str, what: str) -> int:
    if not args:
        raise ValueError(f"{what} needs a number, e.g. '{what}2'")
    if not (args.isascii() and args.isdigit()):
        raise ValueError(f"'{args}' is not a whole number")
    if len(args.lstrip("0")) > 4:
        raise ValueError(f"{args[:8]}... is out of range 1..4096")
    n = int(args)
    if not 1 <= n <= 4096:
        raise ValueError(f"{n} is out of range 1..4096")
    return n


class Categorical(LatentCode):
    """Cat(K): uniform over K classes, one-hot in the generator input, softmax head."""

    discrete = True
    head_family = "categorical"
    default_head = "softmax"

    def __init__(self, k: int) -> None:
        if k < 2:
            raise ValueError("a categorical code needs at least 2 categories")
        self.k = k

    @property
    def width(self) -> int:
        return self.k

    @property
    def target_size(self) -> int:
        return self.k

    def sample(self, n, generator=None, device="cpu") -> Tensor:
        return torch.randint(0, self.k, (n,), generator=generator, device=device)

    def encode(self, value: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(value.long(), self.k).float()

    def target(self, value: Tensor) -> Tensor:
        return value.long()

    def entropy(self) -> float:
        return math.log(self.k)

    def traversal(self, steps, low=-1.0, high=1.0) -> Tensor:
        return torch.arange(self.k)

    def describe(self) -> str:
        return f"Cat({self.k})"


class _Scalar(LatentCode):
    """A scalar continuous code, scored by a Gaussian head."""

    head_family = "real"
    default_head = "gaussian"

    @property
    def width(self) -> int:
        return 1

    @property
    def target_size(self) -> int:
        return 1

    def encode(self, value: Tensor) -> Tensor:
        return value.reshape(-1, 1).float()

    def target(self, value: Tensor) -> Tensor:
        return value.reshape(-1, 1).float()

    def traversal(self, steps, low=-1.0, high=1.0) -> Tensor:
        return torch.linspace(low, high, steps)


class Uniform(_Scalar):
    """Unif(-1, 1)."""

    def sample(self, n, generator=None, device="cpu") -> Tensor:
        return torch.rand(n, generator=generator, device=device) * 2 - 1

    def entropy(self) -> float:
        return math.log(2.0)

    def describe(self) -> str:
        return "Unif(-1,1)"


class Gaussian(_Scalar):
    """N(0, 1)."""

    def sample(self, n, generator=None, device="cpu") -> Tensor:
        return torch.randn(n, generator=generator, device=device)

    def entropy(self) -> float:
        return 0.5 * math.log(2 * math.pi * math.e)

    def traversal(self, steps, low=-2.0, high=2.0) -> Tensor:
        return torch.linspace(low, high, steps)

    def control(self) -> CodeControl:
        """A slider from -3 to 3, with the two standard deviations that hold 95% of the prior marked."""
        return CodeControl(kind="range", low=-3.0, high=3.0, prior=(-2.0, 2.0))

    def describe(self) -> str:
        return "N(0,1)"


def make_categorical(args: str) -> list[LatentCode]:
    """``catK`` -> one K-way categorical code."""
    return [Categorical(_count(args, "cat"))]


def make_uniform(args: str) -> list[LatentCode]:
    """``unifN`` -> N scalar Unif(-1, 1) codes."""
    return [Uniform() for _ in range(_count(args, "unif"))]


def make_gaussian(args: str) -> list[LatentCode]:
    """``gaussN`` -> N scalar N(0, 1) codes."""
    return [Gaussian() for _ in range(_count(args, "gauss"))]


@hookimpl
def register_code_kinds(register):
    register("cat", make_categorical)
    register("unif", make_uniform)
    register("gauss", make_gaussian)
