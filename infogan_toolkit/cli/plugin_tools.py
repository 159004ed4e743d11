"""`infogan-tk new-plugin` and `infogan-tk check`: start a plugin distribution, and run the
conformance kit (:mod:`infogan_toolkit.testing`) on everything an installed distribution registers."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import typer
from rich.table import Table
from rich.text import Text

from ..codes import parse_code_spec
from ..errors import ConfigError, PluginError, ToolkitError
from ..plugins import DISABLE_ENV, HOOK_REGISTRIES, PluginHost
from ..registry import normalise_distribution
from .common import one_line_errors, out_console, print_json

#: Argument strings tried, in order, for a code kind that no backbone default or --args names.
#: This module's commands; cli/app.py adds them to `infogan-tk`.
commands = typer.Typer()


CANDIDATE_ARGS = ("1", "2", "3", "10", "")


@attrs.frozen
class CheckResult:
    """One row of `infogan-tk check`: a registered name, its kind, and what the kit said."""

    name: str
    kind: str  # the registry's noun: "code kind", "Q head", "backbone", ...
    result: str  # "passed", "failed", "skipped" or "no check"
    detail: str = ""

    @property
    def failed(self) -> bool:
        """True for a row that makes the check fail."""
        return self.result == "failed"

    def as_dict(self) -> dict[str, str]:
        """JSON-friendly form."""
        return attrs.asdict(self)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, (AssertionError, ToolkitError)) else f"{type(exc).__name__}: {text}"


class _Checker:
    """Runs the kit on one distribution's entries, with the whole host's registries for context."""

    def __init__(self, host: PluginHost, data_root: Path | None, code_args: dict[str, str]) -> None:
        self.host = host
        self.regs = host.registries
        self.data_root = data_root
        self.code_args = {k.lower(): v for k, v in code_args.items()}
        self._made: dict[str, tuple[str, list] | None] = {}
        self._broke: dict[str, Exception] = {}
        #: The distribution's regularisers that passed on the kit's backbone: on in its callbacks' check.
        self._kit_terms: list[str] = []

    # -- code kinds and heads ---------------------------------------------------------------------
    def _candidates(self, kind: str) -> list[str]:
        if kind in self.code_args:
            return [self.code_args[kind]]
        seen: list[str] = []
        for entry in self.regs.backbones:  # a backbone's default codes are known-good tokens
            try:
                tokens = parse_code_spec(entry.obj.default_codes)
            except ToolkitError:
                continue
            seen += [t.args for t in tokens if t.kind == kind and t.args not in seen]
        return seen + [a for a in CANDIDATE_ARGS if a not in seen]

    def made(self, kind: str) -> tuple[str, list] | None:
        """(args, codes) from the first argument string the factory accepts, or None."""
        if kind not in self._made:
            self._made[kind] = None
            for args in self._candidates(kind):
                try:
                    codes = list(self.regs.codes.get(kind)(args))
                except (ValueError, TypeError):
                    continue
                except Exception as exc:  # not a refusal of the arguments: the factory is broken
                    self._broke[kind] = exc
                    break
                if codes:
                    self._made[kind] = (args, codes)
                    break
        return self._made[kind]

    def code_kind(self, name: str, factory: Any) -> CheckResult:
        from ..testing import check_code_kind

        found = self.made(name)
        if name in self._broke:
            raise self._broke[name]
        if found is None:
            tried = ", ".join(repr(a) for a in self._candidates(name))
            return CheckResult(
                name,
                "code kind",
                "failed",
                f"the factory accepts none of the argument strings {tried}; pass --args {name}=ARGS",
            )
        args, _ = found
        check_code_kind(factory, args, heads=self.regs.heads)
        return CheckResult(name, "code kind", "passed", f"'{name}{args}', with its default head")

    def head(self, name: str, head: Any) -> CheckResult:
        from ..testing import check_code_with_head

        family = getattr(head, "family", None)
        matching = []
        for entry in self.regs.codes:
            found = self.made(entry.name)
            if found is None:
                continue
            for code in found[1]:
                if code.head_family == family:
                    matching.append((code.default_head.lower() != name.lower(), entry.name, found[0], code))
        if not matching:
            return CheckResult(
                name,
                "Q head",
                "skipped",
                f"no registered code kind makes a '{family}' code; test it with check_head(head, target_size, "
                "sample_target)",
            )
        _, kind, args, code = min(matching, key=lambda m: m[:3])
        check_code_with_head(code, head)
        return CheckResult(name, "Q head", "passed", f"with a code of '{kind}{args}'")

    # -- the rest ---------------------------------------------------------------------------------
    def backbone(self, name: str, backbone: Any) -> CheckResult:
        from ..testing import check_backbone

        check_backbone(backbone)
        return CheckResult(name, "backbone", "passed", "networks built at the default sizes")

    def dataset(self, name: str, plugin: Any) -> CheckResult:
        from ..datasets import DatasetRequest
        from ..testing import check_dataset

        if getattr(plugin, "needs_root", True) and self.data_root is None:
            return CheckResult(name, "dataset", "skipped", "it reads files; pass --data-root DIR to check it")
        ds = check_dataset(plugin, DatasetRequest(root=self.data_root))
        grid = ", a full factor grid" if getattr(ds, "factor_grid", False) else ""
        return CheckResult(name, "dataset", "passed", f"{len(ds)} images of {tuple(ds.image_shape)}{grid}")

    def config(self, name: str, _path: Any) -> CheckResult:
        from ..assembly import resolve
        from .common import build_config

        resolve(build_config(self.host, config=name), self.host)
        return CheckResult(name, "config", "passed", "resolves against the installed plugins")

    # -- kinds checked in a small real run (the kit's backbone and data) ----------------------------
    def regulariser(self, name: str, plugin: Any) -> CheckResult:
        from ..testing import KIT_BACKBONE, NotApplicable, check_regulariser

        # The kit's backbone first; a term that needs more of a backbone gets the first registered one it accepts.
        backbones = [KIT_BACKBONE] + [b for b in self.regs.backbones.names() if b != KIT_BACKBONE]
        refusals = []
        for backbone in backbones:
            try:
                terms = check_regulariser(plugin, name, backbone=backbone, host=self.host)
            except NotApplicable as exc:
                refusals.append(str(exc))
                continue
            if backbone == KIT_BACKBONE:
                self._kit_terms.append(name)
            losses = [f for f in ("generator", "discriminator", "information", "own") if getattr(terms, f) is not None]
            return CheckResult(
                name, "regulariser", "passed", f"on backbone '{backbone}': terms {', '.join(losses)}; resumes exactly"
            )
        return CheckResult(
            name, "regulariser", "skipped", f"refuses every installed backbone; the kit's: {refusals[0]}"
        )

    def callback(self, name: str, factory: Any) -> CheckResult:
        from ..testing import check_callback

        check_callback(factory, host=self.host, regularisers={term: {} for term in self._kit_terms})
        with_terms = f" with loss.{', loss.'.join(self._kit_terms)} on" if self._kit_terms else ""
        return CheckResult(name, "callback", "passed", f"the start and every event of a 2-step run{with_terms}")

    def metric(self, name: str, metric: Any) -> CheckResult:
        from ..testing import check_metric

        check_metric(metric, name, host=self.host)
        return CheckResult(
            name, "metric", "passed", "on a 2-step model and a factor grid: JSON, seeded, alone = with the others"
        )

    def extractor(self, name: str, extractor: Any) -> CheckResult:
        from ..testing import check_feature_extractor

        module = check_feature_extractor(extractor)
        return CheckResult(
            name,
            "feature extractor",
            "passed",
            f"{module.num_features} features of the kit's 1x8x8 images: finite, repeatable, batch-independent",
        )

    def run(self, attr: str, name: str, obj: Any, what: str) -> CheckResult:
        """Check one entry; the kit's AssertionError, or anything the plugin raises, is a failed row;
        a plugin that declines the kit's run (:class:`~infogan_toolkit.testing.NotApplicable`) is skipped."""
        from ..testing import NotApplicable

        method = {
            "codes": self.code_kind,
            "heads": self.head,
            "backbones": self.backbone,
            "datasets": self.dataset,
            "configs": self.config,
            "regularisers": self.regulariser,
            "callbacks": self.callback,
            "metrics": self.metric,
            "extractors": self.extractor,
        }.get(attr)
        if method is None:
            return CheckResult(name, what, "no check", f"the conformance kit has no check for a {what}")
        try:
            return method(name, obj)
        except NotApplicable as exc:
            return CheckResult(name, what, "skipped", " ".join(str(exc).split()))
        except Exception as exc:
            return CheckResult(name, what, "failed", _one_line(exc))


