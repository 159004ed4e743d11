"""FID and KID of generated against real images, in a registered extractor's feature space.

The numbers come from torchmetrics (``FrechetInceptionDistance``, ``KernelInceptionDistance``):
it is maintained with Lightning, takes any ``nn.Module`` as the feature network (what a domain
extractor needs), and its KID is the unbiased MMD estimate over random subsets. Features are
computed once per evaluation and extractor and fed to both metrics (through a pass-through
module), so FID and KID always compare the same images.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from infogan_toolkit.api import (
    ConfigError,
    EvalContext,
    ExtractorRequest,
    Metric,
    cache_dir,
    default_extractor,
)

#: The extractor when none is made for the evaluation's dataset.
FALLBACK_EXTRACTOR = "inception"
#: Real and generated images compared, each (real ones: at most the split).
DEFAULT_IMAGES = 10000
_STREAM_REAL = 11
_STREAM_FAKE = 12


class PassThrough(nn.Module):
    """Features in, the same features out: lets torchmetrics take features computed elsewhere."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


#: The most images (or subsets) an option asks for: FID's custom is 50,000.
MAX_COUNT = 1_000_000


def _whole(ctx: EvalContext, key: str, default: int, minimum: int, maximum: int = MAX_COUNT) -> int:
    text = ctx.options.get(key)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 12 or not minimum <= int(text) <= maximum:
        raise ConfigError(f"--option {key}={text[:40]!r} must be a whole number >= {minimum} and <= {maximum:,}")
    return int(text)


def extractor_name(ctx: EvalContext) -> str:
    """``--option extractor=NAME``, else the one made for the dataset, else Inception."""
    registry = ctx.host.registries.extractors
    name = ctx.options.get("extractor") or default_extractor(registry, ctx.dataset_name, FALLBACK_EXTRACTOR)
    registry.entry(name)  # an unknown name is a one-line error with the known ones
    return name


def _request(ctx: EvalContext) -> ExtractorRequest:
    from infogan_toolkit.api import load_dataset

    return ExtractorRequest(
        image_shape=tuple(ctx.data.image_shape),
        device=ctx.model.device,
        cache=cache_dir(),
        dataset_name=ctx.dataset_name,
        train_split=lambda: load_dataset(ctx.assembly, ctx.host, split="train", name=ctx.dataset_name),
        say=ctx.say,
    )


def quality_features(ctx: EvalContext) -> dict[str, Any]:
    """Real and generated features for this evaluation (computed once, shared by FID and KID)."""
    name = extractor_name(ctx)
    images = _whole(ctx, "images", DEFAULT_IMAGES, 2)

    def compute() -> dict[str, Any]:
        entry = ctx.host.registries.extractors.entry(name)
        extractor = entry.obj
        request = _request(ctx)
        net = extractor.build(request)
        batch = ctx.sizes.batch
        n_real = min(images, len(ctx.data))
        rows = np.random.default_rng((ctx.seed, _STREAM_REAL)).choice(len(ctx.data), size=n_real, replace=False)
        ctx.say(f"{name} features: {n_real} real {ctx.split} images and {images} generated ones")
        real = _features(
            net,
            (
                ctx.data.images(torch.from_numpy(np.sort(rows[i : i + batch]))).float() / 255
                for i in range(0, n_real, batch)
            ),
            ctx.model.device,
        )
        fake = _features(net, _generated(ctx.model, images, batch, ctx.seed), ctx.model.device)
        return {
            "real": real,
            "fake": fake,
            "record": {
                "extractor": {
                    "name": name,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    **extractor.identity(request),
                },
                "real": {"split": ctx.split, "images": n_real, "of": len(ctx.data), "seed": ctx.seed},
                "generated": {"images": images, "seed": ctx.seed},
                "features": int(real.shape[1]),
            },
        }

    return ctx.shared(f"quality-features:{name}:{images}", compute)


@torch.no_grad()
def _features(net: nn.Module, batches: Any, device: torch.device) -> Tensor:
    return torch.cat([net(x.to(device)).double().cpu() for x in batches])


