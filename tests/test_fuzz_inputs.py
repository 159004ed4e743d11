"""Seeded fuzzing through the real CLI: configs, code specs, --set overrides, checkpoint metadata,
weights and trainer-state files, each made invalid in a random way. Every case must end with one
`error:` line and status 2, no traceback, within a time limit, and leave every input file as it was.

The generator is seeded (change SEED to explore); each case's description is in the assertion
message, so a failure is reproduced by its parameters alone.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from pathlib import Path

import attrs
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from infogan_toolkit.checkpoint import model_path, read_metadata, state_path
from infogan_toolkit.cli.app import app
from infogan_toolkit.config import Config

SEED = 25
CASE_SECONDS = 20  # a case that takes longer is taken for a hang

#: TOML literals that are not of a field's declared type (the type's name prefix -> values).
WRONG_TYPE = {
    "bool": ['"yes"', "2", "[true]", "{a = 1}", "1.5"],
    "int": ['"abc"', "1.5", "[1]", "true", "{a = 1}", '"\u0663"', "nan"],
    "float": ['"abc"', "[1.0]", "true", "{a = 1}", '"1e-3"'],
    "str": ["123", "[1]", "true", "{a = 1}", "1.5"],
    "list": ['"generator"', "[1, 2]", "true", "{a = 1}", "[[\"q_head\"]]"],
    "dict": ['"x"', "1", "[1]", "true"],
}
#: Text that no name or value of the toolkit holds: markup, escapes, bidi overrides, other digits.
NASTY = ["[/oops]", "[link=http://evil.example]x[/link]", "\x1b[2J", "\u202e", "\u0661\u0660", "\x00", "a" * 300, "🙂"]
#: Tokens that make any code spec invalid.
BAD_TOKENS = ["cat\u0661\u0660", "cat0", "cat99999", "zzz3", "cat4x0", "cat4x" + "9" * 500, "cat\x1b[2J4", "cat4;rm",
              "\uff43\uff41\uff54\uff14", "cat4x1000000", "unif0", "gauss-1", "cat[/oops]4", "cat4@", ""]
GOOD_TOKENS = ["cat4", "unif2", "gauss1", "cat10x2", "unif1"]


def fields() -> list[tuple[str, str, str]]:
    """(section, key, declared type) of every config field."""
    sections = {s.name: s.default.factory for s in attrs.fields(Config)}
    return [(section, f.name, str(f.type)) for section, cls in sections.items() for f in attrs.fields(cls) if f.name != "regularisers"]


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
        return f"{section}.{key} = wrong type", (base + f"\n[{section}]\n{key} = {wrong_value(rng, declared)}\n").encode()
    if kind == "unknown-key":
        section = rng.choice(["model", "data", "optim", "train", "loss"])
        key = rng.choice(["stepz", "lr", "backbon", "x" + rng.choice(NASTY).replace('"', "")])
        return f"unknown key {key!r}", (base + f"\n[{section}]\n{toml_string(key)} = {rng.randint(0, 9)}\n").encode()
    if kind == "unknown-section":
        return "unknown section", (base + f"\n[{toml_string(rng.choice(['trian', 'optimiser', *NASTY]))}]\nx = 1\n").encode()
    if kind == "syntax":
        broken = rng.choice(['steps = "4\n', "steps = [1, 2\n", "= 4\n", "[train\n", "steps = 4 4\n", "steps = 0x\n"])
        return f"syntax {broken!r}", (base + broken).encode()
    if kind == "encoding":
        cut = rng.randrange(len(base))
        return "not UTF-8", base[:cut].encode() + bytes([rng.choice([0xC3, 0xE9, 0xFF, 0x80])]) + b"\n" + base[cut:].encode()
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
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


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
    assert len(errors) == 1 and result.stderr.rstrip("\n").splitlines()[-1] == errors[0], f"{what}: {result.stderr[-300:]!r}"
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
    invoke_refused(["config", "show", "--backbone", "shapes", "--set", override], f"override case {case} ({what}: {override!r})", tmp_path)


@pytest.mark.parametrize("case", range(40))
def test_fuzzed_code_specs_are_refused(tmp_path, case):
    spec = bad_codes(random.Random(SEED * 3000 + case))
    invoke_refused(["config", "show", "--backbone", "shapes", "--codes", spec], f"code spec case {case} ({spec[:80]!r})", tmp_path)


# -- checkpoints -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 2-step shapes run trained through the CLI (each case works on a copy)."""
    run = tmp_path_factory.mktemp("fuzz") / "run"
    args = ["train", "--backbone", "shapes", "--out", str(run), "--steps", "2", "--batch-size", "8", "--quiet", "--no-eval",
            "--device", "cpu", "--set", "train.checkpoint_every=2", "--set", "train.figures=false"]
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
        if key in ("backbone", "output_range", "toolkit_version", "codes"):  # free-ish text: break its agreement or form
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
    invoke_refused(["sample", str(path), "--n", "4", "--out", str(tmp_path / "s.png")], f"sample case {case} ({what})", run)
    assert not (tmp_path / "s.png").exists()
    if case % 4 == 0:  # traverse and eval read the weights as sample does; a share of the cases checks them too
        invoke_refused(["traverse", str(path), "--rows", "2", "--steps", "3", "--out", str(tmp_path / "t")], f"traverse case {case} ({what})", run)
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
