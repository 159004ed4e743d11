"""What a checkpoint file may hold, checked before anything in it is used.

A checkpoint is two safetensors files (:mod:`infogan_toolkit.checkpoint`); each has one schema here:

* the weights file: every key of :data:`MODEL_METADATA` and no other, each of its type (the config a
  JSON object of tables, the ``plugins`` table of provenance records with valid distribution names,
  the step a whole number); the code spec and backbone agree with the config, the step with the
  file's name. Its tensors are exactly those of the networks the config builds, by name, shape and
  dtype (a wrong dtype is refused, never cast), and finite.
* the state file: ``format``, ``step`` and one ``optim.NAME.param_groups`` per optimiser of the run
  (plus keys its writer declares); ``optim.NAME.INDEX.FIELD`` tensors shaped like their parameter,
  ``rng.NAME[.rankR]`` like the generator's state, and nothing else.

What declares tensors is whatever builds networks: a :class:`TensorLayout` is made from modules by
key prefix (:func:`layout_of`), so a network a run saves under a new prefix (a regulariser's
``NAME.``, say) is declared by being built, not by a list kept here. Prefixes of networks that a
reader does not build (a regulariser's, when sampling) are named as ``passthrough``: their tensors
may be present and are not read.

The metadata is not a signature: a file rewritten consistently by hand passes. What the schema
guarantees is that any file, careless or hostile, gives a one-line error instead of a traceback,
a silent cast or weights loaded into the wrong places.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Set
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors import safe_open
from torch import Tensor, nn

from .errors import CheckpointError
from .registry import is_distribution_name
from .rundir import MODEL_FORMAT, STATE_FORMAT

#: The longest metadata value read (characters); a resolved config is a few kilobytes.
MAX_METADATA_VALUE = 1 << 20
#: The largest step a file may claim (``train.steps`` has the same bound).
MAX_STEP = 10**12

#: Every key of a weights file's metadata, all required, with what each holds.
MODEL_METADATA = {
    "format": "the format tag",
    "config": "the resolved configuration as a JSON object",
    "codes": "the code spec",
    "codes_detail": "a JSON list describing each code",
    "step": "the training step, a whole number",
    "toolkit_version": "the toolkit version that wrote it",
    "plugins": "a JSON object: piece -> {name, plugin, distribution, version}",
    "backbone": "the backbone name",
    "image_shape": "a JSON list [channels, height, width]",
    "output_range": "the generator's output range",
}
#: Keys a weights file may have besides :data:`MODEL_METADATA`.
MODEL_METADATA_OPTIONAL = {
    "generators": "a JSON object: generator name -> key prefix, those the run's callbacks kept besides the raw one",
}

_STEP_TEXT = re.compile(r"^[0-9]{1,13}$", re.ASCII)
_FILE_STEP = re.compile(r"^step-([0-9]+)\.(?:state\.)?safetensors$", re.ASCII)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}$", re.ASCII)
_PROVENANCE_KEY = re.compile(r"^(backbone|dataset|(code|head|regulariser|callback):.+)$", re.DOTALL)
_PROVENANCE_FIELDS = ("name", "plugin", "distribution", "version")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", re.ASCII)

#: torch dtype -> the name safetensors gives it in a file's header.
_DTYPE_NAMES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _short(text: object, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(
    path: Path, problem: str, fix: str = "the file is damaged or was edited; use the file the run wrote"
) -> CheckpointError:
    return CheckpointError(f"checkpoint '{path}': {problem}; {fix}")


# -- tensors ---------------------------------------------------------------------------------------
@attrs.frozen
class TensorSpec:
    """A tensor's shape and dtype (as safetensors names it: ``F32``, ``I64`` ...)."""

    shape: tuple[int, ...]
    dtype: str

    def __str__(self) -> str:
        return f"{self.dtype} {list(self.shape)}"


def spec_of(tensor: Tensor) -> TensorSpec:
    """The spec of a live tensor."""
    return TensorSpec(tuple(tensor.shape), _DTYPE_NAMES.get(tensor.dtype, str(tensor.dtype)))


