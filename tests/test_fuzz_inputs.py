"""Seeded fuzzing through the real CLI: configs, code specs, --set overrides, checkpoint metadata,
weights and trainer-state files, each made invalid in a random way. Every case must end with one
`error:` line and status 2, no traceback, within a time limit, and leave every input file as it was.

The generator is seeded (change SEED to explore); each case's description is in the assertion
message, so a failure is reproduced by its parameters alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
import torch
from conftest import install_fake
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from infogan_toolkit.checkpoint import model_path, read_metadata, state_path
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config
from infogan_toolkit.plugins import PluginHost

SEED = 25
CASE_SECONDS = 20  # a case that takes longer is taken for a hang

#: TOML literals that are not of a field's declared type (the type's name prefix -> values).
WRONG_TYPE = {
    "bool": ['"yes"', "2", "[true]", "{a = 1}", "1.5"],
    "int": ['"abc"', "1.5", "[1]", "true", "{a = 1}", '"\u0663"', "nan"],
    "float": ['"abc"', "[1.0]", "true", "{a = 1}", '"1e-3"'],
    "str": ["123", "[1]", "true", "{a = 1}", "1.5"],
    "list": ['"generator"', "[1, 2]", "true", "{a = 1}", '[["q_head"]]'],
    "dict": ['"x"', "1", "[1]", "true"],
}
#: Text that no name or value of the toolkit holds: markup, escapes, bidi overrides, other digits.
NASTY = ["[/oops]", "[link=http://evil.example]x[/link]", "\x1b[2J", "\u202e", "\u0661\u0660", "\x00", "a" * 300, "🙂"]
#: Tokens that make any code spec invalid.
BAD_TOKENS = [
    "cat\u0661\u0660",
    "cat0",
    "cat99999",
    "zzz3",
    "cat4x0",
    "cat4x" + "9" * 500,
    "cat\x1b[2J4",
    "cat4;rm",
    "\uff43\uff41\uff54\uff14",
    "cat4x1000000",
    "unif0",
    "gauss-1",
    "cat[/oops]4",
    "cat4@",
    "",
]
GOOD_TOKENS = ["cat4", "unif2", "gauss1", "cat10x2", "unif1"]


def fields() -> list[tuple[str, str, str]]:
    """(section, key, declared type) of every config field."""
    sections = {s.name: s.default.factory for s in attrs.fields(Config)}
    return [
        (section, f.name, str(f.type))
        for section, cls in sections.items()
        for f in attrs.fields(cls)
        if f.name != "regularisers"
    ]


def wrong_value(rng: random.Random, declared: str) -> str:
    prefix = next(p for p in ("bool", "int", "float", "str", "list", "dict") if declared.startswith(p))
    return rng.choice(WRONG_TYPE[prefix])


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def bad_config(rng: random.Random) -> tuple[str, bytes]:
    """A config file that is invalid in one random way, and what the way is."""
    base = '[model]\nbackbone = "shapes"\n\n[train]\nsteps = 2\n'
    kind = rng.choice(["type", "unknown-key", "unknown-section", "syntax", "encoding", "nesting", "not-a-table"])
    if kind == "type":
        section, key, declared = rng.choice(fields())
        return f"{section}.{key} = wrong type", (
            base + f"\n[{section}]\n{key} = {wrong_value(rng, declared)}\n"
        ).encode()
    if kind == "unknown-key":
        section = rng.choice(["model", "data", "optim", "train", "loss"])
        key = rng.choice(["stepz", "lr", "backbon", "x" + rng.choice(NASTY).replace('"', "")])
        return f"unknown key {key!r}", (base + f"\n[{section}]\n{toml_string(key)} = {rng.randint(0, 9)}\n").encode()
    if kind == "unknown-section":
        return "unknown section", (
            base + f"\n[{toml_string(rng.choice(['trian', 'optimiser', *NASTY]))}]\nx = 1\n"
        ).encode()
    if kind == "syntax":
        broken = rng.choice(['steps = "4\n', "steps = [1, 2\n", "= 4\n", "[train\n", "steps = 4 4\n", "steps = 0x\n"])
        return f"syntax {broken!r}", (base + broken).encode()
    if kind == "encoding":
        cut = rng.randrange(len(base))
        return "not UTF-8", base[:cut].encode() + bytes([rng.choice([0xC3, 0xE9, 0xFF, 0x80])]) + b"\n" + base[
            cut:
        ].encode()
    if kind == "nesting":
        depth = rng.choice([2000, 5000])
        return f"nesting {depth}", (base + "x = " + "[" * depth + "]" * depth + "\n").encode()
    return "section not a table", (base + f"data = {rng.randint(0, 9)}\n").encode()


def bad_override(rng: random.Random) -> tuple[str, str]:
    section, key, declared = rng.choice(fields())
    kind = rng.choice(["type", "unknown", "shape"])
    if kind == "type":
        return "wrong type", f"{section}.{key}={wrong_value(rng, declared)}"
    if kind == "unknown":
        return "unknown key", f"{section}.{key}{rng.choice(['z', '_', rng.choice(NASTY)])}=1"
    return "no section", rng.choice(["steps=4", "=4", "train.=4", ".steps=4", "train.steps", rng.choice(NASTY) + "=1"])


def bad_codes(rng: random.Random) -> str:
    tokens = rng.sample(GOOD_TOKENS, rng.randint(0, 3))
    tokens.insert(rng.randint(0, len(tokens)), rng.choice(BAD_TOKENS))
    return ",".join(tokens)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def invoke_refused(args: list[str], what: str, watched: Path) -> None:
    """Run the CLI; it must refuse with one `error:` line, in time, leaving ``watched`` as it was."""
    before = digest(watched)
    start = time.monotonic()
    result = CliRunner().invoke(app, args)
    took = time.monotonic() - start
    assert took < CASE_SECONDS, f"{what}: took {took:.1f} s"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{what}: {result.exception!r}"
    assert "Traceback" not in result.output, f"{what}: {result.output[-500:]}"
    assert result.exit_code == 2, f"{what}: exit {result.exit_code}, stderr {result.stderr[-300:]!r}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip("\n").splitlines()[-1] == errors[0], (
        f"{what}: {result.stderr[-300:]!r}"
    )
    assert "\x1b" not in result.output and "\u202e" not in result.output, f"{what}: raw control text in the output"
    assert digest(watched) == before, f"{what}: an input file changed"


# -- configs, overrides, code specs ----------------------------------------------------------------
@pytest.mark.parametrize("case", range(40))
def test_fuzzed_config_files_are_refused(tmp_path, case):
    what, data = bad_config(random.Random(SEED * 1000 + case))
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    invoke_refused(["config", "show", "--config", str(path)], f"config case {case} ({what})", tmp_path)


@pytest.mark.parametrize("case", range(40))
def test_fuzzed_overrides_are_refused(tmp_path, case):
    what, override = bad_override(random.Random(SEED * 2000 + case))
    invoke_refused(
        ["config", "show", "--backbone", "shapes", "--set", override],
        f"override case {case} ({what}: {override!r})",
        tmp_path,
    )


@pytest.mark.parametrize("case", range(40))
def test_fuzzed_code_specs_are_refused(tmp_path, case):
    spec = bad_codes(random.Random(SEED * 3000 + case))
    invoke_refused(
        ["config", "show", "--backbone", "shapes", "--codes", spec], f"code spec case {case} ({spec[:80]!r})", tmp_path
    )


# -- checkpoints -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 2-step shapes run trained through the CLI (each case works on a copy)."""
    run = tmp_path_factory.mktemp("fuzz") / "run"
    args = [
        "train",
        "--backbone",
        "shapes",
        "--out",
        str(run),
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--quiet",
        "--no-eval",
        "--device",
        "cpu",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.figures=false",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def bad_model_metadata(rng: random.Random, meta: dict[str, str]) -> tuple[str, dict[str, str]]:
    meta = dict(meta)
    key = rng.choice(sorted(meta))
    kind = rng.choice(["drop", "unknown", "garbage", "json", "nasty-step"])
    if kind == "drop":
        del meta[key]
    elif kind == "unknown":
        meta[rng.choice(["extra", "comment", *NASTY])] = rng.choice(NASTY)
    elif kind == "garbage":
        if key in (
            "backbone",
            "output_range",
            "toolkit_version",
            "codes",
        ):  # free-ish text: break its agreement or form
            meta[key] = rng.choice(["", "x" * 300, "\x1b[2J", "cat4,,", "[/oops]"])
        else:
            meta[key] = rng.choice(["{", "[1, 2]", "null", '{"a": ' * 3000, "\x00", "1e999", "NaN"])
    elif kind == "json":
        key = rng.choice(["config", "plugins", "codes_detail", "image_shape"])
        meta[key] = rng.choice(["[]", "{}", '"x"', "3", "[[[]]]", '{"model": 1}'])
    else:
        meta["step"] = rng.choice(["abc", "-1", "2.0", "\u0662", " 2", "9" * 30, "2\n", "0x2"])
    return f"metadata {kind} {key!r}", meta


def bad_tensors(rng: random.Random, tensors: dict[str, torch.Tensor]) -> tuple[str, dict[str, torch.Tensor]]:
    tensors = dict(tensors)
    key = rng.choice(sorted(k for k, v in tensors.items() if v.is_floating_point() and v.dim() > 0))
    kind = rng.choice(["dtype", "shape", "drop", "unknown", "nan"])
    if kind == "dtype":
        tensors[key] = tensors[key].to(rng.choice([torch.float64, torch.float16, torch.int32]))
    elif kind == "shape":
        tensors[key] = torch.cat([tensors[key].flatten(), torch.zeros(1)])
    elif kind == "drop":
        del tensors[key]
    elif kind == "unknown":
        tensors[key.rsplit(".", 1)[0] + ".backdoor"] = torch.zeros(2)
    else:
        value = tensors[key].clone()
        value.view(-1)[rng.randrange(value.numel())] = rng.choice([float("nan"), float("inf")])
        tensors[key] = value
    return f"tensor {kind} {key!r}", tensors


@pytest.mark.parametrize("case", range(24))
def test_fuzzed_weights_files_are_refused_by_inspect_sample_traverse_and_eval(run, tmp_path, case):
    rng = random.Random(SEED * 4000 + case)
    path = model_path(run, 2)
    meta, tensors = read_metadata(path), load_file(str(path))
    if case % 3:
        what, meta = bad_model_metadata(rng, meta)
    else:
        what, tensors = bad_tensors(rng, tensors)
    save_file(tensors, str(path), metadata=meta)
    if case % 3:
        invoke_refused(["inspect", str(path)], f"inspect case {case} ({what})", run)
    invoke_refused(
        ["sample", str(path), "--n", "4", "--out", str(tmp_path / "s.png")], f"sample case {case} ({what})", run
    )
    assert not (tmp_path / "s.png").exists()
    if case % 4 == 0:  # traverse and eval read the weights as sample does; a share of the cases checks them too
        invoke_refused(
            ["traverse", str(path), "--rows", "2", "--steps", "3", "--out", str(tmp_path / "t")],
            f"traverse case {case} ({what})",
            run,
        )
        assert not (tmp_path / "t").exists()
    elif case % 4 == 1:
        invoke_refused(["eval", str(path), "--device", "cpu", "--samples", "50"], f"eval case {case} ({what})", run)


@pytest.mark.parametrize("case", range(12))
def test_fuzzed_state_files_are_refused_on_resume(run, case):
    rng = random.Random(SEED * 5000 + case)
    path = state_path(run, 2)
    meta, tensors = read_metadata(path), load_file(str(path))
    if case % 2:
        key = rng.choice(sorted(k for k in meta if k != "format"))
        value = rng.choice(["abc", "[]", "[{}]", '[{"lr": "fast"}]', "{", "\u0662", "-5"])
        what, meta = f"metadata {key!r} = {value!r}", {**meta, key: value}
    else:
        what, tensors = bad_tensors(rng, tensors)
    save_file(tensors, str(path), metadata=meta)
    args = ["train", "--resume", str(run), "--steps", "4", "--quiet", "--no-eval", "--device", "cpu"]
    invoke_refused(args, f"resume case {case} ({what})", run)


# == the newer surfaces (issue 50): term options, names, outputs, generators metadata, eval sizes ==

#: Numbers no bounded option takes: non-finite, beyond float range (TOML reads 1e400 as inf),
#: far beyond any range (each built-in bound is at most 1e12), or below every lower bound (0).
BAD_FLOATS = [
    "inf",
    "-inf",
    "nan",
    "+nan",
    "1e400",
    "-1e400",
    "1e308",
    "-1e308",
    "-1",
    "-0.5",
    "1e20",
    "99999999999999999999999",
]
BAD_INTS = ["-1", "99999999999999999999", "1e400", "inf", "nan", "1.5", "-99999999999999999999"]


def term_number_fields() -> list[tuple[str, str, str]]:
    """(term, option, declared type) of every number a built-in regulariser takes."""
    out = []
    for entry in PluginHost().registries.regularisers:
        for f in attrs.fields(entry.obj.options):
            if str(f.type) in ("float", "int"):
                out.append((entry.name, f.name, str(f.type)))
    return sorted(out)


TERM_FIELDS = term_number_fields()


@pytest.mark.parametrize("case", range(40))
def test_fuzzed_term_numbers_are_refused_when_the_config_is_resolved(tmp_path, case):
    rng = random.Random(SEED * 6000 + case)
    term, option, declared = rng.choice(TERM_FIELDS)
    value = rng.choice(BAD_INTS if declared == "int" else BAD_FLOATS)
    if case % 4 == 3:  # the same through a config file's table
        path = tmp_path / "terms.toml"
        path.write_text(f'[model]\nbackbone = "shapes"\n\n[loss.{term}]\n{option} = {value}\n')
        args = ["config", "show", "--config", str(path)]
    else:
        args = ["config", "show", "--config", "shapes", "--set", f"loss.{term}.{option}={value}"]
    invoke_refused(args, f"term number case {case} (loss.{term}.{option}={value})", tmp_path)
    result = CliRunner().invoke(app, args)
    assert f"loss.{term}.{option}" in result.stderr, (
        f"case {case}: the error does not name the option: {result.stderr!r}"
    )


CONFIG_NUMBERS = [
    ("optim", "lr_d"),
    ("optim", "lr_g"),
    ("loss", "lambda_discrete"),
    ("loss", "lambda_continuous"),
    ("optim", "beta1"),
    ("train", "ema"),
    ("train", "log_every"),
    ("train", "keep_checkpoints"),
    ("model", "noise_dim"),
    ("train", "batch_norm_refresh"),
    ("train", "checkpoint_every"),
]


@pytest.mark.parametrize("case", range(12))
def test_fuzzed_config_numbers_are_refused(tmp_path, case):
    rng = random.Random(SEED * 6500 + case)
    section, key = rng.choice(CONFIG_NUMBERS)
    declared = next(str(f.type) for f in attrs.fields(type(getattr(Config(), section))) if f.name == key)
    value = rng.choice(BAD_INTS if "int" in declared else BAD_FLOATS)
    if "int" in declared and value == "-1" and key == "noise_dim":
        value = "9999999"  # noise_dim -1 is covered; the upper bound too
    invoke_refused(
        ["config", "show", "--config", "shapes", "--set", f"{section}.{key}={value}"],
        f"config number case {case} ({section}.{key}={value})",
        tmp_path,
    )


def miscase(rng: random.Random, name: str) -> str:
    variants = [
        name.upper(),
        name.capitalize(),
        name[:-1] + name[-1].upper(),
        name.swapcase() if name.swapcase() != name else name.upper(),
    ]
    return rng.choice([v for v in variants if v != name] or [name.upper()])


@pytest.mark.parametrize("case", range(30))
def test_fuzzed_names_of_callbacks_and_callback_options_are_refused(tmp_path, case):
    rng = random.Random(SEED * 7000 + case)
    known = PluginHost().registries.callbacks.names()
    field = rng.choice(["callbacks", "callback_options", "callback_option_key"])
    kind = rng.choice(["miscased", "unknown", "nasty", "empty"])
    name = {
        "miscased": lambda: miscase(rng, rng.choice(known)),
        "unknown": lambda: rng.choice(["nope", "tensorbord", "mlfow", "figure", "emas"]),
        "nasty": lambda: rng.choice(NASTY).replace('"', ""),
        "empty": lambda: "",
    }[kind]()
    if field == "callback_option_key":
        callback = rng.choice(["mlflow", "wandb", "tensorboard"])
        key = rng.choice(["bogus", "Tracking_URI", "timeout_", "MODE", "x"])
        value = rng.choice(["1", '"x"', "true"])
        override = f"train.callback_options.{callback}={{{key} = {value}}}"
    elif field == "callback_options":
        override = f"train.callback_options.{json.dumps(name) if kind in ('nasty', 'empty') else name}={{}}"
    else:
        listed = rng.sample(known, rng.randint(0, len(known)))
        listed.insert(rng.randint(0, len(listed)), name)
        override = f"train.callbacks={json.dumps(listed)}"
    invoke_refused(
        ["config", "show", "--config", "shapes", "--set", override],
        f"name case {case} ({field} {kind}: {override!r})",
        tmp_path,
    )


@pytest.mark.parametrize("case", range(10))
def test_fuzzed_tracker_settings_are_refused(tmp_path, case):
    rng = random.Random(SEED * 7500 + case)
    tracker = rng.choice(["mlflow", "wandb"])
    key, value = rng.choice(
        [
            ("timeout", rng.choice(["0", "-1", "inf", "nan", "1e400", "601", '"10"', "true"])),
            ("tags", rng.choice(['"x"', "[1]", "{a = 1}" if tracker == "mlflow" else "1"])),
            ("artifacts" if tracker == "mlflow" else "images", rng.choice(['"yes"', "2"])),
            (
                "tracking_uri" if tracker == "mlflow" else "mode",
                rng.choice(["1", "[1]", "true"] if tracker == "mlflow" else ['"onlin"', '"ONLINE"', "1"]),
            ),
        ]
    )
    override = f"train.callback_options.{tracker}={{{key} = {value}}}"
    invoke_refused(
        ["config", "show", "--config", "shapes", "--set", override], f"tracker case {case} ({override!r})", tmp_path
    )


# -- a third-party plugin whose option classes refuse values with ValueError / TypeError -------------
STRICT = """
import attrs
from infogan_toolkit import hookimpl
from infogan_toolkit.regularisers import Regulariser, RegulariserPlugin, Terms


def even(instance, attribute, value):
    if value % 2:
        raise ValueError(f"level must be even, got {value}")


@attrs.define
class StrictOptions:
    weight: float = attrs.field(default=0.0, validator=attrs.validators.le(10.0))
    mode: str = attrs.field(default="a", validator=attrs.validators.in_(["a", "b"]))
    level: int = attrs.field(default=2, validator=even)
    name: str = attrs.field(default="x", validator=attrs.validators.matches_re(r"^[a-z]+$"))


class Strict(RegulariserPlugin):
    options = StrictOptions

    def build(self, options, setup):
        raise TypeError("the strict term cannot be built")


@attrs.frozen
class CallbackOptions:
    level: int = attrs.field(default=1, validator=attrs.validators.ge(1))


class StrictCallback:
    options = CallbackOptions

    def __call__(self, info):
        return None


@hookimpl
def register_regularisers(register):
    register("strict", Strict())


@hookimpl
def register_callbacks(register):
    register("strictcallback", StrictCallback())
"""


@pytest.fixture
def strict_plugin(tmp_path, monkeypatch):
    install_fake(tmp_path / "site", "infogan-tk-strict", "infogan_tk_strict", "strict", STRICT)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield
    sys.modules.pop("infogan_tk_strict", None)


@pytest.mark.parametrize("case", range(10))
def test_fuzzed_third_party_option_errors_are_one_line_naming_the_plugin(tmp_path, strict_plugin, case):
    rng = random.Random(SEED * 8000 + case)
    key, values = rng.choice(
        [
            ("loss.strict.weight", ["11", "1e9", "100.5"]),
            ("loss.strict.mode", ['"c"', '"A"', '""']),
            ("loss.strict.level", ["1", "3", "-7"]),
            ("loss.strict.name", ['"X1"', '"a b"', '""']),
            ("train.callback_options.strictcallback", ["{level = 0}", "{level = -3}"]),
        ]
    )
    override = f"{key}={rng.choice(values)}"
    args = ["config", "show", "--config", "shapes", "--set", override]
    invoke_refused(args, f"plugin option case {case} ({override})", tmp_path / "site")
    assert "infogan-tk-strict" in CliRunner().invoke(app, args).stderr, f"case {case}: the plugin is not named"


# -- outputs --------------------------------------------------------------------------------------
def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode
        == 0
    )


