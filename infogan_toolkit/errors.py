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
