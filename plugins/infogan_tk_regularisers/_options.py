"""Validators shared by the built-in regularisers' option classes."""

from __future__ import annotations

from infogan_toolkit.errors import ConfigError


def non_negative(instance, attribute, value) -> None:
    """An attrs validator: the option must be >= 0."""
    if not value >= 0:
        raise ConfigError(f"{attribute.name} must be >= 0, got {value}")


def positive(instance, attribute, value) -> None:
    """An attrs validator: the option must be > 0."""
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be > 0, got {value}")
