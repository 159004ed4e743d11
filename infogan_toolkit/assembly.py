"""Turn a configuration into the objects of a run: backbone, code set, networks, dataset.

This is the one place where registry names become objects; the engine, the checkpoint loader and
the evaluator all go through it, so they agree on what a configuration means.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import attrs
import torch

from .backbones import Backbone, BuildRequest, Networks
from .codes import CodeSet, resolve_codes
from .config import Config
from .datasets import DatasetRequest, ImageDataset
from .errors import ConfigError, DataError, PluginError, option_error
from .images import RANGES
from .plugins import PluginHost
from .regularisers import ResolvedRegulariser, options_dict, parse_options
from .suggest import did_you_mean


@attrs.define
class Assembly:
    """The resolved pieces of a run."""

    config: Config  # with every None filled in
    backbone: Backbone
    codes: CodeSet
    provenance: dict[str, dict[str, str | None]]  # what each registered piece came from
    regularisers: list[ResolvedRegulariser] = attrs.field(factory=list)  # the terms turned on, in name order


def resolve(config: Config, host: PluginHost, terms: bool = True) -> Assembly:
    """Fill the configuration's blanks from the backbone's defaults and resolve every name. With
    ``terms=False`` the ``[loss.NAME]`` tables are kept as they are, unresolved: what generating
    and reading codes need (a checkpoint's regularisers only matter to training it further), so
    their plugins need not be installed."""
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
    code_spec = config.model.codes if config.model.codes is not None else backbone.default_codes
    model = attrs.evolve(
        config.model,
        backbone=entry.name,
        codes=code_spec,
        noise_dim=backbone.default_noise_dim if config.model.noise_dim is None else config.model.noise_dim,
        options=options,
    )
    data = attrs.evolve(config.data, dataset=config.data.dataset or backbone.default_dataset)
    codes = resolve_codes(
        code_spec,
        regs.codes,
        regs.heads,
        head_overrides=model.heads,
        lambda_discrete=config.loss.lambda_discrete,
        lambda_continuous=config.loss.lambda_continuous,
    )
    regularisers, tables = (
        resolve_regularisers(config, regs.regularisers) if terms else ([], dict(config.loss.regularisers))
    )
    provenance = {"backbone": provenance_of(entry)}
    for code in codes:
        provenance[f"code:{code.kind}"] = provenance_of(regs.codes.entry(code.kind))
        provenance[f"head:{code.head_name}"] = provenance_of(regs.heads.entry(code.head_name))
    if data.dataset is not None and data.dataset in regs.datasets:
        provenance["dataset"] = provenance_of(regs.datasets.entry(data.dataset))
    for term in regularisers:
        provenance[f"regulariser:{term.name}"] = provenance_of(regs.regularisers.entry(term.name))
    loss = attrs.evolve(config.loss, regularisers=tables)
    assembly = Assembly(
        attrs.evolve(config, model=model, data=data, loss=loss), backbone, codes, provenance, regularisers
    )
    for term in regularisers:
        with plugin_errors(f"loss.{term.name}", regs.regularisers.entry(term.name).source()):
            term.plugin.check(term.options, assembly)
    return assembly


@contextlib.contextmanager
def plugin_errors(where: str, source: str) -> Iterator[None]:
    """Around a call into a plugin (a term's ``check`` or ``build``, a metric's run): its
    ``ValueError`` or ``TypeError``, the errors docs/plugins.md tells an author to raise for a
    value it refuses, becomes one :class:`PluginError` line naming ``where`` (the option or table),
    the plugin (``source``) and the plugin's own words."""
    try:
        yield
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise PluginError(option_error(where, exc, source)) from None


def provenance_source(assembly: Assembly, key: str) -> str:
    """``plugin 'x' (dist 1.0)`` for a piece the assembly's provenance records (``regulariser:NAME``)."""
    record = assembly.provenance.get(key) or {}
    where = (
        " ".join(str(v) for v in (record.get("distribution"), record.get("version")) if v) or "registered in-process"
    )
    return f"plugin '{record.get('plugin', '?')}' ({where})"


def resolve_regularisers(config: Config, registry) -> tuple[list[ResolvedRegulariser], dict[str, dict]]:
    """The ``[loss.NAME]`` tables validated by their plugins: the terms turned on (weight > 0), in
    name order, and every table with its defaults filled in."""
    terms, tables = [], {}
    for name, table in sorted(config.loss.regularisers.items()):
        if name not in registry:
            known = ", ".join(registry.names()) or "none (are the plugins installed?)"
            raise ConfigError(
                f"unknown regulariser 'loss.{name}'.{did_you_mean(name, registry.names())} Known: {known}."
            )
        entry = registry.entry(name)
        options = parse_options(entry.name, entry.obj, table, entry.source())
        tables[entry.name] = options_dict(options)
        if options.weight:
            terms.append(ResolvedRegulariser(entry.name, entry.obj, options))
    return terms, tables


def check_training_names(config: Config, host: PluginHost) -> dict[str, Any]:
    """Check the callbacks a training run's config names (``train.callbacks``: each a registered
    name, case included, or ``"*"``) and their ``train.callback_options`` tables, before anything is
    built. Returns the parsed options (callback name -> options); raises a one-line error with a
    suggestion."""
    from .callbacks import parse_callback_options

    return parse_callback_options(host.registries.callbacks, config.train.callbacks, config.train.callback_options)


def provenance_of(entry) -> dict[str, str | None]:
    """Where a registry entry came from, as a checkpoint's ``plugins`` table records it."""
    return {"name": entry.name, "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version}


def build_request(assembly: Assembly) -> BuildRequest:
    """What the backbone is asked to size its networks for."""
    return BuildRequest(
        noise_dim=cast(int, assembly.config.model.noise_dim),  # resolve() fills it in
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


def load_dataset(assembly: Assembly, host: PluginHost, split: str = "train", name: str | None = None) -> ImageDataset:
    """Load the configured dataset (or ``name``) and check its images fit the backbone."""
    cfg = assembly.config.data
    name = name or cfg.dataset
    if name is None:
        raise ConfigError(
            f"backbone '{assembly.config.model.backbone}' names no default dataset; pass --dataset NAME (see "
            "`infogan-tk list datasets`)"
        )
    plugin = host.registries.datasets.get(name)
    request = DatasetRequest(
        root=Path(cfg.root).expanduser() if cfg.root else None,
        split=split,
        download=cfg.download,
        image_shape=cast("tuple[int, int, int]", tuple(assembly.backbone.image_shape)),
        options=dict(cfg.options),
    )
    dataset = plugin.load(request)
    if len(dataset) < 1:  # every batch is drawn by index from it
        raise DataError(f"dataset '{name}' ({split} split) holds no images; check --data-root and the dataset's files")
    if tuple(dataset.image_shape) != tuple(assembly.backbone.image_shape):
        raise ConfigError(
            f"dataset '{name}' has images of shape {tuple(dataset.image_shape)} but backbone "
            f"'{assembly.config.model.backbone}' needs {tuple(assembly.backbone.image_shape)}; pick a matching "
            "--backbone or --dataset"
        )
    return dataset
