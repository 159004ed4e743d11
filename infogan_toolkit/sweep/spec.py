"""What a sweep is: a base config, a grid of overrides, seeds, and how each run is evaluated.

A spec comes from a TOML file or from flags (flags win)::

    config = "shapes"                 # a registered config name or a TOML path
    seeds = "0-7"                     # or [0, 1, 2]
    set = ["train.steps=200"]         # overrides every run gets
    [grid]                            # every combination of these values is one setting
    "loss.lambda_continuous" = [0.1, 1.0]
    [eval]                            # what `infogan-tk eval` computes for each run
    metrics = ["mi", "accuracy", "mig"]
    samples = 10000
    sizes = { factor_samples = 10000 }
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any

import attrs

from ..config import load_toml, parse_override
from ..errors import ConfigError
from ..suggest import did_you_mean

#: What ``eval`` computes for each run unless the spec says otherwise: what ``train`` evaluates.
DEFAULT_METRICS = ("mi", "accuracy", "mig")
_TOP_KEYS = ("config", "seeds", "set", "grid", "eval", "device")
_EVAL_KEYS = ("metrics", "samples", "sizes", "seed")


def parse_seeds(text: str | int | list[Any]) -> list[int]:
    """``"0,1,2"``, ``"0-7"``, ``"0..7"`` (both ends included), a list or one number -> sorted distinct seeds."""
    if isinstance(text, bool):
        raise ConfigError(f"seeds {text!r} are not whole numbers; write e.g. --seeds 0,1,2 or --seeds 0-7")
    if isinstance(text, int):
        items: list[Any] = [text]
    elif isinstance(text, list):
        items = text
    else:
        items = [part.strip() for part in str(text).split(",") if part.strip()]
    seeds: set[int] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            seeds.add(item)
            continue
        m = re.fullmatch(r"(\d+)\s*(?:-|\.\.)\s*(\d+)", str(item).strip())
        if m:
            lo, hi = int(m[1]), int(m[2])
            if hi < lo:
                raise ConfigError(f"seed range '{item}' runs backwards; write LOW-HIGH, e.g. 0-7")
            seeds.update(range(lo, hi + 1))
        elif str(item).strip().isdigit():
            seeds.add(int(str(item).strip()))
        else:
            raise ConfigError(f"seeds '{text}' are not whole numbers >= 0; write e.g. --seeds 0,1,2 or --seeds 0-7")
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"seeds '{text}' name no seed >= 0; write e.g. --seeds 0,1,2 or --seeds 0-7")
    return sorted(seeds)


def parse_grid_flag(text: str) -> tuple[str, list[Any]]:
    """``"loss.lambda_continuous=0.1,1.0"`` -> ``("loss.lambda_continuous", [0.1, 1.0])`` (values typed as in --set)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or "." not in key or not values.strip():
        raise ConfigError(f"--grid '{text}' is not section.key=V1,V2,...; e.g. --grid loss.lambda_continuous=0.1,1.0")
    out = []
    for value in values.split(","):
        parsed = parse_override(f"{key}={value.strip()}")
        section, rest = key.split(".", 1)
        node: Any = parsed[section]
        for part in rest.split("."):
            node = node[part]
        out.append(node)
    return key, out