@pytest.fixture(scope="module")
def mounts(tmp_path_factory):
    """A read-only and a nearly full file system (small tmpfs mounts), where mounting works (root):
    name -> folder; the names that could not be mounted are absent."""
    base = tmp_path_factory.mktemp("mounts")
    made = {}
    if _mount(base / "ro", "ro,size=64k"):
        made["ro"] = base / "ro"
    if _mount(base / "full", "size=16k"):
        made["full"] = base / "full"
        try:  # fill it: every later write meets a full disk
            with open(base / "full" / "filler", "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        except OSError:
            pass
    yield made
    for folder in made.values():
        subprocess.run(["umount", str(folder)], capture_output=True)


def hostile_out(
    rng: random.Random, tmp: Path, mounts: dict[str, Path], suffix: str, folder: bool = False
) -> tuple[str, str]:
    """An output path the file system (or the command) must refuse, prepared under ``tmp``; (what, path)."""
    (tmp / "afile").write_text("x")
    kinds = ["under-a-file", "too-long", "device", "fifo", "link"] + (
        ["a-file"] if folder else ["wrong-suffix", "a-folder"]
    )
    kinds += [k for k in ("ro", "full") if k in mounts]
    kind = rng.choice(kinds)
    if kind == "under-a-file":
        return kind, str(tmp / "afile" / f"x{suffix}")
    if kind == "too-long":
        return kind, str(tmp / ("n" * 300 + suffix))
    if kind == "device":
        return kind, rng.choice(["/dev/null", "/dev/full"])
    if kind == "fifo":
        os.mkfifo(tmp / f"pipe{suffix}")
        return kind, str(tmp / f"pipe{suffix}")
    if kind == "link":
        (tmp / f"link{suffix}").symlink_to(tmp / "afile")
        return kind, str(tmp / f"link{suffix}")
    if kind == "a-file":
        return kind, str(tmp / "afile")
    if kind == "wrong-suffix":
        return kind, str(tmp / rng.choice(["out.jpeg", "out", "out.png.txt", "out."]))
    if kind == "a-folder":
        (tmp / f"adir{suffix}").mkdir()
        return kind, str(tmp / f"adir{suffix}")
    return kind, str(mounts[kind] / rng.choice(["", "sub/"]) / (f"out{suffix}" if not folder else "out"))


@pytest.mark.parametrize("case", range(24))
def test_fuzzed_output_paths_are_refused_and_leave_nothing(trained, tmp_path, mounts, case):
    rng = random.Random(SEED * 9000 + case)
    command = ["sample", "traverse", "eval", "train"][case % 4]
    suffix = {"sample": ".png", "eval": ".json"}.get(command, "")
    what, out = hostile_out(rng, tmp_path, mounts, suffix, folder=command in ("traverse", "train"))
    if command == "sample":
        args = ["sample", str(trained), "--n", "16", "--out", out]
    elif command == "traverse":
        args = ["traverse", str(trained), "--rows", "2", "--steps", "3", "--out", out]
    elif command == "eval":
        args = ["eval", str(trained), "--device", "cpu", "--samples", "50", "--metrics", "mi", "--out", out]
    else:
        args = [
            "train",
            "--backbone",
            "shapes",
            "--out",
            out,
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--quiet",
            "--no-eval",
            "--device",
            "cpu",
        ]
    before_full = sorted(p.name for p in mounts["full"].rglob("*")) if "full" in mounts else []
    invoke_refused(args, f"output case {case} ({command} --out {what}: {out[:80]})", tmp_path)
    if "full" in mounts:  # nothing partial left on the full disk: no file, no folder
        assert sorted(p.name for p in mounts["full"].rglob("*")) == before_full, (
            f"output case {case}: left {list(mounts['full'].rglob('*'))}"
        )


@pytest.mark.parametrize("case", range(6))
def test_train_refuses_a_non_empty_folder_that_is_not_a_run(tmp_path, case):
    rng = random.Random(SEED * 9500 + case)
    folder = tmp_path / "project"
    folder.mkdir()
    for name in rng.sample(
        ["README.md", "setup.py", "notes.txt", "data", "src", ".git", "figures", "eval.json"], rng.randint(1, 3)
    ):
        (folder / name).mkdir() if "." not in name[1:] else (folder / name).write_text("mine")
    invoke_refused(
        [
            "train",
            "--backbone",
            "shapes",
            "--out",
            str(folder),
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--quiet",
            "--no-eval",
            "--device",
            "cpu",
        ],
        f"non-run folder case {case} ({sorted(p.name for p in folder.iterdir())})",
        tmp_path,
    )


# -- the generators entry of a weights file's metadata ------------------------------------------------
def bad_generators(rng: random.Random) -> str:
    depth = rng.choice([500, 3000, 20000])
    return rng.choice(
        [
            "[" * depth + "]" * depth,
            '{"ema": ' * depth + '"g."' + "}" * depth,
            "not json",
            "{",
            "",
            "   ",
            "null",
            "[]",
            '["ema"]',
            "3",
            '"ema."',
            "true",
            '{"ema": 3}',
            '{"ema": null}',
            '{"ema": ["g."]}',
            '{"ema": "generator"}',
            '{"ema": ""}',
            '{"../x": "ema."}',
            '{"": "ema."}',
            '{"\\u001b[2J": "ema."}',
            '{"ema": "ema"}',
            json.dumps({f"g{i}": f"g{i}." for i in range(rng.choice([65, 1000]))}),
        ]
    )


@pytest.mark.parametrize("case", range(16))
def test_fuzzed_generators_metadata_is_refused_by_inspect_sample_traverse_and_eval(run, tmp_path, case):
    rng = random.Random(SEED * 10000 + case)
    path = model_path(run, 2)
    meta, tensors = read_metadata(path), load_file(str(path))
    value = bad_generators(rng)
    save_file(tensors, str(path), metadata={**meta, "generators": value})
    what = f"generators {value[:60]!r}"
    invoke_refused(["inspect", str(path)], f"inspect generators case {case} ({what})", run)
    invoke_refused(
        ["sample", str(path), "--n", "4", "--out", str(tmp_path / "s.png")],
        f"sample generators case {case} ({what})",
        run,
    )
    assert not (tmp_path / "s.png").exists()
    if case % 2 == 0:
        invoke_refused(
            ["traverse", str(path), "--rows", "2", "--steps", "3", "--out", str(tmp_path / "t")],
            f"traverse generators case {case} ({what})",
            run,
        )
        assert not (tmp_path / "t").exists()
    else:
        invoke_refused(
            ["eval", str(path), "--device", "cpu", "--samples", "50", "--metrics", "mi"],
            f"eval generators case {case} ({what})",
            run,
        )


# -- eval sizes and devices -----------------------------------------------------------------------
@pytest.mark.parametrize("case", range(10))
def test_fuzzed_eval_sizes_and_devices_are_refused(trained, case):
    rng = random.Random(SEED * 11000 + case)
    extra = rng.choice(
        [
            ["--samples", rng.choice(["0", "-5", "1000001", "99999999999"])],
            [
                "--size",
                rng.choice(["dci_trees", "factor_samples", "batch", "mig_bins"])
                + "="
                + rng.choice(["0", "99999999999", "-1"]),
            ],
            ["--device", rng.choice(["cpu:junk", "cuda:x", "auto:0", "cpu:", "tpu", "cpu:99999"])],
        ]
    )
    args = ["eval", str(trained), "--metrics", "mi", *extra]
    if extra[0] != "--device":
        args += ["--device", "cpu"]
    if extra[0] != "--samples":
        args += ["--samples", "50"]
    invoke_refused(args, f"eval size case {case} ({extra})", trained)


def test_a_third_party_terms_build_error_is_one_line_naming_the_plugin(tmp_path, strict_plugin):
    out = tmp_path / "run"
    args = [
        "train",
        "--backbone",
        "shapes",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--quiet",
        "--no-eval",
        "--device",
        "cpu",
        "--set",
        "loss.strict.weight=1",
    ]
    invoke_refused(args, "strict build", tmp_path / "site")
    result = CliRunner().invoke(app, args)
    assert (
        "loss.strict" in result.stderr and "infogan-tk-strict" in result.stderr and "cannot be built" in result.stderr
    ), result.stderr
    assert not out.exists(), "a refused run left its folder behind"