def _distributions(host: PluginHost) -> dict[str, str]:
    """Normalised name -> name as installed, for every distribution that provides a plugin."""
    return {normalise_distribution(p.distribution): p.distribution for p in host.plugins() if p.distribution}


def check_distribution(
    host: PluginHost,
    distribution: str,
    data_root: Path | None = None,
    code_args: dict[str, str] | None = None,
) -> list[CheckResult]:
    """Run the conformance kit on every name ``distribution`` registers in ``host``; one row each.

    Code kinds are made with the first argument string the factory accepts (``code_args`` maps a
    kind to its own); heads are checked with a registered code of their family; datasets that read
    files only with ``data_root``; configs must resolve; regularisers, metrics and callbacks in a
    small real run of the kit's backbone and data (a term that refuses that backbone on the first
    registered backbone it accepts; callbacks with the distribution's terms on). A plugin that declines the kit's run is a skipped row, one of the
    distribution that failed to load a failed row. Raises :class:`PluginError` (one line) when nothing comes from it.
    """
    want = normalise_distribution(distribution)
    infos = [p for p in host.plugins() if p.distribution and normalise_distribution(p.distribution) == want]
    if not infos:
        known = ", ".join(sorted(set(_distributions(host).values()))) or "none"
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            raise PluginError(
                f"distribution '{distribution}' is not installed; install it (pip install -e DIR) first. "
                f"Distributions with plugins: {known}"
            ) from None
        raise PluginError(
            f"distribution '{distribution}' declares no infogan_toolkit entry point; add a "
            "[project.entry-points.infogan_toolkit] table to its pyproject.toml and reinstall it"
        )
    if all(p.status == "disabled" for p in infos):
        names = ",".join(p.name for p in infos)
        raise PluginError(
            f"every plugin of '{distribution}' ({names}) is disabled by {DISABLE_ENV}; remove them from that list"
        )
    rows = [CheckResult(p.name, "plugin", "failed", p.error or "failed to load") for p in infos if p.status == "failed"]
    checker = _Checker(host, data_root, code_args or {})
    for attr, what in HOOK_REGISTRIES.values():
        for entry in getattr(checker.regs, attr):
            if entry.distribution and normalise_distribution(entry.distribution) == want:
                rows.append(checker.run(attr, entry.name, entry.obj, what))
    if not rows:
        raise PluginError(
            f"the plugins of '{distribution}' register nothing; call register(...) in their hooks (see docs/hooks.md)"
        )
    return rows


