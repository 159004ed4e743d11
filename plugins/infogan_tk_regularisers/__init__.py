"""Built-in regularisers: terms added to the InfoGAN objective through ``register_regularisers``.

None is in the paper; each is turned on by its ``[loss.NAME]`` table (docs/user-guide.md):

* ``invariance``: Q must read the discrete codes from a randomly rotated, rescaled and shifted copy
  of each fake, so a category cannot hang on style alone;
* ``real_information``: Q must sort real images into confident, equally used categories, as it
  sorts the fakes;
* ``contrastive``: InfoGAN-CR's pair classifier (Lin et al. 2020), which learns which latent code
  two fakes share, with G trained to make that easy.
"""

from __future__ import annotations

from infogan_toolkit import hookimpl

from .contrastive import Contrastive
from .invariance import Invariance
from .real_information import RealInformation


@hookimpl
def register_regularisers(register):
    """The built-in terms."""
    register("contrastive", Contrastive())
    register("invariance", Invariance())
    register("real_information", RealInformation())
