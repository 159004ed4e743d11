"""Built-in regularisers: terms added to the InfoGAN objective through ``register_regularisers``.

None is in the paper; each is turned on by its ``[loss.NAME]`` table (docs/user-guide.md):

* ``invariance``: Q must read the discrete codes from a randomly rotated, rescaled and shifted copy
  of each fake, so a category cannot hang on style alone;
* ``equivariance``: moving a fake moves Q's continuous readings by one affine map of the shift for
  the whole batch, so a code cannot mean one thing for one image and another for the next;
* ``layout``: the continuous codes lay out every category's image in the same place (the blurred
  images of two categories drawn from the same continuous codes must match, and optionally so must
  how a small step of those codes moves and grows their ink), so a code cannot mean x for one
  category and y for another, or grow one and shrink the other;
* ``orthogonal``: each continuous code changes a fake in a direction of its own (after OroJaR, Wei
  et al. 2021), so two codes cannot share one change of the image;
* ``real_information``: Q must sort real images into confident, equally used categories, as it
  sorts the fakes;
* ``real_consistency``: Q must sort a jittered copy of a real image into the category it gives the
  image itself, where it is confident (FixMatch's consistency, with Q's categories as labels);
* ``contrastive``: InfoGAN-CR's pair classifier (Lin et al. 2020), which learns which latent code
  two fakes share, with G trained to make that easy.
"""

from __future__ import annotations

from infogan_toolkit import hookimpl

from .contrastive import Contrastive
from .equivariance import Equivariance
from .invariance import Invariance
from .layout import Layout
from .orthogonal import Orthogonal
from .real_consistency import RealConsistency
from .real_information import RealInformation


@hookimpl
def register_regularisers(register):
    """The built-in terms."""
    register("contrastive", Contrastive())
    register("equivariance", Equivariance())
    register("invariance", Invariance())
    register("layout", Layout())
    register("orthogonal", Orthogonal())
    register("real_consistency", RealConsistency())
    register("real_information", RealInformation())
