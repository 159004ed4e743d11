"""One InfoGAN update (Eq. 6): the non-saturating GAN loss plus lambda-weighted code likelihoods.

The information term ``-sum_i lambda_i E[log Q(c_i | G(z, c))]`` is computed once on the fake
batch and trains whichever of the generator, the Q head and the trunk Q shares with D the
configuration selects (all three is InfoGAN as published; dropping ``generator`` is the
regular-GAN baseline). D and G are updated simultaneously from one forward pass, as in the
authors' code: one G forward, D on real and fake (one joint forward by default; two with
``train.d_batch="separate"``, as the authors' code does), and backward passes restricted to
each optimiser's parameters with ``backward(inputs=...)``.

With ``loss.contrastive`` (InfoGAN-CR) a third network H, the pair classifier, joins: each fake of
the batch gets a partner with the same noise z and one of its latent codes, chosen at random, and
every other code drawn afresh; H learns which code the pair shares, and G is trained to make that
easy.
"""

from __future__ import annotations

from collections.abc import Callable

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones import InfoDiscriminator
from ..codes import CodeSet
from ..config import Config
from ..errors import ConfigError
from ..images import from_uint8
from ..jitter import random_affine
from ..noise import sample_noise
from . import distributed
from .running_stats import batch_norm_layers, running_stats_frozen


def make_adam(
    params: list[nn.Parameter],
    lr: float,
    betas: tuple[float, float],
    implementation: str,
    device: torch.device,
    capturable: bool = False,
) -> torch.optim.Adam:
    """Adam with the configured kernel (foreach by default; fused where the device supports it).

    ``capturable`` keeps the step counters on the device, as CUDA graph capture requires."""
    kwargs: dict[str, bool] = {"capturable": True} if capturable else {}
    if implementation == "foreach":
        kwargs["foreach"] = True
    elif implementation == "fused":
        kwargs["fused"] = True
    elif implementation == "loop":
        kwargs["foreach"] = False
    return torch.optim.Adam(params, lr=lr, betas=betas, **kwargs)


