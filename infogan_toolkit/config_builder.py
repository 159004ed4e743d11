"""A run's configuration from what a user names: a registered config or a TOML file, flags and
``--set KEY=VALUE`` overrides, in that order over the defaults. The command line and any program
(tests, benchmarks, notebooks) build a config the same way through :func:`build_config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config, apply_dict, load_toml, parse_override
from .errors import ConfigError
from .plugins import PluginHost
from .suggest import did_you_mean


def config_source(ref: str, host: PluginHost) -> tuple[dict, str]:
    """A config given as a TOML path or as a registered name -> (data, description)."""
    path = Path(ref).expanduser()
    if path.is_file() or ref.endswith(".toml"):
        return load_toml(path), str(path)
    registry = host.registries.configs
    if ref not in registry:
        raise ConfigError(
            f"'{ref}' is neither a TOML file nor a registered config.{did_you_mean(ref, registry.names())} "
            f"Known: {', '.join(registry.names()) or 'none'}."
        )
    entry = registry.entry(ref)
    return load_toml(Path(entry.obj)), f"config '{entry.name}' ({entry.obj})"


def build_config(
    host: PluginHost,
    config: str | None = None,
    flags: dict[str, dict[str, Any]] | None = None,
    sets: list[str] | None = None,
    base: Config | None = None,
) -> Config:
    """defaults < config file < flags < --set. With neither a config nor a backbone, the registered 'default'."""
    cfg = base or Config()
    flags = {s: {k: v for k, v in d.items() if v is not None} for s, d in (flags or {}).items()}
    flags = {s: d for s, d in flags.items() if d}
    sets = sets or []
    override_backbone = "backbone" in flags.get("model", {}) or any(
        s.strip().startswith("model.backbone=") for s in sets
    )
    if config is None and base is None and not override_backbone:
        if "default" in host.registries.configs:
            config = "default"
    if config is not None:
        data, source = config_source(config, host)
        cfg = apply_dict(cfg, data, source)
    cfg = apply_dict(cfg, flags, "the command-line flags")
    for s in sets:
        cfg = apply_dict(cfg, parse_override(s), f"--set {s}")
    return cfg
