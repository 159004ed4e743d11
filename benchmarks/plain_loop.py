"""A deliberately plain InfoGAN training loop, written only as the baseline for ``throughput.py``.

It follows the pattern most public InfoGAN reimplementations use, so that the benchmark can say how
much the toolkit's engine gains over it on the same machine, networks and batch size:

- images come from ``torchvision.datasets.MNIST`` (the real IDX files) with a ``ToTensor``
  transform, through a ``DataLoader`` (shuffle, ``num_workers=0``), and are copied to the device
  every step;
- the networks are the paper's MNIST networks built by the registered backbone, so the FLOPs per
  image match the engine's;
- three Adam optimisers (D, G, and a separate one for the Q head), and the classic sequential
  update: a D step on real and ``fake.detach()``, then a G+Q step with a fresh D forward on the
  fake batch;
- ``.item()`` on every loss every step (a host synchronisation per step).

None of this is how the toolkit trains; do not copy it into a run.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from infogan_toolkit.backbones import Backbone, BuildRequest
from infogan_toolkit.errors import DataError

#: The four files torchvision's MNIST insists on finding (uncompressed) in ROOT/MNIST/raw.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: The paper's MNIST latent layout (Table 1, appendix C): 62 noise units, one Cat(10), two Unif(-1, 1).
NOISE_DIM = 62
N_CATEGORIES = 10
N_CONTINUOUS = 2


def _source_file(raw: Path, name: str) -> Path | None:
    """The IDX file ``name`` in ``raw``, gzipped or not, or None."""
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_dir(root: Path) -> Path:
    """The folder holding the four MNIST IDX files: ``root`` itself or ``root/MNIST/raw``."""
    for raw in (root, root / "MNIST" / "raw"):
        if all(_source_file(raw, name) for name in IDX_FILES):
            return raw
    raise DataError(
        f"no MNIST IDX files in '{root}'; pass --mnist-root DIR holding {', '.join(IDX_FILES)} (each may be .gz)"
    )


def stage_mnist(source: Path, workdir: Path) -> Path:
    """Lay the IDX files out as torchvision expects (``ROOT/MNIST/raw``, uncompressed); return ROOT.

    torchvision reads only uncompressed files and will not unpack them without ``download=True``,
    which would reach for the network, so the files are copied (gunzipped) into ``workdir``. A
    marker file records a complete copy, so later batch sizes reuse it.
    """
    marker = workdir / ".staged"
    if marker.is_file():
        return workdir
    raw_in = find_idx_dir(source)
    raw_out = workdir / "MNIST" / "raw"
    raw_out.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        src = _source_file(raw_in, name)
        assert src is not None  # find_idx_dir checked
        dest = raw_out / name
        try:
            if src.suffix == ".gz":
                with gzip.open(src, "rb") as fin, dest.open("wb") as fout:
                    shutil.copyfileobj(fin, fout)
            else:
                shutil.copyfile(src, dest)
        except (OSError, EOFError) as exc:
            raise DataError(f"cannot unpack '{src}' ({exc}); replace the file with an intact copy") from None
    marker.touch()
    return workdir


def mnist_loader(root: Path, batch_size: int) -> torch.utils.data.DataLoader:
    """The usual torchvision pipeline: MNIST train split, ToTensor, shuffled batches, no workers."""
    from torchvision import datasets, transforms

    try:
        dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    except RuntimeError as exc:  # torchvision's "Dataset not found" or a truncated file
        raise DataError(
            f"torchvision could not read MNIST under '{root}' ({exc}); pass --mnist-root DIR with the IDX files"
        ) from None
    if len(dataset) < batch_size:
        raise DataError(
            f"MNIST under '{root}' holds {len(dataset)} images, fewer than one batch of {batch_size}; use a smaller "
            "batch"
        )
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0, drop_last=True)


def _forever(loader: torch.utils.data.DataLoader) -> Iterator[Tensor]:
    """Images from the loader, epoch after epoch (labels dropped)."""
    while True:
        for images, _ in loader:
            yield images


class PlainInfoGAN:
    """The baseline loop: sequential D then G+Q updates, three Adams, ``.item()`` every step."""

    def __init__(
        self, backbone: Backbone, loader: torch.utils.data.DataLoader, device: torch.device, seed: int = 0
    ) -> None:
        torch.manual_seed(seed)
        request = BuildRequest(
            noise_dim=NOISE_DIM,
            code_width=N_CATEGORIES + N_CONTINUOUS,
            q_width=N_CATEGORIES + 2 * N_CONTINUOUS,  # logits, then (mean, log std) per continuous code
        )
        nets = backbone.build(request)
        self.G = nets.generator.to(device)
        self.D = nets.discriminator.to(device)
        self.device = device
        self.batch_size = loader.batch_size
        self.batches = _forever(loader)
        betas = (0.5, 0.999)
        self.opt_d = torch.optim.Adam(
            list(self.D.trunk.parameters()) + list(self.D.d_head.parameters()), lr=2e-4, betas=betas
        )
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=betas)
        self.opt_q = torch.optim.Adam(self.D.q_head.parameters(), lr=2e-4, betas=betas)

    def sample_latent(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """Generator input, the categorical labels and the continuous values."""
        z = torch.randn(n, NOISE_DIM, device=self.device)
        labels = torch.randint(0, N_CATEGORIES, (n,), device=self.device)
        cont = torch.rand(n, N_CONTINUOUS, device=self.device) * 2 - 1
        one_hot = F.one_hot(labels, N_CATEGORIES).float()
        return torch.cat([z, one_hot, cont], dim=1), labels, cont

    @staticmethod
    def info_loss(q: Tensor, labels: Tensor, cont: Tensor) -> Tensor:
        """Cross-entropy for the categorical code plus Gaussian NLL for the continuous ones."""
        loss = F.cross_entropy(q[:, :N_CATEGORIES], labels)
        params = q[:, N_CATEGORIES:].reshape(-1, N_CONTINUOUS, 2)
        mean, log_std = params[..., 0], params[..., 1].clamp(min=-5.0)
        nll = 0.5 * ((cont - mean) * torch.exp(-log_std)) ** 2 + log_std
        return loss + nll.sum(dim=1).mean()

    def step(self) -> dict[str, float]:
        """One D update then one G+Q update; returns the losses as Python floats."""
        real = next(self.batches).to(self.device)
        n = real.shape[0]
        ones = torch.ones(n, device=self.device)
        zeros = torch.zeros(n, device=self.device)
        gin, labels, cont = self.sample_latent(n)
        fake = self.G(gin)

        self.opt_d.zero_grad()
        logit_real, _ = self.D(real)
        logit_fake, _ = self.D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(logit_real, ones) + F.binary_cross_entropy_with_logits(
            logit_fake, zeros
        )
        loss_d.backward()
        self.opt_d.step()

        self.opt_g.zero_grad()
        self.opt_q.zero_grad()
        logit_fake, q = self.D(fake)
        loss_g = F.binary_cross_entropy_with_logits(logit_fake, ones)
        loss_info = self.info_loss(q, labels, cont)
        (loss_g + loss_info).backward()
        self.opt_g.step()
        self.opt_q.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_info": loss_info.item()}
