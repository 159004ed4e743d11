"""Which code a benchmark record measured: the commit, marked ``-dirty`` when the toolkit's tracked
files (``infogan_toolkit``, ``plugins``, ``configs``) differ from it. Run from the repository root."""

from __future__ import annotations

import subprocess


def commit() -> str | None:
    """HEAD's short commit (``-dirty`` when the toolkit's files differ from it), or None outside git."""
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode != 0 or not head.stdout.strip():
        return None
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", "infogan_toolkit", "plugins", "configs"], check=False
    ).returncode
    return head.stdout.strip() + ("-dirty" if changed else "")
