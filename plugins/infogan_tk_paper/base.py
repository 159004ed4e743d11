"""The common frame of the paper's backbones: option checking, request checking, heads, init.

Every network here is ``trunk -> features``; D's head is ``FC 1`` on those features and Q's head is
either the paper's separate ``FC128-BN-lReLU-FC`` (MNIST, SVHN, CelebA) or a plain ``FC q_width``
when D and Q share the whole net (3D faces, 3D chairs). A subclass supplies the generator, the
trunk and its feature width; this class does the rest, so the checks live in one place.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from infogan_toolkit.api import (
    Backbone,
    BuildRequest,
    ConfigError,
    InfoDiscriminator,
    Networks,
    did_you_mean,
)

from .layers import init_weights, q_mlp


class PaperBackbone(Backbone):
    """A backbone with a shared D/Q trunk, built from a table in PAPER.md."""

    #: Registered name, used in error messages.
    name: str = ""
    #: Where the architecture comes from, shown by ``describe``.
    source: str = ""
    #: True when D and Q share the whole net and differ only in the last layer's units.
    shared_q: bool = False
    #: The paper says leak 0.1; the authors' released code used 0.01.
    default_options: dict[str, Any] = {"leak": 0.1}

    # -- what a subclass supplies --------------------------------------------------------------
    @abstractmethod
    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """The generator: ``(n, input_dim) -> (n, C, H, W)``, ending in the output activation."""

    @abstractmethod
    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """The layers D and Q share, reading ``in_channels`` (the image's channels; twice that for the
        contrastive pair classifier), and the width of the flat features they end in."""

    # -- the shared frame ----------------------------------------------------------------------
    def resolve_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with the user's options; unknown keys and bad values raise ConfigError."""
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(
                f"backbone '{self.name}' options must be a table of key = value, got {type(options).__name__}; "
                f"set model.options like {{leak = 0.1}}"
            )
        known = sorted(self.default_options)
        for key in options:
            if key not in self.default_options:
                raise ConfigError(
                    f"unknown option '{key}' for backbone '{self.name}'.{did_you_mean(str(key), known)} "
                    f"Known: {', '.join(known)}."
                )
        opts = {**self.default_options, **options}
        leak = opts["leak"]
        # bool is an int subclass; `leak = true` in TOML is a mistake, not a slope of 1.
        if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not math.isfinite(leak) or not 0 <= leak < 1:
            raise ConfigError(
                f"backbone '{self.name}' option 'leak' must be a number in [0, 1), got {leak!r}; "
                f"use 0.1 (paper) or 0.01 (authors' code)"
            )
        opts["leak"] = float(leak)
        self.check_options(opts)
        return opts

    def finish_d_side(self, parts: Sequence[nn.Module], opts: dict[str, Any]) -> None:
        """Change initialised D-side layers in place: D's trunk and logit, or the pair classifier
        (e.g. weight parametrisations that must come after initialisation); nothing by default."""

    def check_options(self, opts: dict[str, Any]) -> None:
        """Check the values of options a subclass adds (keys are already known); raise ConfigError."""

    def check_request(self, request: BuildRequest) -> None:
        """Refuse sizes no network can have (negative widths, no generator input, no Q output)."""
        for field in ("noise_dim", "code_width", "q_width"):
            value = getattr(request, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"backbone '{self.name}' got {field}={value!r}; it must be a whole number >= 0")
        if request.input_dim < 1:
            raise ConfigError(f"backbone '{self.name}' needs a generator input; set a noise dimension or a code")
        if request.q_width < 1:
            raise ConfigError(
                f"backbone '{self.name}' needs at least one Q output; give the run at least one latent code"
            )

    def build(self, request: BuildRequest) -> Networks:
        """Fresh, initialised networks sized for ``request`` (see :func:`layers.init_weights`)."""
        opts = self.resolve_options(request.options)
        self.check_request(request)
        generator = self.make_generator(request.input_dim, opts)
        trunk, features = self.make_trunk(opts, self.image_shape[0])
        d_head = nn.Linear(features, 1)
        q_head = (
            nn.Linear(features, request.q_width) if self.shared_q else q_mlp(features, request.q_width, opts["leak"])
        )
        discriminator = InfoDiscriminator(trunk, d_head, q_head)
        generator.apply(init_weights)
        discriminator.apply(init_weights)
        self.finish_d_side((trunk, d_head), opts)
        return Networks(generator=generator, discriminator=discriminator)

    def build_pair_classifier(self, request: BuildRequest, classes: int) -> nn.Module:
        """InfoGAN-CR's pair classifier: D's trunk reading both images on the channel axis, then
        ``FC classes``; its normalisation follows the backbone's options, as D's does."""
        opts = self.resolve_options(request.options)
        trunk, features = self.make_trunk(opts, 2 * self.image_shape[0])
        classifier = nn.Sequential(trunk, nn.Linear(features, classes))
        classifier.apply(init_weights)
        self.finish_d_side((classifier,), opts)
        return classifier

    def describe(self) -> str:
        """One line for `infogan-tk list backbones`."""
        rng = "sigmoid [0,1]" if self.output_range == "unit" else "tanh [-1,1]"
        return f"{super().describe()}, {rng}; {self.source}"
