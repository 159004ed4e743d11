"""Plugins see the toolkit through one module, `infogan_toolkit.api`: every plugin in the repository
(the built-ins, the example distributions, the MNIST copy, the lab's) and every code example in the
docs imports nothing else of the toolkit, so the internals can move without breaking a plugin."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from infogan_toolkit import api

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ROOTS = [ROOT / "plugins", ROOT / "research" / "plugins", ROOT / "configs"]
#: The contract, and the conformance kit that checks a plugin against it.
ALLOWED = {"infogan_toolkit.api", "infogan_toolkit.testing"}
#: What a doc example may import: the user-facing package (load_checkpoint, from_pretrained) too.
DOC_ALLOWED = ALLOWED | {"infogan_toolkit"}


def toolkit_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import of the toolkit in ``source``, however it is spelled."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "infogan_toolkit":  # `from infogan_toolkit import engine` reaches in too
                modules = [
                    f"infogan_toolkit.{a.name}"
                    if a.name not in {"hookimpl", "load_checkpoint", "from_pretrained", "build_config", "__version__"}
                    else "infogan_toolkit"
                    for a in node.names
                ]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m == "infogan_toolkit" or m.startswith("infogan_toolkit.")]
    return found


def plugin_files() -> list[Path]:
    return sorted(p for root in PLUGIN_ROOTS for p in root.rglob("*.py") if "egg-info" not in str(p))


def test_the_walk_sees_the_plugins():
    files = {p.relative_to(ROOT).as_posix() for p in plugin_files()}
    # one file of each kind of plugin home, so that a moved folder cannot make the test pass vacuously
    assert {
        "plugins/infogan_tk_paper/networks.py",
        "plugins/example-circular/infogan_tk_circular/code.py",
        "plugins/example-meanink/tests/test_meanink_plugin.py",
        "research/plugins/infogan-tk-lab/infogan_tk_lab/layout.py",
    } <= files
    assert len(files) > 50


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_plugin_imports_only_the_contract(path):
    wrong = [
        f"line {line}: {module}"
        for line, module in toolkit_imports(path.read_text(encoding="utf-8"))
        if module not in ALLOWED
    ]
    assert not wrong, f"{path.relative_to(ROOT)} reaches past infogan_toolkit.api: {wrong}"


def doc_examples() -> list[tuple[str, str]]:
    blocks = []
    for doc in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.S)):
            blocks.append((f"{doc.relative_to(ROOT)}#{i}", block))
    return blocks


def test_doc_examples_import_only_the_contract():
    examples = doc_examples()
    assert len(examples) > 10
    wrong = []
    for where, block in examples:
        try:
            imports = toolkit_imports(block)
        except SyntaxError:  # a fragment (a signature, an elided body); the lines that import still count
            imports = toolkit_imports(
                "\n".join(line.strip() for line in block.splitlines() if line.strip().startswith(("from ", "import ")))
            )
        wrong += [f"{where} line {line}: {module}" for line, module in imports if module not in DOC_ALLOWED]
    assert not wrong, wrong


def test_every_contract_name_resolves_and_says_what_it_is():
    assert len(api.__all__) == len(set(api.__all__))
    for name in api.__all__:
        obj = getattr(api, name)
        assert (getattr(obj, "__doc__", None) or "").strip(), f"infogan_toolkit.api.{name} has no docstring"


def test_every_class_on_the_interface_page_is_in_the_contract():
    page = (ROOT / "docs" / "interfaces.md").read_text(encoding="utf-8")
    documented = re.findall(r"^`infogan_toolkit\.api\.(\w+)`", page, flags=re.M)
    assert len(documented) > 30
    assert set(documented) <= set(api.__all__)
    # and nothing on the page sends a reader to an internal module
    assert not re.findall(r"^`infogan_toolkit\.(?!api\.)[\w.]+`, ", page, flags=re.M)


def test_the_walk_catches_a_reach_past_the_contract():
    source = "\n".join(
        [
            "from infogan_toolkit.callbacks import Callback",
            "from infogan_toolkit import engine",
            "import infogan_toolkit.codes",
        ]
    )
    assert [m for _, m in toolkit_imports(source)] == [
        "infogan_toolkit.callbacks",
        "infogan_toolkit.engine",
        "infogan_toolkit.codes",
    ]
