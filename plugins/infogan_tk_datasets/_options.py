"""Reading typed values out of ``DatasetRequest.options`` with one-line errors."""

from __future__ import annotations

from infogan_toolkit.api import ConfigError, DatasetRequest


def int_option(
    request: DatasetRequest, dataset: str, key: str, default: int | None, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """``request.options[key]`` as an int in ``[minimum, maximum]`` (``default`` when absent)."""
    value = request.options.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be a whole number, got {value!r}")
    number = int(value)
    if number < minimum:
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be at most {maximum}, got {number}")
    return number


def float_option(request: DatasetRequest, dataset: str, key: str, default: float, low: float, high: float) -> float:
    """``request.options[key]`` as a number in ``[low, high]`` (``default`` when absent)."""
    value = request.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be a number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"dataset '{dataset}' option '{key}' must be between {low:g} and {high:g}, got {value:g}")
    return float(value)
