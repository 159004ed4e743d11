"""The layering docs/architecture.md describes, checked on the code: every import inside the
toolkit (at the top of a module or inside a function) goes to the same layer or one below, and no
module imports, however indirectly, one that imports it back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "infogan_toolkit"

#: The layers from the bottom up; a module belongs to the first entry naming it or its package.
#: "" is the package's own __init__ (the user-facing names: load_checkpoint, from_pretrained, build_config).
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["version", "errors", "suggest", "text", "files", "images", "noise", "hookspecs", "registry"]),
    (
        "contract",
        [
            "config",
            "codes",
            "backbones",
            "datasets",
            "regularisers",
            "extractors",
            "callbacks",
            "plugins",
            "rundir",
        ],
    ),
    ("setup", ["config_builder", "metrics_log", "checkpoint_schema", "checkpoint", "assembly", "encode"]),
    ("training and evaluation", ["engine", "evaluate"]),
    ("services", ["model", "pretrained", "explore", "sweep"]),
    ("faces", ["api", "testing", ""]),
    ("command line", ["cli"]),
]


def module_files() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = module_files()


def _target(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        source = ".".join(base) + (f".{node.module}" if node.module else "")
    else:
        source = node.module or ""
    out = []
    for alias in node.names:
        if f"{source}.{alias.name}" in MODULES:
            out.append(f"{source}.{alias.name}")
        elif source in MODULES:
            out.append(source)
    return out


def imports_of(module: str) -> set[str]:
    """The toolkit modules ``module`` imports anywhere in its body (type-checking-only imports aside)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            found.update(_target(module, path, node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> int:
    rest = module.removeprefix("infogan_toolkit").lstrip(".")
    for index, (_, members) in enumerate(LAYERS):
        if any(rest == m or (m and rest.startswith(m + ".")) for m in members):
            return index
    raise AssertionError(f"{module} is in no layer; add it to LAYERS here and to docs/architecture.md")


def test_every_module_has_a_layer():
    assert len(MODULES) > 60
    for module in MODULES:
        layer_of(module)


def test_imports_go_down_or_across_never_up():
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in GRAPH.items()
        for t in sorted(targets)
        if layer_of(t) > layer_of(m)
    ]
    assert not upward, "\n".join(upward)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_config_imports_no_engine():
    reach, todo = set(), ["infogan_toolkit.config"]
    while todo:
        for t in GRAPH[todo.pop()] - reach:
            reach.add(t)
            todo.append(t)
    assert not {m for m in reach if m.startswith(("infogan_toolkit.engine", "infogan_toolkit.cli"))}


def test_the_architecture_page_names_every_layer_and_module():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name, members in LAYERS:
        assert re.search(rf"^#+ .*{re.escape(name)}", page, flags=re.M | re.I), (
            f"docs/architecture.md has no section for {name}"
        )
        for m in members:
            if m:
                assert f"`{m}" in page, f"docs/architecture.md does not name {m}"