def _parse_args(values: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        kind, sep, args = value.partition("=")
        if not sep or not kind.strip():
            raise ConfigError(f"--args '{value}' must be KIND=ARGS, e.g. --args circ=2")
        out[kind.strip()] = args.strip()
    return out


@commands.command()
@one_line_errors
def check(
    distribution: str = typer.Argument(..., help="An installed plugin distribution, e.g. infogan-tk-circular."),
    data_root: Path = typer.Option(
        None, "--data-root", help="Files for the datasets that read them (others are skipped)."
    ),
    args: list[str] = typer.Option(
        [], "--args", help="KIND=ARGS: the argument string to check a code kind with (repeatable)."
    ),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Run the conformance kit on everything DISTRIBUTION registers; print name, kind, result.

    Exits 1 when a check fails (a skipped check does not fail), 2 on a usage error.
    """
    rows = check_distribution(PluginHost(), distribution, data_root, _parse_args(args))
    if json_out:
        print_json([r.as_dict() for r in rows])
    else:
        table = Table(title=f"check {distribution}", title_justify="left")
        for col in ("name", "kind", "result", "detail"):
            table.add_column(col)
        colour = {"passed": "green", "failed": "red"}
        for r in rows:
            table.add_row(r.name, r.kind, Text(r.result, style=colour.get(r.result, "yellow")), r.detail)
        out_console().print(table)
    if any(r.failed for r in rows):
        raise typer.Exit(1)


# -- new-plugin --------------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")


@attrs.frozen
class Skeleton:
    """The names a new plugin distribution is made of, all derived from one plugin name."""

    name: str  # plugin (entry-point) name, e.g. "bern"
    distribution: str  # infogan-tk-bern
    package: str  # infogan_tk_bern
    code_kind: str  # letters and underscores only, as code-spec tokens need
    dataset: str  # bern-bars

    @classmethod
    def from_name(cls, name: str) -> "Skeleton":
        """Derive every name from ``name`` (a leading ``infogan-tk-`` is dropped); one-line error if unusable."""
        raw = name.strip()
        name = raw.lower().removeprefix("infogan-tk-").replace("_", "-")
        if not _NAME.match(name) or "--" in name:
            raise ConfigError(
                f"plugin name '{raw}' must be lower-case letters, digits and single hyphens, starting with a letter, "
                "e.g. 'bern'"
            )
        kind = re.sub(r"[^a-z_]", "", name.replace("-", "_")).strip("_")
        return cls(name, f"infogan-tk-{name}", "infogan_tk_" + name.replace("-", "_"), kind, f"{name}-bars")

    def files(self) -> dict[str, str]:
        """Relative path -> file text."""
        fmt = {
            "name": self.name,
            "dist": self.distribution,
            "pkg": self.package,
            "kind": self.code_kind,
            "dataset": self.dataset,
        }
        return {path.format(**fmt): textwrap.dedent(text).lstrip().format(**fmt) for path, text in _TEMPLATES.items()}


def write_skeleton(skeleton: Skeleton, parent: Path) -> Path:
    """Write the skeleton into ``parent/<distribution>``; refuse a folder that exists and is not empty."""
    root = parent / skeleton.distribution
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"'{root}' already exists and is not empty; pick another NAME or --dir, or remove it")
    for rel, text in skeleton.files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _refuse_taken_names(skeleton: Skeleton) -> None:
    host = PluginHost()
    info = host.plugin_info(skeleton.name)
    if info is not None:
        raise ConfigError(
            f"a plugin named '{skeleton.name}' is already installed (from {info.distribution}); pick another NAME"
        )
    regs = host.registries
    if skeleton.code_kind in regs.codes:
        entry = regs.codes.entry(skeleton.code_kind)
        raise ConfigError(f"code kind '{skeleton.code_kind}' already comes from {entry.source()}; pick another NAME")
    if skeleton.dataset in regs.datasets:
        raise ConfigError(
            f"dataset '{skeleton.dataset}' already comes from {regs.datasets.entry(skeleton.dataset).source()}; pick "
            "another NAME"
        )


@commands.command("new-plugin")
@one_line_errors
def new_plugin(
    name: str = typer.Argument(
        ..., help="Plugin name, e.g. 'bern': distribution infogan-tk-bern, package infogan_tk_bern."
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to create the distribution's folder in."),
) -> None:
    """Write a small working plugin distribution: a code kind, a factor-grid dataset and a test that
    runs the conformance kit. Then: pip install -e DIR, pytest DIR/tests, infogan-tk check DIST."""
    skeleton = Skeleton.from_name(name)
    if not skeleton.code_kind:
        raise ConfigError(f"plugin name '{name}' has no letters for a code-kind prefix; use a name with letters")
    _refuse_taken_names(skeleton)
    root = write_skeleton(skeleton, directory)
    console = out_console()
    console.print(f"wrote {root}/ (distribution {skeleton.distribution}, plugin '{skeleton.name}'):", markup=False)
    for rel in sorted(skeleton.files()):
        console.print(f"  {rel}", markup=False)
    console.print("next:", markup=False)
    for line in (
        f"pip install -e {root}",
        f"python -m pytest {root}/tests -q",
        f"infogan-tk check {skeleton.distribution}",
    ):
        console.print(f"  {line}", markup=False)


_TEMPLATES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68", "wheel"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "0.1.0"
        description = "infogan-tk plugin '{name}': the {kind}N code kind and the {dataset} dataset."
        readme = "README.md"
        requires-python = ">=3.10"
        dependencies = ["infogan-toolkit>=0.1", "torch>=2.4"]

        [project.optional-dependencies]
        test = ["pytest>=8"]

        # What makes infogan-tk find the plugin: group "infogan_toolkit", plugin name "{name}",
        # value = the module that holds the @hookimpl functions.
        [project.entry-points.infogan_toolkit]
        {name} = "{pkg}"

        [tool.setuptools]
        packages = ["{pkg}"]

        [tool.pytest.ini_options]
        testpaths = ["tests"]
    """,
    "README.md": """
        # {dist}

        An infogan-tk plugin (started with `infogan-tk new-plugin {name}`):

        | name | registered with | what it is |
        |---|---|---|
        | `{kind}` | `register_code_kinds` | `{kind}N` = N continuous codes, each triangular on (-1, 1), scored by the built-in `gaussian` head |
        | `{dataset}` | `register_datasets` | 1x16x16 vertical bars: a full grid of 12 positions x 3 widths (`FactorGridDataset`) |

        ```
        pip install -e .
        python -m pytest tests -q
        infogan-tk check {dist}
        infogan-tk plugins
        ```

        Replace the code kind and the dataset with your own; docs/plugins.md in infogan-tk has the
        interfaces and the conformance kit.
    """,
    "{pkg}/__init__.py": '''
        """infogan-tk plugin ``{name}``: the ``{kind}N`` code kind and the ``{dataset}`` dataset.

        infogan-tk finds this module through the ``infogan_toolkit`` entry point in pyproject.toml and
        calls the ``@hookimpl`` functions below when it builds its registries.
        """

        from __future__ import annotations

        from infogan_toolkit import hookimpl

        from .code import TriangularCode, make_codes
        from .dataset import BarsDataset, render_bars

        __all__ = ["BarsDataset", "TriangularCode", "make_codes", "render_bars"]


        @hookimpl
        def register_code_kinds(register):
            """Make ``{kind}N`` available in code specs, e.g. ``--codes cat3,{kind}2``."""
            register("{kind}", make_codes)


        @hookimpl
        def register_datasets(register):
            """``--dataset {dataset}``."""
            register("{dataset}", BarsDataset())
    ''',
    "{pkg}/code.py": '''
        """The ``{kind}N`` code kind: N independent codes, each triangular on (-1, 1)."""

        from __future__ import annotations

        import torch
        from torch import Tensor

        from infogan_toolkit.codes import LatentCode


        class TriangularCode(LatentCode):
            """One scalar with the triangular density 1 - |c| on (-1, 1), fed to G as itself."""

            discrete = False
            head_family = "real"  # scored by a head of family "real": the built-in "gaussian"
            default_head = "gaussian"

            @property
            def width(self) -> int:
                return 1

            @property
            def target_size(self) -> int:
                return 1

            def sample(
                self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
            ) -> Tensor:
                # The sum of two uniforms on (0, 1), minus 1; always draw through `generator`.
                u = torch.rand(2, n, generator=generator, device=device)
                return u[0] + u[1] - 1

            def encode(self, value: Tensor) -> Tensor:
                return value.reshape(-1, 1).float()

            def target(self, value: Tensor) -> Tensor:
                return value.reshape(-1, 1).float()

            def entropy(self) -> float:
                return 0.5  # nats: 1/2 + ln(half-width 1)

            def traversal(self, steps: int, low: float = -1.0, high: float = 1.0) -> Tensor:
                return torch.linspace(low, high, steps)

            def describe(self) -> str:
                return "Tri(-1,1)"


        def make_codes(args: str) -> list[LatentCode]:
            """``{kind}N`` -> N triangular codes on (-1, 1)."""
            if not args.isdigit() or not 1 <= int(args) <= 64:
                raise ValueError("{kind} needs a number of codes from 1 to 64, e.g. '{kind}2'")
            return [TriangularCode() for _ in range(int(args))]
    ''',
    "{pkg}/dataset.py": '''
        """The ``{dataset}`` dataset: vertical bars on a full factor grid, generated (no files)."""

        from __future__ import annotations

        import torch
        from torch import Tensor

        from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, FactorGridDataset
        from infogan_toolkit.errors import ConfigError

        FACTOR_NAMES = ("x", "width")
        FACTOR_SIZES = (12, 3)


        def render_bars(factors: Tensor) -> Tensor:
            """Factor indices ``(n, 2)`` -> uint8 ``(n, 1, 16, 16)``: a bar of width+1 columns from column x+1."""
            columns = torch.arange(16, device=factors.device)
            left = factors[:, :1] + 1
            on = (columns >= left) & (columns <= left + factors[:, 1:2])  # (n, 16)
            return (on[:, None, None, :].expand(-1, 1, 16, 16).to(torch.uint8) * 255).contiguous()


        class BarsDataset(DatasetPlugin):
            """12 positions x 3 widths, every combination once: the shape of data evaluation can score."""

            description = "vertical bars, 1x16x16, factors x (12) and width (3), generated (no files)"
            needs_root = False

            def load(self, request: DatasetRequest) -> FactorGridDataset:
                if request.options:
                    raise ConfigError(f"dataset '{dataset}' takes no options, got {{sorted(request.options)}}")
                return FactorGridDataset(FACTOR_NAMES, FACTOR_SIZES, render_bars, label_factor="width", in_memory=True)
    ''',
    "tests/test_{pkg}.py": '''
        """The plugin against infogan-tk's conformance kit, and registered in a plugin host."""

        from __future__ import annotations

        import pytest
        import torch

        import {pkg}
        from {pkg} import BarsDataset, make_codes
        from infogan_toolkit.datasets import DatasetRequest
        from infogan_toolkit.plugins import PluginHost
        from infogan_toolkit.testing import check_code_kind, check_dataset


        def test_code_kind_conforms():
            codes = check_code_kind(make_codes, "2")  # with its default head from the installed plugins
            assert len(codes) == 2


        @pytest.mark.parametrize("args", ["", "x", "0", "65"])
        def test_bad_arguments_are_refused(args):
            with pytest.raises(ValueError):
                make_codes(args)


        def test_dataset_conforms_and_is_a_full_grid():
            ds = check_dataset(BarsDataset(), DatasetRequest(root=None))
            assert len(ds) == 36 and ds.factor_grid and ds.factor_names == ("x", "width")
            assert torch.equal(ds.factor_index(ds.factors), torch.arange(36))  # image i is grid point i


        def test_registers_through_a_host():
            host = PluginHost(load_entry_points=False)
            host.register({pkg}, "{name}-under-test")
            try:
                regs = host.registries
                assert "{kind}" in regs.codes and "{dataset}" in regs.datasets
            finally:
                host.unregister("{name}-under-test")
    ''',
}
