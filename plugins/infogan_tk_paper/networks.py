"""The paper's networks (PAPER.md Tables 1-4 and 6) and a small 64x64 network for the shapes data.

Each ``make_*`` method reads as its table row; the shared frame (heads, options, init) is in
:mod:`.base`. Activations: D uses leaky ReLU with the ``leak`` option, G uses ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from infogan_toolkit.api import ConfigError

from .base import PaperBackbone
from .layers import Flatten, conv, fc, upconv


def _lrelu(opts: dict[str, Any]) -> nn.LeakyReLU:
    return nn.LeakyReLU(opts["leak"])


def _check_width(backbone: str, width: Any) -> None:
    """The base channel count of the toolkit's own networks: a whole number in 1..1024."""
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 1024:
        raise ConfigError(
            f"backbone '{backbone}' option 'width' must be a whole number in 1..1024, got {width!r}; "
            f"use 32 (default) or 16 for a faster, smaller network"
        )


class MnistBackbone(PaperBackbone):
    """Table 1, MNIST: 28x28 gray; the Q head is a separate FC128-BN-lReLU-FC on the FC1024 features."""

    name = "mnist"
    source = "paper Table 1"
    image_shape = (1, 28, 28)
    output_range = "unit"  # sigmoid: the authors' code modelled pixels as Bernoulli means
    default_noise_dim = 62
    default_codes = "cat10,unif2"
    default_dataset = "mnist"

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """Table 1 G: FC 1024, FC 7x7x128, upconv 64, upconv 1 + sigmoid (28x28)."""
        return nn.Sequential(
            *fc(input_dim, 1024, nn.ReLU(), bn=True),
            *fc(1024, 7 * 7 * 128, nn.ReLU(), bn=True),
            nn.Unflatten(1, (128, 7, 7)),
            *upconv(128, 64, nn.ReLU(), bn=True),  # 14x14
            *upconv(64, 1, nn.Sigmoid(), bn=False),  # 28x28
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """Table 1 D/Q trunk: conv 64, conv 128, FC 1024 (the features both heads read)."""
        trunk = nn.Sequential(
            *conv(in_channels, 64, _lrelu(opts), bn=False),  # 14x14
            *conv(64, 128, _lrelu(opts), bn=True),  # 7x7
            Flatten(),
            *fc(7 * 7 * 128, 1024, _lrelu(opts), bn=True),
        )
        return trunk, 1024


class SvhnBackbone(PaperBackbone):
    """Table 2, SVHN: 32x32 color; D and Q heads sit on the flattened 4x4x256 conv features."""

    name = "svhn"
    source = "paper Table 2"
    image_shape = (3, 32, 32)
    output_range = "symmetric"
    default_noise_dim = 124
    default_codes = "cat10x4,unif4"  # the appendix layout (the main text says 2 continuous codes)
    default_dataset = "svhn"

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """Table 2 G: FC 2x2x448, upconv 256 (BN), 128, 64 (no BN), 3 + tanh (32x32)."""
        return nn.Sequential(
            *fc(input_dim, 2 * 2 * 448, nn.ReLU(), bn=True),
            nn.Unflatten(1, (448, 2, 2)),
            *upconv(448, 256, nn.ReLU(), bn=True),  # 4x4
            *upconv(256, 128, nn.ReLU(), bn=False),  # 8x8 (no BN in the table)
            *upconv(128, 64, nn.ReLU(), bn=False),  # 16x16 (no BN in the table)
            *upconv(64, 3, nn.Tanh(), bn=False),  # 32x32
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """Table 2 D/Q trunk: conv 64, 128, 256, flattened to 4096 features."""
        trunk = nn.Sequential(
            *conv(in_channels, 64, _lrelu(opts), bn=False),  # 16x16
            *conv(64, 128, _lrelu(opts), bn=True),  # 8x8
            *conv(128, 256, _lrelu(opts), bn=True),  # 4x4
            Flatten(),
        )
        return trunk, 4 * 4 * 256


class CelebaBackbone(SvhnBackbone):
    """Table 3, CelebA: the SVHN network with ten 10-way codes (228-d input by default)."""

    name = "celeba"
    source = "paper Table 3 (= Table 2)"
    default_noise_dim = 128
    default_codes = "cat10x10"
    default_dataset = "celeba"


class FacesBackbone(PaperBackbone):
    """Table 4, 3D faces: 32x32 gray; D and Q share the whole net, both heads are FCs on FC1024."""

    name = "faces"
    source = "paper Table 4"
    shared_q = True
    image_shape = (1, 32, 32)
    output_range = "unit"
    default_noise_dim = 128
    default_codes = "unif5"
    default_dataset = "image-folder"

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """Table 4 G: FC 1024, FC 8x8x128, upconv 64, upconv 1 + sigmoid (32x32)."""
        return nn.Sequential(
            *fc(input_dim, 1024, nn.ReLU(), bn=True),
            *fc(1024, 8 * 8 * 128, nn.ReLU(), bn=True),
            nn.Unflatten(1, (128, 8, 8)),
            *upconv(128, 64, nn.ReLU(), bn=True),  # 16x16
            *upconv(64, 1, nn.Sigmoid(), bn=False),  # 32x32
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """Table 4 D/Q net without its last layer: conv 64, conv 128, FC 1024."""
        trunk = nn.Sequential(
            *conv(in_channels, 64, _lrelu(opts), bn=False),  # 16x16
            *conv(64, 128, _lrelu(opts), bn=True),  # 8x8
            Flatten(),
            *fc(8 * 8 * 128, 1024, _lrelu(opts), bn=True),
        )
        return trunk, 1024


class ChairsBackbone(PaperBackbone):
    """Table 6, 3D chairs: 64x64 gray; stride-1 4x4 (up)convolutions keep 8x8 ("SAME" padding 1/2)."""

    name = "chairs"
    source = "paper Table 6"
    shared_q = True
    image_shape = (1, 64, 64)
    output_range = "unit"
    default_noise_dim = 128
    default_codes = "unif1,cat20x3"  # the appendix layout (the main text says 4 x Cat(20))
    default_dataset = "image-folder"

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """Table 6 G: FC 1024, FC 8x8x256, upconv4 256 x2 (stride 1), upconv 128, 64, 1 + sigmoid (64x64)."""
        return nn.Sequential(
            *fc(input_dim, 1024, nn.ReLU(), bn=True),
            *fc(1024, 8 * 8 * 256, nn.ReLU(), bn=True),
            nn.Unflatten(1, (256, 8, 8)),
            *upconv(256, 256, nn.ReLU(), bn=True, stride=1),  # 8x8
            *upconv(256, 256, nn.ReLU(), bn=True, stride=1),  # 8x8
            *upconv(256, 128, nn.ReLU(), bn=True),  # 16x16
            *upconv(128, 64, nn.ReLU(), bn=True),  # 32x32
            *upconv(64, 1, nn.Sigmoid(), bn=False),  # 64x64: the table's stride-1 would stay 32x32
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """Table 6 D/Q net without its last layer: conv 64, 128, 256, conv4 256 x2 (stride 1), FC 1024."""
        trunk = nn.Sequential(
            *conv(in_channels, 64, _lrelu(opts), bn=False),  # 32x32
            *conv(64, 128, _lrelu(opts), bn=True),  # 16x16
            *conv(128, 256, _lrelu(opts), bn=True),  # 8x8
            *conv(256, 256, _lrelu(opts), bn=True, stride=1),  # 8x8
            *conv(256, 256, _lrelu(opts), bn=True, stride=1),  # 8x8
            Flatten(),
            *fc(8 * 8 * 256, 1024, _lrelu(opts), bn=True),
        )
        return trunk, 1024


class ShapesBackbone(PaperBackbone):
    """Not from the paper: a small 64x64 gray network for the procedural shapes data.

    Options: ``width`` (w, 32 by default), ``layout`` and ``d_norm``.

    * ``layout = "wide"``: four halving convolutions (w, 2w, 4w, 4w channels) take 64x64 to 4x4 and
      an FC 8w feeds both the D logit and the paper-style separate Q head; G mirrors D's maps.
    * ``layout = "lean"``: channels w, w, 2w, 2w and an FC 4w, as in the dSprites networks of later
      InfoGAN work (Lin et al. 2020); G is FC 4w, FC 4x4x2w, upconv 2w, w, w, 1.
    * ``d_norm``: ``"batch"`` puts batch norm after D's hidden layers, ``"none"`` leaves it out,
      ``"spectral"`` leaves it out and spectrally normalises every weight of the trunk and the D logit
      (as the dSprites networks of Lin et al. 2020 do); Q's head is left as it is.
    """

    name = "shapes"
    source = "toolkit choice, DCGAN-like, 64x64"
    image_shape = (1, 64, 64)
    output_range = "unit"
    default_noise_dim = 5
    default_codes = "cat3,unif4"
    default_dataset = "shapes"
    default_options = {"leak": 0.1, "width": 32, "layout": "wide", "d_norm": "batch"}
    _layouts = {"wide": (1, 2, 4, 4, 8), "lean": (1, 1, 2, 2, 4)}
    _d_norms = ("batch", "none", "spectral")

    def check_options(self, opts: dict[str, Any]) -> None:
        """``width`` must be a whole number in 1..1024; ``layout`` and ``d_norm`` one of their names."""
        _check_width(self.name, opts["width"])
        for key, known in (("layout", tuple(self._layouts)), ("d_norm", self._d_norms)):
            if opts[key] not in known:
                raise ConfigError(
                    f"backbone '{self.name}' option '{key}' must be one of {', '.join(map(repr, known))}, "
                    f"got {opts[key]!r}; use {known[0]!r} (default)"
                )

    def _channels(self, opts: dict[str, Any]) -> tuple[int, ...]:
        return tuple(m * opts["width"] for m in self._layouts[opts["layout"]])

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """G: FC c4, FC 4x4xc3, upconv c2, c1, c0, C + sigmoid (64x64), mirroring D's channels c0..c4."""
        c0, c1, c2, c3, c4 = self._channels(opts)
        return nn.Sequential(
            *fc(input_dim, c4, nn.ReLU(), bn=True),
            *fc(c4, 4 * 4 * c3, nn.ReLU(), bn=True),
            nn.Unflatten(1, (c3, 4, 4)),
            *upconv(c3, c2, nn.ReLU(), bn=True),  # 8x8
            *upconv(c2, c1, nn.ReLU(), bn=True),  # 16x16
            *upconv(c1, c0, nn.ReLU(), bn=True),  # 32x32
            *upconv(c0, self.image_shape[0], nn.Sigmoid(), bn=False),  # 64x64
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """D/Q trunk: conv c0, c1, c2, c3, FC c4 (the features both heads read)."""
        c0, c1, c2, c3, c4 = self._channels(opts)
        bn = opts["d_norm"] == "batch"
        trunk = nn.Sequential(
            *conv(in_channels, c0, _lrelu(opts), bn=False),  # 32x32
            *conv(c0, c1, _lrelu(opts), bn=bn),  # 16x16
            *conv(c1, c2, _lrelu(opts), bn=bn),  # 8x8
            *conv(c2, c3, _lrelu(opts), bn=bn),  # 4x4
            Flatten(),
            *fc(4 * 4 * c3, c4, _lrelu(opts), bn=bn),
        )
        return trunk, c4

    def finish_d_side(self, parts: Sequence[nn.Module], opts: dict[str, Any]) -> None:
        """With ``d_norm = "spectral"``, spectrally normalise every conv and linear weight of ``parts``
        (D's trunk and logit; the pair classifier, as Lin et al. do)."""
        if opts["d_norm"] == "spectral":
            for part in parts:
                for module in part.modules():
                    if isinstance(module, (nn.Conv2d, nn.Linear)):
                        spectral_norm(module)


class Rgb64Backbone(ShapesBackbone):
    """Not from the paper: the ``shapes`` network for 3x64x64 colour images (3D Shapes, MPI3D).

    The same layers and options as ``shapes``; D reads and G draws three channels.
    """

    name = "rgb64"
    source = "toolkit choice, the shapes network in colour, 64x64"
    image_shape = (3, 64, 64)
    default_noise_dim = 5
    default_codes = "cat4,unif5"
    default_dataset = "3dshapes"


class GlyphsBackbone(PaperBackbone):
    """Not from the paper: a small 32x32 gray network for the procedural glyphs, sized to train in
    minutes on a laptop CPU.

    D/Q trunk: conv w, 2w, 4w (4x4 stride 2, 32x32 -> 4x4), FC 8w; G mirrors it: FC 8w,
    FC 4x4x4w, upconv 2w, w, 1 + sigmoid. Batch norm after every hidden layer but D's first, as in
    the paper's tables; Q's head is the paper's separate FC 128. Option ``width`` (w, 32 by default).
    """

    name = "glyphs"
    source = "toolkit choice, DCGAN-like, 32x32"
    image_shape = (1, 32, 32)
    output_range = "unit"
    default_noise_dim = 16
    default_codes = "cat3,unif3"
    default_dataset = "glyphs"
    default_options = {"leak": 0.1, "width": 32}

    def check_options(self, opts: dict[str, Any]) -> None:
        """``width`` must be a whole number in 1..1024."""
        _check_width(self.name, opts["width"])

    def make_generator(self, input_dim: int, opts: dict[str, Any]) -> nn.Module:
        """G: FC 8w, FC 4x4x4w, upconv 2w, w, 1 + sigmoid (32x32)."""
        w = opts["width"]
        return nn.Sequential(
            *fc(input_dim, 8 * w, nn.ReLU(), bn=True),
            *fc(8 * w, 4 * 4 * 4 * w, nn.ReLU(), bn=True),
            nn.Unflatten(1, (4 * w, 4, 4)),
            *upconv(4 * w, 2 * w, nn.ReLU(), bn=True),  # 8x8
            *upconv(2 * w, w, nn.ReLU(), bn=True),  # 16x16
            *upconv(w, 1, nn.Sigmoid(), bn=False),  # 32x32
        )

    def make_trunk(self, opts: dict[str, Any], in_channels: int) -> tuple[nn.Module, int]:
        """D/Q trunk: conv w, 2w, 4w, FC 8w."""
        w = opts["width"]
        trunk = nn.Sequential(
            *conv(in_channels, w, _lrelu(opts), bn=False),  # 16x16
            *conv(w, 2 * w, _lrelu(opts), bn=True),  # 8x8
            *conv(2 * w, 4 * w, _lrelu(opts), bn=True),  # 4x4
            Flatten(),
            *fc(4 * 4 * 4 * w, 8 * w, _lrelu(opts), bn=True),
        )
        return trunk, 8 * w


#: Registered name -> backbone class, in the order `infogan-tk list` shows them.
BACKBONES: dict[str, type[PaperBackbone]] = {
    cls.name: cls
    for cls in (
        MnistBackbone,
        SvhnBackbone,
        CelebaBackbone,
        FacesBackbone,
        ChairsBackbone,
        ShapesBackbone,
        Rgb64Backbone,
        GlyphsBackbone,
    )
}
