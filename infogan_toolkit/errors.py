"""The one exception type that the CLI turns into a one-line message instead of a traceback."""

from __future__ import annotations


class ToolkitError(Exception):
    """A user-facing error: the message names the problem and the fix, on one line."""


class PluginError(ToolkitError):
    """A plugin is missing, broken or misbehaving."""


class ConfigError(ToolkitError):
    """A configuration value, file or flag is wrong."""


class CodeSpecError(ConfigError):
    """A latent-code specification string does not parse."""


class CheckpointError(ToolkitError):
    """A checkpoint file is missing, truncated, foreign, or needs an absent plugin."""


class DataError(ToolkitError):
    """A dataset's files are missing or corrupt."""


def option_error(where: str, exc: BaseException, source: str = "") -> str:
    """One line for a plugin's option class that refused a value with ``ValueError`` or ``TypeError``:
    the option (from an attrs validator's arguments, when it passes its attribute), the plugin's
    own words squashed onto one line, who registered it, and the fix."""
    # attrs' validators pass (message, attribute, ...); the attribute names the option.
    attribute = next(
        (a for a in getattr(exc, "args", ())[1:] if type(a).__name__ == "Attribute" and hasattr(a, "name")), None
    )
    words = " ".join(str(exc.args[0] if exc.args else exc).split()) or type(exc).__name__
    name = attribute.name if attribute is not None else None
    if name is None and words.startswith("'") and "'" in words[1:]:  # attrs' le, ge...: "'weight' must be <= 10"
        quoted = words[1:].split("'", 1)[0]
        name = quoted if quoted.isidentifier() else None
    option = f"{where}.{name}" if name else where
    return f"{option} was refused by {source or 'its plugin'}: {words[:300]}; fix the value"
