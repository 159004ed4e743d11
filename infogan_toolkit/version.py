"""The installed toolkit's version, as run records and exports note it."""

from importlib import metadata

try:
    __version__ = metadata.version("infogan-toolkit")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
