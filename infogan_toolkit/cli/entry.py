"""The ``infogan-tk`` console script: the app, with Ctrl-C during start-up as one line.

Importing the commands (torch among them) takes a second or two; an interrupt then, or in a
command before it handles Ctrl-C itself (training does, with a checkpoint), ends with one line
and status 130 instead of a traceback. This module imports nothing heavy before the ``try``.
"""

from __future__ import annotations

import sys

from .interrupt import INTERRUPTED, INTERRUPTED_MESSAGE


def main() -> None:
    """Run the `infogan-tk` app."""
    try:
        from .app import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED_MESSAGE)
        raise SystemExit(INTERRUPTED) from None
