"""docs/interfaces.md, the interface reference, is what scripts/reference generates from the code,
covers every hook, and the generator refuses code it cannot document (no type, no meaning, an
undeclared attribute, a hook that names no class)."""

from __future__ import annotations

import inspect
import re
import runpy
from pathlib import Path

import pytest

from infogan_toolkit import hookspecs
from infogan_toolkit.backbones import Backbone
from infogan_toolkit.plugins import HOOK_REGISTRIES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "interfaces.md"


@pytest.fixture(scope="module")
def reference() -> dict:
    """The generator's functions (scripts/reference is a script, so it is run, not imported)."""
    return runpy.run_path(str(ROOT / "scripts" / "reference"))


def _tables(text: str) -> dict[str, dict[str, str]]:
    """Class name -> member -> its 'required' cell, from the Markdown."""
    found: dict[str, dict[str, str]] = {}
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        name = block.split("`")[1]
        rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", block, flags=re.M)
        found[name] = {member: required.strip() for member, required in rows}
    return found


def test_the_reference_is_what_the_code_generates(reference):
    generated = reference["render"]()
    committed = DOC.read_text(encoding="utf-8")
    assert committed == generated, (
        "docs/interfaces.md is out of date with the code; run scripts/reference and commit it"
    )
    assert reference["main"](["--check"]) == 0


def test_every_hook_has_a_section_naming_its_registry_kind():
    specs = {
        n for n, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }
    sections = dict(re.findall(r"^## (register_\w+): (.+)$", DOC.read_text(encoding="utf-8"), flags=re.M))
    assert set(sections) == specs
    for hook, (_attr, noun) in HOOK_REGISTRIES.items():
        assert sections[hook] == f"{noun}s"


def test_abstract_members_are_required_and_every_public_member_is_listed():
    tables = _tables(DOC.read_text(encoding="utf-8"))
    import infogan_toolkit.backbones as b
    import infogan_toolkit.callbacks as e
    import infogan_toolkit.codes as c
    import infogan_toolkit.datasets as d
    import infogan_toolkit.evaluate.report as r
    import infogan_toolkit.regularisers as g

    classes = [
        c.LatentCode,
        c.QHead,
        b.Backbone,
        d.DatasetPlugin,
        d.ImageDataset,
        g.RegulariserPlugin,
        g.Regulariser,
        r.Metric,
        e.Callback,
    ]
    for cls in classes:
        rows = tables[cls.__name__]
        for name in cls.__abstractmethods__ if hasattr(cls, "__abstractmethods__") else ():
            assert rows[name].startswith("required"), (cls.__name__, name, rows[name])
        public = {n for n in vars(cls) if not n.startswith("_")} | set(vars(cls).get("__annotations__", {}))
        assert public - set(rows) == set(), f"{cls.__name__} members missing from docs/interfaces.md"
    assert tables["Backbone"]["image_shape"] == "required" and tables["Backbone"]["default_codes"].startswith(
        "optional"
    )
    assert tables["BuildRequest"]["input_dim"] == "property" and tables["BuildRequest"]["noise_dim"] == "required"
    assert (
        tables["FactorGridDataset"]["factor_index"] == "optional"
        and tables["TensorImageDataset"]["images"] == "provided"
    )
    for cls in (g.StepView, g.Terms, g.RegulariserSetup, e.RunInfo, e.LogEvent, r.EvalContext, d.DatasetRequest):
        import attrs

        assert {f.name for f in attrs.fields(cls) if not f.name.startswith("_")} <= set(tables[cls.__name__])


def test_a_new_member_changes_the_reference_and_an_undocumented_one_is_refused(reference, monkeypatch):
    def shape_hint(self, scale: int) -> str:
        """A hint at the image shape, scaled."""
        return ""

    monkeypatch.setattr(Backbone, "shape_hint", shape_hint, raising=False)
    assert (
        "| `shape_hint` | optional | `(scale: int) -> str` | A hint at the image shape, scaled. |"
        in reference["render"]()
    )

    def bare(self, scale):
        return ""

    monkeypatch.setattr(Backbone, "bare", bare, raising=False)
    monkeypatch.setattr(Backbone, "untyped", 3, raising=False)
    with pytest.raises(reference["ReferenceError"]) as err:
        reference["render"]()
    problems = str(err.value).splitlines()
    assert "infogan_toolkit.backbones.Backbone.bare: no annotation for scale, return" in problems
    assert "infogan_toolkit.backbones.Backbone.untyped: no type; annotate it (`untyped: TYPE = ...`)" in problems
    assert any(p.startswith("infogan_toolkit.backbones.Backbone.bare: no meaning") for p in problems)


def test_a_hook_that_names_no_class_is_refused(reference, monkeypatch):
    def register_gizmos(register):
        """Register gizmos: call ``register(name, gizmo)``."""

    setattr(register_gizmos, f"{hookspecs.PROJECT}_spec", {})
    monkeypatch.setattr(hookspecs, "register_gizmos", register_gizmos, raising=False)
    with pytest.raises(reference["ReferenceError"], match="hookspec register_gizmos: its docstring names no class"):
        reference["render"]()
