"""`infogan-tk new-plugin` and `infogan-tk check`: a generated skeleton passes its own tests and the
kit, and `check` reports pass and fail per registered name. Installing is imitated by writing the
.dist-info folder pip would write (seconds faster than pip)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infogan_toolkit.cli.app import app
from infogan_toolkit.cli.plugin_tools import Skeleton, check_distribution, write_skeleton
from infogan_toolkit.plugins import PluginHost


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def fake_install(root: Path, skeleton: Skeleton) -> None:
    """What `pip install -e root` leaves behind for importlib.metadata: METADATA and entry points."""
    info = root / f"{skeleton.package}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {skeleton.distribution}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[infogan_toolkit]\n{skeleton.name} = {skeleton.package}\n")


@pytest.fixture
def forget_modules():
    """Drop the generated packages from sys.modules afterwards, so no other test imports them."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("infogan_tk_gen"):
            del sys.modules[name]


def test_new_plugin_writes_a_distribution_and_refuses_to_overwrite(runner, tmp_path):
    result = runner.invoke(app, ["new-plugin", "gen-one", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    root = tmp_path / "infogan-tk-gen-one"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "infogan_tk_gen_one/__init__.py",
        "infogan_tk_gen_one/code.py",
        "infogan_tk_gen_one/dataset.py",
        "pyproject.toml",
        "tests/test_infogan_tk_gen_one.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "infogan-tk-gen-one"' in pyproject
    assert '[project.entry-points.infogan_toolkit]\ngen-one = "infogan_tk_gen_one"' in pyproject
    assert "infogan-tk check infogan-tk-gen-one" in result.stdout
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # every template formats into valid Python

    again = runner.invoke(app, ["new-plugin", "gen-one", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and again.stdout == ""
    assert (
        again.stderr.strip()
        == f"error: '{root}' already exists and is not empty; pick another NAME or --dir, or remove it"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad_Name!", "must be lower-case letters, digits and single hyphens"),
        ("circular", "a plugin named 'circular' is already installed (from infogan-tk-circular); pick another NAME"),
        ("cat", "code kind 'cat' already comes from plugin 'codes' (infogan-toolkit"),
    ],
)
def test_new_plugin_refuses_unusable_or_taken_names(runner, tmp_path, name, message):
    result = runner.invoke(app, ["new-plugin", name, "--dir", str(tmp_path)])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_the_skeletons_own_tests_pass(tmp_path):
    root = write_skeleton(Skeleton.from_name("gen-two"), tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("INFOGAN_TK_DISABLE_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def test_check_runs_the_kit_on_an_in_process_skeleton(tmp_path, monkeypatch, forget_modules):
    skeleton = Skeleton.from_name("gen-three")
    root = write_skeleton(skeleton, tmp_path)
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module(skeleton.package)
    host = PluginHost()
    host.register(module, skeleton.name, skeleton.distribution, "0.1.0")
    rows = {(r.name, r.kind): r for r in check_distribution(host, "INFOGAN_TK_GEN_THREE")}  # names compare normalised
    assert set(rows) == {("gen_three", "code kind"), ("gen-three-bars", "dataset")}
    assert rows["gen_three", "code kind"].result == "passed" and rows["gen_three", "code kind"].detail.startswith(
        "'gen_three1'"
    )
    assert rows["gen-three-bars", "dataset"].result == "passed"
    assert rows["gen-three-bars", "dataset"].detail == "36 images of (1, 16, 16), a full factor grid"


def test_check_an_installed_example_distribution(runner):
    result = runner.invoke(app, ["check", "infogan-tk-circular", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = [(r["name"], r["kind"], r["result"]) for r in json.loads(result.stdout)]
    assert rows == [("circ", "code kind", "passed"), ("von-mises", "Q head", "passed")]
    table = runner.invoke(app, ["check", "infogan-tk-circular"])
    assert table.exit_code == 0
    for word in ("name", "kind", "result", "circ", "von-mises", "passed"):
        assert word in table.stdout


def test_check_runs_the_kit_on_a_regulariser_a_callback_and_a_metric(runner):
    """plugins/example-meanink registers one of each; each is checked in a small real run."""
    result = runner.invoke(app, ["check", "infogan-tk-meanink", "--json"])
    assert result.exit_code == 0, result.stderr
    rows = [(r["name"], r["kind"], r["result"], r["detail"]) for r in json.loads(result.stdout)]
    assert rows == [
        ("mean_ink", "regulariser", "passed", "on backbone 'testing-kit': terms generator, own; resumes exactly"),
        (
            "ink_log",
            "callback",
            "passed",
            "the start and every event of a 2-step run with loss.mean_ink on",
        ),
        ("mean_ink", "metric", "passed", "on a 2-step model and a factor grid: JSON, seeded, alone = with the others"),
    ]


def test_check_fails_with_exit_1_and_names_what_broke(runner, tmp_path, monkeypatch, forget_modules):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    skeleton = Skeleton.from_name("gen-four")
    root = write_skeleton(skeleton, tmp_path)
    fake_install(root, skeleton)
    monkeypatch.syspath_prepend(str(root))

    good = runner.invoke(app, ["check", "infogan-tk-gen-four", "--args", "gen_four=3", "--json"])
    assert good.exit_code == 0, good.stderr
    assert [(r["name"], r["result"], r["detail"]) for r in json.loads(good.stdout)][0] == (
        "gen_four",
        "passed",
        "'gen_four3', with its default head",
    )

    code = root / skeleton.package / "code.py"
    code.write_text(code.read_text().replace("return 0.5  # nats", "return float('nan')  # nats"))
    for name in [m for m in sys.modules if m.startswith(skeleton.package)]:
        del sys.modules[name]
    bad = runner.invoke(app, ["check", "infogan-tk-gen-four", "--json"])
    assert bad.exit_code == 1
    rows = {r["name"]: r for r in json.loads(bad.stdout)}
    assert rows["gen_four"]["result"] == "failed" and "entropy() must be a finite float" in rows["gen_four"]["detail"]
    assert rows["gen-four-bars"]["result"] == "passed"  # the rest is still checked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["check", "infogan-tk-nosuch"],
            "error: distribution 'infogan-tk-nosuch' is not installed; install it (pip install -e DIR) first.",
        ),
        (
            ["check", "infogan-tk-circular", "--args", "circ"],
            "error: --args 'circ' must be KIND=ARGS, e.g. --args circ=2",
        ),
    ],
)
def test_check_usage_errors_are_one_line(runner, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1


def test_check_with_every_plugin_of_the_distribution_disabled(runner, monkeypatch):
    monkeypatch.setenv("INFOGAN_TK_DISABLE_PLUGINS", "circular")
    result = runner.invoke(app, ["check", "infogan-tk-circular"])
    assert result.exit_code == 2
    assert "every plugin of 'infogan-tk-circular' (circular) is disabled by INFOGAN_TK_DISABLE_PLUGINS" in result.stderr