@attrs.frozen
class EvalSpec:
    """How each run is evaluated (``infogan-tk eval`` options); settings compare only under one of these."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    samples: int = 10000
    sizes: dict[str, int] = attrs.field(factory=dict)
    seed: int = 0


@attrs.frozen
class Setting:
    """One combination of the grid's values: its index, a readable label and the overrides."""

    index: int
    overrides: tuple[tuple[str, Any], ...]

    @property
    def label(self) -> str:
        """``loss.lambda_continuous=0.1 train.batch_size=8``, or ``base`` without a grid."""
        return " ".join(f"{k}={_toml_value(v)}" for k, v in self.overrides) or "base"

    @property
    def slug(self) -> str:
        """A directory-safe name: ``s00-lambda_continuous=0.1-batch_size=8``."""
        short = "-".join(f"{k.rsplit('.', 1)[-1]}={_toml_value(v)}" for k, v in self.overrides)
        short = re.sub(r"[^A-Za-z0-9._=-]+", "_", short)[:60]
        return f"s{self.index:02d}" + (f"-{short}" if short else "")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_at_least(value: Any, low: int, key: str, source: str) -> int:
    """``value`` when it is a whole number >= ``low``; else a one-line error naming ``key``."""
    if not _whole(value) or value < low:
        raise ConfigError(f"'{key}' in {source} must be a whole number >= {low}, got {value!r}")
    return int(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@attrs.frozen
class SweepSpec:
    """A whole sweep: base config, overrides for every run, the grid, seeds, evaluation, device."""

    config: str | None = None
    sets: tuple[str, ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    seeds: tuple[int, ...] = (0,)
    eval: EvalSpec = EvalSpec()
    device: str | None = None

    def settings(self) -> list[Setting]:
        """Every combination of the grid's values, in the order the grid lists them."""
        keys = [k for k, _ in self.grid]
        combos = itertools.product(*[values for _, values in self.grid]) if keys else [()]
        return [Setting(i, tuple(zip(keys, combo))) for i, combo in enumerate(combos)]

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the manifest records it."""
        return {
            "config": self.config,
            "set": list(self.sets),
            "grid": {k: list(v) for k, v in self.grid},
            "seeds": list(self.seeds),
            "eval": {
                "metrics": list(self.eval.metrics),
                "samples": self.eval.samples,
                "sizes": dict(self.eval.sizes),
                "seed": self.eval.seed,
            },
            "device": self.device,
        }

    def fingerprint(self) -> str:
        """A hash of everything that decides what the runs are (seeds aside, so more seeds can be added)."""
        data = {k: v for k, v in self.to_dict().items() if k != "seeds"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> SweepSpec:
        """A spec from a TOML table (or a manifest's ``spec``); unknown keys are one-line errors."""
        for key in data:
            if key not in _TOP_KEYS:
                raise ConfigError(
                    f"unknown key '{key}' in {source}.{did_you_mean(key, _TOP_KEYS)} Known: {', '.join(_TOP_KEYS)}."
                )
        grid = data.get("grid", {}) or {}
        if not isinstance(grid, dict):
            raise ConfigError(
                f"'grid' in {source} must be a table of key = [values]; e.g. \"loss.lambda_continuous\" = [0.1, 1.0]"
            )
        pairs = []
        for key, values in grid.items():
            if "." not in key:
                raise ConfigError(f"grid key '{key}' in {source} is not section.key; e.g. \"train.batch_size\"")
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"grid key '{key}' in {source} needs a non-empty list of values; e.g. [0.1, 1.0]")
            pairs.append((key, tuple(values)))
        ev = data.get("eval", {}) or {}
        if not isinstance(ev, dict):
            raise ConfigError(f'\'eval\' in {source} must be a table; e.g. [eval] with metrics = ["mi", "mig"]')
        for key in ev:
            if key not in _EVAL_KEYS:
                raise ConfigError(
                    f"unknown key 'eval.{key}' in {source}.{did_you_mean(key, _EVAL_KEYS)} Known: "
                    f"{', '.join(_EVAL_KEYS)}."
                )
        metrics = ev.get("metrics", DEFAULT_METRICS)
        if isinstance(metrics, str):
            metrics = [m.strip() for m in metrics.split(",") if m.strip()]
        if not isinstance(metrics, (list, tuple)) or not metrics or not all(isinstance(m, str) for m in metrics):
            raise ConfigError(
                f'\'eval.metrics\' in {source} must be a list of metric names; e.g. ["mi", "accuracy", "mig"]'
            )
        sizes = ev.get("sizes", {}) or {}
        if not isinstance(sizes, dict) or not all(_whole(v) for v in sizes.values()):
            raise ConfigError(
                f"'eval.sizes' in {source} must be a table of whole numbers; e.g. {{ factor_samples = 10000 }}"
            )
        sets = data.get("set", []) or []
        if isinstance(sets, str):
            sets = [sets]
        if not isinstance(sets, (list, tuple)) or not all(isinstance(x, str) for x in sets):
            raise ConfigError(
                f'\'set\' in {source} must be a list of "section.key=value" strings; e.g. ["train.steps=200"]'
            )
        for key in ("config", "device"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ConfigError(f"'{key}' in {source} must be a string, got {data[key]!r}")
        return cls(
            config=data.get("config"),
            sets=tuple(sets),
            grid=tuple(pairs),
            seeds=tuple(parse_seeds(data.get("seeds", [0]))),
            eval=EvalSpec(
                tuple(metrics),
                _whole_at_least(ev.get("samples", 10000), 1, "eval.samples", source),
                dict(sizes),
                _whole_at_least(ev.get("seed", 0), 0, "eval.seed", source),
            ),
            device=data.get("device"),
        )

    @classmethod
    def from_file(cls, path: Path) -> SweepSpec:
        """A spec from a TOML file."""
        return cls.from_dict(load_toml(Path(path)), str(path))


def check_overrides(spec: SweepSpec, build: Any) -> None:
    """Resolve every setting's config once (``build(sets)`` raises a one-line ConfigError on a bad
    key or value), so a typo fails before any run starts, not in every run."""
    for setting in spec.settings():
        build(list(spec.sets) + [f"{k}={_toml_value(v)}" for k, v in setting.overrides])


def setting_sets(spec: SweepSpec, setting: Setting) -> list[str]:
    """The ``--set`` overrides one setting's runs get: the spec's, then the grid's."""
    return list(spec.sets) + [f"{k}={_toml_value(v)}" for k, v in setting.overrides]
