"""A domain feature extractor: a small classifier trained on a labelled data set's training split.

Inception features describe natural photographs; on 28x28 digits they say little. The usual answer
in the GAN literature is a classifier of the domain itself (hence "MNIST-FID"). This one is trained
once, seeded, on the training split of the data set it is named for, and kept as safetensors under
the extractor cache; its features are the 128 activations before the class layer. Numbers made
with it are comparable only with numbers made with the same file, so the report records its hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from infogan_toolkit.api import (
    DataError,
    ExtractorRequest,
    FeatureExtractor,
    ImageDataset,
    ToolkitError,
)

#: Bumped when the network or its training changes, so an old file is never read as a new one.
RECIPE = 1


class ClassifierNet(nn.Module):
    """Two strided convolutions and a 128-unit layer, then the class layer; ``features`` stops before it."""

    num_features = 128

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, stride=2, padding=2)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.hidden = nn.Linear(64 * 7 * 7, self.num_features)
        self.out = nn.Linear(self.num_features, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the 128 activations the metrics compare."""
        x = F.relu(self.conv1(x * 2 - 1))
        x = self.pool(F.relu(self.conv2(x)))
        return F.relu(self.hidden(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.out(self.features(x))


class _Features(nn.Module):
    """The module a metric calls: images -> features."""

    def __init__(self, net: ClassifierNet) -> None:
        super().__init__()
        self.net = net
        self.num_features = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


class ClassifierExtractor(FeatureExtractor):
    """Features of a classifier trained on ``dataset``'s training split (``epochs`` passes, seeded)."""

    def __init__(self, dataset: str, epochs: int = 2, batch: int = 128, seed: int = 0, holdout: int = 5000) -> None:
        self.dataset = dataset
        self.datasets = (dataset,)
        self.epochs, self.batch, self.seed, self.holdout = epochs, batch, seed, holdout
        self.description = (
            f"a small classifier trained on {dataset}'s training split, kept under the extractor cache "
            f"(FID on it is '{dataset}-FID')"
        )

    def not_applicable(self, request: ExtractorRequest) -> str | None:
        """Only for the data set it is made for: its features mean nothing on other images."""
        if request.dataset_name != self.dataset:
            return f"it is made for dataset '{self.dataset}', not '{request.dataset_name}'"
        return None

    def weights_path(self, request: ExtractorRequest) -> Path:
        """The file it trains once and reuses."""
        shape = "x".join(str(s) for s in request.image_shape)
        return request.cache / "extractors" / f"classifier-{self.dataset}-{shape}-r{RECIPE}.safetensors"

    def identity(self, request: ExtractorRequest) -> dict:
        """The weights file, its SHA-256 and the held-out accuracy it reached."""
        path = self.weights_path(request)
        if not path.is_file():
            return {}
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        return {
            "weights": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "holdout_accuracy": float(meta.get("holdout_accuracy", "nan")),
            "trained_on": json.loads(meta.get("trained_on", "{}")),
        }

    def build(self, request: ExtractorRequest) -> nn.Module:
        """Load the kept classifier, training it first if there is none."""
        path = self.weights_path(request)
        if not path.is_file():
            self.train(request, path)
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
            net = ClassifierNet(request.image_shape[0], int(meta["classes"]))
            net.load_state_dict(tensors)
        except Exception as exc:  # a damaged or foreign file: say which, and how to get a new one
            raise ToolkitError(
                f"the classifier weights {path} do not load ({str(exc).splitlines()[0][:120]}); delete the file and "
                "it is trained again"
            ) from None
        return _Features(net).to(request.device).eval()

    def train(self, request: ExtractorRequest, path: Path) -> None:
        """Train on the training split (less a seeded hold-out that measures it) and save as safetensors."""
        data = request.train_split()
        labels = data.labels
        if labels is None:
            raise DataError(f"dataset '{self.dataset}' has no labels to train the classifier extractor on")
        n = len(data)
        holdout = min(self.holdout, n // 5)
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(n, generator=gen)
        train_idx, held_idx = order[holdout:], order[:holdout]
        classes = int(labels.max()) + 1
        torch.manual_seed(self.seed)
        net = ClassifierNet(request.image_shape[0], classes).to(request.device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        request.say(
            f"training the {self.dataset} classifier extractor: {self.epochs} epochs on {len(train_idx)} images "
            f"(once; kept at {path})"
        )
        for _epoch in range(self.epochs):
            perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
            for start in range(0, len(perm), self.batch):
                idx = perm[start : start + self.batch]
                x = data.images(idx).to(request.device).float() / 255
                loss = F.cross_entropy(net(x), labels[idx].to(request.device).long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        accuracy = held_out_accuracy(net, data, held_idx, request.device, self.batch)
        request.say(f"classifier extractor: {accuracy:.2%} on {holdout} held-out training images")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        meta = {
            "classes": str(classes),
            "holdout_accuracy": f"{accuracy:.6f}",
            "trained_on": json.dumps(
                {
                    "dataset": self.dataset,
                    "images": len(train_idx),
                    "holdout": holdout,
                    "epochs": self.epochs,
                    "seed": self.seed,
                }
            ),
            "recipe": str(RECIPE),
        }
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata=meta)
        tmp.replace(path)


@torch.no_grad()
def held_out_accuracy(
    net: ClassifierNet, data: ImageDataset, index: torch.Tensor, device: torch.device, batch: int
) -> float:
    """The fraction of ``index``'s images that ``net`` classifies as labelled (1.0 for no images)."""
    if len(index) == 0:
        return 1.0
    net.eval()
    right = 0
    for start in range(0, len(index), batch):
        idx = index[start : start + batch]
        pred = net(data.images(idx).to(device).float() / 255).argmax(1).cpu()
        right += int((pred == data.labels[idx].cpu()).sum())
    net.train()
    return right / len(index)
