"""One generic registry for every pluggable kind: codes, heads, backbones, datasets, configs, callbacks...

Each entry remembers which plugin (and distribution) registered it; a duplicate name is refused
naming both registrants and their distributions, and an unknown name is answered with a
suggestion, the list of known names, or the disabled plugin that would provide it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import attrs

from .errors import PluginError, ToolkitError
from .suggest import did_you_mean

T = TypeVar("T")

#: The distribution that ships the built-in plugins.
BUILTIN_DISTRIBUTION = "infogan-toolkit"
#: The environment variable that lists plugins not to load (read by :mod:`infogan_toolkit.plugins`).
_DISABLE_ENV = "INFOGAN_TK_DISABLE_PLUGINS"


def normalise_distribution(name: str) -> str:
    """A distribution name in its canonical form (PEP 503): lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


#: A distribution name as PEP 508 allows it: letters, digits and ``._-``, starting and ending alphanumeric.
_DISTRIBUTION_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII)


def is_distribution_name(name: object) -> bool:
    """True when ``name`` is a valid distribution name (PEP 508), at most 100 characters."""
    return isinstance(name, str) and len(name) <= 100 and _DISTRIBUTION_NAME.match(name) is not None


def install_advice(distribution: str) -> str:
    """``pip install NAME`` from a fixed template, for a valid distribution name only; for any other
    text (spaces, options, a URL: what a hostile file could put there) a sentence that says the name
    is not valid, so that no command is ever built from it."""
    if is_distribution_name(distribution):
        return f"pip install {distribution}"
    return (
        "the name it gives is not a valid distribution name, so there is nothing safe to install; "
        "get the checkpoint from a trusted source"
    )


def is_builtin(distribution: str | None) -> bool:
    """True when ``distribution`` is the toolkit's own (the built-in plugins)."""
    return distribution is not None and normalise_distribution(distribution) == BUILTIN_DISTRIBUTION


@attrs.frozen
class Entry(Generic[T]):
    """A registered object and where it came from."""

    name: str
    obj: T
    plugin: str
    distribution: str | None = None
    version: str | None = None

    def source(self) -> str:
        """``plugin 'codes' (infogan-toolkit 0.1.0, built in)``: who registered it, for messages."""
        if self.distribution is None:
            where = "registered in-process"
        else:
            where = f"{self.distribution} {self.version}" if self.version else self.distribution
            if is_builtin(self.distribution):
                where += ", built in"
        return f"plugin '{self.plugin}' ({where})"


class UnknownNameError(ToolkitError):
    """A registry lookup for a name that nobody registered."""


class NameClashError(PluginError):
    """Two plugins registered the same name in one registry; ``first`` and ``second`` say who."""

    def __init__(self, what: str, name: str, first: Entry, second: Entry) -> None:
        self.what, self.name, self.first, self.second = what, name, first, second
        super().__init__(clash_message(what, name, first, second))


def clash_message(what: str, name: str, first: Entry, second: Entry) -> str:
    """One line naming both registrants with their distributions, and which plugin to disable.

    The advice points at the third-party plugin, never at a built-in one (disabling a built-in
    would also remove everything else it provides).
    """
    head = f"{what} '{name}' is registered twice: by {first.source()} and by {second.source()}"
    third_party = [e for e in (first, second) if not is_builtin(e.distribution)]
    if len(third_party) == 1:
        who = third_party[0]
        return f"{head}; disable the third-party plugin with {_DISABLE_ENV}={who.plugin} or rename its {what}"
    if len(third_party) == 2:
        return (
            f"{head}; disable one of them with {_DISABLE_ENV}={first.plugin} or {_DISABLE_ENV}={second.plugin}, "
            f"or rename one {what}"
        )
    return f"{head}; the built-in plugins clash with each other, which is a bug in infogan-toolkit: please report it"


class Registry(Generic[T]):
    """Name -> object, with provenance. ``what`` is the singular noun used in messages."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry[T]] = {}
        self._disabled_hint: Callable[[str], str] | None = None

    def set_disabled_hint(self, hint: Callable[[str], str] | None) -> None:
        """Install ``hint(name) -> clause``, which says which disabled plugin would provide a missing
        name ("" when none); the plugin host sets it, a stand-alone registry has none."""
        self._disabled_hint = hint

    def disabled_note(self, name: str) -> str:
        """For a name not registered here: a clause such as ``plugin 'bern' (infogan-tk-bern)
        provides it but is disabled ...; remove ...``, or "" when no disabled plugin is known to."""
        if self._disabled_hint is None or name in self:
            return ""
        try:
            return self._disabled_hint(name)
        except Exception:  # a hint must never hide the error it decorates
            return ""

    def add(
        self,
        name: str,
        obj: T,
        plugin: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register ``obj`` under ``name``; refuse a name that another plugin already holds.

        Raises :class:`NameClashError` naming both plugins and distributions on a duplicate
        (names are case-insensitive).
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise PluginError(
                f"plugin '{plugin}' registered a {self.what} with an invalid name {name!r}; use a non-empty string"
            )
        key = name.lower()
        entry = Entry(name, obj, plugin, distribution, version)
        if key in self._entries:
            raise NameClashError(self.what, name, self._entries[key], entry)
        self._entries[key] = entry

    def entry(self, name: str) -> Entry[T]:
        """Look up an entry by name (case-insensitive).

        On failure, :class:`UnknownNameError` names the disabled plugin that provides ``name`` when
        one does, and otherwise offers a did-you-mean and the known names.
        """
        try:
            return self._entries[name.lower()]
        except KeyError:
            pass
        note = self.disabled_note(name)
        if note:
            raise UnknownNameError(f"unknown {self.what} '{name}': {note}")
        known = ", ".join(sorted(self._entries)) or "none (are the plugins installed?)"
        raise UnknownNameError(f"unknown {self.what} '{name}'.{did_you_mean(name, self._entries)} Known: {known}.")

    def get(self, name: str) -> T:
        """Return the object registered under ``name``."""
        return self.entry(name).obj

    def exact(self, name: str, where: str) -> Entry[T]:
        """The entry registered under exactly ``name``, case included, for a name a config gives
        (``where`` says where, e.g. ``train.callbacks``): a name in another case is refused with the
        right spelling, an unknown one as :meth:`entry` refuses it."""
        if not isinstance(name, str) or not name:
            raise UnknownNameError(
                f"{where} holds {name!r}, which is no {self.what} name; give a name from `infogan-tk list`"
            )
        try:
            entry = self.entry(name)
        except UnknownNameError as exc:
            prefix = f"unknown {self.what} '{name}'"
            text = str(exc)
            raise UnknownNameError(
                prefix + f" in {where}" + text[len(prefix) :] if text.startswith(prefix) else text
            ) from None
        if entry.name != name:
            raise UnknownNameError(
                f"unknown {self.what} '{name}' in {where}: names are case-sensitive. Did you mean '{entry.name}'?"
            )
        return entry

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(e.name for e in self._entries.values())
