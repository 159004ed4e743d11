"""Every `infogan-tk` command line in README.md and docs/*.md runs, for real, through the CLI.

research/ is left out: its records are research runs that research/ scripts reproduce.

A command line is (a) a line of a fenced code block (not python, toml or json) that starts with
`infogan-tk`, optionally after `VAR=value` assignments, or an `&&`-joined part of one that does,
and (b) an inline code span that does (a span may wrap across a line break). A trailing `# ...`
comment is not part of it. Each distinct line is run once, in the order of the files and lines.

The substitutions, all of them (so that a new command in the docs is covered as it stands):

1. Budget: `train` gets `--steps 2 --batch-size 8 --no-eval --quiet` appended (`--steps 4` with
   `--resume`: the resumed run has 2), `eval` gets `--samples 64` and small `--size`s appended;
   click keeps the last value of a repeated option, so these win over the doc's own.
2. Runs: an argument `RUN`, `RUN_DIR`, `RUN_DIR_OR_CKPT`, `CKPT` or `runs/...` is a fresh copy of
   a run this test trains first (the default config, 2 steps).
3. Data: every `--data-root` value is a folder of small files in the real formats (MNIST's four
   IDX files, gzipped; SVHN's train_32x32.mat and test_32x32.mat).
4. Paths: `~` is a temporary home shared by all commands; each command runs in its own empty
   working directory; `> FILE` sends stdout to FILE.
5. Other lines of a code block are not run, except `pip install -e DIR`: for a folder that a
   `new-plugin` command wrote it is imitated (the .dist-info pip writes, DIR on sys.path); any
   other folder's distribution must already be installed.
6. A line that is not a complete command -- it has a `[...]` part, a placeholder in capitals other
   than those of rule 2, or names a command that needs arguments with none -- is checked with
   `infogan-tk COMMAND --help`, which must exit 0 and list every `--option` the line names.

Every command must exit 0, and with `--json` print JSON. A line none of these rules fits (an
unknown command, an unfilled placeholder) fails the test.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest
import typer.main
from conftest import write_idx_images, write_idx_labels
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"^(?:[A-Z][A-Z0-9_]*=\S*\s+)*infogan-tk(?:\s|$)")
NOT_SHELL = {"python", "py", "toml", "json"}
RUN_PLACEHOLDERS = {"RUN", "RUN_DIR", "RUN_DIR_OR_CKPT", "CKPT"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")
TRAIN_BUDGET = ["--steps", "2", "--batch-size", "8", "--no-eval", "--quiet"]
EVAL_BUDGET = ["--samples", "64"] + [
    arg
    for pair in (
        "batch=64",
        "accuracy_samples=64",
        "factor_samples=64",
        "factor_test_samples=32",
        "mig_bins=5",
        "dci_trees=2",
        "dci_train=0",
        "factorvae_batch=8",
        "factorvae_train=32",
        "factorvae_eval=16",
        "factorvae_variance=64",
    )
    for arg in ("--size", pair)
]


@attrs.frozen
class DocLine:
    """One command line as the docs write it, and where."""

    source: str  # path:line
    text: str


def doc_lines() -> list[DocLine]:
    """Every command line (and `pip install -e` line of a code block) in the docs, first occurrence only."""
    found: dict[str, DocLine] = {}

    def add(path: Path, line: int, text: str) -> None:
        text = " ".join(text.split())
        if text not in found:
            found[text] = DocLine(f"{path.relative_to(ROOT)}:{line}", text)

    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        fence: str | None = None
        prose: list[tuple[int, str]] = []
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if stripped.startswith("```"):
                fence = None if fence is not None else (stripped[3:].strip().lower() or "text")
                continue
            if fence is None:
                prose.append((number, line))
            elif fence not in NOT_SHELL:
                for part in re.split(r"\s*&&\s*", stripped):
                    part = part.removeprefix("$ ")
                    if COMMAND.match(part) or part.startswith("pip install -e "):
                        add(path, number, _drop_comment(part))
        text = "\n".join(line for _, line in prose)
        for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
            span = " ".join(m.group(1).split())
            if COMMAND.match(span):
                add(path, prose[text[: m.start()].count("\n")][0], span)
    return list(found.values())


def _drop_comment(text: str) -> str:
    return re.sub(r"\s+#.*$", "", text)


@attrs.frozen
class Plan:
    """What the test does with one doc line (rule numbers as in the module docstring)."""

    line: DocLine
    kind: str  # "run", "help" (rule 6) or "install" (rule 5)
    command: tuple[str, ...] = ()  # the sub-command path, e.g. ("config", "show")
    args: tuple[str, ...] = ()  # after the command path, before substitution
    env: dict = attrs.field(factory=dict)
    stdout_to: str | None = None


def _cli() -> Any:
    return typer.main.get_command(app)


def _is_group(command: Any) -> bool:
    # typer may bring its own copy of click, so a group is recognised by what it has, not its class
    return hasattr(command, "commands")


def plan(line: DocLine) -> Plan:
    """The rule that applies to ``line``; raises ValueError for a line no rule fits."""
    if line.text.startswith("pip install -e "):
        return Plan(line, "install", args=(line.text.split()[-1],))
    tokens = shlex.split(line.text, comments=True)
    env = {}
    while tokens and "=" in tokens[0] and PLACEHOLDER.match(tokens[0].split("=")[0]):
        key, _, value = tokens.pop(0).partition("=")
        env[key] = value
    stdout_to = None
    if ">" in tokens:
        at = tokens.index(">")
        stdout_to, tokens = tokens[at + 1], tokens[:at]
    rest = tokens[1:]
    command = _cli()
    path: list[str] = []
    while _is_group(command) and rest and not rest[0].startswith("-"):
        if rest[0] not in command.commands:
            raise ValueError(f"'{rest[0]}' is not an infogan-tk command (known: {', '.join(sorted(command.commands))})")
        path.append(rest[0])
        command = command.commands[rest.pop(0)]
    needs_args = any(p.required for p in command.params)
    synopsis = any("[" in t or "]" in t for t in rest)
    unknown = [
        t
        for i, t in enumerate(rest)
        if PLACEHOLDER.match(t) and t not in RUN_PLACEHOLDERS and not (i and rest[i - 1] == "--data-root")
    ]
    if synopsis or unknown or _is_group(command) or (needs_args and not rest):
        return Plan(line, "help", tuple(path), tuple(rest), env, stdout_to)
    return Plan(line, "run", tuple(path), tuple(rest), env, stdout_to)


def test_every_doc_command_line_has_a_rule():
    lines = doc_lines()
    plans = [plan(line) for line in lines]  # a ValueError names the line no rule fits
    by_text = {p.line.text: p for p in plans}
    # What the extraction must see: fenced, &&-joined, inline, wrapped inline, with an env prefix.
    assert by_text["infogan-tk train"].kind == "run"
    assert by_text["infogan-tk eval RUN --split val"].kind == "run"
    assert by_text["INFOGAN_TK_TRACE_HOOKS=1 infogan-tk list"].env == {"INFOGAN_TK_TRACE_HOOKS": "1"}
    assert by_text["infogan-tk eval runs/shapes-run --json > scores.json"].stdout_to == "scores.json"
    assert by_text["infogan-tk train --resume RUN [--steps N]"].kind == "help"
    assert by_text["infogan-tk eval"].kind == "help" and by_text["infogan-tk plugins"].kind == "run"
    assert any(
        t.startswith("infogan-tk eval RUN --size dci_trees=20 --size dci_train=2000") for t in by_text
    )  # a span across lines
    assert not any("research/results" in p.line.source for p in plans)
    assert sum(p.kind == "run" for p in plans) >= 30
    with pytest.raises(ValueError, match="'trian' is not an infogan-tk command"):
        plan(DocLine("x:1", "infogan-tk trian --steps 2"))


# -- running them -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """Rule 3: small files in the real formats of the file-based datasets the docs train on."""
    from scipy.io import savemat

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 32), ("t10k", 8)):
        write_idx_images(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx_labels(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    for split, n in (("train", 24), ("test", 8)):
        savemat(
            root / f"{split}_32x32.mat",
            {
                "X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                "y": rng.integers(1, 11, (n, 1)).astype(np.uint8),
            },
        )
    return root


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """Rule 2: the run that RUN arguments are copies of."""
    out = tmp_path_factory.mktemp("trained") / "run"
    result = CliRunner().invoke(app, ["train", *TRAIN_BUDGET, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def _install(folder: Path, written: set[Path], monkeypatch) -> str | None:
    """Rule 5; returns a problem or None."""
    import tomllib
    from importlib import metadata

    if folder.resolve() in written:
        name = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
        package = name.replace("-", "_")
        info = folder / f"{package}-0.1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
        plugin = name.removeprefix("infogan-tk-")
        (info / "entry_points.txt").write_text(f"[infogan_toolkit]\n{plugin} = {package}\n")
        monkeypatch.syspath_prepend(str(folder))
        return None
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return f"{folder} has no pyproject.toml"
    name = tomllib.loads(pyproject.read_text())["project"]["name"]
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return f"{name} (from {folder}) is not installed; scripts/install should install it"
    return None


@pytest.mark.slow
def test_every_doc_command_runs(tmp_path, monkeypatch, data_root, trained_run):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    modules_before = set(sys.modules)
    home = tmp_path / "home"
    home.mkdir()
    runner = CliRunner()
    written: set[Path] = set()  # folders a new-plugin command wrote
    failures = []
    try:
        for index, p in enumerate(plan(line) for line in doc_lines()):
            where = f"{p.line.source}: `{p.line.text}`"
            expand = lambda t: str(home) + t[1:] if t.startswith("~") else t  # noqa: E731
            if p.kind == "install":
                folder = Path(expand(p.args[0]))
                problem = _install(folder if folder.is_absolute() else ROOT / folder, written, monkeypatch)
                if problem:
                    failures.append(f"{where}: {problem}")
                continue
            if p.kind == "help":
                result = runner.invoke(app, [*p.command, "--help"])
                options = {t.strip("[]").split("=")[0] for t in p.args if t.strip("[").startswith("--")}
                missing = sorted(o for o in options if o not in result.stdout)
                if result.exit_code != 0 or missing:
                    failures.append(
                        f"{where}: `infogan-tk {' '.join(p.command)} --help` exit {result.exit_code}, lacks {missing}"
                    )
                continue
            cwd = tmp_path / f"cwd-{index}"
            cwd.mkdir()
            monkeypatch.chdir(cwd)
            args = []
            for i, token in enumerate(p.args):
                if token in RUN_PLACEHOLDERS or token.startswith("runs/"):
                    token = str(shutil.copytree(trained_run, cwd / f"run-copy-{i}"))
                elif i and p.args[i - 1] == "--data-root":
                    token = str(data_root)
                args.append(expand(token))
            if p.command == ("train",):
                args += ["--steps", "4"] + TRAIN_BUDGET[2:] if "--resume" in args else TRAIN_BUDGET
            elif p.command == ("eval",):
                args += EVAL_BUDGET
            result = runner.invoke(app, [*p.command, *args], env=p.env)
            if p.command == ("new-plugin",) and result.exit_code == 0:
                written.add(
                    Path(args[args.index("--dir") + 1] if "--dir" in args else ".").resolve() / f"infogan-tk-{args[0]}"
                )
            stdout = result.stdout
            if p.stdout_to:
                (cwd / p.stdout_to).write_text(stdout)
            ran = f"ran `infogan-tk {' '.join([*p.command, *args])}`"
            if result.exit_code != 0:
                tail = (result.stderr.strip().splitlines() or [repr(result.exception)])[-1]
                failures.append(f"{where}: {ran}: exit {result.exit_code}: {tail}")
            elif "--json" in args:
                try:
                    json.loads(stdout)
                except ValueError:
                    failures.append(f"{where}: {ran}: --json printed no JSON: {stdout[:120]!r}")
    finally:
        for name in set(sys.modules) - modules_before:
            if name.startswith("infogan_tk_bern"):
                del sys.modules[name]
    assert not failures, "doc commands that do not run as written:\n" + "\n".join(failures)
