"""Evaluate a trained model: run the metric functions on its generator, its Q and a dataset.

The metric modules (``information``, ``accuracy``, ``disentanglement``) work on plain arrays; this
module produces those arrays from a :class:`~infogan_toolkit.model.TrainedModel` and decides which
metrics apply to the chosen dataset. Everything it returns is JSON-ready, and records every size and
seed used and the seconds each metric took, so a number can always be traced to how it was made.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import torch
from torch import Tensor

from ..assembly import Assembly, load_dataset
from ..codes import CodeSet
from ..datasets import ImageDataset
from ..errors import ConfigError
from ..plugins import PluginHost
from ..suggest import did_you_mean
from .accuracy import unsupervised_accuracy
from .disentanglement import UniformFactorSampler, dci, factor_vae_score, mig, sap
from .information import mutual_information_bound

if TYPE_CHECKING:  # the functions only use the model's attributes, so tests may pass a stand-in
    from ..model import TrainedModel

#: Every metric, in the order they run and are reported.
METRICS = ("mi", "accuracy", "mig", "sap", "dci", "factorvae")
#: Metrics that need a dataset (L_I needs only the generator and Q).
DATASET_METRICS = METRICS[1:]
#: The split every dataset metric reads: held-out images where the dataset has them.
EVAL_SPLIT = "test"

# Separate random streams per purpose, so that choosing other metrics never changes a number.
_STREAM_ACCURACY = 1
_STREAM_FACTORS = 2


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute, int], None]:
    def check(_instance: Any, attribute: attrs.Attribute, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"size {attribute.name} must be a whole number >= {minimum}, got {value!r}")

    return check


@attrs.frozen
class EvalSizes:
    """How much data each metric uses; the defaults are the reference sizes (disentanglement_lib)."""

    #: Images per forward pass (memory only; results do not depend on it, the networks are in eval mode).
    batch: int = attrs.field(default=256, validator=_at_least(1))
    #: Test images for the categorical accuracy (all of them when the split is smaller).
    accuracy_samples: int = attrs.field(default=10000, validator=_at_least(1))
    #: Real images whose Q representation and factors feed MIG, and the training part of SAP and DCI.
    factor_samples: int = attrs.field(default=10000, validator=_at_least(2))
    #: Further real images, the held-out part of SAP and DCI.
    factor_test_samples: int = attrs.field(default=5000, validator=_at_least(1))
    mig_bins: int = attrs.field(default=20, validator=_at_least(1))
    dci_trees: int = attrs.field(default=100, validator=_at_least(1))
    #: Training rows for DCI's boosted trees, a seeded subset; 0 means all ``factor_samples``.
    dci_train: int = attrs.field(default=0, validator=_at_least(0))
    factorvae_batch: int = attrs.field(default=64, validator=_at_least(2))
    factorvae_train: int = attrs.field(default=10000, validator=_at_least(1))
    factorvae_eval: int = attrs.field(default=5000, validator=_at_least(1))
    factorvae_variance: int = attrs.field(default=10000, validator=_at_least(2))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The size keys, as ``--size KEY=VALUE`` accepts them."""
        return tuple(f.name for f in attrs.fields(cls))

    def replace(self, overrides: dict[str, int]) -> "EvalSizes":
        """A copy with some sizes changed; an unknown key is a one-line error with a suggestion."""
        for key in overrides:
            if key not in self.names():
                raise ConfigError(
                    f"unknown size '{key}'.{did_you_mean(key, self.names())} Known: {', '.join(self.names())}."
                )
        return attrs.evolve(self, **overrides)


