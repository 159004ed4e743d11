"""Evaluate a trained model: run the registered metrics on its generator, its Q and a dataset.

Metrics are plugins (``register_metrics``, :class:`Metric`); the built-in ones (L_I, accuracy, MIG,
SAP, DCI, FactorVAE, package ``infogan_tk_metrics``) call the metric modules (``information``,
``accuracy``, ``disentanglement``), which work on plain arrays. This module produces those arrays
from a :class:`~infogan_toolkit.model.TrainedModel`, loads the dataset once, asks each metric
whether it applies and runs the chosen ones in their declared order. Everything it returns is JSON-ready, and records
every size and
seed used and the seconds each metric took, so a number can always be traced to how it was made.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

import attrs
import numpy as np
import torch
from torch import Tensor

from ..assembly import Assembly, load_dataset, plugin_errors
from ..codes import CodeSet, ResolvedCode
from ..datasets import ImageDataset
from ..errors import ConfigError, DataError, ToolkitError
from ..plugins import PluginHost
from ..suggest import did_you_mean
from .accuracy import unsupervised_accuracy
from .information import mutual_information_bound

if TYPE_CHECKING:  # the functions only use the model's attributes, so tests may pass a stand-in
    from ..model import TrainedModel

#: The split every dataset metric reads: held-out images where the dataset has them.
EVAL_SPLIT = "test"

# Separate random streams per purpose, so that choosing other metrics never changes a number.
_STREAM_ACCURACY = 1
_STREAM_FACTORS = 2


#: The largest evaluation size (``--size KEY=N``): ten million, far above any data set's images.
MAX_SIZE = 10_000_000


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute, int], None]:
    def check(_instance: Any, attribute: attrs.Attribute, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SIZE:
            raise ConfigError(
                f"size {attribute.name} must be a whole number in [{minimum}, {MAX_SIZE:,}], got {value!r}"
            )

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
    #: Histogram bins per code column for MIG's mutual information estimate.
    mig_bins: int = attrs.field(default=20, validator=_at_least(1))
    #: Boosted trees per factor in DCI.
    dci_trees: int = attrs.field(default=100, validator=_at_least(1))
    #: Training rows for DCI's boosted trees, a seeded subset; 0 means all ``factor_samples``.
    dci_train: int = attrs.field(default=0, validator=_at_least(0))
    #: Images per FactorVAE vote (one factor held fixed across them).
    factorvae_batch: int = attrs.field(default=64, validator=_at_least(2))
    #: FactorVAE votes that train its majority-vote classifier.
    factorvae_train: int = attrs.field(default=10000, validator=_at_least(1))
    #: FactorVAE votes that score it.
    factorvae_eval: int = attrs.field(default=5000, validator=_at_least(1))
    #: Random grid images for the per-column variances FactorVAE normalises by.
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


@attrs.define
class EvalContext:
    """What a metric gets: the model, the dataset (None for metrics that need none), the sizes and
    seed of this evaluation, a progress callback, and a cache for work several metrics share."""

    #: The model: ``generator``, ``discriminator``, ``codes``, ``sample``, ``infer``, ``device``.
    model: TrainedModel
    #: The dataset's test split, or None before it is loaded and for metrics that need none.
    data: ImageDataset | None
    #: The dataset's registered name, or None.
    dataset_name: str | None
    #: How much data each metric uses (``--size KEY=VALUE``).
    sizes: "EvalSizes"
    #: The evaluation's seed (``--seed``): seed a generator of your own from it and a constant.
    seed: int
    #: Generated samples for metrics on the generator (``--samples``).
    samples: int
    #: ``say(line)``: one progress line for the user.
    say: Callable[[str], None]
    #: The plugin host (its registries, e.g. ``extractors``), or None for a stand-in.
    host: Any = None
    #: The model's assembly with the evaluation's dataset and data root, for loading another split; or None.
    assembly: Any = None
    #: The split ``data`` holds (``--split``): ``test`` for results, a validation split for choices.
    split: str = EVAL_SPLIT
    #: ``--option KEY=VALUE`` settings, each key declared by a chosen metric's ``options``.
    options: dict[str, str] = attrs.field(factory=dict)
    #: Top-level sections of the result besides the metrics' own (e.g. the shared representation).
    sections: dict[str, Any] = attrs.field(factory=dict)
    #: Seconds taken, by metric and by shared computation (filled by the evaluation).
    seconds: dict[str, float] = attrs.field(factory=dict)
    _shared: dict[str, Any] = attrs.field(factory=dict)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per evaluation under ``key`` (its seconds recorded under the same key)."""
        if key not in self._shared:
            t = time.perf_counter()
            self._shared[key] = compute()
            self.seconds[key] = time.perf_counter() - t
        return self._shared[key]


