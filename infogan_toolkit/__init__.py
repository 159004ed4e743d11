"""infogan-tk: InfoGAN (Chen et al. 2016) as a plugin-based toolkit.

Plugins implement the hooks in :mod:`infogan_toolkit.hookspecs` with :data:`hookimpl`.
"""

from importlib import metadata as _metadata

from .hookspecs import hookimpl

try:
    __version__ = _metadata.version("infogan-toolkit")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "from_pretrained", "hookimpl", "load_checkpoint"]


def __getattr__(name: str):
    # Lazy, so that `import infogan_toolkit` stays light for plugin authors.
    if name == "load_checkpoint":
        from .model import load_checkpoint

        return load_checkpoint
    if name == "from_pretrained":
        from .pretrained import from_pretrained

        return from_pretrained
    raise AttributeError(name)