def parse_metrics(text: str | Iterable[str] | None) -> list[str] | None:
    """``"mi,accuracy"`` (or a list of names) -> ordered metric names; ``None`` or ``"all"`` -> ``None`` (all that apply)."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [p.strip().lower() for p in parts if p.strip()]
    if not names:
        raise ConfigError(f"no metric named; pass --metrics with some of: {', '.join(METRICS)}")
    if names == ["all"]:
        return None
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"unknown metric '{name}'.{did_you_mean(name, METRICS)} Known: {', '.join(METRICS)}.")
    return [m for m in METRICS if m in names]


# --------------------------------------------------------------------------------- representations
def point_estimates(codes: CodeSet, q_params: Tensor) -> tuple[np.ndarray, list[str]]:
    """Q's raw outputs ``(n, P)`` -> a representation ``(n, D)`` and a name per column.

    Each code contributes its head's point estimate: the class index of a categorical code, the mean
    of a continuous one (one column per dimension, named ``c2`` or ``c2[0]``, ``c2[1]``...).
    """
    columns: list[np.ndarray] = []
    names: list[str] = []
    for code in codes:
        est = code.head.point_estimate(q_params[:, code.param_slice]).detach().to("cpu", torch.float64)
        est = est.reshape(est.shape[0], -1)
        columns.append(est.numpy())
        names += [code.name] if est.shape[1] == 1 else [f"{code.name}[{j}]" for j in range(est.shape[1])]
    return np.concatenate(columns, axis=1), names


def q_outputs(model: "TrainedModel", dataset: ImageDataset, index: Tensor, batch: int) -> Tensor:
    """Q's raw outputs (float, on the CPU) for the dataset images at ``index``, ``batch`` at a time."""
    index = index.to(model.device)
    out = [model.infer(dataset.images(index[s : s + batch]), batch).cpu() for s in range(0, index.shape[0], batch)]
    return torch.cat(out) if out else torch.zeros(0, model.codes.param_width)


def factor_represent(model: "TrainedModel", dataset: ImageDataset, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    """The FactorVAE ``represent`` callable: factor indices -> grid images -> Q -> point estimates."""

    def represent(factors: np.ndarray) -> np.ndarray:
        index = dataset.factor_index(torch.as_tensor(np.asarray(factors), dtype=torch.long, device=model.device))
        return point_estimates(model.codes, q_outputs(model, dataset, index, batch))[0]

    return represent


def _subset(n: int, wanted: int, rng: np.random.Generator) -> np.ndarray:
    """``wanted`` distinct indices of ``n``, sorted, or all ``n`` when there are no more."""
    if wanted >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=wanted, replace=False))