@attrs.frozen
class TensorLayout:
    """The tensors a file must hold (name -> spec), and key prefixes whose tensors may be present
    but are not read (``passthrough``)."""

    tensors: Mapping[str, TensorSpec]
    passthrough: tuple[str, ...] = ()


def layout_of(parts: Mapping[str, nn.Module], passthrough: Iterable[str] = ()) -> TensorLayout:
    """The layout of modules saved under key prefixes (``{"generator.": G, ...}``)."""
    tensors = {
        prefix + key: spec_of(value) for prefix, module in parts.items() for key, value in module.state_dict().items()
    }
    return TensorLayout(tensors, tuple(passthrough))


def file_specs(path: Path) -> dict[str, TensorSpec]:
    """Every tensor's spec, read from the file's header without loading any tensor."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            specs = {}
            for key in fh.keys():
                piece = fh.get_slice(key)
                specs[key] = TensorSpec(tuple(int(n) for n in piece.get_shape()), str(piece.get_dtype()))
            return specs
    except Exception as exc:  # safetensors raises several types for a bad header
        raise CheckpointError(
            f"'{path}' is not a readable safetensors file "
            f"({_short(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120)})"
        ) from None


def check_tensors(path: Path, found: Mapping[str, TensorSpec], layout: TensorLayout, what: str) -> None:
    """Refuse a file whose tensors are not exactly ``layout``'s: a missing or unknown name, or a
    shape or dtype that differs. ``what`` names the networks in the message."""
    missing = sorted(set(layout.tensors) - set(found))
    unknown = sorted(
        k for k in found if k not in layout.tensors and not (layout.passthrough and k.startswith(layout.passthrough))
    )
    differ = [k for k in sorted(found) if k in layout.tensors and found[k] != layout.tensors[k]]
    problems = []
    if differ:
        k = differ[0]
        problems.append(
            f"tensor '{_short(k)}' is {found[k]} where {what} need {layout.tensors[k]}" + _more(differ, "differ")
        )
    if unknown:
        problems.append(f"it holds tensor '{_short(unknown[0])}', which {what} do not have" + _more(unknown, "unknown"))
    if missing:
        problems.append(f"tensor '{_short(missing[0])}' of {what} is missing" + _more(missing, "missing"))
    if problems:
        raise _fail(
            path, "; ".join(problems), "it was damaged, edited or made by another config; use the file the run wrote"
        )


def _more(items: list, word: str) -> str:
    return f" ({len(items) - 1} more {word})" if len(items) > 1 else ""


def check_finite(path: Path, tensors: Mapping[str, Tensor]) -> None:
    """Refuse NaN or infinite values in any floating-point tensor (they give NaN images or losses)."""
    for key, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise _fail(
                path,
                f"tensor '{_short(key)}' holds NaN or infinite values",
                "the run diverged or the file was edited; use an earlier checkpoint",
            )


# -- metadata --------------------------------------------------------------------------------------
def _json(path: Path, key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise _fail(
            path,
            f"metadata '{key}' is not valid JSON (it should be "
            f"{MODEL_METADATA.get(key) or MODEL_METADATA_OPTIONAL.get(key, 'JSON')})",
        ) from None


def _step(path: Path, key: str, text: str) -> int:
    if not isinstance(text, str) or not _STEP_TEXT.match(text) or int(text) > MAX_STEP:
        raise _fail(path, f"metadata '{key}' is {_short(text)!r}, not a step (a whole number up to {MAX_STEP:,})")
    return int(text)


def _check_keys(path: Path, meta: Mapping[str, str], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    required, known = set(required), set(required) | set(optional)
    unknown = sorted(k for k in meta if k not in known)
    if unknown:
        raise _fail(path, f"metadata has unknown key '{_short(unknown[0])}'" + _more(unknown, "unknown"))
    missing = sorted(required - set(meta))
    if missing:
        raise _fail(path, f"metadata key '{missing[0]}' is missing" + _more(missing, "missing"))
    for key, value in meta.items():
        if not isinstance(value, str):
            raise _fail(path, f"metadata '{_short(key)}' is not text")
        if len(value) > MAX_METADATA_VALUE:
            raise _fail(
                path,
                f"metadata '{_short(key)}' is {len(value):,} characters long, more than the {MAX_METADATA_VALUE:,} a "
                "checkpoint holds",
            )


def _file_step(path: Path) -> int | None:
    m = _FILE_STEP.match(Path(path).name)
    return int(m[1]) if m else None


@attrs.frozen
class ModelMetadata:
    """A weights file's metadata, checked and decoded."""

    config: dict[str, Any]
    codes: str
    codes_detail: list[dict[str, Any]]
    step: int
    toolkit_version: str
    plugins: dict[str, dict[str, str | None]]
    backbone: str
    image_shape: tuple[int, int, int]
    output_range: str