class InfoGANObjective:
    """Holds the networks and optimisers and performs training steps; knows no concrete network."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: InfoDiscriminator,
        codes: CodeSet,
        config: Config,
        output_range: str,
        device: torch.device,
        dist_ctx: distributed.DistContext | None = None,
        pair_classifier: nn.Module | None = None,
    ) -> None:
        self.G = generator
        self.D = discriminator
        self.H = pair_classifier
        self.codes = codes
        self.config = config
        self.output_range = output_range
        self.device = device
        self.dist = dist_ctx or distributed.DistContext()
        self.noise_dim = config.model.noise_dim
        self.noise_kind = config.model.noise
        self.targets = config.loss.info_targets()
        self.separate = config.train.d_batch == "separate"
        self.channels_last = config.train.channels_last
        if config.train.tf32:
            # Process-wide switches in torch; only ever turned on here, never silently off.
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        # Graph capture needs autocast's weight-cast cache off (casts must be recorded in the graph).
        self.autocast = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=not config.train.cuda_graph)
            if config.train.bf16
            else contextlib.nullcontext()
        )
        self.g_params = [p for p in generator.parameters() if p.requires_grad]
        self.trunk_params = list(discriminator.trunk.parameters())
        self.dhead_params = list(discriminator.d_head.parameters())
        self.qhead_params = list(discriminator.q_head.parameters())
        self.d_params = self.trunk_params + self.dhead_params + self.qhead_params
        o = config.optim
        capturable = config.train.cuda_graph
        self.opt_d = make_adam(self.d_params, o.lr_d, (o.beta1, o.beta2), o.implementation, device, capturable)
        self.opt_g = make_adam(self.g_params, o.lr_g, (o.beta1, o.beta2), o.implementation, device, capturable)
        self.weights = codes.weights(device)
        # The invariance term scores discrete codes only: continuous ones may well be slant or width.
        loss = config.loss
        self.invariance = loss.invariance
        self.invariance_weights = torch.tensor(
            [loss.invariance if c.code.discrete else 0.0 for c in codes], dtype=torch.float32, device=device
        )
        self.jitter = (loss.jitter_rotation, loss.jitter_scale, loss.jitter_shift, loss.jitter_shear)
        self.d_batch_norms = batch_norm_layers(discriminator)
        self.g_batch_norms = batch_norm_layers(generator)
        self.real_information = loss.real_information
        self.contrastive = loss.contrastive
        self.contrastive_start = loss.contrastive_start
        self.h_params: list[nn.Parameter] = []
        self.opt_h: torch.optim.Adam | None = None
        if self.contrastive:
            if pair_classifier is None:
                raise ValueError("loss.contrastive needs a pair classifier (assembly.build_pair_classifier)")
            if len(codes) < 2:
                raise ConfigError(
                    f"loss.contrastive tells latent codes apart, but the run has {len(codes)}; give at least two codes "
                    "(e.g. --codes unif5) or set loss.contrastive=0"
                )
            self.h_params = [p for p in pair_classifier.parameters() if p.requires_grad]
            self.opt_h = make_adam(self.h_params, o.lr_contrastive, (o.beta1, o.beta2), o.implementation, device, capturable)
        # G's weight on the contrastive term, a device tensor so that a captured CUDA graph reads the
        # value :meth:`schedule` sets (0 before ``loss.contrastive_start``).
        self.contrastive_weight = torch.zeros((), device=device)
        self._contrastive_on: bool | None = None
        # Before the start G's share of the term is exactly zero, so an eager step skips its backward
        # (H still learns, from detached pairs). A captured graph must do the same work every step.
        self.skip_idle_contrastive = not config.train.cuda_graph
        # Fused path: the information term trains everything, so it can ride on the D and G losses.
        self.fused = self.targets == frozenset({"generator", "q_head", "trunk"})
        info_inputs = []
        if "q_head" in self.targets:
            info_inputs += self.qhead_params
        if "trunk" in self.targets:
            info_inputs += self.trunk_params
        if "generator" in self.targets:
            info_inputs += self.g_params
        self.info_inputs = info_inputs
        # The forward/backward callables; torch.compile may replace the module calls.
        self.g_forward = generator
        self.d_forward = discriminator
        self.h_forward = pair_classifier

    def compile(self) -> None:
        """Compile G and D (and H) with torch.compile in ``train.compile_mode`` (opt-in; measured in
        benchmarks/throughput.py)."""
        mode = self.config.train.compile_mode
        self.g_forward = torch.compile(self.G, mode=mode)
        self.d_forward = torch.compile(self.D, mode=mode)
        if self.H is not None:
            self.h_forward = torch.compile(self.H, mode=mode)

    def schedule(self, step: int) -> None:
        """Set the step-dependent weights for the coming ``step`` (cheap: writes only on a change)."""
        on = bool(self.contrastive) and step >= self.contrastive_start
        if on != self._contrastive_on:
            self.contrastive_weight.fill_(self.contrastive if on else 0.0)
            self._contrastive_on = on

    @property
    def stat_names(self) -> list[str]:
        """Names of the values :meth:`step` returns, in order."""
        names = ["loss_d", "loss_g", "loss_info", "d_real", "d_fake"] + [f"loglik_{c.name}" for c in self.codes]
        names += ["loss_invariance"] if self.invariance else []
        names += ["real_information"] if self.real_information else []
        return names + ["loss_contrastive", "contrastive_accuracy"] if self.contrastive else names

    def generator_input(self, n: int, rng: torch.Generator) -> tuple[Tensor, list[Tensor]]:
        """Sample z and c; return the generator input and the code values."""
        z = sample_noise(self.noise_kind, n, self.noise_dim, rng, self.device)
        values = self.codes.sample(n, rng, self.device)
        return torch.cat([z, self.codes.encode(values)], dim=1), values

    def partner_input(self, gin: Tensor, values: list[Tensor], rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """For each row of the generator input ``gin`` (made from ``values``), one that keeps its
        noise z and one random code and draws every other code afresh, as InfoGAN-CR's released code
        pairs them; returns it and the kept code's index per row."""
        partner, which = self.codes.partners(values, rng, self.device)
        return torch.cat([gin[:, : self.noise_dim], self.codes.encode(partner)], dim=1), which

    def _prep(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def losses(self, real_uint8: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Forward pass: ``(loss_d, loss_g, info, stats, loss_h)``; ``info`` is -sum_i lambda_i
        E[log Q(c_i|x)] (plus the invariance term when ``loss.invariance`` is on, minus the weighted
        information about the real batch when ``loss.real_information`` is on). ``loss_h`` is the
        pair classifier's cross-entropy when ``loss.contrastive`` is on (else None); ``loss_g``
        then includes its scheduled weight times it."""
        n = real_uint8.shape[0]
        real = self._prep(from_uint8(real_uint8, self.output_range))
        gin, values = self.generator_input(n, rng)
        with self.autocast:
            fake = self._prep(self.g_forward(gin))
            if self.separate:
                logit_real, q_real = self.d_forward(real)
                logit_fake, q_fake = self.d_forward(fake)
            else:
                logits, q = self.d_forward(torch.cat([real, fake.to(real.dtype)]))
                logit_real, logit_fake, q_real, q_fake = logits[:n], logits[n:], q[:n], q[n:]
        logit_real, logit_fake = logit_real.float(), logit_fake.float()
        loglik = self.codes.log_likelihoods(q_fake, values)  # (L,)
        info = -(self.weights * loglik).sum()
        loss_d = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()
        loss_g = F.softplus(-logit_fake).mean()  # non-saturating: -log D(G(z, c))
        with torch.no_grad():
            head = torch.stack([loss_d, loss_g, info, torch.sigmoid(logit_real).mean(), torch.sigmoid(logit_fake).mean()])
            stats = torch.cat([head, loglik]).detach()
        if self.invariance:
            invariance = self.invariance_loss(fake, values, rng)
            stats = torch.cat([stats, invariance.detach().reshape(1)])
            info = info + invariance  # trains the same parts as the information term
        if self.real_information:
            # G never sees a real image, so with separate D batches this part of `info` trains Q and
            # the trunk only (a joint batch's batch norm lets a little reach G).
            real_info = self.codes.batch_informations(q_real.float()).sum()
            stats = torch.cat([stats, real_info.detach().reshape(1)])
            info = info - self.real_information * real_info
        loss_h = None
        if self.contrastive:
            paid = bool(self._contrastive_on) or not self.skip_idle_contrastive
            loss_h, accuracy = self.contrastive_loss(fake, gin, values, rng, train_generator=paid)
            stats = torch.cat([stats, loss_h.detach().reshape(1), accuracy.reshape(1)])
            if paid:
                loss_g = loss_g + self.contrastive_weight * loss_h
        return loss_d, loss_g, info, stats, loss_h

    def contrastive_loss(
        self, fake: Tensor, gin: Tensor, values: list[Tensor], rng: torch.Generator, train_generator: bool = True
    ) -> tuple[Tensor, Tensor]:
        """H's cross-entropy on (fake, partner) pairs and its accuracy (chance: 1 / number of codes).
        Without ``train_generator`` the pairs are detached from G: the loss then trains H only."""
        partner_gin, which = self.partner_input(gin, values, rng)
        with self.autocast:
            with torch.set_grad_enabled(train_generator and torch.is_grad_enabled()):
                partner = self.g_forward(partner_gin)
            first = fake if train_generator else fake.detach()
            logits = self.h_forward(self._prep(torch.cat([first, partner.to(fake.dtype)], dim=1)))
        logits = logits.float()
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == which).float().mean()
        return F.cross_entropy(logits, which), accuracy

    @torch.no_grad()
    def refresh_batch_norm(self, draw_real: Callable[[], Tensor], batches: int, rng: torch.Generator) -> None:
        """Recompute G's and D's batch norm running statistics with the current weights: the plain
        average over ``batches`` forward passes in training mode, each a real batch from
        ``draw_real()`` and a fake batch from ``rng``, through D as in training (joint or separate).
        A moving average lags behind weights that move fast; evaluation mode reads these."""
        layers = self.g_batch_norms + self.d_batch_norms
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # None: a cumulative average over the passes below
        try:
            for _ in range(batches):
                real_uint8 = draw_real()
                real = self._prep(from_uint8(real_uint8, self.output_range))
                gin, _values = self.generator_input(real_uint8.shape[0], rng)
                with self.autocast:
                    fake = self._prep(self.g_forward(gin))
                    if self.separate:
                        self.d_forward(real)
                        self.d_forward(fake)
                    else:
                        self.d_forward(torch.cat([real, fake.to(real.dtype)]))
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum

    def invariance_loss(self, fake: Tensor, values: list[Tensor], rng: torch.Generator) -> Tensor:
        """``-loss.invariance * sum_discrete E[log Q(c_i | jitter(x))]`` on a jittered copy of the fakes."""
        jittered = self._prep(random_affine(fake.float(), rng, *self.jitter))
        # The jittered copies are not data D judges: they must not enter its running statistics.
        with self.autocast, running_stats_frozen(self.d_batch_norms):
            _, q_jittered = self.d_forward(jittered)
        return -(self.invariance_weights * self.codes.log_likelihoods(q_jittered, values)).sum()

    def backward(self, loss_d: Tensor, loss_g: Tensor, info: Tensor, loss_h: Tensor | None = None) -> None:
        """Fill every parameter's gradient: D/Q from the D loss, G from the G loss, and the
        information term into exactly the configured parts (H from its own loss); averaged across ranks."""
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        if loss_h is not None:
            self.opt_h.zero_grad(set_to_none=True)
            loss_h.backward(inputs=self.h_params, retain_graph=True)
            distributed.average_gradients(self.h_params, self.dist)
        if self.fused:
            (loss_d + info).backward(inputs=self.d_params, retain_graph=True)
            (loss_g + info).backward(inputs=self.g_params)
        else:
            loss_d.backward(inputs=self.trunk_params + self.dhead_params, retain_graph=True)
            if self.info_inputs:
                info.backward(inputs=self.info_inputs, retain_graph=True)
            loss_g.backward(inputs=self.g_params)
        distributed.average_gradients(self.d_params, self.dist)
        distributed.average_gradients(self.g_params, self.dist)

    def step(self, real_uint8: Tensor, rng: torch.Generator) -> Tensor:
        """One simultaneous update of D/Q and G; returns the step's statistics as one device tensor."""
        loss_d, loss_g, info, stats, loss_h = self.losses(real_uint8, rng)
        self.backward(loss_d, loss_g, info, loss_h)
        self.opt_d.step()
        self.opt_g.step()
        if self.opt_h is not None:
            self.opt_h.step()
        return stats
