"""The standard FID feature extractor: torch-fidelity's port of the TensorFlow Inception network.

Its weights are one file that the library fetches from its release page. Here it is looked for in
PyTorch's hub cache first; fetching is tried only when ``INFOGAN_TK_OFFLINE`` is unset, and
offline the error names the file and where to place it. The file is a pickle: it is opened with
``torch.load(weights_only=True)``, which refuses anything but tensors, and what reaches the
library's own loader is a copy re-written from those tensors alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from infogan_toolkit.errors import ToolkitError
from infogan_toolkit.extractors import ExtractorRequest, FeatureExtractor

#: Where torch-fidelity publishes the weights, and the file name it gives them.
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_FILE = WEIGHTS_URL.rsplit("/", 1)[1]
#: Set to 1 to never fetch anything (an air-gapped machine, the test suite).
OFFLINE_ENV = "INFOGAN_TK_OFFLINE"


def weights_path() -> Path:
    """``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth`` (``$TORCH_HOME`` moves it)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


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

    description = "Inception-v3 pool features as in the FID literature (torch-fidelity's weights file, fetched once when online)"

    def not_applicable(self, request: ExtractorRequest) -> str | None:
        """Needs 1- or 3-channel images, and its weights when fetching is off."""
        if request.image_shape[0] not in (1, 3):
            return f"it takes 1- or 3-channel images, not {request.image_shape[0]}"
        if offline() and not weights_path().is_file():
            return f"its weights are not at {weights_path()} and {OFFLINE_ENV} is set; place {WEIGHTS_URL} there"
        return None

    def identity(self, request: ExtractorRequest) -> dict:
        """The weights file."""
        return {"weights": str(weights_path()), "source": WEIGHTS_URL}

    def build(self, request: ExtractorRequest) -> nn.Module:
        """torchmetrics' non-training Inception on the checked weights."""
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError:
            raise ToolkitError("the inception extractor needs torchmetrics and torch-fidelity; pip install 'infogan-toolkit[eval]'") from None
        path = weights_path()
        if not path.is_file():
            fetch(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ToolkitError(
                f"{path} is not a plain tensor file ({str(exc).splitlines()[0][:100]}); delete it and place {WEIGHTS_URL} there"
            ) from None
        with tempfile.TemporaryDirectory() as tmp:
            clean = Path(tmp) / WEIGHTS_FILE
            torch.save({k: v for k, v in state.items() if isinstance(v, torch.Tensor)}, clean)
            net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(clean))
        return _Inception(net).to(request.device).eval()


def offline() -> bool:
    """True when ``INFOGAN_TK_OFFLINE`` forbids fetching."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def fetch(path: Path) -> None:
    """Download the weights to ``path``, or a one-line error that says where to put them by hand."""
    if offline():
        reason = f"{OFFLINE_ENV} is set"
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(WEIGHTS_URL, str(path), progress=False)
            return
        except Exception as exc:  # offline, a proxy, a full disk: all end the same way
            reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
    raise ToolkitError(
        f"the Inception weights are not at {path} and were not fetched ({reason}); download {WEIGHTS_URL} "
        f"elsewhere and place it there, or pick an offline extractor with --option extractor=NAME (`infogan-tk list extractors`)"
    )