def check_model_metadata(path: Path, meta: Mapping[str, str]) -> ModelMetadata:
    """Check a weights file's metadata against :data:`MODEL_METADATA` and decode it; one-line errors."""
    path = Path(path)
    _check_keys(path, meta, MODEL_METADATA, MODEL_METADATA_OPTIONAL)
    if meta["format"] != MODEL_FORMAT:
        raise _fail(
            path, f"format is {_short(meta['format'])!r}, not {MODEL_FORMAT!r}", "give the weights file of a checkpoint"
        )
    config = _json(path, "config", meta["config"])
    if not isinstance(config, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in config.items()):
        raise _fail(path, "metadata 'config' is not a JSON object of tables (sections)")
    model = config.get("model", {})
    codes = meta["codes"]
    if model.get("codes") != codes:
        raise _fail(
            path,
            f"the code spec {_short(codes)!r} differs from the config's model.codes {_short(model.get('codes'))!r}",
            "the metadata was edited, so which weights belong to which code is unknown; use the file the run wrote",
        )
    if model.get("backbone") != meta["backbone"]:
        raise _fail(
            path,
            f"backbone {_short(meta['backbone'])!r} differs from the config's model.backbone "
            f"{_short(model.get('backbone'))!r}",
        )
    detail = _json(path, "codes_detail", meta["codes_detail"])
    if not isinstance(detail, list) or not all(
        isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("name", "kind", "token", "head"))
        for d in detail
    ):
        raise _fail(path, "metadata 'codes_detail' is not a list of code descriptions (name, kind, token, head)")
    if not detail:
        raise _fail(path, "metadata 'codes_detail' describes no code, and a run has at least one")
    step = _step(path, "step", meta["step"])
    named = _file_step(path)
    if named is not None and named != step:
        raise _fail(path, f"the file is named for step {named} but its metadata says step {step}")
    shape = _json(path, "image_shape", meta["image_shape"])
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(n) is int and 1 <= n <= 65_536 for n in shape)):
        raise _fail(path, f"metadata 'image_shape' is {_short(meta['image_shape'])}, not [channels, height, width]")
    if not _VERSION.match(meta["toolkit_version"]):
        raise _fail(path, f"metadata 'toolkit_version' is {_short(meta['toolkit_version'])!r}, not a version")
    for key in ("backbone", "output_range"):
        if not meta[key] or len(meta[key]) > 200:
            raise _fail(path, f"metadata '{key}' is empty or longer than 200 characters")
    if "generators" in meta:
        check_generators(path, meta["generators"])
    plugins = check_plugins(path, meta["plugins"])
    if (
        plugins.get("backbone", {}).get("name") != meta["backbone"]
    ):  # the writer records every piece, the backbone first
        raise _fail(path, f"metadata 'plugins' does not record where backbone {_short(meta['backbone'])!r} comes from")
    return ModelMetadata(
        config,
        codes,
        detail,
        step,
        meta["toolkit_version"],
        plugins,
        meta["backbone"],
        tuple(shape),
        meta["output_range"],
    )


#: The most generators a weights file may offer besides the raw one (a run keeps one or two).
MAX_GENERATORS = 64
_GENERATOR_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$", re.ASCII)
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]{0,199}\.$", re.ASCII)


