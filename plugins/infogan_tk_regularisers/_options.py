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


def fraction(instance, attribute, value) -> None:
    """An attrs validator: the option must be in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{attribute.name} must be in [0, 1), got {value}")


def require_discrete_code(name: str, weight: float, assembly, reason: str) -> None:
    """Refuse a run of the term ``loss.NAME`` whose codes have no discrete code, saying ``reason``."""
    if not any(c.code.discrete for c in assembly.codes):
        raise ConfigError(
            f"loss.{name}.weight is {weight} but the codes '{assembly.config.model.codes}' have no discrete code, and "
            f"{reason}; set loss.{name}.weight=0 or add one (e.g. cat10)"
        )
