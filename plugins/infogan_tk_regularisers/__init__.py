"""Built-in regularisers: terms added to the InfoGAN objective through ``register_regularisers``.

None is in the InfoGAN paper; each implements or adapts a published method (cited here, in its
module and in docs/regularisers.md) and is turned on by its ``[loss.NAME]`` table:

* ``contrastive``: InfoGAN-CR's pair classifier (Lin et al. 2020), which learns which latent code
  two fakes share, with G trained to make that easy;
* ``invariance``: Q must read the discrete codes from a randomly rotated, rescaled and shifted copy
  of each fake, so a category cannot hang on style alone (after the transformation-stability
  regularisation of Sajjadi, Javanmardi & Tasdizen 2016);
* ``orthogonal``: each continuous code changes a fake in a direction of its own (after OroJaR, Wei
  et al. 2021), so two codes cannot share one change of the image;
* ``real_consistency``: Q must sort a jittered copy of a real image into the category it gives the
  image itself, where it is confident (after FixMatch's consistency, Sohn et al. 2020, with Q's
  categories as labels);
* ``real_information``: Q must sort real images into confident, equally used categories, as it
  sorts the fakes (the information term of regularized information maximization, Krause, Perona &
  Gomes 2010, and IMSAT, Hu et al. 2017).

Terms without a published method or a measured benefit on two data sets live in the lab's plugin
(research/plugins/infogan-tk-lab), which may import ``jitter`` and ``_options`` from here.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .contrastive import Contrastive
from .invariance import Invariance
from .orthogonal import Orthogonal
from .real_consistency import RealConsistency
from .real_information import RealInformation


@hookimpl
def register_regularisers(register):
    """The built-in terms."""
    register("contrastive", Contrastive())
    register("invariance", Invariance())
    register("orthogonal", Orthogonal())
    register("real_consistency", RealConsistency())
    register("real_information", RealInformation())
