"""One InfoGAN update (Eq. 6): the non-saturating GAN loss plus lambda-weighted code likelihoods.

The information term ``-sum_i lambda_i E[log Q(c_i | G(z, c))]`` is computed once on the fake
batch and trains whichever of the generator, the Q head and the trunk Q shares with D the
configuration selects (all three is InfoGAN as published; dropping ``generator`` is the
regular-GAN baseline). D and G are updated simultaneously from one forward pass, as in the
authors' code: one G forward, D on real and fake (one joint forward by default; two with
``train.d_batch="separate"``, as the authors' code does), and backward passes restricted to
each optimiser's parameters with ``backward(inputs=...)``.

Regularisers from plugins (``[loss.NAME]`` tables, :mod:`infogan_toolkit.regularisers`) add their
terms to the D loss, the G loss or the information term, and train networks of their own; the
objective runs them in name order and knows none of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..backbones import InfoDiscriminator
from ..codes import CodeSet
from ..config import Config
from ..images import from_uint8
from ..noise import sample_noise
from ..regularisers import Regulariser, StepView
from . import distributed
from .devices import Numerics
from .lr_schedule import lr_factor
from .running_stats import batch_norm_layers, running_stats_frozen


@attrs.frozen
class ObjectiveSettings:
    """The parts of a run's configuration one InfoGAN step's arithmetic depends on (how the device
    computes it is :class:`~infogan_toolkit.engine.devices.Numerics`)."""

    noise_dim: int
    noise_kind: str
    info_targets: frozenset[str]
    #: ``train.d_batch``: "joint" (real and fake through D in one batch) or "separate".
    d_batch: str
    lr_d: float
    lr_g: float
    betas: tuple[float, float]
    decay: str
    decay_from: float
    total_steps: int

    @classmethod
    def from_config(cls, config: Config) -> "ObjectiveSettings":
        """The settings of a resolved configuration."""
        o, t = config.optim, config.train
        return cls(
            noise_dim=cast(int, config.model.noise_dim),  # resolved: the backbone's default is filled in
            noise_kind=config.model.noise,
            info_targets=config.loss.info_targets(),
            d_batch=t.d_batch,
            lr_d=o.lr_d,
            lr_g=o.lr_g,
            betas=(o.beta1, o.beta2),
            decay=o.decay,
            decay_from=o.decay_from,
            total_steps=t.steps,
        )


class InfoGANObjective:
    """Holds the networks and optimisers and performs training steps; knows no concrete network."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: InfoDiscriminator,
        codes: CodeSet,
        settings: ObjectiveSettings,
        numerics: Numerics,
        output_range: str,
        device: torch.device,
        dist_ctx: distributed.DistContext | None = None,
        regularisers: dict[str, Regulariser] | None = None,
    ) -> None:
        self.G = generator
        self.D = discriminator
        self.codes = codes
        self.settings = settings
        self.numerics = numerics
        self.output_range = output_range
        self.device = device
        self.dist = dist_ctx or distributed.DistContext()
        self.regularisers = dict(sorted((regularisers or {}).items()))
        self.noise_dim = settings.noise_dim
        self.noise_kind = settings.noise_kind
        self.targets = settings.info_targets
        self.separate = settings.d_batch == "separate"
        self.channels_last = numerics.channels_last
        self.autocast = numerics.autocast(device)
        self.g_params = [p for p in generator.parameters() if p.requires_grad]
        self.trunk_params = list(discriminator.trunk.parameters())
        self.dhead_params = list(discriminator.d_head.parameters())
        self.qhead_params = list(discriminator.q_head.parameters())
        self.d_params = self.trunk_params + self.dhead_params + self.qhead_params
        self.opt_d = numerics.make_adam(self.d_params, settings.lr_d, settings.betas, device)
        self.opt_g = numerics.make_adam(self.g_params, settings.lr_g, settings.betas, device)
        self.weights = codes.weights(device)
        self.d_batch_norms = batch_norm_layers(discriminator)
        self.g_batch_norms = batch_norm_layers(generator)
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
        self.g_forward: Callable[..., Any] = generator
        self.d_forward: Callable[..., Any] = discriminator

    def compile(self) -> None:
        """Compile G and D (and the regularisers' networks) with torch.compile in ``train.compile_mode``
        (opt-in; measured in benchmarks/throughput.py)."""
        mode = self.numerics.compile_mode
        self.g_forward = torch.compile(self.G, mode=mode)
        self.d_forward = torch.compile(self.D, mode=mode)
        for term in self.regularisers.values():
            term.compile(mode)

    def schedule(self, step: int) -> None:
        """Set D's and G's learning rates for the coming ``step`` (``optim.decay``) and tell every
        regulariser the step (cheap: a term writes only on a change)."""
        s = self.settings
        factor = lr_factor(s.decay, s.decay_from, s.total_steps, step)  # 1.0 without a decay
        for optimizer, base in ((self.opt_d, s.lr_d), (self.opt_g, s.lr_g)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        for term in self.regularisers.values():
            term.schedule(step)

    @property
    def stat_names(self) -> list[str]:
        """Names of the values :meth:`step` returns, in order (fixed for the run)."""
        names = ["loss_d", "loss_g", "loss_info", "d_real", "d_fake"] + [f"loglik_{c.name}" for c in self.codes]
        for term in self.regularisers.values():
            names += list(term.stat_names)
        return names

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser of the run by its checkpoint name: ``d``, ``g`` and ``NAME.KEY`` of each term."""
        found: dict[str, torch.optim.Optimizer] = {"d": self.opt_d, "g": self.opt_g}
        for name, term in self.regularisers.items():
            found.update({f"{name}.{key}": opt for key, opt in term.optimizers().items()})
        return found

    def networks(self) -> dict[str, nn.Module]:
        """The regularisers' networks by checkpoint prefix (``NAME`` or ``NAME.KEY``)."""
        found: dict[str, nn.Module] = {}
        for name, term in self.regularisers.items():
            found.update({f"{name}.{key}" if key else name: module for key, module in term.networks().items()})
        return found

    def generator_input(self, n: int, rng: torch.Generator) -> tuple[Tensor, list[Tensor]]:
        """Sample z and c; return the generator input and the code values."""
        z = sample_noise(self.noise_kind, n, self.noise_dim, rng, self.device)
        values = self.codes.sample(n, rng, self.device)
        return torch.cat([z, self.codes.encode(values)], dim=1), values

    def _prep(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def discriminate(self, x: Tensor, update_running_stats: bool = True) -> tuple[Tensor, Tensor]:
        """D's logits and Q's parameters for ``x`` under the step's precision; with
        ``update_running_stats=False`` D's batch norm layers normalise by the batch but do not fold
        it into their running statistics (for batches that are not data D is trained to judge)."""
        frozen = contextlib.nullcontext() if update_running_stats else running_stats_frozen(self.d_batch_norms)
        with self.autocast(), frozen:
            return self.d_forward(x)

    def losses(
        self, real_uint8: Tensor, rng: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[tuple[Regulariser, Tensor]]]:
        """Forward pass: ``(loss_d, loss_g, info, stats, own)``; ``info`` is -sum_i lambda_i
        E[log Q(c_i|x)] plus the regularisers' information terms, ``own`` each regulariser's loss
        for its own parameters."""
        n = real_uint8.shape[0]
        real = self._prep(from_uint8(real_uint8, self.output_range))
        gin, values = self.generator_input(n, rng)
        with self.autocast():
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
            head = torch.stack(
                [loss_d, loss_g, info, torch.sigmoid(logit_real).mean(), torch.sigmoid(logit_fake).mean()]
            )
            parts = [head, loglik]
        own: list[tuple[Regulariser, Tensor]] = []
        if self.regularisers:
            view = StepView(
                real=real,
                fake=fake,
                generator_input=gin,
                values=values,
                logit_real=logit_real,
                logit_fake=logit_fake,
                q_real=q_real,
                q_fake=q_fake,
                rng=rng,
                noise_dim=self.noise_dim,
                generate=self.g_forward,
                discriminate=self.discriminate,
                prepare=self._prep,
                autocast=self.autocast,
            )
            for term in self.regularisers.values():
                terms = term.terms(view)
                parts += [terms.stats[name].detach().reshape(1) for name in term.stat_names]
                if terms.information is not None:
                    info = info + terms.information
                if terms.discriminator is not None:
                    loss_d = loss_d + terms.discriminator
                if terms.generator is not None:
                    loss_g = loss_g + terms.generator
                if terms.own is not None:
                    own.append((term, terms.own))
        stats = torch.cat(parts).detach()
        return loss_d, loss_g, info, stats, own

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
                with self.autocast():
                    fake = self._prep(self.g_forward(gin))
                    if self.separate:
                        self.d_forward(real)
                        self.d_forward(fake)
                    else:
                        self.d_forward(torch.cat([real, fake.to(real.dtype)]))
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum

    def backward(
        self, loss_d: Tensor, loss_g: Tensor, info: Tensor, own: Sequence[tuple[Regulariser, Tensor]] = ()
    ) -> None:
        """Fill every parameter's gradient: D/Q from the D loss, G from the G loss, the information
        term into exactly the configured parts, each regulariser's own loss into its own parameters;
        averaged across ranks."""
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        for term, loss in own:
            params = term.own_parameters()
            for p in params:
                p.grad = None
            loss.backward(inputs=params, retain_graph=True)
            distributed.average_gradients(params, self.dist)
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
        """One simultaneous update of D/Q, G and the regularisers' networks; returns the step's
        statistics as one device tensor, in the order of :attr:`stat_names`."""
        loss_d, loss_g, info, stats, own = self.losses(real_uint8, rng)
        self.backward(loss_d, loss_g, info, own)
        self.opt_d.step()
        self.opt_g.step()
        for term, _loss in own:
            for optimizer in term.optimizers().values():
                optimizer.step()
        return stats
