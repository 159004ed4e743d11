"""Did-you-mean suggestions shared by every error that rejects a name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest known name, or "" when nothing is close."""
    matches = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""