def check_generators(path: Path, text: str) -> dict[str, str]:
    """The ``generators`` entry: a JSON object (nested no deeper, at most :data:`MAX_GENERATORS`
    entries) of generator name -> tensor key prefix ending in a dot; one-line errors otherwise."""
    path = Path(path)
    if not isinstance(text, str) or not text.strip():
        raise _fail(path, "metadata 'generators' is empty, not a JSON object of generator name -> key prefix")
    declared = _json(path, "generators", text)
    if not isinstance(declared, dict):
        raise _fail(
            path,
            f"metadata 'generators' is a JSON {type(declared).__name__ if declared is not None else 'null'}, "
            "not an object of generator name -> key prefix",
        )
    if len(declared) > MAX_GENERATORS:
        raise _fail(
            path,
            f"metadata 'generators' names {len(declared):,} generators, more than the {MAX_GENERATORS} a checkpoint "
            "holds",
        )
    for name, prefix in declared.items():
        if not _GENERATOR_NAME.match(name):
            raise _fail(path, f"metadata 'generators' has a generator named {_short(name)!r}, not a generator name")
        if not isinstance(prefix, str) or not _KEY_PREFIX.match(prefix):
            raise _fail(
                path,
                f"metadata 'generators' gives generator {name!r} the key prefix {_short(prefix)!r}, not a prefix "
                "ending in '.'",
            )
    return declared


def check_plugins(path: Path, text: str) -> dict[str, dict[str, str | None]]:
    """The ``plugins`` table: piece (``backbone``, ``dataset``, ``code:KIND``, ``head:NAME``,
    ``regulariser:NAME``) -> ``{name, plugin, distribution, version}``; distribution and version
    are valid names or null."""
    table = _json(path, "plugins", text)
    if not isinstance(table, dict):
        raise _fail(path, "metadata 'plugins' is not a JSON object (piece -> provenance)")
    for key, prov in table.items():
        where = f"metadata 'plugins' entry '{_short(key)}'"
        if not _PROVENANCE_KEY.match(key) or len(key) > 200:
            raise _fail(
                path,
                f"{where} is not a known piece (backbone, dataset, code:KIND, head:NAME, regulariser:NAME, "
                "callback:NAME)",
            )
        if not isinstance(prov, dict) or sorted(prov) != sorted(_PROVENANCE_FIELDS):
            raise _fail(path, f"{where} is not a table of exactly {', '.join(_PROVENANCE_FIELDS)}")
        for field in ("name", "plugin"):
            if not isinstance(prov[field], str) or not prov[field] or len(prov[field]) > 200:
                raise _fail(path, f"{where} has no valid {field}")
        if prov["distribution"] is not None and not is_distribution_name(prov["distribution"]):
            raise _fail(
                path,
                f"{where} names distribution {_short(prov['distribution'])!r}, which is not a valid distribution name",
            )
        if prov["version"] is not None and not (isinstance(prov["version"], str) and _VERSION.match(prov["version"])):
            raise _fail(path, f"{where} has version {_short(prov['version'])!r}, which is not a version")
    return table


def check_layout_detail(path: Path, saved: ModelMetadata, codes: Any, backbone: Any) -> None:
    """The resolved run against what the file recorded: the same codes in the same order with the
    same heads (so no weight lands in another code's place), the backbone's image shape and range."""
    now = [{k: d[k] for k in ("name", "kind", "token", "head")} for d in codes.describe()]
    then = [{k: d[k] for k in ("name", "kind", "token", "head")} for d in saved.codes_detail]
    if now != then:
        first = next((i for i, (a, b) in enumerate(zip(now, then)) if a != b), min(len(now), len(then)))
        a = then[first] if first < len(then) else None
        b = now[first] if first < len(now) else None
        raise _fail(
            path,
            f"its config builds code {first + 1} as {_describe(b)} but the file recorded {_describe(a)}",
            "the metadata was edited or a plugin changed its codes; use the file the run wrote with the plugins it "
            "names",
        )
    if tuple(backbone.image_shape) != tuple(saved.image_shape) or backbone.output_range != saved.output_range:
        raise _fail(
            path,
            f"backbone '{_short(saved.backbone)}' now makes {list(backbone.image_shape)} images in range "
            f"{backbone.output_range!r}, the file recorded {list(saved.image_shape)} in {_short(saved.output_range)!r}",
            "install the plugin version the checkpoint names (infogan-tk inspect shows it)",
        )


