"""One generic registry for every pluggable kind: codes, heads, backbones, datasets, sinks, configs.

Each entry remembers which plugin registered it, a duplicate name is refused naming both
registrants, and an unknown name is answered with a suggestion and the list of known names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import attrs

from .errors import PluginError, ToolkitError
from .suggest import did_you_mean

T = TypeVar("T")


@attrs.frozen
class Entry(Generic[T]):
    """A registered object and where it came from."""

    name: str
    obj: T
    plugin: str
    distribution: str | None = None
    version: str | None = None


class UnknownNameError(ToolkitError):
    """A registry lookup for a name that nobody registered."""


class Registry(Generic[T]):
    """Name -> object, with provenance. ``what`` is the singular noun used in messages."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry[T]] = {}

    def add(
        self,
        name: str,
        obj: T,
        plugin: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register ``obj`` under ``name``; refuse a name that another plugin already holds."""
        if not isinstance(name, str) or not name or name != name.strip():
            raise PluginError(f"plugin '{plugin}' registered a {self.what} with an invalid name {name!r}; use a non-empty string")
        key = name.lower()
        if key in self._entries:
            first = self._entries[key]
            raise PluginError(
                f"{self.what} '{name}' is registered twice: by plugin '{first.plugin}' and by plugin "
                f"'{plugin}'; disable one of them with INFOGAN_TK_DISABLE_PLUGINS={plugin}"
            )
        self._entries[key] = Entry(name, obj, plugin, distribution, version)

    def entry(self, name: str) -> Entry[T]:
        """Look up an entry by name (case-insensitive), with a did-you-mean on failure."""
        try:
            return self._entries[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none (are the plugins installed?)"
            raise UnknownNameError(
                f"Unknown {self.what} '{name}'.{did_you_mean(name, self._entries)} Known: {known}."
            ) from None

    def get(self, name: str) -> T:
        """Return the object registered under ``name``."""
        return self.entry(name).obj

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(e.name for e in self._entries.values())
