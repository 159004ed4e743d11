"""`infogan-tk explore` and `infogan-tk report`: a trained model seen and steered in the browser.

:mod:`.session` holds what the page asks of the model (a picture for a point of the codes and the
noise, Q's reading of it, traversals, Q's codes for an uploaded or a data-set image), in plain
Python and torch; :mod:`.server` puts it behind a small Starlette app served by uvicorn, the only
modules that need the ``[explore]`` extra; :mod:`.report` writes the same content, without live
controls, as one self-contained HTML file. The page knows two generic controls, a set of buttons
and a slider, and builds each code's from what the code declares (:meth:`LatentCode.control`), so a
third party's code kind gets a control without an edit here.
"""

from __future__ import annotations

from ..errors import ToolkitError

#: What installs the server's libraries.
EXPLORE_FIX = "pip install 'infogan-toolkit[explore]'"


def require_server() -> None:
    """Import the server's libraries now; without them, a one-line error naming the extra."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ToolkitError(f"infogan-tk explore needs {exc.name or 'starlette and uvicorn'}: {EXPLORE_FIX}") from None


__all__ = ["EXPLORE_FIX", "require_server"]
