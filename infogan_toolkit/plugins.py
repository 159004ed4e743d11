"""The plugin host: entry-point discovery, disable lists, hook tracing, and the registries it fills.

A fresh :class:`PluginHost` is made per run (no global state). Plugins come from the
``infogan_toolkit`` entry-point group, the built-ins included, or are registered in-process.
Environment variables:

* ``INFOGAN_TK_DISABLE_PLUGINS``: comma-separated plugin names not to load.
* ``INFOGAN_TK_TRACE_HOOKS``: when set to a non-empty value other than 0, every hook call is traced to stderr.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import NameClashError, Registry, install_advice, is_distribution_name

ENTRY_POINT_GROUP = "infogan_toolkit"
DISABLE_ENV = "INFOGAN_TK_DISABLE_PLUGINS"
TRACE_ENV = "INFOGAN_TK_TRACE_HOOKS"

#: hook name -> registry attribute on :class:`Registries`
HOOK_REGISTRIES = {
    "register_code_kinds": ("codes", "code kind"),
    "register_heads": ("heads", "Q head"),
    "register_backbones": ("backbones", "backbone"),
    "register_datasets": ("datasets", "dataset"),
    "register_configs": ("configs", "config"),
    "register_regularisers": ("regularisers", "regulariser"),
    "register_callbacks": ("callbacks", "callback"),
    "register_metrics": ("metrics", "metric"),
    "register_feature_extractors": ("extractors", "feature extractor"),
    "register_sweep_executors": ("executors", "sweep executor"),
}


@attrs.define
class Registries:
    """Every registry, filled from the loaded plugins."""

    codes: Registry
    heads: Registry
    backbones: Registry
    datasets: Registry
    configs: Registry
    regularisers: Registry
    callbacks: Registry
    metrics: Registry
    extractors: Registry
    executors: Registry


@attrs.frozen
class PluginInfo:
    """What `infogan-tk plugins` reports about one plugin."""

    name: str
    status: str  # "loaded", "failed", "disabled"
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return attrs.asdict(self)


def disabled_names() -> set[str]:
    """Plugin names listed in INFOGAN_TK_DISABLE_PLUGINS."""
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class PluginHost:
    """Owns one pluggy PluginManager and the registries built from it."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}
        self._registries: Registries | None = None
        # Disabled plugins, kept (an entry point or the object) only to say what they would provide.
        # Disabled plugin name -> a zero-argument loader of its object, for the hint that names it.
        self._disabled: dict[str, Callable[[], object]] = {}
        if os.environ.get(TRACE_ENV, "") not in ("", "0"):
            self.pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
            self.pm.enable_tracing()
        if load_entry_points:
            self._load_entry_points()

    # -- loading -----------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        blocked = disabled_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if ep.name in blocked:
                self._info[ep.name] = PluginInfo(ep.name, "disabled", dist, version)
                self._disabled[ep.name] = ep.load
                continue
            if ep.name in self._info:
                continue  # the same distribution seen twice on sys.path
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._info[ep.name] = PluginInfo(ep.name, "failed", dist, version, error=f"{type(exc).__name__}: {exc}")
                sys.stderr.write(
                    f"infogan-tk: plugin '{ep.name}' ({dist}) failed to import and is skipped: {type(exc).__name__}: "
                    f"{exc}\n"
                )
                continue
            try:
                self.register(module, ep.name, dist, version)
            except PluginError as exc:  # a misspelled or mis-signed hook: skip this plugin only
                self._info[ep.name] = PluginInfo(ep.name, "failed", dist, version, error=str(exc))
                sys.stderr.write(f"infogan-tk: {exc}\n")

    def register(self, plugin: object, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register a plugin object (module or instance) under ``name``; misspelled hooks are refused."""
        if name in disabled_names():
            self._info[name] = PluginInfo(name, "disabled", distribution, version)
            self._disabled[name] = lambda: plugin
            return
        if self.pm.has_plugin(name):
            raise PluginError(f"a plugin named '{name}' is already registered; pick another name")
        try:
            self.pm.register(plugin, name=name)  # refuses a known hook with wrong argument names
            self.pm.check_pending()  # refuses a hook name that does not exist
        except pluggy.PluginValidationError as exc:
            if self.pm.has_plugin(name):  # pluggy keeps the impls it accepted before failing
                self.pm.unregister(name=name)
            detail = " ".join(str(exc).split())
            raise PluginError(
                f"plugin '{name}' does not match the hook contract ({detail}); see docs/hooks.md for the hook names "
                "and signatures"
            ) from None
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
        self._info[name] = PluginInfo(name, "loaded", distribution, version, hooks)
        self._registries = None

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``."""
        if self.pm.has_plugin(name):
            self.pm.unregister(name=name)
        self._info.pop(name, None)
        self._disabled.pop(name, None)
        self._registries = None

    # -- queries -----------------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not."""
        return sorted(self._info.values(), key=lambda p: p.name)

    def plugin_info(self, name: str) -> PluginInfo | None:
        """Info for one plugin name, or None."""
        return self._info.get(name)

    @property
    def registries(self) -> Registries:
        """The registries, built on first use from every loaded plugin's register hooks."""
        if self._registries is None:
            self._registries = self._build_registries()
        return self._registries

    def name_clashes(self) -> list[NameClashError]:
        """Every name registered twice in one registry, across all registries (empty when none).

        :attr:`registries` stops at the first clash; this builds them all and collects each one,
        for `infogan-tk plugins`. A hook that raises still raises :class:`PluginError`.
        """
        clashes: list[NameClashError] = []
        self._build_registries(clashes)
        return clashes

    def _build_registries(self, clashes: list[NameClashError] | None = None) -> Registries:
        regs: dict[str, Registry[Any]] = {attr: Registry(what) for attr, what in HOOK_REGISTRIES.values()}
        for attr, reg in regs.items():
            reg.set_disabled_hint(functools.partial(self._disabled_provider, attr))
        plugins = [(n, p) for n, p in self.pm.list_name_plugin() if p is not None]
        for hook_name, (attr, _what) in HOOK_REGISTRIES.items():
            for name, plugin in plugins:
                if hook_name not in self._info[name].hooks:
                    continue
                info = self._info[name]
                register = functools.partial(self._add, regs[attr], name, info.distribution, info.version, clashes)
                others = [p for n, p in plugins if n != name]
                caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
                try:
                    caller(register=register)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(f"plugin '{name}' failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
        return Registries(**regs)

    @staticmethod
    def _add(
        registry: Registry,
        plugin: str,
        dist: str | None,
        version: str | None,
        clashes: list | None,
        name: str,
        obj: object,
    ) -> None:
        try:
            registry.add(name, obj, plugin, dist, version)
        except NameClashError as exc:
            if clashes is None:
                raise
            clashes.append(exc)

    def _disabled_provider(self, registry_attr: str, name: str) -> str:
        """Which disabled plugin would register ``name`` in ``registry_attr``, as a message clause.

        Each disabled plugin's module is imported (not registered) and its register hook called
        with a recorder, only to list the names; one that cannot be inspected is named as such.
        """
        hook_name = next(h for h, (attr, _) in HOOK_REGISTRIES.items() if attr == registry_attr)
        unreadable = []
        for plugin_name, load in sorted(self._disabled.items()):
            info = self._info.get(plugin_name)
            dist = info.distribution if info is not None and info.distribution else "registered in-process"
            names: list[str] = []
            try:
                # Loaded through the entry point's own load(): a package such as mlflow that imports
                # importlib_metadata makes the entry points that library's class, not the stdlib's.
                obj = load()
                hook = getattr(obj, hook_name, None)
                if hook is not None:
                    hook(register=lambda n, _obj, _names=names: _names.append(str(n).lower()))
            except Exception:
                unreadable.append(plugin_name)
                continue
            if name.lower() in names:
                return (
                    f"plugin '{plugin_name}' ({dist}) provides it but is disabled by {DISABLE_ENV}; "
                    f"remove '{plugin_name}' from that list"
                )
        if unreadable:
            return f"it may come from the disabled plugin(s) {', '.join(repr(n) for n in unreadable)} ({DISABLE_ENV})"
        return ""

    def require_plugin_for(self, registry_attr: str, name: str, plugin_hint: str | None) -> Any:
        """Look ``name`` up; when missing and ``plugin_hint`` names its plugin, say what to install."""
        reg: Registry = getattr(self.registries, registry_attr)
        if name not in reg and plugin_hint:
            note = reg.disabled_note(name)
            if note:
                raise PluginError(f"{reg.what} '{name}' (from distribution '{plugin_hint}'): {note}")
            if not is_distribution_name(plugin_hint):
                raise PluginError(
                    f"{reg.what} '{name}' from distribution {plugin_hint!r}, which is not installed: "
                    f"{install_advice(plugin_hint)}"
                )
            raise PluginError(
                f"{reg.what} '{name}' which comes from plugin distribution '{plugin_hint}', not installed or "
                f"disabled; install it ({install_advice(plugin_hint)}) or check {DISABLE_ENV}"
            )
        return reg.get(name)
