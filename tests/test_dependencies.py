"""Every third-party import is a declared dependency, and every declared dependency is imported.

deptry reads the imports statically, so an undeclared package fails here even on a machine where it
happens to be installed (the way an undeclared `click` once passed CI and broke a fresh install).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CIRCULAR = ROOT / "plugins" / "example-circular"
MEANINK = ROOT / "plugins" / "example-meanink"


def deptry(folder: Path) -> subprocess.CompletedProcess:
    """`deptry .` in ``folder`` with this environment's deptry; its report (on stderr) uncoloured."""
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "deptry", "."], cwd=folder, capture_output=True, text=True, timeout=300, env=env
    )


def report(result: subprocess.CompletedProcess) -> str:
    return f"deptry exited {result.returncode}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    "folder", [ROOT, CIRCULAR, MEANINK], ids=["infogan-toolkit", "example-circular", "example-meanink"]
)
def test_imports_match_declared_dependencies(folder):
    result = deptry(folder)
    assert result.returncode == 0, report(result)


@pytest.fixture()
def project_copy(tmp_path) -> Path:
    """The toolkit's sources and pyproject.toml, copied so a test can break them."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "example-circular", "example-meanink")
    for name in ("infogan_toolkit", "plugins", "configs", "benchmarks", "tests"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_an_undeclared_import_is_named(project_copy):
    module = project_copy / "infogan_toolkit" / "cli" / "common.py"
    # A package installed nowhere here (yaml comes in with the trackers, so deptry would call it transitive).
    module.write_text(module.read_text() + "\nimport ujson  # noqa: E402\n")
    result = deptry(project_copy)
    assert result.returncode != 0, report(result)
    assert "'ujson' imported but missing from the dependency definitions" in report(result), report(result)


def test_an_unused_dependency_is_named(project_copy):
    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '    "numpy>=1.24",\n' in text
    pyproject.write_text(text.replace('    "numpy>=1.24",\n', '    "numpy>=1.24",\n    "tomli-w>=1",\n', 1))
    result = deptry(project_copy)
    assert result.returncode != 0, report(result)
    assert "'tomli-w' defined as a dependency but not used" in report(result), report(result)