class Metric(ABC):
    """A registered metric (``register_metrics``). Subclasses set ``order`` (run and report order;
    the built-ins use 0-50), ``needs_dataset`` and ``description``, and implement :meth:`run`."""

    #: Run and report order (the built-ins use 0-50).
    order: int = 100
    #: False for a metric that reads only the generator and Q (then ``ctx.data`` is None).
    needs_dataset: bool = True
    #: One line for ``infogan-tk list metrics``.
    description: str = ""
    #: False for a metric that runs only when named (``--metrics``, or ``all``), e.g. a costly one.
    default: bool = True
    #: The name ``eval``'s table shows for it; empty: its registered name.
    label: str = ""
    #: The ``--option KEY=VALUE`` keys it reads from ``ctx.options``, each with one line saying what it does.
    options: dict[str, str] = {}

    def not_applicable(self, ctx: EvalContext) -> str | None:
        """Why the metric cannot run on this model and dataset (e.g. "dataset 'x' has no labels"), or None."""
        return None

    @abstractmethod
    def run(self, ctx: EvalContext) -> dict:
        """The metric's JSON-ready result, recording the sizes and seeds it used."""

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """Rows ``(of, value, detail)`` for ``eval``'s table from :meth:`run`'s result; by default
        one row for a numeric ``value`` key, none without one."""
        value = result.get("value")
        return [("", float(value), "")] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def metric_names(registry: Any) -> list[str]:
    """Registered metric names in their run order."""
    return [e.name for e in sorted(registry, key=lambda e: (e.obj.order, e.name))]


