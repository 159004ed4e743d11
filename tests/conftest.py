"""Shared fixtures: a tiny in-process plugin (8x8 backbone and dataset) so engine tests take seconds."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from infogan_tk_mnist_data import verified_dir
from infogan_toolkit import hookimpl
from infogan_toolkit.backbones import Backbone, BuildRequest, InfoDiscriminator, Networks
from infogan_toolkit.config import Config, apply_dict
from infogan_toolkit.datasets import DatasetPlugin, DatasetRequest, TensorImageDataset
from infogan_toolkit.engine.trainer import Trainer
from infogan_toolkit.plugins import PluginHost

#: The MNIST copy the toolkit ships (plugins/mnist-data, installed by scripts/install), hash-checked.
MNIST_RAW = verified_dir()


def install_fake(site: Path, dist: str, module: str, plugin: str, source: str) -> None:
    """A module plus the .dist-info folder importlib.metadata reads: an installed distribution."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[infogan_toolkit]\n{plugin} = {module}\n")


class TinyBackbone(Backbone):
    """A 1x8x8 MLP InfoGAN with batch norm, so the engine's code paths run in milliseconds."""

    image_shape = (1, 8, 8)
    output_range = "unit"
    default_noise_dim = 4
    default_codes = "cat4,unif1"
    default_dataset = "tiny-bars"
    default_options = {"hidden": 32}

    def build(self, request: BuildRequest) -> Networks:
        h = request.options.get("hidden", 32)
        g = nn.Sequential(
            nn.Linear(request.input_dim, h),
            nn.BatchNorm1d(h),
            nn.ReLU(),
            nn.Linear(h, 64),
            nn.Sigmoid(),
            nn.Unflatten(1, (1, 8, 8)),
        )
        trunk = nn.Sequential(
            nn.Flatten(), nn.Linear(64, h), nn.LeakyReLU(0.1), nn.Linear(h, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.1)
        )
        return Networks(g, InfoDiscriminator(trunk, nn.Linear(h, 1), nn.Linear(h, request.q_width)))


class TinyBars(DatasetPlugin):
    """8x8 images with one bright vertical bar; the bar's column is the label."""

    description = "tiny test set"
    needs_root = False

    def load(self, request: DatasetRequest) -> TensorImageDataset:
        gen = torch.Generator().manual_seed(0 if request.split == "train" else 1)
        labels = torch.randint(0, 4, (512,), generator=gen)
        images = torch.zeros(512, 1, 8, 8, dtype=torch.uint8)
        for i, c in enumerate(labels.tolist()):
            images[i, 0, :, 2 * c] = 255
        return TensorImageDataset(images, labels=labels)


class TinyPlugin:
    """Registers the tiny backbone and dataset (an in-process third-party plugin)."""

    @hookimpl
    def register_backbones(self, register):
        register("tiny", TinyBackbone())

    @hookimpl
    def register_datasets(self, register):
        register("tiny-bars", TinyBars())


@pytest.fixture
def host() -> PluginHost:
    """A fresh plugin host with the built-ins and the tiny plugin."""
    h = PluginHost()
    h.register(TinyPlugin(), "tiny-test-plugin")
    try:
        yield h
    finally:
        h.unregister("tiny-test-plugin")


@pytest.fixture
def mnist_root() -> Path:
    """The folder of the real MNIST IDX files the toolkit ships."""
    return MNIST_RAW


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path_factory):
    """Tests never inherit a developer's plugin switches or extractor cache."""
    for var in ("INFOGAN_TK_DISABLE_PLUGINS", "INFOGAN_TK_TRACE_HOOKS", "INFOGAN_TK_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("INFOGAN_TK_CACHE", str(tmp_path_factory.getbasetemp() / "extractor-cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """An IDX3 uint8 image file (magic 0x803), gzipped."""
    n, h, w = images.shape
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """An IDX1 uint8 label file (magic 0x801), gzipped."""
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Path:
    """A 32-image MNIST in the four real IDX files (gzipped), as the plain loop's torchvision reads them."""
    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 32), ("t10k", 8)):
        write_idx_images(root / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx_labels(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return root


@pytest.fixture(scope="session")
def bars_mnist_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-step `mnist` config run on a small MNIST in the real IDX files (200 train, 64 test
    images of a bar whose position is the label), trained through the CLI; (run dir, data root)."""
    from typer.testing import CliRunner

    from infogan_toolkit.cli.app import app

    root = tmp_path_factory.mktemp("bars-mnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 64)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, 4 + 2 * label : 6 + 2 * label, 4:24] = 255
        write_idx_images(root / f"{split}-images-idx3-ubyte.gz", images)
        write_idx_labels(root / f"{split}-labels-idx1-ubyte.gz", labels)
    out = tmp_path_factory.mktemp("bars-mnist-run") / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--config",
            "mnist",
            "--data-root",
            str(root),
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--no-eval",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return out, root


def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    """Per image (row, column) centre of mass of an ``(n, c, h, w)`` batch, in pixels."""
    h, w = x.shape[-2:]
    mass = x.sum(dim=(1, 2, 3))
    rows = (x.sum(dim=(1, 3)) * torch.arange(h)).sum(1) / mass
    cols = (x.sum(dim=(1, 2)) * torch.arange(w)).sum(1) / mass
    return torch.stack([rows, cols], dim=1)


def square_images(n: int, size: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """A bright 4x4 square at a random place in each dark image."""
    x = torch.zeros(n, 1, size, size)
    corners = torch.randint(2, size - 6, (n, 2), generator=generator)
    for i, (r, c) in enumerate(corners.tolist()):
        x[i, :, r : r + 4, c : c + 4] = 1.0
    return x


def position(x: torch.Tensor) -> torch.Tensor:
    """Per image (column, row) centre of mass, in pixels: the order of a shift's (dx, dy)."""
    return centre_of_mass(x).flip(1)


def generator_grads(obj) -> list[torch.Tensor]:
    """G's gradients after one step of an objective on the tiny backbone's 8x8 gray batch (fixed seeds)."""
    real = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    loss_d, loss_g, info, _stats, _ = obj.losses(real, torch.Generator().manual_seed(2))
    obj.backward(loss_d, loss_g, info)
    return [p.grad.clone() for p in obj.g_params]


def train_tiny(host, out: Path, loss: dict, steps: int, log_every: int, codes: str | None = None) -> list[dict]:
    """A real CPU run of the tiny backbone with ``loss`` (e.g. one regulariser's table), batch 16,
    one checkpoint at the end; returns the records of its ``metrics.jsonl``."""
    model = {"backbone": "tiny", **({"codes": codes} if codes else {})}
    cfg = apply_dict(
        Config(),
        {
            "model": model,
            "loss": loss,
            "train": {
                "batch_size": 16,
                "steps": steps,
                "log_every": log_every,
                "checkpoint_every": steps,
                "device": "cpu",
                "figures": False,
                "callbacks": [],
            },
        },
        "t",
    )
    Trainer(cfg, out, host=host, progress=False).run()
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
