"""Training extensions: plugins that keep state of their own beside the networks and update it
after every optimiser step, without the engine knowing what they do.

A plugin registers a factory (``register_extensions``); ``train.extensions`` chooses which run
(``"*"``, the default: every registered one), and each factory, given an :class:`ExtensionSetup`
for the run, returns an :class:`Extension` or None to stay out (the built-in ``ema`` stays out
unless ``train.ema`` is set). The engine then owns everything around an extension:

* :meth:`Extension.after_step` runs after every optimiser step, inside the step, so a captured
  CUDA graph (``train.cuda_graph``) replays it; it must only queue device work;
* :meth:`Extension.networks` are saved in every checkpoint under ``NAME.`` (or ``NAME.KEY.``) and
  restored strictly on ``--resume``; a checkpoint without them (the extension was off when it was
  written) calls :meth:`Extension.start` instead, with the resumed weights;
* :meth:`Extension.generators` are generators with G's architecture that the checkpoint offers
  besides the raw one: their key prefixes go into the checkpoint's ``generators`` metadata, and
  ``load_checkpoint`` / ``sample`` / ``traverse`` / ``eval`` use the first one by default
  (``--generator raw`` for the trained weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import torch
from torch import nn

from .errors import ConfigError, PluginError

#: The name ``--generator`` and the checkpoint metadata use for the generator that training updates.
RAW_GENERATOR = "raw"


@attrs.frozen
class ExtensionSetup:
    """What an extension factory gets: the resolved run (``assembly``: config, backbone, codes), the
    networks being trained (on ``device``, in the run's memory format, rank 0's weights under
    torchrun) and whether the step will be captured in a CUDA graph (``cuda_graph``)."""

    #: The resolved run (``infogan_toolkit.assembly.Assembly``): ``config`` (read your switch from it), ``backbone``,
    #: ``codes``.
    assembly: Any
    #: G as it is trained: on ``device``, in the run's memory format, rank 0's weights under torchrun.
    generator: nn.Module
    #: D and Q as they are trained (``InfoDiscriminator``).
    discriminator: nn.Module
    #: The run's device.
    device: torch.device
    #: Whether the step, ``after_step`` included, is captured in a CUDA graph (``train.cuda_graph``).
    cuda_graph: bool


class Extension:
    """One run's extension. Subclasses override what they need; every method runs on every rank."""

    #: Whether :meth:`after_step` can be captured in a CUDA graph: the same device work every call,
    #: no host reads. ``train.cuda_graph`` refuses an extension that says no.
    cuda_graph_capturable: bool = True

    def networks(self) -> dict[str, nn.Module]:
        """Modules whose state is checkpointed under ``NAME.`` (key ``""``) or ``NAME.KEY.`` and restored on resume."""
        return {}

    def generators(self) -> dict[str, nn.Module]:
        """Generators (G's architecture) that checkpoints offer by name, each a module of
        :meth:`networks` or inside one; the first of the first extension is the default one."""
        return {}

    def start(self) -> None:
        """Called once before training with the networks' current weights, unless resuming restored the state."""

    def after_step(self) -> None:
        """Called after every optimiser step (D's, G's and the regularisers')."""


def build_extensions(registry: Any, enabled: list[str], setup: ExtensionSetup) -> dict[str, Extension]:
    """Every registered extension that ``enabled`` names (``"*"``: all) and whose factory returns
    one for this run, by name in name order; an unknown name is a one-line error with a suggestion."""
    wanted = set(enabled)
    check_names(registry, wanted)
    found: dict[str, Extension] = {}
    for entry in sorted(registry, key=lambda e: e.name):
        if "*" in wanted or entry.name in wanted:
            extension = entry.obj(setup)
            if extension is None:
                continue
            if setup.cuda_graph and not extension.cuda_graph_capturable:
                raise ConfigError(
                    f"extension '{entry.name}' cannot be captured in a CUDA graph; set train.cuda_graph=false"
                )
            found[entry.name] = extension
    return found


def extension_networks(extensions: dict[str, Extension]) -> dict[str, nn.Module]:
    """The extensions' networks by checkpoint prefix (``NAME`` or ``NAME.KEY``)."""
    return {
        f"{name}.{key}" if key else name: module
        for name, ext in extensions.items()
        for key, module in ext.networks().items()
    }


def generator_prefixes(extensions: dict[str, Extension]) -> dict[str, str]:
    """Generator name -> the key prefix its tensors have in a checkpoint, in default order; a
    generator that is no module of its extension's networks is a PluginError naming the extension."""
    prefixes: dict[str, str] = {}
    for name, ext in extensions.items():
        owned = extension_networks({name: ext})
        for variant, generator in ext.generators().items():
            if variant == RAW_GENERATOR or variant in prefixes:
                raise PluginError(
                    f"extension '{name}' offers a generator named '{variant}', which is taken; the plugin must rename "
                    "it"
                )
            prefixes[variant] = _prefix_of(generator, owned, name)
    return prefixes


def _prefix_of(target: nn.Module, owned: dict[str, nn.Module], extension: str) -> str:
    for prefix, module in owned.items():
        for sub, candidate in module.named_modules():
            if candidate is target:
                return f"{prefix}.{sub}." if sub else f"{prefix}."
    raise PluginError(
        f"extension '{extension}' offers a generator that is not one of its networks(); the plugin must return it "
        "from networks() too"
    )


def check_names(registry: Any, enabled: Iterable[str]) -> None:
    """Refuse a name in ``train.extensions`` that no plugin registered, with a suggestion."""
    for name in sorted(set(enabled) - {"*"}):
        registry.get(name)


__all__ = [
    "RAW_GENERATOR",
    "Extension",
    "ExtensionSetup",
    "build_extensions",
    "check_names",
    "extension_networks",
    "generator_prefixes",
]
