"""Run configuration: attrs classes, TOML files, and ``section.key=value`` overrides.

Precedence is defaults < config file < command-line flags. An unknown section or key is refused
with a suggestion, never ignored. Fields left as ``None`` are filled from the backbone's defaults
when a run is resolved, and the resolved configuration is saved with every run.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, cast

import attrs

from .errors import ConfigError, option_error
from .files import read_bytes
from .noise import NOISE_KINDS
from .suggest import did_you_mean

#: The shapes ``optim.decay`` may take (the engine's lr_schedule draws them).
DECAY_KINDS = ("none", "linear", "cosine")

INFO_TARGETS = ("generator", "q_head", "trunk")


def _positive(instance, attribute, value) -> None:
    if value is not None and not value > 0:
        raise ConfigError(f"{attribute.name} must be > 0, got {value}")


def _one_of(*choices: str):
    def check(instance, attribute, value) -> None:
        if value not in choices:
            raise ConfigError(
                f"{attribute.name} must be one of {', '.join(choices)}, got "
                f"{value!r}{did_you_mean(str(value), choices)}"
            )

    return check


def _non_negative(instance, attribute, value) -> None:
    if not value >= 0:
        raise ConfigError(f"{attribute.name} must be >= 0, got {value}")


def _between(low: float, high: float, high_open: bool = False, low_open: bool = False):
    """A validator: ``low <= value <= high`` (``< high`` with ``high_open``, ``low <`` with ``low_open``)."""

    def check(instance, attribute, value) -> None:
        if value is None:
            return
        inside = (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
        if not inside:
            lo, hi = (f"{low:,}", f"{high:,}") if isinstance(high, int) else (f"{low:g}", f"{high:g}")
            raise ConfigError(
                f"{attribute.name} must be in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}, got "
                f"{value}"
            )

    return check


def _device(instance, attribute, value) -> None:
    kind, _, index = value.partition(":")
    if (
        kind not in ("auto", "cpu", "cuda", "mps")
        or (index and not (index.isascii() and index.isdigit()))
        or (index and kind == "auto")
    ):
        raise ConfigError(f"{attribute.name} must be auto, cpu, cuda, cuda:N or mps, got {value!r}")


@attrs.define
class ModelConfig:
    """Which networks and codes."""

    backbone: str | None = None
    codes: str | None = None  # code spec; None -> the backbone's default
    # 0: G sees the codes alone; at most 65,536, a width whose layers fit in memory.
    noise_dim: int | None = attrs.field(
        default=None, validator=attrs.validators.optional([_non_negative, _between(0, 65536)])
    )
    # How z is drawn: "normal" N(0, I), or "uniform" U(-1, 1) as in the authors' code.
    noise: str = attrs.field(default="normal", validator=_one_of(*NOISE_KINDS))
    heads: dict[str, str] = attrs.field(factory=dict)  # code kind -> Q head name
    options: dict[str, Any] = attrs.field(factory=dict)  # backbone options, e.g. leak


@attrs.define
class DataConfig:
    """Which images."""

    dataset: str | None = None  # None -> the backbone's default dataset
    root: str | None = None
    download: bool = False
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class LossConfig:
    """The InfoGAN objective (Eq. 6)."""

    # The regular-GAN baseline: Q is still trained to predict c, but G gets no information term.
    regular_gan: bool = False
    # Each in [0, 1,000,000]: a loss scaled further swamps float32.
    lambda_discrete: float = attrs.field(default=1.0, validator=[_non_negative, _between(0, 1_000_000)])
    lambda_continuous: float = attrs.field(default=1.0, validator=[_non_negative, _between(0, 1_000_000)])
    # Which parameters the information term trains; all three is InfoGAN as published.
    info_updates: list[str] = attrs.field(factory=lambda: list(INFO_TARGETS))
    # Regularisers a plugin adds to the objective, by name: each ``[loss.NAME]`` table holds that
    # term's options, validated against its plugin when the run is resolved (``infogan-tk list
    # regularisers``). Written and read as sub-tables of [loss], never under this field's name.
    regularisers: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    @info_updates.validator
    def _check_targets(self, attribute, value) -> None:
        for v in value:
            if v not in INFO_TARGETS:
                raise ConfigError(
                    f"loss.info_updates has unknown part '{v}'.{did_you_mean(v, INFO_TARGETS)} Known: "
                    f"{', '.join(INFO_TARGETS)}."
                )

    def info_targets(self) -> frozenset[str]:
        """The parts that receive the information gradient, with the baseline switch applied."""
        targets = set(self.info_updates)
        if self.regular_gan:
            targets.discard("generator")
        return frozenset(targets)


@attrs.define
class OptimConfig:
    """Adam, per network (appendix C: 2e-4 for D and Q, 1e-3 for G)."""

    # Each in (0, 10].
    lr_d: float = attrs.field(default=2e-4, validator=[_positive, _between(0.0, 10.0, low_open=True)])
    lr_g: float = attrs.field(default=1e-3, validator=[_positive, _between(0.0, 10.0, low_open=True)])
    beta1: float = attrs.field(default=0.5, validator=_between(0.0, 1.0, high_open=True))
    beta2: float = attrs.field(default=0.999, validator=_between(0.0, 1.0, high_open=True))
    # Adam's kernels: "auto" picks per device (engine/devices.py, docs/performance.md), or name one.
    implementation: str = attrs.field(default="auto", validator=_one_of("auto", "foreach", "fused", "loop"))
    # D's and G's rates fall from decay_from x train.steps to 0 at the last step (engine/lr_schedule.py).
    decay: str = attrs.field(default="none", validator=_one_of(*DECAY_KINDS))
    decay_from: float = attrs.field(default=0.5, validator=_between(0.0, 1.0, high_open=True))


@attrs.define
class TrainConfig:
    """The loop."""

    steps: int = attrs.field(default=5000, validator=_between(1, 10**12))
    # Per process; the bound only catches a typo before anything is allocated.
    batch_size: int = attrs.field(default=128, validator=_between(1, 2**20))
    seed: int = attrs.field(default=0, validator=_between(0, 2**32 - 1))
    device: str = attrs.field(default="auto", validator=_device)
    log_every: int = attrs.field(default=50, validator=[_positive, _between(1, 10**12)])
    checkpoint_every: int = attrs.field(default=1000, validator=[_positive, _between(1, 10**12)])
    keep_checkpoints: int = attrs.field(default=3, validator=[_positive, _between(1, 1_000_000)])
    # "joint": real and fake go through D as one batch (one forward);
    # "separate": two forwards, so batch norm sees real and fake apart (the authors' code).
    d_batch: str = attrs.field(default="joint", validator=_one_of("joint", "separate"))
    # bf16 autocast around the forward passes (changes numerics); "auto" picks it only where a CPU
    # runs bf16 natively and faster (engine/devices.py).
    bf16: bool | str = False
    # TF32 tensor cores for fp32 matmuls and convolutions on CUDA (changes numerics, like bf16).
    tf32: bool = False
    # NHWC layout for networks and images; "auto" picks per device (engine/devices.py).
    channels_last: bool | str = "auto"
    # The kernels of fp32 linear layers on a CPU: torch's BLAS ("torch") or oneDNN ("onednn");
    # "auto" picks per device (engine/devices.py).
    linear_kernel: str = attrs.field(default="auto", validator=_one_of("auto", "torch", "onednn"))
    compile: bool = False
    # torch.compile's mode; "reduce-overhead" adds CUDA graphs to the compiled G and D.
    compile_mode: str = attrs.field(
        default="default", validator=_one_of("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    )
    # Capture the whole step (batch draw, update) as one CUDA graph and replay it (CUDA only).
    cuda_graph: bool = False
    # Before each checkpoint, recompute G's and D's batch norm running statistics (what evaluation
    # mode uses) as the plain average over this many training-mode batches with the final weights;
    # 0 keeps the moving averages of training. Training itself is unchanged.
    batch_norm_refresh: int = attrs.field(default=0, validator=[_non_negative, _between(0, 1_000_000)])
    # Keep an exponential moving average of G's weights with this decay (the built-in `ema`
    # extension); 0 keeps none. Training itself is unchanged.
    ema: float = attrs.field(default=0.0, validator=_between(0.0, 1.0, high_open=True))
    figures: bool = True  # L_I curve and traversal sheet at every checkpoint (the built-in `figures` callback)
    # Callbacks to run (the trackers, TensorBoard, figures, ema...); "*" = every registered one that
    # turns itself on. Naming one asks for it: if it cannot start, the run stops before training.
    callbacks: list[str] = attrs.field(factory=lambda: ["*"])
    # Per-callback option tables, name -> table ([train.callback_options.NAME]); each callback's
    # plugin declares its keys. Giving a table asks for the callback, as naming it does.
    callback_options: dict[str, dict] = attrs.field(factory=dict)


@attrs.define
class Config:
    """The whole run configuration."""

    model: ModelConfig = attrs.field(factory=ModelConfig)
    data: DataConfig = attrs.field(factory=DataConfig)
    loss: LossConfig = attrs.field(factory=LossConfig)
    optim: OptimConfig = attrs.field(factory=OptimConfig)
    train: TrainConfig = attrs.field(factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML friendly, ``None`` kept); regulariser tables sit in ``loss``."""
        data = attrs.asdict(self)
        data["loss"].update(data["loss"].pop("regularisers"))
        return data

    def to_json(self) -> str:
        """The configuration as one JSON string (for checkpoint metadata)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        """The configuration as TOML (``None`` values are left out, as TOML has no null)."""
        return dict_to_toml(self.to_dict())


def _section_classes() -> dict[str, type]:
    # Every section field's default is an attrs Factory (of the section's class).
    return {f.name: cast(Any, f.default).factory for f in attrs.fields(Config)}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Declared type prefix -> (accepts the value?, what the error says the value must be).
_TYPE_CHECKS: dict[str, tuple[Any, str]] = {
    "bool | str": (lambda v: isinstance(v, bool) or v == "auto", 'true, false or "auto"'),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "float": (_is_number, "a number"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "dict[str, str]": (
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "a table of strings",
    ),
    "dict": (lambda v: isinstance(v, dict), "a table"),
}


def coerce_value(section: str, key: str, value: Any, field: attrs.Attribute) -> Any:
    """Check a value against the field's declared type (``section.key`` names it in the error); ints
    are accepted for floats."""
    name = f"{section}.{key}"
    declared = str(field.type)
    if value is None:
        if "None" in declared:
            return None
        raise ConfigError(f"{name} cannot be empty")
    for prefix, (accepts, must_be) in _TYPE_CHECKS.items():
        if declared.startswith(prefix):
            if not accepts(value):
                raise ConfigError(f"{name} must be {must_be}, got {value!r}")
            if prefix == "float":
                # inf, nan and 1e400 (TOML reads it as inf) are refused here, for every float a
                # config, a term or a callback takes, before a validator or a kernel sees them.
                try:
                    value = float(value)
                except OverflowError:  # an int too large for a float
                    value = math.inf
                if not math.isfinite(value):
                    raise ConfigError(f"{name} must be a finite number, got {value}; give a plain number such as 1.0")
            return value
    return value


def parse_option_table(where: str, cls: type, table: Any, source: str = "") -> Any:
    """A plugin's option table (``[loss.NAME]``, ``[train.callback_options.NAME]``, named ``where``)
    checked against its attrs class ``cls``: every key known, every value of its declared type, then
    the class's own validators; an instance, defaults filled in. Any refusal is one ConfigError line
    naming the option (``source`` says who registered the plugin)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of options, e.g. {where}.KEY=VALUE")
    fields = {f.name: f for f in attrs.fields(cls)}
    for key in table:
        if key not in fields:
            raise ConfigError(
                f"unknown option '{where}.{key}'.{did_you_mean(key, fields)} "
                f"Known: {', '.join(f'{where}.{k}' for k in fields) or 'none'}."
            )
    # The same type check as every other config key: ints accepted for floats, bools kept apart.
    values = {key: coerce_value(where, key, value, fields[key]) for key, value in table.items()}
    try:
        return cls(**values)
    except ConfigError as exc:  # the toolkit's validators name the option without its table
        raise ConfigError(f"{where}.{exc}") from None
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(option_error(where, exc, source)) from None


