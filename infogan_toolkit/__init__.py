"""infogan-tk: InfoGAN (Chen et al. 2016) as a plugin-based toolkit.

Users load models and build configs from here; plugins import :mod:`infogan_toolkit.api` only.
docs/architecture.md maps the package.
"""

from .hookspecs import hookimpl
from .version import __version__

__all__ = ["__version__", "build_config", "from_pretrained", "hookimpl", "load_checkpoint"]


def __getattr__(name: str):
    # Lazy, so that `import infogan_toolkit` stays light for plugin authors.
    if name == "load_checkpoint":
        from .model import load_checkpoint

        return load_checkpoint
    if name == "build_config":
        from .config_builder import build_config

        return build_config
    if name == "from_pretrained":
        from .model import from_pretrained

        return from_pretrained
    raise AttributeError(name)
