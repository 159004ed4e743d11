"""Turn a configuration into the objects of a run: backbone, code set, networks, dataset.

This is the one place where registry names become objects; the engine, the checkpoint loader and
the evaluator all go through it, so they agree on what a configuration means.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import torch
from torch import nn

from .backbones import Backbone, BuildRequest, Networks
from .codes import CodeSet, resolve_codes
from .config import Config
from .datasets import DatasetRequest, ImageDataset
from .errors import ConfigError, PluginError
from .images import RANGES
from .plugins import PluginHost
from .suggest import did_you_mean


@attrs.define
class Assembly:
    """The resolved pieces of a run."""

    config: Config  # with every None filled in
    backbone: Backbone
    codes: CodeSet
    provenance: dict[str, dict[str, str | None]]  # what each registered piece came from


def resolve(config: Config, host: PluginHost) -> Assembly:
    """Fill the configuration's blanks from the backbone's defaults and resolve every name."""
    regs = host.registries
    if config.model.backbone is None:
        raise ConfigError("no backbone chosen; pass --backbone NAME or --config NAME (see `infogan-tk list backbones`)")
    entry = regs.backbones.entry(config.model.backbone)
    backbone: Backbone = entry.obj
    if backbone.output_range not in RANGES:
        raise PluginError(
            f"backbone '{entry.name}' (plugin '{entry.plugin}') declares output_range {backbone.output_range!r}; "
            f"the plugin must use one of {', '.join(RANGES)}"
        )
    options = dict(backbone.default_options)
    for key, value in config.model.options.items():
        if key not in options:
            raise ConfigError(
                f"unknown option model.options.{key} for backbone '{entry.name}'.{did_you_mean(key, options)} "
                f"Known: {', '.join(sorted(options)) or 'none'}."
            )
        options[key] = value
    model = attrs.evolve(
        config.model,
        backbone=entry.name,
        codes=config.model.codes or backbone.default_codes,
        noise_dim=config.model.noise_dim or backbone.default_noise_dim,
        options=options,
    )
    data = attrs.evolve(config.data, dataset=config.data.dataset or backbone.default_dataset)
    codes = resolve_codes(
        model.codes,
        regs.codes,
        regs.heads,
        head_overrides=model.heads,
        lambda_discrete=config.loss.lambda_discrete,
        lambda_continuous=config.loss.lambda_continuous,
    )
    if config.loss.invariance and not any(c.code.discrete for c in codes):
        raise ConfigError(
            f"loss.invariance is {config.loss.invariance} but the codes '{model.codes}' have no discrete code, and the "
            "invariance term scores only discrete codes; set loss.invariance=0 or add one (e.g. cat10)"
        )
    if config.loss.real_information and not any(c.head.has_batch_information for c in codes):
        raise ConfigError(
            f"loss.real_information is {config.loss.real_information} but no code in '{model.codes}' has a head that "
            "defines batch_information (softmax does); set loss.real_information=0 or add a categorical code (e.g. cat10)"
        )
    provenance = {"backbone": _prov(entry)}
    for code in codes:
        provenance[f"code:{code.kind}"] = _prov(regs.codes.entry(code.kind))
        provenance[f"head:{code.head_name}"] = _prov(regs.heads.entry(code.head_name))
    if data.dataset is not None and data.dataset in regs.datasets:
        provenance["dataset"] = _prov(regs.datasets.entry(data.dataset))
    return Assembly(attrs.evolve(config, model=model, data=data), backbone, codes, provenance)


def _prov(entry) -> dict[str, str | None]:
    return {"name": entry.name, "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version}


def build_request(assembly: Assembly) -> BuildRequest:
    """What the backbone is asked to size its networks for."""
    return BuildRequest(
        noise_dim=assembly.config.model.noise_dim,
        code_width=assembly.codes.width,
        q_width=assembly.codes.param_width,
        options=dict(assembly.config.model.options),
    )


def build_networks(assembly: Assembly, seed: int | None = None) -> Networks:
    """Build fresh networks for the assembly; ``seed`` makes the initialisation reproducible."""
    request = build_request(assembly)
    if seed is None:
        return assembly.backbone.build(request)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return assembly.backbone.build(request)


def build_pair_classifier(assembly: Assembly, seed: int | None = None) -> nn.Module:
    """The contrastive regulariser's network, one class per latent code; a ConfigError when the
    backbone offers none. ``seed`` makes its initialisation reproducible, apart from G's and D's."""
    request = build_request(assembly)
    name = assembly.config.model.backbone
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed * 1_000_003 + 7)  # a stream of its own, not a replay of G's init draws
        network = assembly.backbone.build_pair_classifier(request, len(assembly.codes))
    if network is None:
        raise ConfigError(
            f"backbone '{name}' has no pair classifier, which loss.contrastive needs; set loss.contrastive=0 "
            "or use a backbone that implements Backbone.build_pair_classifier"
        )
    return network


def load_dataset(assembly: Assembly, host: PluginHost, split: str = "train", name: str | None = None) -> ImageDataset:
    """Load the configured dataset (or ``name``) and check its images fit the backbone."""
    cfg = assembly.config.data
    name = name or cfg.dataset
    if name is None:
        raise ConfigError(
            f"backbone '{assembly.config.model.backbone}' names no default dataset; pass --dataset NAME (see `infogan-tk list datasets`)"
        )
    plugin = host.registries.datasets.get(name)
    request = DatasetRequest(
        root=Path(cfg.root).expanduser() if cfg.root else None,
        split=split,
        download=cfg.download,
        image_shape=tuple(assembly.backbone.image_shape),
        options=dict(cfg.options),
    )
    dataset = plugin.load(request)
    if tuple(dataset.image_shape) != tuple(assembly.backbone.image_shape):
        raise ConfigError(
            f"dataset '{name}' has images of shape {tuple(dataset.image_shape)} but backbone "
            f"'{assembly.config.model.backbone}' needs {tuple(assembly.backbone.image_shape)}; pick a matching "
            "--backbone or --dataset"
        )
    return dataset