def parse_metrics(text: str | Iterable[str] | None, known: list[str]) -> list[str] | None:
    """``"mi,accuracy"`` (or a list of names) -> metric names in ``known``'s order; ``None`` ->
    ``None`` (the default metrics that apply); ``"all"`` -> ``["all"]`` (every metric that applies)."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [p.strip().lower() for p in parts if p.strip()]
    if not names:
        raise ConfigError(f"no metric named; pass --metrics with some of: {', '.join(known)}")
    if names == ["all"]:
        return ["all"]
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown metric '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}.")
    return [m for m in known if m in names]


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
def recovery(code: ResolvedCode, q: Tensor, value: Tensor) -> dict | None:
    """How well Q reads a code back from the images it made, in a unit a reader can judge: for a
    discrete code the share of images whose point estimate is the code's value ("recovered"); for
    a real-valued one Pearson's correlation between each dimension and its estimate, averaged
    ("correlation"). None where the estimate and the value differ in shape (a kind whose target is
    not its value)."""
    estimate = code.head.point_estimate(q[:, code.param_slice])
    if code.code.discrete:
        if estimate.shape != value.shape:
            return None
        return {"measure": "recovered", "value": float((estimate.long() == value.long()).double().mean().item())}
    est = estimate.double().reshape(estimate.shape[0], -1)
    val = value.double().reshape(value.shape[0], -1)
    if est.shape != val.shape or est.shape[0] < 2:
        return None
    est, val = est - est.mean(0), val - val.mean(0)
    denom = (est.norm(dim=0) * val.norm(dim=0)).clamp_min(1e-12)
    return {"measure": "correlation", "value": float(((est * val).sum(0) / denom).mean().item())}


@torch.no_grad()
def information_bounds(model: "TrainedModel", samples: int, seed: int, batch: int) -> dict:
    """L_I per code (Eq. 5) from ``samples`` generated images, next to the prior entropy H(c), the
    most L_I the code's head can reach (``reach``, None where it has no ceiling) and how well Q
    reads the code back (:func:`recovery`).

    Q sees the generator's raw output, exactly as in training. For a discrete code L_I <= H(c);
    a continuous code's L_I is a bound on I(c; x) that differential entropies leave unbounded, and
    with a fixed-std head it stays below ``reach`` even when Q reads the code exactly.
    """
    codes: CodeSet = model.codes
    gen = torch.Generator(device=model.device)
    gen.manual_seed(seed)
    logs: list[list[Tensor]] = [[] for _ in codes]
    qs: list[Tensor] = []
    drawn: list[list[Tensor]] = [[] for _ in codes]
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        z = model.noise(n, gen)
        values = codes.sample(n, gen, model.device)
        x = model.generator(torch.cat([z, codes.encode(values)], dim=1))
        q = model.discriminator(x)[1].float()
        qs.append(q.cpu())
        for i, code in enumerate(codes):
            logs[i].append(code.log_likelihood(q, values[i]).to("cpu", torch.float64))
            drawn[i].append(values[i].cpu())
    q_all = torch.cat(qs)
    per_code = {}
    for code, parts, value_parts in zip(codes, logs, drawn):
        ll = torch.cat(parts)
        h = float(code.code.entropy())
        bound = mutual_information_bound(ll, h)
        per_code[code.name] = {
            "prior": code.code.describe(),
            "discrete": bool(code.code.discrete),
            "entropy": h,
            "L_I": bound,
            "reach": code.information_reach(),
            # Standard error of the Monte-Carlo mean, to judge whether L_I differs from H(c).
            "stderr": float(ll.std().item() / math.sqrt(ll.shape[0])) if ll.shape[0] > 1 else None,
            "fraction_of_entropy": bound / h if code.code.discrete and h > 0 else None,
            "recovery": recovery(code, q_all, torch.cat(value_parts)),
        }
    return {"samples": samples, "seed": seed, "codes": per_code}


def categorical_accuracy(
    model: "TrainedModel", dataset: ImageDataset, samples: int, seed: int, batch: int, split: str = EVAL_SPLIT
) -> dict:
    """Hungarian-matched accuracy of every discrete code against the labels, on up to ``samples``
    images of ``split``."""
    labels = dataset.labels
    if labels is None:
        raise DataError(f"the {split} split has no labels, so no categorical accuracy; evaluate on a labelled data set")
    index = _subset(len(dataset), samples, np.random.default_rng((seed, _STREAM_ACCURACY)))
    q = q_outputs(model, dataset, torch.from_numpy(index), batch)
    chosen = _cpu_take(labels, index)
    num_labels = int(labels.max().item()) + 1
    per_code = {}
    for code in model.codes:
        if not code.code.discrete:
            continue
        pred = code.head.point_estimate(q[:, code.param_slice]).cpu().numpy()
        try:
            scores = unsupervised_accuracy(pred, chosen, code.code.categories, num_labels=num_labels)
        except ToolkitError as exc:
            prov = getattr(model, "assembly", None) and model.assembly.provenance.get(f"code:{code.kind}", {}) or {}
            source = f"plugin '{prov.get('plugin')}' ({prov.get('distribution')})" if prov else "its plugin"
            raise ConfigError(
                f"code {code.name} ({code.code.describe()}, kind '{code.kind}' from {source}, head "
                f"'{code.head_name}'): "
                f"{' '.join(str(exc).split())} The code kind must state its categories (LatentCode.categories) and its "
                "head must return category indices below it; infogan_toolkit.testing.check_code_with_head checks both"
            ) from None
        per_code[code.name] = {"prior": code.code.describe(), **scores}
    return {"split": split, "samples": int(index.size), "of": len(dataset), "seed": seed, "codes": per_code}


# ------------------------------------------------------------------------------------- orchestration
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
    options: dict[str, str] | None = None,
    split: str = EVAL_SPLIT,
) -> dict:
    """Run the chosen registered metrics on ``model`` (a TrainedModel) and return one JSON-ready dict.

    ``metrics`` None runs every metric that applies, skipping the rest with a note under
    ``skipped``; a metric named explicitly that cannot run is a one-line :class:`ConfigError`.
    ``dataset``/``data_root`` override the checkpoint's ``data.dataset``/``data.root``.
    ``log`` receives a line before each metric starts (progress for the CLI).
    ``skip_inapplicable`` skips a named metric that cannot run, with its note, instead of raising.
    ``metrics`` ``["all"]`` runs every metric that applies, those off by default (``Metric.default``) too.
    ``options`` are ``--option`` settings; a key no chosen metric declares is a one-line error.
    ``split`` is the dataset split the dataset metrics read: ``test`` for a table of results, a
    validation split (where the dataset plugin declares one, e.g. ``val``) for choosing anything.
    """
    sizes = sizes or EvalSizes()
    registry = host.registries.metrics
    known = metric_names(registry)
    parsed = None if metrics is None else parse_metrics(list(metrics), known)
    everything = parsed == ["all"]
    explicit = parsed is not None and not everything
    strict = explicit and not skip_inapplicable
    # explicit implies parsed is not None
    chosen = cast("list[str]", parsed) if explicit else [m for m in known if everything or registry.get(m).default]
    options = dict(options or {})
    declared = {key: name for name in chosen for key in registry.get(name).options}
    for key in options:
        if key not in declared:
            owners = [n for n in known if key in registry.get(n).options]
            if owners:
                raise ConfigError(
                    f"--option {key} belongs to {', '.join(owners)}, which --metrics does not choose; "
                    f"add it, e.g. --metrics {','.join([*chosen, owners[0]])}"
                )
            takers = sorted({f"{k} ({n})" for n in known for k in registry.get(n).options})
            raise ConfigError(
                f"no chosen metric takes --option {key}.{did_you_mean(key, [t.split()[0] for t in takers])} "
                f"Options by metric: {', '.join(takers) or 'none'}; name the metric in --metrics"
            )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"--samples must be a whole number >= 1, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a whole number >= 0, got {seed!r}")
    say = log or (lambda _line: None)
    skipped: dict[str, str] = {}
    result: dict[str, Any] = {
        "step": model.step,
        "generator": model.generator_name,  # which of the checkpoint's generators: raw, or one an extension kept (ema)
        "backbone": model.config.model.backbone,
        "codes": model.codes.spec,
        "device": str(model.device),
        "seed": seed,
        "metrics_requested": list(chosen)
        if explicit
        else ("all that apply" if everything else "the defaults that apply"),
        "options": options,
        "sizes": {"mi_samples": samples, **attrs.asdict(sizes)},
        "dataset": None,
    }
    ctx = EvalContext(model, None, None, sizes, seed, samples, say, host=host, options=options, split=split)
    plugins = {name: registry.get(name) for name in chosen}

    def run(name: str) -> None:
        t = time.perf_counter()
        sections_before = set(ctx.sections)
        with plugin_errors(f"--option of metric '{name}'", registry.entry(name).source()):
            value = plugins[name].run(ctx)
        for key in ctx.sections:  # shared sections appear where they were first made
            if key not in sections_before:
                result[key] = ctx.sections[key]
        result[name] = value
        ctx.seconds[name] = (
            time.perf_counter() - t - sum(ctx.seconds.get(k, 0.0) for k in set(ctx.sections) - sections_before)
        )

    for name in [m for m in chosen if not plugins[m].needs_dataset]:
        reason = plugins[name].not_applicable(ctx)
        if reason is None:
            run(name)
        elif strict:
            raise ConfigError(f"metric '{name}' cannot run: {reason}; leave it out of --metrics")
        else:
            skipped[name] = reason

    wanted = [m for m in chosen if plugins[m].needs_dataset]
    if wanted:
        dataset_name, assembly = dataset_assembly(model, dataset, data_root)
        if dataset_name is None and not strict:
            for m in wanted:
                skipped[m] = "no dataset configured; pass --dataset NAME"
            wanted = []
        else:
            say(f"loading dataset '{dataset_name}' ({split} split)")
            t = time.perf_counter()
            data = load_dataset(assembly, host, split=split, name=dataset_name)
            ctx.seconds["load_dataset"] = time.perf_counter() - t
            ctx.data, ctx.dataset_name, ctx.assembly = data, dataset_name, assembly
            result["dataset"] = {
                "name": dataset_name,
                "root": assembly.config.data.root,
                "split": split,
                "size": len(data),
                "labels": data.labels is not None,
                "factor_names": list(data.factor_names) if data.factors is not None else None,
                "factor_sizes": list(data.factor_sizes) if data.factors is not None else None,
                "factor_grid": bool(data.factor_grid),
            }
            for m in list(wanted):
                reason = plugins[m].not_applicable(ctx)
                if reason is None:
                    continue
                if strict:
                    raise ConfigError(
                        f"metric '{m}' cannot run: {reason}; leave it out of --metrics or pick another --dataset"
                    )
                skipped[m] = reason
                wanted.remove(m)
    for name in wanted:
        run(name)

    result["skipped"] = skipped
    result["seconds"] = {k: round(v, 4) for k, v in ctx.seconds.items()}
    return result


def factor_representation(ctx: EvalContext) -> tuple[np.ndarray, list[str], np.ndarray, slice, slice]:
    """Q's point estimates for one shared, seeded sample of real images and their factors (computed
    once per evaluation, recorded as the ``representation`` section): ``(codes, columns, factors,
    train rows, test rows)``; MIG, SAP and DCI read it."""
    sizes, data = ctx.sizes, ctx.data
    n_train, n_test = sizes.factor_samples, sizes.factor_test_samples

    def compute():
        ctx.say(f"representation: Q on {n_train} + {n_test} real images")
        rows, replaced = _rows(len(data), n_train + n_test, np.random.default_rng((ctx.seed, _STREAM_FACTORS)))
        rep, columns = point_estimates(ctx.model.codes, q_outputs(ctx.model, data, torch.from_numpy(rows), sizes.batch))
        factors = _cpu_take(data.factors, rows)
        ctx.sections["representation"] = {
            "columns": columns,
            "train_rows": n_train,
            "test_rows": n_test,
            "with_replacement": replaced,
            "seed": ctx.seed,
        }
        return rep, columns, factors

    rep, columns, factors = ctx.shared("representation", compute)
    return rep, columns, factors, slice(0, n_train), slice(n_train, None)