def apply_dict(config: Config, data: dict[str, Any], source: str) -> Config:
    """Return ``config`` with ``data`` (nested ``{section: {key: value}}``) applied on top."""
    classes = _section_classes()
    sections = {name: getattr(config, name) for name in classes}
    for section, values in data.items():
        if section not in classes:
            raise ConfigError(
                f"unknown config section '{section}' in {source}.{did_you_mean(section, classes)} Known: "
                f"{', '.join(classes)}."
            )
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{section}' in {source} must be a table")
        fields = {f.name: f for f in attrs.fields(classes[section])}
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if section == "loss" and key not in fields and isinstance(value, dict):
                # A regulariser's table: merged over what lower layers set; checked when resolved.
                tables = changes.setdefault("regularisers", dict(sections["loss"].regularisers))
                tables[key] = {**tables.get(key, {}), **value}
                continue
            if section == "loss" and key == "regularisers":
                raise ConfigError(
                    f"unknown config key 'loss.regularisers' in {source}; give each regulariser its own table, e.g. "
                    "loss.NAME.weight=1.0"
                )
            if key not in fields:
                hint = (
                    " A regulariser is turned on with a table of options, e.g. loss.NAME.weight=1.0."
                    if section == "loss"
                    else ""
                )
                raise ConfigError(
                    f"unknown config key '{section}.{key}' in {source}.{did_you_mean(key, fields)} "
                    f"Known: {', '.join(section + '.' + k for k in fields if k != 'regularisers')}.{hint}"
                )
            value = coerce_value(section, key, value, fields[key])
            if isinstance(value, dict):  # tables merge over lower layers, key by key
                value = {**getattr(sections[section], key), **value}
            changes[key] = value
        try:
            sections[section] = attrs.evolve(sections[section], **changes)
        except ConfigError as exc:
            msg = str(exc)
            if msg.split(" ", 1)[0] in fields:  # a field validator names the key alone
                msg = f"{section}.{msg}"
            raise ConfigError(f"{msg} (in {source})") from None
    return Config(**sections)