def _describe(code: dict | None) -> str:
    return "nothing" if code is None else f"{_short(code['token'], 30)!r} with head {_short(code['head'], 30)!r}"


# -- trainer state ---------------------------------------------------------------------------------
@attrs.frozen
class StateMetadata:
    """A state file's metadata, checked and decoded: the step and each optimiser's param groups."""

    step: int
    param_groups: dict[str, list[dict[str, Any]]]
    extra: dict[str, str]


def check_state_metadata(path: Path, meta: Mapping[str, str], extra_keys: Iterable[str] = ()) -> StateMetadata:
    """``format``, ``step``, ``optim.NAME.param_groups`` (JSON lists of tables) and ``extra_keys``."""
    path = Path(path)
    groups_keys = [
        k
        for k in meta
        if k.startswith("optim.") and k.endswith(".param_groups") and len(k) > len("optim..param_groups")
    ]
    extra = set(extra_keys)
    _check_keys(path, meta, ("format", "step"), [*groups_keys, *extra])
    if meta["format"] != STATE_FORMAT:
        raise _fail(
            path, f"format is {_short(meta['format'])!r}, not {STATE_FORMAT!r}", "give the state file of a checkpoint"
        )
    step = _step(path, "step", meta["step"])
    named = _file_step(path)
    if named is not None and named != step:
        raise _fail(path, f"the file is named for step {named} but its metadata says step {step}")
    groups = {}
    for key in groups_keys:
        value = _json(path, key, meta[key])
        if not isinstance(value, list) or not value or not all(isinstance(g, dict) for g in value):
            raise _fail(path, f"metadata '{_short(key)}' is not a list of parameter groups")
        groups[key[len("optim.") : -len(".param_groups")]] = value
    return StateMetadata(step, groups, {k: meta[k] for k in extra if k in meta})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_param_groups(path: Path, name: str, saved: list[dict[str, Any]], optimizer: torch.optim.Optimizer) -> None:
    """The saved param groups of optimiser ``name`` have the live optimiser's groups, keys, parameter
    indices and value types (numbers finite), so that restoring them cannot fail halfway."""
    live = optimizer.state_dict()["param_groups"]
    where = f"the state of optimiser '{name}'"
    if len(saved) != len(live):
        raise _fail(path, f"{where} has {len(saved)} parameter groups, the run's optimiser has {len(live)}")
    for i, (s, g) in enumerate(zip(saved, live)):
        if set(s) != set(g):
            odd = sorted(set(s) ^ set(g), key=str)[0]
            raise _fail(path, f"{where}, group {i}: key '{_short(odd)}' is {'unknown' if odd in s else 'missing'}")
        if s["params"] != g["params"]:
            raise _fail(
                path, f"{where}, group {i}: parameter indices differ from the run's ({len(g['params'])} parameters)"
            )
        for key, want in g.items():
            value = s[key]
            if key == "params":
                continue
            if isinstance(want, bool) or want is None:
                ok = value is None or isinstance(value, bool)
            elif isinstance(want, (int, float)):
                ok = _number(value)
            elif isinstance(want, (list, tuple)):
                ok = isinstance(value, list) and len(value) == len(want) and all(_number(v) for v in value)
            elif isinstance(want, str):
                ok = isinstance(value, str)
            else:
                ok = type(value) is type(want)
            if not ok:
                raise _fail(
                    path, f"{where}, group {i}: '{key}' is {_short(json.dumps(value))}, not a value of its type"
                )


#: The state fields Adam keeps per parameter (``max_exp_avg_sq`` with amsgrad); ``step`` is a scalar.
_ADAM_FIELDS = frozenset({"step", "exp_avg", "exp_avg_sq"})


