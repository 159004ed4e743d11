"""The product tests' fixtures and helpers (tests/conftest.py), shared with the research scripts' tests.

Everything of tests/conftest.py is re-exported, because both files are imported under the module
name ``conftest`` and the product tests import helpers from it by that name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "product_conftest", Path(__file__).resolve().parents[2] / "tests" / "conftest.py"
)
_product = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_product)
globals().update({name: value for name, value in vars(_product).items() if not name.startswith("__")})