#: The largest config file read (bytes); a config is a few kilobytes.
MAX_CONFIG_BYTES = 1 << 20


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file with a one-line error for a missing, malformed or unreadable file: it must be
    a regular file (a FIFO or a directory is refused without blocking) of at most
    :data:`MAX_CONFIG_BYTES`, in UTF-8, nested no deeper than the parser can follow."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"config file '{path}' does not exist; give a path or a registered config name")
    data = read_bytes(path, "config file", ConfigError, MAX_CONFIG_BYTES)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"config file '{path}' nests tables or arrays too deeply to read; a config needs two levels"
        ) from None


def parse_override(text: str) -> dict[str, Any]:
    """``"train.steps=100"`` -> ``{"train": {"steps": 100}}``; a third part names a key of a table
    (``model.options.leak=0.01``, ``loss.NAME.weight=1``). The value is read as TOML, else as a string."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}' must look like section.key=value, e.g. train.steps=100")
    lhs, rhs = text.split("=", 1)
    parts = lhs.strip().split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"--set '{text}' must name section.key or section.table.key, e.g. train.steps=100")
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    except RecursionError:
        raise ConfigError(f"--set '{lhs.strip()}=...' nests arrays or tables too deeply; give a plain value") from None
    if len(parts) == 3:
        value = {parts[2]: value}
    return {parts[0]: {parts[1]: value}}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dict_to_toml(data: dict[str, dict[str, Any]]) -> str:
    """Write a two-level dict as TOML."""
    out = []
    for section, values in data.items():
        out.append(f"[{section}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
        out.append("")
    return "\n".join(out)