def _rows(n: int, wanted: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """``wanted`` random row indices of ``n``: distinct when possible, else drawn with replacement."""
    if wanted <= n:
        return rng.choice(n, size=wanted, replace=False), False
    return rng.integers(0, n, size=wanted), True


def _cpu_take(values: Tensor, index: np.ndarray) -> np.ndarray:
    return values.index_select(0, torch.as_tensor(index, dtype=torch.long, device=values.device)).cpu().numpy()


# ------------------------------------------------------------------------------------------ metrics
@torch.no_grad()
def information_bounds(model: "TrainedModel", samples: int, seed: int, batch: int) -> dict:
    """L_I per code (Eq. 5) from ``samples`` generated images, next to the prior entropy H(c).

    Q sees the generator's raw output, exactly as in training. For a discrete code L_I <= H(c);
    a continuous code's L_I is a bound on I(c; x) that differential entropies leave unbounded.
    """
    codes: CodeSet = model.codes
    gen = torch.Generator(device=model.device)
    gen.manual_seed(seed)
    logs: list[list[Tensor]] = [[] for _ in codes]
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        z = model.noise(n, gen)
        values = codes.sample(n, gen, model.device)
        x = model.generator(torch.cat([z, codes.encode(values)], dim=1))
        q = model.discriminator(x)[1].float()
        for i, code in enumerate(codes):
            logs[i].append(code.log_likelihood(q, values[i]).to("cpu", torch.float64))
    per_code = {}
    for code, parts in zip(codes, logs):
        ll = torch.cat(parts)
        h = float(code.code.entropy())
        bound = mutual_information_bound(ll, h)
        per_code[code.name] = {
            "prior": code.code.describe(),
            "discrete": bool(code.code.discrete),
            "entropy": h,
            "L_I": bound,
            # Standard error of the Monte-Carlo mean, to judge whether L_I differs from H(c).
            "stderr": float(ll.std().item() / math.sqrt(ll.shape[0])) if ll.shape[0] > 1 else None,
            "fraction_of_entropy": bound / h if code.code.discrete and h > 0 else None,
        }
    return {"samples": samples, "seed": seed, "codes": per_code}


def categorical_accuracy(model: "TrainedModel", dataset: ImageDataset, samples: int, seed: int, batch: int) -> dict:
    """Hungarian-matched accuracy of every discrete code against the labels, on up to ``samples`` images."""
    index = _subset(len(dataset), samples, np.random.default_rng((seed, _STREAM_ACCURACY)))
    q = q_outputs(model, dataset, torch.from_numpy(index), batch)
    labels = dataset.labels
    chosen = _cpu_take(labels, index)
    num_labels = int(labels.max().item()) + 1
    per_code = {}
    for code in model.codes:
        if not code.code.discrete:
            continue
        pred = code.head.point_estimate(q[:, code.param_slice]).cpu().numpy()
        per_code[code.name] = {
            "prior": code.code.describe(),
            **unsupervised_accuracy(pred, chosen, code.code.target_size, num_labels=num_labels),
        }
    return {"split": EVAL_SPLIT, "samples": int(index.size), "of": len(dataset), "seed": seed, "codes": per_code}


# ------------------------------------------------------------------------------------- orchestration
def _not_applicable(metric: str, data: ImageDataset, codes: CodeSet, name: str) -> str | None:
    """Why ``metric`` cannot run on this dataset and model, or None when it can."""
    if metric == "accuracy":
        if data.labels is None:
            return f"dataset '{name}' has no labels"
        if not any(c.code.discrete for c in codes):
            return "the model has no discrete code"
        return None
    if data.factors is None:
        return f"dataset '{name}' has no ground-truth factors"
    if metric == "factorvae" and not data.factor_grid:
        return f"dataset '{name}' has no complete factor grid (factor_grid is false)"
    return None


def dataset_assembly(model: "TrainedModel", name: str | None, root: str | None) -> tuple[str | None, Assembly]:
    """The model's assembly with the dataset name and root overridden, and the dataset name used."""
    cfg = model.config
    data = cfg.data
    chosen = name or data.dataset
    # Options belong to the configured dataset; another dataset gets its own defaults.
    options = data.options if chosen == data.dataset else {}
    data = attrs.evolve(data, dataset=chosen, root=root if root is not None else data.root, options=options)
    return chosen, attrs.evolve(model.assembly, config=attrs.evolve(cfg, data=data))


def evaluate(
    model: "TrainedModel",
    host: PluginHost,
    dataset: str | None = None,
    data_root: str | None = None,
    samples: int = 10000,
    seed: int = 0,
    metrics: Iterable[str] | None = None,
    sizes: EvalSizes | None = None,
    log: Callable[[str], None] | None = None,
    skip_inapplicable: bool = False,
) -> dict:
    """Run the chosen metrics on ``model`` (a TrainedModel) and return one JSON-ready dict.

    ``metrics`` None runs every metric that applies, skipping the rest with a note under
    ``skipped``; a metric named explicitly that cannot run is a one-line :class:`ConfigError`.
    ``dataset``/``data_root`` override the checkpoint's ``data.dataset``/``data.root``.
    ``log`` receives a line before each metric starts (progress for the CLI).
    ``skip_inapplicable`` skips a named metric that cannot run, with its note, instead of raising.
    """
    sizes = sizes or EvalSizes()
    parsed = None if metrics is None else parse_metrics(list(metrics))
    explicit = parsed is not None
    strict = explicit and not skip_inapplicable
    chosen = parsed or list(METRICS)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"--samples must be a whole number >= 1, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a whole number >= 0, got {seed!r}")
    say = log or (lambda _line: None)
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    result: dict[str, Any] = {
        "step": model.step,
        "backbone": model.config.model.backbone,
        "codes": model.codes.spec,
        "device": str(model.device),
        "seed": seed,
        "metrics_requested": list(chosen) if explicit else "all that apply",
        "sizes": {"mi_samples": samples, **attrs.asdict(sizes)},
        "dataset": None,
    }

    if "mi" in chosen:
        say(f"L_I: {samples} generated samples")
        t = time.perf_counter()
        result["mi"] = information_bounds(model, samples, seed, sizes.batch)
        seconds["mi"] = time.perf_counter() - t

    wanted = [m for m in chosen if m in DATASET_METRICS]
    data: ImageDataset | None = None
    if wanted:
        name, assembly = dataset_assembly(model, dataset, data_root)
        if name is None and not strict:
            for m in wanted:
                skipped[m] = "no dataset configured; pass --dataset NAME"
            wanted = []
        else:
            say(f"loading dataset '{name}' ({EVAL_SPLIT} split)")
            t = time.perf_counter()
            data = load_dataset(assembly, host, split=EVAL_SPLIT, name=name)
            seconds["load_dataset"] = time.perf_counter() - t
            result["dataset"] = {
                "name": name,
                "root": assembly.config.data.root,
                "split": EVAL_SPLIT,
                "size": len(data),
                "labels": data.labels is not None,
                "factor_names": list(data.factor_names) if data.factors is not None else None,
                "factor_sizes": list(data.factor_sizes) if data.factors is not None else None,
                "factor_grid": bool(data.factor_grid),
            }
            for m in list(wanted):
                reason = _not_applicable(m, data, model.codes, name)
                if reason is None:
                    continue
                if strict:
                    raise ConfigError(f"metric '{m}' cannot run: {reason}; leave it out of --metrics or pick another --dataset")
                skipped[m] = reason
                wanted.remove(m)

    if "accuracy" in wanted:
        say(f"accuracy: up to {sizes.accuracy_samples} {EVAL_SPLIT} images")
        t = time.perf_counter()
        result["accuracy"] = categorical_accuracy(model, data, sizes.accuracy_samples, seed, sizes.batch)
        seconds["accuracy"] = time.perf_counter() - t

    if any(m in wanted for m in ("mig", "sap", "dci")):
        _factor_metrics(model, data, sizes, seed, wanted, result, seconds, say)

    if "factorvae" in wanted:
        say(f"FactorVAE: {sizes.factorvae_train} + {sizes.factorvae_eval} votes of {sizes.factorvae_batch} images")
        t = time.perf_counter()
        score = factor_vae_score(
            UniformFactorSampler(data.factor_sizes),
            factor_represent(model, data, sizes.batch),
            batch_size=sizes.factorvae_batch,
            num_train=sizes.factorvae_train,
            num_eval=sizes.factorvae_eval,
            num_variance_estimate=sizes.factorvae_variance,
            points_per_call=max(sizes.batch, sizes.factorvae_batch),
            seed=seed,
        )
        result["factorvae"] = {**score, "seed": seed}
        seconds["factorvae"] = time.perf_counter() - t

    result["skipped"] = skipped
    result["seconds"] = {k: round(v, 4) for k, v in seconds.items()}
    return result


