"""Built-in datasets: mnist, svhn, celeba, image-folder (your own images), shapes and glyphs (generated),
and the disentanglement benchmarks' published files: dsprites, 3dshapes, mpi3d.

Each is a :class:`infogan_toolkit.datasets.DatasetPlugin` registered by name through the same
``register_datasets`` hook a third-party plugin uses. ``docs/datasets.md`` gives the file layouts.
"""

from __future__ import annotations

from infogan_toolkit.api import hookimpl

from .celeba import CelebADataset
from .dsprites import DSpritesDataset
from .glyphs import GlyphImages, GlyphsDataset
from .image_folder import ImageFolderDataset
from .mnist import MnistDataset
from .mpi3d import Mpi3dDataset
from .shapes import ShapesDataset, ShapesImages
from .shapes3d import Shapes3dDataset
from .svhn import SvhnDataset

__all__ = [
    "CelebADataset",
    "DSpritesDataset",
    "Mpi3dDataset",
    "Shapes3dDataset",
    "GlyphImages",
    "GlyphsDataset",
    "ImageFolderDataset",
    "MnistDataset",
    "ShapesDataset",
    "ShapesImages",
    "SvhnDataset",
]


@hookimpl
def register_datasets(register):
    """Register the nine built-in datasets."""
    register("mnist", MnistDataset())
    register("svhn", SvhnDataset())
    register("celeba", CelebADataset())
    register("image-folder", ImageFolderDataset())
    register("shapes", ShapesDataset())
    register("glyphs", GlyphsDataset())
    register("dsprites", DSpritesDataset())
    register("3dshapes", Shapes3dDataset())
    register("mpi3d", Mpi3dDataset())
