"""InfoGAN-CR's contrastive regulariser (Lin et al. 2020): a pair classifier H and G's reward for it.

From "InfoGAN-CR and ModelCentrality: self-supervised model training and selection for
disentangling GANs" (Lin, Thekumparampil, Fanti & Oh, ICML 2020).

Each fake of the batch gets a partner with the same noise z and one of its latent codes, chosen at
random, and every other code drawn afresh, as the authors' released code pairs them. H reads both
images stacked on the channel axis and learns which code the pair shares (its own loss, its own
Adam at ``lr``); G gets ``weight`` times H's cross-entropy from step ``start`` on, so that each code
must change the image in a way of its own.

H comes from the backbone: a backbone that supports this term implements
``build_pair_classifier(request, classes) -> nn.Module`` (two stacked images in, ``(n, classes)``
logits out); a run on a backbone without one is refused.
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infogan_toolkit.api import (
    ConfigError,
    Regulariser,
    RegulariserPlugin,
    RegulariserSetup,
    StepView,
    Terms,
)
from infogan_toolkit.testing import check_gradients_reach

from ._options import learning_rate, step_index, weight_value

#: The method a backbone implements to build H.
BUILDER = "build_pair_classifier"


@attrs.define
class ContrastiveOptions:
    """``[loss.contrastive]``."""

    weight: float = attrs.field(default=1.0, validator=weight_value)  # [0, 1e6]
    # First step at which G receives the term (H trains from step 0); Lin et al. turn it on late.
    start: int = attrs.field(default=0, validator=step_index)  # [0, 1e12]
    # H's Adam learning rate; Lin et al. use 2e-3.
    lr: float = attrs.field(default=2e-3, validator=learning_rate)  # (0, 10]


class ContrastiveTerm(Regulariser):
    """One run's pair classifier, its optimiser and G's scheduled weight."""

    stat_names = ("loss_contrastive", "contrastive_accuracy")

    def __init__(self, options: ContrastiveOptions, setup: RegulariserSetup) -> None:
        codes = setup.assembly.codes
        self.codes = codes
        self.device = setup.device
        self.weight = options.weight
        self.start = options.start
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(setup.seed * 1_000_003 + 7)  # a stream of its own, not a replay of G's init draws
            classifier = getattr(setup.assembly.backbone, BUILDER)(setup.build_request, len(codes))
        self.H = setup.prepare_module(classifier)
        self.h_forward = self.H
        self.params = [p for p in self.H.parameters() if p.requires_grad]
        self.optimizer = setup.make_optimizer(self.params, options.lr)
        # A device tensor, so that a captured CUDA graph reads the value schedule() sets.
        self.generator_weight = torch.zeros((), device=setup.device)
        self._on: bool | None = None
        # Before the start G's share is exactly zero, so an eager step skips its backward (H still
        # learns, from detached pairs). A captured graph must do the same work every step.
        self.skip_idle = not setup.cuda_graph

    def networks(self) -> dict[str, nn.Module]:
        """H, saved under ``contrastive.``."""
        return {"": self.H}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """H's Adam."""
        return {"h": self.optimizer}

    def own_parameters(self) -> list[nn.Parameter]:
        """H's parameters."""
        return self.params

    def compile(self, mode: str) -> None:
        """Compile H."""
        self.h_forward = torch.compile(self.H, mode=mode)

    def schedule(self, step: int) -> None:
        """G's weight: 0 before ``start``, ``weight`` from then on (written only on a change)."""
        on = step >= self.start
        if on != self._on:
            self.generator_weight.fill_(self.weight if on else 0.0)
            self._on = on

    def partner_input(
        self, gin: Tensor, values: list[Tensor], rng: torch.Generator, noise_dim: int
    ) -> tuple[Tensor, Tensor]:
        """For each row of the generator input ``gin`` (made from ``values``), one that keeps its
        noise z and one random code and draws every other code afresh; returns it and the kept
        code's index per row."""
        partner, which = self.codes.partners(values, rng, self.device)
        return torch.cat([gin[:, :noise_dim], self.codes.encode(partner)], dim=1), which

    def terms(self, view: StepView) -> Terms:
        """H's cross-entropy for H, G's scheduled share of it, and H's accuracy (chance: 1 / codes)."""
        paid = bool(self._on) or not self.skip_idle
        partner_gin, which = self.partner_input(view.generator_input, view.values, view.rng, view.noise_dim)
        with view.autocast():
            with torch.set_grad_enabled(paid and torch.is_grad_enabled()):
                partner_fake = view.generate(partner_gin)
            first = view.fake if paid else view.fake.detach()
            logits = self.h_forward(view.prepare(torch.cat([first, partner_fake.to(view.fake.dtype)], dim=1)))
        logits = logits.float()
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == which).float().mean()
        loss = F.cross_entropy(logits, which)
        generator = self.generator_weight * loss if paid else None
        return Terms(generator=generator, own=loss, stats={"loss_contrastive": loss, "contrastive_accuracy": accuracy})


class Contrastive(RegulariserPlugin):
    """InfoGAN-CR: a pair classifier names the code two fakes share; G is paid for making that easy."""

    options = ContrastiveOptions

    def check(self, options: ContrastiveOptions, assembly) -> None:
        """At least two codes to tell apart, and a backbone that builds H."""
        if len(assembly.codes) < 2:
            raise ConfigError(
                f"loss.contrastive tells latent codes apart, but the run has {len(assembly.codes)}; give at least two "
                "codes "
                "(e.g. --codes unif5) or set loss.contrastive.weight=0"
            )
        if not callable(getattr(assembly.backbone, BUILDER, None)):
            raise ConfigError(
                f"backbone '{assembly.config.model.backbone}' has no pair classifier, which loss.contrastive needs; "
                "set "
                f"loss.contrastive.weight=0 or use a backbone that implements {BUILDER}(request, classes)"
            )

    def check_backbone(self, backbone, request, networks, device) -> None:
        """A backbone with a pair classifier must map two stacked images to one logit per code, with
        gradients reaching G and every parameter of H."""
        builder = getattr(backbone, BUILDER, None)
        if builder is None:
            return
        where = f"backbone {type(backbone).__name__}"
        h = builder(request, 3)
        if h is None:
            return
        g = networks.generator
        h = h.to(device).train()
        z = torch.randn(4, request.input_dim, generator=torch.Generator().manual_seed(1)).to(device)
        logits = h(torch.cat([g(z), g(z.flip(0))], dim=1))
        if not isinstance(logits, Tensor):
            raise AssertionError(f"{where}: the pair classifier returned {type(logits).__name__}; expected a tensor")
        if tuple(logits.shape) != (4, 3):
            raise AssertionError(
                f"{where}: pair classifier output has shape {tuple(logits.shape)} for 3 codes; expected (4, 3)"
            )
        if not torch.isfinite(logits).all():
            raise AssertionError(f"{where}: pair classifier output is not finite")
        check_gradients_reach(
            where, "the pair classifier's logits", logits.sum(), {"G": g, "pair classifier": h}, (g, h)
        )
        g.zero_grad(set_to_none=True)

    def build(self, options: ContrastiveOptions, setup: RegulariserSetup) -> ContrastiveTerm:
        """The term for one run."""
        return ContrastiveTerm(options, setup)
