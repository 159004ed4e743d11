"""Regularisers: terms that plugins add to the InfoGAN objective without touching the engine.

A plugin registers a :class:`RegulariserPlugin` under a name (``register_regularisers``). A run
turns it on with a ``[loss.NAME]`` table of options, validated against the plugin's ``options``
attrs class (unknown keys refused with a suggestion; ``weight = 0`` turns the term off). For the
run the plugin builds a :class:`Regulariser`, which at every step reads a :class:`StepView` of the
step (the real and fake batches, the codes drawn, D's outputs, and ways to run G and D again) and
returns :class:`Terms`: losses for the D side, the G side, the information term, and its own
networks, plus named statistics for the metrics log.

The engine owns everything around a term: the networks a term returns from ``networks()`` are
placed on the device and broadcast under torchrun (``RegulariserSetup.prepare_module``), saved in every checkpoint under
``NAME.`` and restored on ``--resume``; the optimisers from
``optimizers()`` are saved and restored with the Adam moments; gradients of the term's own
parameters are averaged across ranks. Terms run in the order of their names, every step, so a run
and its resumed twin draw the same random numbers in the same order.

Examples of what plugins build on this: the invariance term (Q must read the discrete codes from a
jittered copy of each fake), the real-image information term and InfoGAN-CR's contrastive pair
classifier, all in the built-in ``infogan_tk_regularisers`` package.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from .config import parse_option_table


@attrs.frozen
class Terms:
    """What one regulariser adds to one step. Every loss is a scalar tensor; None adds nothing.

    ``information`` joins the information term and trains exactly what it trains (``loss.info_updates``);
    ``discriminator`` joins D's loss (trunk, D head and Q head); ``generator`` joins G's loss;
    ``own`` trains only the term's own parameters (``Regulariser.own_parameters``), with its own
    optimisers. ``stats`` holds one value per name of ``Regulariser.stat_names``, in that order.
    """

    #: Joins the information term and trains what it trains (``loss.info_updates``).
    information: Tensor | None = None
    #: Joins D's loss (trunk, D head and Q head).
    discriminator: Tensor | None = None
    #: Joins G's loss.
    generator: Tensor | None = None
    #: Trains only ``Regulariser.own_parameters``, with the term's own optimisers.
    own: Tensor | None = None
    #: One scalar per name of ``Regulariser.stat_names``, logged at log intervals.
    stats: Mapping[str, Tensor] = attrs.field(factory=dict)


@attrs.frozen
class StepView:
    """One training step as a regulariser sees it.

    Tensors: ``real`` and ``fake`` image batches (the network's input format), ``generator_input``
    (z then the encoded codes, one row per fake), ``values`` (each code's sampled values),
    ``logit_real``/``logit_fake`` (D's logits, float32) and ``q_real``/``q_fake`` (the Q head's
    parameters for each batch). ``rng`` is the step's random generator: draw from it, never from
    torch's global stream, so resume stays exact. ``generate``, ``discriminate`` and ``prepare``
    run G, D (optionally without updating its batch norm statistics) and the memory-format
    conversion as the step does; ``autocast`` is the step's precision context.
    """

    #: The real batch in the network's input format (scaled to the backbone's output range).
    real: Tensor
    #: The fake batch G made this step (not detached: a loss on it trains G).
    fake: Tensor
    #: G's input for ``fake``: z, then the encoded codes, one row per fake.
    generator_input: Tensor
    #: Each code's sampled values, in code order.
    values: list[Tensor]
    #: D's logits for ``real``, float32 ``(n,)``.
    logit_real: Tensor
    #: D's logits for ``fake``, float32 ``(n,)``.
    logit_fake: Tensor
    #: Q's raw outputs for ``real`` ``(n, q_width)``.
    q_real: Tensor
    #: Q's raw outputs for ``fake`` ``(n, q_width)``.
    q_fake: Tensor
    #: The step's random generator: draw from it, never from torch's global stream, so resume stays exact.
    rng: torch.Generator
    #: Width of z at the start of ``generator_input``.
    noise_dim: int
    #: Runs G on a generator input as the step does.
    generate: Callable[[Tensor], Tensor]
    #: ``discriminate(x, update_running_stats=True) -> (logits, q)``: runs D as the step does; False keeps its batch
    #: norm statistics.
    discriminate: Callable[..., tuple[Tensor, Tensor]]
    #: Converts an image batch to the step's memory format (channels_last or not).
    prepare: Callable[[Tensor], Tensor]
    #: The step's precision context (bf16 autocast or none): ``with view.autocast(): ...``.
    autocast: Callable[[], contextlib.AbstractContextManager]


@attrs.frozen
class RegulariserSetup:
    """What a plugin gets to build its term for a run.

    ``assembly`` is the resolved run (config, backbone, codes); ``build_request`` what the backbone
    sized its networks for; ``seed`` is ``train.seed`` (derive a stream of your own from it for any
    initialisation, inside ``torch.random.fork_rng``); ``make_optimizer(params, lr)`` is an Adam
    configured as the run's others (betas, kernel, CUDA graph capture); ``prepare_module(module)``
    moves a network to the run's device and memory format and gives it rank 0's weights under
    torchrun (call it before making the network's optimiser); ``cuda_graph`` says whether the step
    will be captured, in which case it must do the same work every step.
    """

    #: The resolved run (``infogan_toolkit.assembly.Assembly``): ``config``, ``backbone``, ``codes``.
    assembly: Any
    #: The :class:`~infogan_toolkit.backbones.BuildRequest` the backbone sized its networks for.
    build_request: Any
    #: The run's device.
    device: torch.device
    #: ``train.seed``: derive a stream of your own from it for any initialisation, inside ``torch.random.fork_rng``.
    seed: int
    #: Whether the step is captured in a CUDA graph (then it must do the same work every step).
    cuda_graph: bool
    #: ``make_optimizer(params, lr)``: an Adam configured as the run's others (betas, kernel, capture).
    make_optimizer: Callable[[list[nn.Parameter], float], torch.optim.Optimizer]
    #: ``prepare_module(module)``: to the run's device and memory format, rank 0's weights under torchrun; call it
    #: before making the optimiser.
    prepare_module: Callable[[nn.Module], nn.Module]


class Regulariser(ABC):
    """One run's term. Subclasses implement :meth:`terms` and override what else they need."""

    #: Names of the statistics :meth:`terms` reports, in order (keys of the metrics log).
    stat_names: tuple[str, ...] = ()
    #: Whether the step can be captured in a CUDA graph with this term on (static shapes, no host
    #: reads, no data-dependent control flow). ``train.cuda_graph`` refuses a term that says no.
    cuda_graph_capturable: bool = True

    def networks(self) -> dict[str, nn.Module]:
        """Networks the term owns, checkpointed under ``NAME.`` (key ``""``) or ``NAME.KEY.``."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers of :meth:`own_parameters`; stepped after D's and G's, saved for resume."""
        return {}

    def own_parameters(self) -> list[nn.Parameter]:
        """The parameters that ``Terms.own`` trains (zeroed, back-propagated and rank-averaged by the engine)."""
        return []

    def schedule(self, step: int) -> None:
        """Called before every step with its index; cheap (a captured graph reads device tensors)."""

    def compile(self, mode: str) -> None:
        """Compile the term's networks with ``torch.compile(mode=mode)`` (``train.compile``)."""

    @abstractmethod
    def terms(self, view: StepView) -> Terms:
        """The step's losses and statistics."""


class RegulariserPlugin(ABC):
    """What ``register_regularisers`` registers: an options class and a builder.

    ``options`` is an attrs class whose fields are the ``[loss.NAME]`` table's keys, with defaults
    and validators; it must have a float field ``weight`` (0 turns the term off).
    """

    #: The attrs class of the ``[loss.NAME]`` keys, with defaults and validators; it must have a float ``weight``.
    options: ClassVar[type]

    def check(self, options: Any, assembly: Any) -> None:
        """Raise :class:`~infogan_toolkit.errors.ConfigError` when the term cannot apply to the run."""

    def check_backbone(self, backbone: Any, request: Any, networks: Any, device: torch.device | str) -> None:
        """Conformance check of what the term needs from ``backbone`` (``infogan_toolkit.testing.check_backbone``
        calls it with the request and the networks it built); raise AssertionError naming the problem."""

    @abstractmethod
    def build(self, options: Any, setup: RegulariserSetup) -> Regulariser:
        """The term for one run."""


@attrs.frozen
class ResolvedRegulariser:
    """A regulariser that a run turns on: its registered name, plugin and validated options."""

    name: str
    plugin: RegulariserPlugin
    options: Any


def parse_options(name: str, plugin: RegulariserPlugin, table: Mapping[str, Any], source: str = "") -> Any:
    """Validate ``[loss.NAME]``'s table against the plugin's options class; a one-line ConfigError
    naming the option and ``source`` (who registered the term, e.g. ``plugin 'x' (dist 1.0)``)."""
    return parse_option_table(f"loss.{name}", plugin.options, table, source)


def options_dict(options: Any) -> dict[str, Any]:
    """An options object as the plain ``[loss.NAME]`` table it came from, defaults filled in."""
    return attrs.asdict(options)


__all__ = [
    "RegulariserPlugin",
    "Regulariser",
    "RegulariserSetup",
    "ResolvedRegulariser",
    "StepView",
    "Terms",
    "options_dict",
    "parse_options",
]