def _generated(model: Any, n: int, batch: int, seed: int):
    """[0, 1] generated images, ``batch`` at a time, from one seeded stream."""
    gen = torch.Generator(device=model.device).manual_seed(seed * 1000 + _STREAM_FAKE)
    for start in range(0, n, batch):
        b = min(batch, n - start)
        yield model.generate(model.noise(b, gen), model.codes.sample(b, gen, model.device))


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between two feature sets ``(n, D)`` (torchmetrics' FrechetInceptionDistance)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=PassThrough(real.shape[1]), reset_real_features=False).double()
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def kernel_distance(real: Tensor, fake: Tensor, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    """KID's mean and standard deviation over ``subsets`` random subsets (torchmetrics' unbiased estimate)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, real.shape[0], fake.shape[0])
    with warnings.catch_warnings():  # its note on keeping all features: they are already in memory here
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(
            feature=PassThrough(real.shape[1]), subsets=subsets, subset_size=size, reset_real_features=False
        )
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng():  # torchmetrics draws its subsets from the global generator
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


class _QualityMetric(Metric):
    default = False  # costly (an extractor, thousands of images): on request only
    options = {
        "extractor": "feature extractor name (`infogan-tk list extractors`); default: the one made for the dataset, "
        "else inception",
        "images": f"real and generated images compared (default {DEFAULT_IMAGES}; real ones at most the split)",
    }

    def not_applicable(self, ctx: EvalContext) -> str | None:
        """Needs torchmetrics and an extractor that can compare the dataset's images."""
        try:
            import torchmetrics  # noqa: F401
        except ImportError:
            return "it needs torchmetrics; pip install 'infogan-toolkit[eval]'"
        name = extractor_name(ctx)
        reason = ctx.host.registries.extractors.get(name).not_applicable(_request(ctx))
        return None if reason is None else f"feature extractor '{name}' cannot run: {reason}"


class FID(_QualityMetric):
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017)."""

    order = 60
    description = "Fréchet distance of generated to real images in a feature extractor's space"

    def run(self, ctx: EvalContext) -> dict:
        """FID on the shared features."""
        feats = quality_features(ctx)
        ctx.say("FID")
        return {"value": frechet_distance(feats["real"], feats["fake"]), **feats["record"]}

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """FID with its extractor and image counts."""
        return [(result["extractor"]["name"], result["value"], _counts(result))]


class KID(_QualityMetric):
    """Kernel (cubic polynomial) MMD between real and generated features (Bińkowski et al. 2018), unbiased."""

    order = 61
    description = (
        "kernel distance (unbiased MMD^2, cubic kernel) of generated to real images, mean and std over subsets"
    )
    options = {
        **_QualityMetric.options,
        "kid_subsets": "random subsets KID averages over (default 100)",
        "kid_subset_size": "images per subset (default 1000, at most the images compared)",
    }

    def run(self, ctx: EvalContext) -> dict:
        """KID on the shared features."""
        feats = quality_features(ctx)
        subsets = _whole(ctx, "kid_subsets", 100, 1)
        size = _whole(ctx, "kid_subset_size", 1000, 2)
        ctx.say(f"KID: {subsets} subsets")
        mean, std = kernel_distance(feats["real"], feats["fake"], subsets, size, ctx.seed)
        used = min(size, feats["real"].shape[0], feats["fake"].shape[0])
        return {"mean": mean, "std": std, "subsets": subsets, "subset_size": used, **feats["record"]}

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """KID's mean, with its spread and subsets."""
        detail = (
            f"std {result['std']:.3g} over {result['subsets']} subsets of {result['subset_size']}; {_counts(result)}"
        )
        return [(result["extractor"]["name"], result["mean"], detail)]


def _counts(result: dict) -> str:
    real, fake = result["real"], result["generated"]
    return f"{real['images']} {real['split']} vs {fake['images']} generated images, {result['features']} features"