def check_state_tensors(
    path: Path,
    found: Mapping[str, TensorSpec],
    optimizers: Mapping[str, torch.optim.Optimizer],
    generators: Mapping[str, torch.Generator],
    passthrough: tuple[str, ...] = (),
) -> None:
    """The state file's tensors: ``optim.SAVED.INDEX.FIELD`` for the optimisers (by the names they
    were saved under), each shaped and typed like its parameter (scalars for ``step``), the same
    fields for every parameter (Adam's exactly); ``rng.NAME`` and ``rng.NAME.rankR`` like each
    generator's state; nothing else except under ``passthrough`` prefixes."""
    by_name = sorted(optimizers, key=len, reverse=True)  # "contrastive.h" before a shorter name it starts with
    params = {name: [p for g in opt.param_groups for p in g["params"]] for name, opt in optimizers.items()}
    fields: dict[str, dict[int, set[str]]] = {name: {} for name in optimizers}
    rng_specs = {name: spec_of(gen.get_state()) for name, gen in generators.items()}
    for key, spec in found.items():
        if passthrough and key.startswith(passthrough):
            continue
        if key.startswith("rng."):
            base, _, rank = key[4:].rpartition(".rank")
            name = base if rank and rank.isascii() and rank.isdigit() and base in rng_specs else key[4:]
            if name not in rng_specs:
                raise _fail(
                    path,
                    f"it holds tensor '{_short(key)}', which the run's random generators ({', '.join(rng_specs)}) do "
                    "not have",
                )
            if spec != rng_specs[name]:
                raise _fail(
                    path,
                    f"random-generator state '{_short(key)}' is {spec}, the run's generator needs {rng_specs[name]}",
                    "it was saved on another kind of device or edited; resume on the device the run used",
                )
            continue
        owner = next((n for n in by_name if key.startswith(f"optim.{n}.")), None)
        if owner is None:
            raise _fail(
                path,
                f"it holds tensor '{_short(key)}', which is neither an optimiser's ({', '.join(optimizers)}) nor a "
                "generator's state",
            )
        index, _, field = key[len(f"optim.{owner}.") :].partition(".")
        if not (
            index.isascii()
            and index.isdigit()
            and len(index) <= 9
            and int(index) < len(params[owner])
            and _FIELD.match(field)
        ):
            raise _fail(
                path,
                f"tensor '{_short(key)}' does not name a parameter of optimiser '{owner}' ({len(params[owner])} "
                "parameters)",
            )
        param = params[owner][int(index)]
        adam = isinstance(optimizers[owner], torch.optim.Adam)
        scalar = field == "step" if adam else spec.shape == ()
        if scalar:
            if spec.shape != () or not spec.dtype.startswith("F"):
                raise _fail(
                    path, f"tensor '{_short(key)}' is {spec}, optimiser '{owner}' keeps a floating-point scalar there"
                )
        elif spec != spec_of(param):
            raise _fail(
                path, f"tensor '{_short(key)}' is {spec} where optimiser '{owner}' has a parameter of {spec_of(param)}"
            )
        fields[owner].setdefault(int(index), set()).add(field)
    for name, per_param in fields.items():
        if not per_param:
            continue
        opt = optimizers[name]
        want: Set[str]
        if isinstance(opt, torch.optim.Adam):
            want = _ADAM_FIELDS | ({"max_exp_avg_sq"} if opt.param_groups[0].get("amsgrad") else set())
        else:
            want = next(iter(per_param.values()))
        for param_index, have in sorted(per_param.items()):  # a parameter that never had a gradient has no state
            if have != want:
                odd = sorted(want - have) or sorted(have - want)
                raise _fail(
                    path,
                    f"the state of optimiser '{name}', parameter {param_index}: field '{odd[0]}' is "
                    f"{'missing' if odd[0] in want else 'unknown'}",
                )
    for name in rng_specs:
        if f"rng.{name}" not in found:
            raise _fail(path, f"the state of random generator '{name}' is missing")


__all__ = [
    "MAX_METADATA_VALUE",
    "MAX_STEP",
    "MODEL_METADATA",
    "ModelMetadata",
    "StateMetadata",
    "TensorLayout",
    "TensorSpec",
    "check_finite",
    "check_layout_detail",
    "check_model_metadata",
    "check_param_groups",
    "check_plugins",
    "check_state_metadata",
    "check_state_tensors",
    "check_tensors",
    "file_specs",
    "layout_of",
    "spec_of",
]
