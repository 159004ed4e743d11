"""The standard FID feature extractor: torch-fidelity's port of the TensorFlow Inception network.

torch-fidelity publishes its weights as a pickle (``.pth``), and nothing in the toolkit unpickles:
the extractor reads the same tensors as a safetensors file, ``weights-inception-2015-12-05-6726825d
.safetensors`` in the extractor cache, which a user makes once from the published file (the
one-line conversion is in docs/evaluation.md). Without it the extractor does not apply, and the
message names the file, where it goes and where the original comes from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from infogan_toolkit.api import (
    ExtractorRequest,
    FeatureExtractor,
    ToolkitError,
    cache_dir,
)

#: Where torch-fidelity publishes the weights (a pickle; convert it once, see the module docstring).
WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.safetensors"


def weights_path() -> Path:
    """``$INFOGAN_TK_CACHE/extractors/weights-inception-2015-12-05-6726825d.safetensors``."""
    return cache_dir() / "extractors" / WEIGHTS_FILE


def missing_weights() -> str:
    """What to do when the weights file is not in place."""
    return (
        f"its weights are not at {weights_path()}; convert {WEIGHTS_URL} to safetensors once "
        "(docs/evaluation.md, 'Image quality') and place it there"
    )


class _Inception(nn.Module):
    """[0, 1] images of any size and 1 or 3 channels -> the 2048 pool features (resized inside to 299)."""

    num_features = 2048

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.net(x).reshape(x.shape[0], -1)


class InceptionExtractor(FeatureExtractor):
    """The 2048-d pool features of Inception-v3 (the FID of the literature)."""

    description = (
        "Inception-v3 pool features as in the FID literature (torch-fidelity's weights, converted once to safetensors)"
    )

    def not_applicable(self, request: ExtractorRequest) -> str | None:
        """Needs 1- or 3-channel images and its weights file."""
        if request.image_shape[0] not in (1, 3):
            return f"it takes 1- or 3-channel images, not {request.image_shape[0]}"
        if not weights_path().is_file():
            return missing_weights()
        return None

    def identity(self, request: ExtractorRequest) -> dict:
        """The weights file."""
        return {"weights": str(weights_path()), "source": WEIGHTS_URL}

    def build(self, request: ExtractorRequest) -> nn.Module:
        """torchmetrics' non-training Inception on the checked weights."""
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError:
            raise ToolkitError(
                "the inception extractor needs torchmetrics and torch-fidelity; pip install 'infogan-toolkit[eval]'"
            ) from None
        path = weights_path()
        if not path.is_file():
            raise ToolkitError(f"the inception extractor cannot run: {missing_weights()}")
        try:
            state = load_file(str(path), device="cpu")
            with tempfile.TemporaryDirectory() as tmp:
                # torch-fidelity takes its weights as a file it opens itself: hand it these tensors alone.
                clean = Path(tmp) / "inception.pth"
                torch.save(state, clean)
                net = NoTrainInceptionV3(
                    name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(clean)
                )
        except Exception as exc:
            raise ToolkitError(
                f"{path} does not hold the Inception weights ({str(exc).splitlines()[0][:100]}); convert "
                f"{WEIGHTS_URL} again"
            ) from None
        return _Inception(net).to(request.device).eval()
