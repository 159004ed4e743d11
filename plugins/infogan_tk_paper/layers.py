"""Building blocks shared by the paper's networks, and the one weight initialisation they all use.

Conventions (PAPER.md, "Experiments, code layouts and networks"):

* ``conv4/2`` is ``Conv2d(k=4, s=2, p=1)``: sizes halve. ``upconv4/2`` is
  ``ConvTranspose2d(k=4, s=2, p=1)``: sizes double.
* Stride-1 ``conv4`` / ``upconv4`` (the chairs network) keep the size: a 4x4 kernel needs 3 padding
  units in total, placed 1 before and 2 after (TensorFlow's "SAME", which the authors used).
  :class:`SameConv2d` and :class:`SameConvTranspose2d` do exactly that, and are each other's adjoint.
* A block with batch norm is ``layer -> BN -> activation`` (as in the authors' released code), and
  its layer has no bias: BN subtracts the batch mean, which cancels any bias.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Hidden width of the paper's Q head (``FC128-BN-lReLU-FC``).
Q_HIDDEN = 128


class SameConv2d(nn.Conv2d):
    """4x4 stride-1 convolution that keeps H and W, padding 1 before and 2 after each axis.

    The padding is applied explicitly because PyTorch's ``padding="same"`` with an even kernel
    warns and makes a padded copy anyway.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size=4, stride=1, padding=0, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Pad (left 1, right 2, top 1, bottom 2), then convolve."""
        return super().forward(F.pad(x, (1, 2, 1, 2)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """4x4 stride-1 transposed convolution that keeps H and W (the adjoint of :class:`SameConv2d`).

    ``ConvTranspose2d(k=4, s=1, p=1)`` gives ``H + 1``; dropping the last row and column removes
    1 unit before and 2 after from the full ``H + 3`` output, mirroring :class:`SameConv2d`.
    (``output_padding`` cannot do this: PyTorch requires it to be smaller than the stride.)
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size=4, stride=1, padding=1, bias=bias)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """Transposed convolution, cropped back to the input's spatial size."""
        return super().forward(x, output_size)[..., :-1, :-1]


class _FlattenKeepingLayout(torch.autograd.Function):
    """``x.flatten(1)`` whose gradient comes back in ``x``'s memory format."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: D102 - see the class
        ctx.shape = x.shape
        ctx.channels_last = (
            x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        )
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: D102 - see the class
        grad = grad.reshape(ctx.shape)
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class Flatten(nn.Module):
    """``nn.Flatten()`` (features in C, H, W order whatever the layout) whose gradient keeps the
    input's memory format. A channels_last feature map flattens through a copy, and that copy's
    gradient arrives contiguous; the activation before it would then take its backward pass on
    mismatched layouts, several times slower on a CPU than on matching ones."""

    def forward(self, x: Tensor) -> Tensor:
        """Flatten all but the batch dimension."""
        return _FlattenKeepingLayout.apply(x)


def init_weights(module: nn.Module) -> None:
    """DCGAN-style initialisation, applied with ``net.apply(init_weights)``.

    Conv, transposed-conv and linear weights ~ N(0, 0.02); batch-norm scales ~ N(1, 0.02); every
    bias 0. The paper does not state an initialisation; this is the common GAN default (Radford et
    al. 2015) and what the toolkit uses for every paper network.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def conv(cin: int, cout: int, act: nn.Module, *, bn: bool, stride: int = 2) -> list[nn.Module]:
    """``conv4/s cout [BN] act``: stride 2 halves the size, stride 1 keeps it."""
    layer: nn.Module
    if stride == 2:
        layer = nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=not bn)
    elif stride == 1:
        layer = SameConv2d(cin, cout, bias=not bn)
    else:
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return [layer, *([nn.BatchNorm2d(cout)] if bn else []), act]


def upconv(cin: int, cout: int, act: nn.Module, *, bn: bool, stride: int = 2) -> list[nn.Module]:
    """``upconv4/s cout [BN] act``: stride 2 doubles the size, stride 1 keeps it."""
    layer: nn.Module
    if stride == 2:
        layer = nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1, bias=not bn)
    elif stride == 1:
        layer = SameConvTranspose2d(cin, cout, bias=not bn)
    else:
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return [layer, *([nn.BatchNorm2d(cout)] if bn else []), act]


def fc(fin: int, fout: int, act: nn.Module, *, bn: bool) -> list[nn.Module]:
    """``FC fout [BN] act`` on flat features; BN is per unit (BatchNorm1d), as for any FC layer."""
    return [nn.Linear(fin, fout, bias=not bn), *([nn.BatchNorm1d(fout)] if bn else []), act]


def q_mlp(features: int, q_width: int, leak: float) -> nn.Sequential:
    """The paper's separate Q head: ``FC128 - BN - lReLU - FC q_width``."""
    return nn.Sequential(*fc(features, Q_HIDDEN, nn.LeakyReLU(leak), bn=True), nn.Linear(Q_HIDDEN, q_width))
