"""Text from checkpoints, configs and paths, made safe to print: plain characters, nothing a terminal obeys.

Anything read from a file (checkpoint metadata, a config, a folder's names) may carry ANSI escape
sequences, bidirectional overrides or Rich markup such as ``[link=...]``. The toolkit prints such
text only through :func:`printable` or a :class:`PlainConsole`, which show control characters as
escapes (``\\x1b``) and never interpret markup or emoji codes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.console import Console
from rich.text import Text

#: Unicode categories a terminal may act on rather than show: controls, format characters
#: (bidirectional overrides, zero-width joiners), line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: Any, newlines: bool = False) -> str:
    """``str(text)`` with every control or format character written as an escape (``\\x1b``,
    ``\\u202e``); with ``newlines``, line breaks and tabs are kept (for multi-line output)."""
    text = str(text)
    keep = "\n\t" if newlines else ""
    return "".join(
        _escape(ch) if unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in keep else ch for ch in text
    )


def one_line(text: Any) -> str:
    """A message as one printable line: runs of whitespace become one space, controls are escaped."""
    return printable(" ".join(str(text).split()))


class PlainConsole(Console):
    """A Rich console that prints every string as plain text: no markup, no emoji codes, no
    highlighting, control characters escaped (line breaks and tabs kept). Styles given as
    ``style=`` and :class:`rich.text.Text` objects built by the toolkit still apply."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("highlight", False)
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # every str printed or put in a table passes here
        """Render ``text`` literally (see the class docstring)."""
        kwargs.update(markup=False, emoji=False)
        return super().render_str(printable(text, newlines=True), **kwargs)


__all__ = ["PlainConsole", "one_line", "printable"]
