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

    #: Width of the incompressible noise z.
    noise_dim: int
    #: Generator-input units the latent codes take (the sum of their widths).
    code_width: int
    #: Q outputs the code heads need (the sum of their param widths): the Q head's output width.
    q_width: int
    #: The backbone's ``default_options`` updated with the run's ``model.options``, e.g. ``{"leak": 0.1}``.
    options: dict[str, Any] = attrs.field(factory=dict)

    @property
    def input_dim(self) -> int:
        """Total generator input width: noise plus codes."""
        return self.noise_dim + self.code_width


class InfoDiscriminator(nn.Module):
    """D and Q sharing a trunk: ``forward(x) -> (d_logit (n,), q_params (n, q_width))``.

    The three parts are separate submodules so that the engine can choose which of them the
    information term trains (``trunk``, ``d_head``, ``q_head``).
    """

    #: Shared features of an image batch, read by both heads.
    trunk: nn.Module
    #: Features -> D's logit, ``(n, 1)`` or ``(n,)``.
    d_head: nn.Module
    #: Features -> Q's raw outputs ``(n, q_width)``, which the code heads read.
    q_head: nn.Module

    def __init__(self, trunk: nn.Module, d_head: nn.Module, q_head: nn.Module) -> None:
        """Join the three parts; the trunk's output is what both heads read."""
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

    #: ``(n, input_dim)`` -> ``(n, C, H, W)`` images in the backbone's output range.
    generator: nn.Module
    #: D and Q on a shared trunk.
    discriminator: InfoDiscriminator


class Backbone(ABC):
    """A family of networks for one image shape, registered by name."""

    #: (channels, height, width) of the images the networks produce and read.
    image_shape: tuple[int, int, int]
    #: "unit" for outputs in [0, 1] (sigmoid), "symmetric" for [-1, 1] (tanh).
    output_range: str = "symmetric"
    #: Noise width when the configuration gives none (``model.noise_dim``).
    default_noise_dim: int = 62
    #: Code spec when the configuration gives none (``model.codes``).
    default_codes: str = "cat10,unif2"
    #: Dataset name when the configuration gives none (``data.dataset``).
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
