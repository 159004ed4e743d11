"""Built-in image-quality metrics (FID, KID) and the feature extractors they compare images in.

``fid`` and ``kid`` run on request (``infogan-tk eval --metrics fid,kid``). The extractor is a
choice (``--option extractor=NAME``): ``inception``, the literature's network, whose weights, published as a
pickle, it reads only as a safetensors file converted once; ``mnist-classifier``, a small classifier trained once on
MNIST's
training split, which works offline and is the default on MNIST.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .classifier import ClassifierExtractor
from .inception import InceptionExtractor
from .metrics import FID, KID


@hookimpl
def register_feature_extractors(register):
    """The Inception network and the MNIST classifier."""
    register("inception", InceptionExtractor())
    register("mnist-classifier", ClassifierExtractor("mnist"))


@hookimpl
def register_metrics(register):
    """FID and KID."""
    register("fid", FID())
    register("kid", KID())