def _factor_metrics(
    model: "TrainedModel",
    data: ImageDataset,
    sizes: EvalSizes,
    seed: int,
    wanted: list[str],
    result: dict,
    seconds: dict[str, float],
    say: Callable[[str], None],
) -> None:
    """MIG, SAP and DCI on Q's point estimates for one shared sample of real images and their factors."""
    n_train, n_test = sizes.factor_samples, sizes.factor_test_samples
    say(f"representation: Q on {n_train} + {n_test} real images")
    t = time.perf_counter()
    rows, replaced = _rows(len(data), n_train + n_test, np.random.default_rng((seed, _STREAM_FACTORS)))
    rep, columns = point_estimates(model.codes, q_outputs(model, data, torch.from_numpy(rows), sizes.batch))
    factors = _cpu_take(data.factors, rows)
    seconds["representation"] = time.perf_counter() - t
    result["representation"] = {
        "columns": columns,
        "train_rows": n_train,
        "test_rows": n_test,
        "with_replacement": replaced,
        "seed": seed,
    }
    train, test = slice(0, n_train), slice(n_train, None)
    if "mig" in wanted:
        say(f"MIG: {sizes.mig_bins} bins")
        t = time.perf_counter()
        result["mig"] = {**mig(rep[train], factors[train], num_bins=sizes.mig_bins), "num_bins": sizes.mig_bins, "rows": n_train}
        seconds["mig"] = time.perf_counter() - t
    if "sap" in wanted:
        say("SAP: one linear SVM per code column and factor")
        t = time.perf_counter()
        score = sap(rep[train], factors[train], codes_test=rep[test], factors_test=factors[test], seed=seed)
        result["sap"] = {**score, "train_rows": n_train, "test_rows": n_test, "seed": seed}
        seconds["sap"] = time.perf_counter() - t
    if "dci" in wanted:
        say(f"DCI: {sizes.dci_trees} boosted trees per factor")
        t = time.perf_counter()
        score = dci(
            rep[train],
            factors[train],
            rep[test],
            factors[test],
            n_estimators=sizes.dci_trees,
            max_train=sizes.dci_train or None,
            seed=seed,
        )
        result["dci"] = {**score, "test_rows": n_test, "seed": seed}
        seconds["dci"] = time.perf_counter() - t
