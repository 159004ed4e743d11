"""Validators shared by the regularisers' option classes (the built-in ones and the lab's).

Every number an option takes is checked when the config is resolved: finite, and inside the range
its kernel can take. A value outside it is a :class:`~infogan_toolkit.errors.ConfigError` whose
message starts with the option's name (the host adds ``loss.NAME.``), says the range and the fix:
``rotation must be <= 180, got 1e+308; give a value in [0, 180] (degrees)``. The bounds are stated
once here, so the option docs and the messages agree:

=====================  =================================  ==========================================
validator              range                              used for
=====================  =================================  ==========================================
:data:`weight_value`   [0, 1,000,000]                     every term's ``weight``, ``change``
:data:`degrees`        [0, 180]                           rotations (degrees, +-)
:data:`shear_degrees`  [0, 80]                            shears (degrees, +-; tan grows without bound)
:data:`scale_jitter`   [0, 1)                             scales ``1 +- s`` (at 1 an image vanishes)
:data:`side_fraction`  [0, 1]                             shifts, a fraction of the side (+-)
:data:`log_scale`      [0, 3]                             log scale factors (+-; e^3 is 20x)
:data:`pixels`         (0, 100]                           blurs (standard deviation, pixels)
:data:`code_step`      (0, 100]                           steps in a code's own units
:data:`learning_rate`  (0, 10]                            a term's own Adam rate
:data:`step_index`     [0, 1,000,000,000,000]             a training step (``train.steps``' bound)
:func:`fraction`       [0, 1)                             probabilities
=====================  =================================  ==========================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from infogan_toolkit.api import ConfigError

#: The largest weight a term takes: a loss scaled further swamps float32 and says nothing more.
MAX_WEIGHT = 1_000_000


def _show(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def bounded(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False, unit: str = ""
) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: the option is a finite number in ``[low, high]`` (an end left out with
    ``low_open``/``high_open``); ``unit`` is said in the message. The range is on the validator as
    ``.bounds`` (low, high, low_open, high_open), for docs and tests."""
    span = f"{'(' if low_open else '['}{_show(low)}, {_show(high)}{')' if high_open else ']'}" + (
        f" ({unit})" if unit else ""
    )

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{attribute.name} must be a number, got {value!r}; give a value in {span}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise ConfigError(f"{attribute.name} must be a finite number, got {value}; give a value in {span}")
        if value < low or (low_open and value == low):
            raise ConfigError(
                f"{attribute.name} must be {'>' if low_open else '>='} {_show(low)}, got {value}; give a value in "
                f"{span}"
            )
        if value > high or (high_open and value == high):
            raise ConfigError(
                f"{attribute.name} must be {'<' if high_open else '<='} {_show(high)}, got {value}; give a value in "
                f"{span}"
            )

    check.bounds = (low, high, low_open, high_open)  # type: ignore[attr-defined]
    return check


weight_value = bounded(0, MAX_WEIGHT)
degrees = bounded(0, 180, unit="degrees")
shear_degrees = bounded(0, 80, unit="degrees")
scale_jitter = bounded(0, 1, high_open=True)
side_fraction = bounded(0, 1, unit="a fraction of the side")
log_scale = bounded(0, 3, unit="log of the scale factor")
pixels = bounded(0, 100, low_open=True, unit="pixels")
code_step = bounded(0, 100, low_open=True, unit="code units")
learning_rate = bounded(0, 10, low_open=True)
step_index = bounded(0, 10**12)
#: Kept for option classes written before the bounds: finite and in [0, 1,000,000].
non_negative = weight_value
#: Kept for option classes written before the bounds: finite and in (0, 1,000,000].
positive = bounded(0, MAX_WEIGHT, low_open=True)


def fraction(instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator: the option must be in [0, 1) (a probability; nan and inf fail too)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{attribute.name} must be in [0, 1), got {value}")


def require_discrete_code(name: str, weight: float, assembly, reason: str) -> None:
    """Refuse a run of the term ``loss.NAME`` whose codes have no discrete code, saying ``reason``."""
    if not any(c.code.discrete for c in assembly.codes):
        raise ConfigError(
            f"loss.{name}.weight is {weight} but the codes '{assembly.config.model.codes}' have no discrete code, and "
            f"{reason}; set loss.{name}.weight=0 or add one (e.g. cat10)"
        )
