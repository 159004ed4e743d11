"""The backbone interface: what a plugin must supply so the engine can train its networks.

A backbone builds a generator ``G(z, c)`` and a discriminator whose trunk is shared by the D logit
and the Q head. The engine only sees :class:`Networks`; it never knows which backbone built them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import attrs
from torch import Tensor, nn


@attrs.frozen
class BuildRequest:
    """Everything a backbone needs to size its networks for a run."""

    noise_dim: int
    code_width: int  # generator-input units taken by the latent codes
    q_width: int  # Q output units the code heads need
    options: dict[str, Any] = attrs.field(factory=dict)  # backbone-specific, e.g. {"leak": 0.1}

    @property
    def input_dim(self) -> int:
        """Total generator input width: noise plus codes."""
        return self.noise_dim + self.code_width


class InfoDiscriminator(nn.Module):
    """D and Q sharing a trunk: ``forward(x) -> (d_logit (n,), q_params (n, q_width))``.

    The three parts are separate submodules so that the engine can choose which of them the
    information term trains (``trunk``, ``d_head``, ``q_head``).
    """

    def __init__(self, trunk: nn.Module, d_head: nn.Module, q_head: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.d_head = d_head
        self.q_head = q_head

    def forward(self, x: Tensor, detach_q_input: bool = False) -> tuple[Tensor, Tensor]:
        """Return the D logit and Q's raw outputs; ``detach_q_input`` keeps Q's gradient out of the trunk."""
        feats = self.trunk(x)
        logit = self.d_head(feats).reshape(-1)
        q = self.q_head(feats.detach() if detach_q_input else feats)
        return logit, q


@attrs.frozen
class Networks:
    """The modules a backbone builds."""

    generator: nn.Module  # (n, input_dim) -> (n, C, H, W) in the backbone's output range
    discriminator: InfoDiscriminator


class Backbone(ABC):
    """A family of networks for one image shape, registered by name."""

    #: (channels, height, width) of the images the networks produce and read.
    image_shape: tuple[int, int, int]
    #: "unit" for outputs in [0, 1] (sigmoid), "symmetric" for [-1, 1] (tanh).
    output_range: str = "symmetric"
    #: Defaults a user may leave out.
    default_noise_dim: int = 62
    default_codes: str = "cat10,unif2"
    default_dataset: str | None = None
    #: Backbone options and their defaults; the config's ``model.options`` may set these keys only.
    default_options: dict[str, Any] = {}

    @abstractmethod
    def build(self, request: BuildRequest) -> Networks:
        """Build fresh networks for this request."""

    def describe(self) -> str:
        """One line for `infogan-tk list backbones`."""
        c, h, w = self.image_shape
        return f"{c}x{h}x{w}, noise {self.default_noise_dim}, codes {self.default_codes}"
