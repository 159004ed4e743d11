"""The lab's plugin distribution (research/plugins/infogan-tk-lab): what it registers and from where,
its glyphs config, the conformance kit on its terms, and the dependency checks of the lab and of the
research scripts and tests, which the product's deptry run leaves out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infogan_toolkit import build_config
from infogan_toolkit.assembly import resolve
from infogan_toolkit.cli.app import app
from infogan_toolkit.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[2]
RESEARCH = ROOT / "research"
LAB = RESEARCH / "plugins" / "infogan-tk-lab"
DISTRIBUTION = "infogan-tk-lab"
GLYPHS_TERMS = ["equivariance", "invariance", "layout", "orthogonal"]


@pytest.fixture(scope="module")
def lab_host() -> PluginHost:
    host = PluginHost()
    if "layout" not in host.registries.regularisers:
        pytest.fail(f"{DISTRIBUTION} is not installed; run: pip install --no-deps -e {LAB.relative_to(ROOT)}")
    return host


def test_the_lab_registers_its_terms_and_the_glyphs_config_from_its_own_distribution(lab_host):
    registries = lab_host.registries
    for registry, name in (
        (registries.regularisers, "equivariance"),
        (registries.regularisers, "layout"),
        (registries.configs, "glyphs"),
    ):
        assert registry.entry(name).distribution == DISTRIBUTION, name
    assert registries.configs.entry("glyphs").obj == LAB / "infogan_tk_lab" / "configs" / "glyphs.toml"


def test_the_glyphs_config_turns_on_the_terms_its_comment_names(lab_host):
    config = resolve(build_config(lab_host, "glyphs"), lab_host)
    assert sorted(t.name for t in config.regularisers) == GLYPHS_TERMS
    assert (config.config.model.backbone, config.config.model.codes, config.config.data.dataset) == (
        "glyphs",
        "cat3,unif3",
        "glyphs",
    )
    text = Path(lab_host.registries.configs.get("glyphs")).read_text()
    header = text[: text.index("\n[")]  # the opening comment block
    said = header[header.index("Terms beyond the paper:") :]
    assert sorted(n for n in lab_host.registries.regularisers.names() if re.search(rf"\b{n}\b", said)) == GLYPHS_TERMS


def test_the_conformance_kit_passes_on_the_labs_terms():
    result = CliRunner().invoke(app, ["check", DISTRIBUTION, "--json"])
    assert result.exit_code == 0, result.stderr
    rows = {(r["name"], r["kind"]): r["result"] for r in json.loads(result.stdout)}
    assert rows[("equivariance", "regulariser")] == "passed" and rows[("layout", "regulariser")] == "passed"


def deptry(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's deptry with ``args`` in ``cwd``, its report uncoloured."""
    return subprocess.run(
        [sys.executable, "-m", "deptry", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_the_lab_declares_every_import():
    result = deptry(".", cwd=LAB)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_research_scripts_and_tests_import_only_what_the_toolkit_and_the_lab_declare():
    # The product's deptry run excludes research/; this is research's own: third-party imports must be
    # declared by the toolkit (pyproject.toml), and the scripts' and tests' siblings are first party.
    siblings = sorted({p.stem for p in RESEARCH.glob("*.py")} | {p.stem for p in (RESEARCH / "tests").glob("*.py")})
    first_party = [
        "infogan_toolkit",
        "infogan_tk_lab",
        "infogan_tk_mnist_data",
        *(p.name for p in (ROOT / "plugins").glob("infogan_tk_*") if p.is_dir()),
        *siblings,
    ]
    args = [
        "research",
        "--config",
        "pyproject.toml",
        "--exclude",
        "research/plugins",
        "--exclude",
        "research/results",
        # Research uses a part of what the toolkit declares; unused declarations are the product's check.
        "--ignore",
        "DEP002",
    ]
    for name in first_party:
        args += ["--known-first-party", name]
    result = deptry(*args, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
