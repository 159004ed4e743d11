"""Built-in metrics of ``infogan-tk eval``: L_I per code, unsupervised accuracy, MIG, SAP, DCI, FactorVAE.

Each is a :class:`~infogan_toolkit.evaluate.report.Metric` registered through ``register_metrics``;
they run in ``order``. MIG, SAP and DCI share one seeded sample of real images and Q's point
estimates for them (``factor_representation``); every metric draws from a random stream of its own,
so choosing other metrics never changes a number.
"""

from __future__ import annotations

from infogan_toolkit.api import (
    EvalContext,
    Metric,
    categorical_accuracy,
    factor_represent,
    factor_representation,
    hookimpl,
    information_bounds,
)

from .disentanglement import UniformFactorSampler, dci, factor_vae_score, mig, sap


class _FactorMetric(Metric):
    """A metric of Q's estimates against the dataset's ground-truth factors."""

    def not_applicable(self, ctx: EvalContext) -> str | None:
        """Needs ground-truth factors."""
        if ctx.data.factors is None:
            return f"dataset '{ctx.dataset_name}' has no ground-truth factors"
        return None


class InformationBound(Metric):
    """L_I per code (Eq. 5) from generated samples, next to the prior entropy H(c)."""

    order = 0
    needs_dataset = False
    description = (
        "L_I per code from generated samples, against H(c) and what its head can reach; how well Q reads each code back"
    )

    def run(self, ctx: EvalContext) -> dict:
        """``--samples`` generated images."""
        ctx.say(f"L_I: {ctx.samples} generated samples")
        return information_bounds(ctx.model, ctx.samples, ctx.seed, ctx.sizes.batch)

    label = "L_I"

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """L_I per code, next to H(c), its reach, its standard error and Q's read-back."""
        rows = []
        for i, (name, c) in enumerate(result["codes"].items()):
            detail = f"H(c) {c['entropy']:.3f}"
            if c.get("reach") is not None:
                detail += f", reach {c['reach']:.3f}"
            detail += f", s.e. {c['stderr']:.4f}"
            if c.get("recovery"):
                detail += f", {c['recovery']['measure']} {c['recovery']['value']:.3f}"
            rows.append(
                (f"{name} {c['prior']}", c["L_I"], detail + (f"; {result['samples']} samples" if i == 0 else ""))
            )
        return rows


class Accuracy(Metric):
    """Hungarian-matched accuracy of every discrete code against the labels."""

    order = 10
    description = "unsupervised (Hungarian) accuracy of each discrete code against the labels"

    def not_applicable(self, ctx: EvalContext) -> str | None:
        """Needs labels and a discrete code."""
        if ctx.data.labels is None:
            return f"dataset '{ctx.dataset_name}' has no labels"
        if not any(c.code.discrete for c in ctx.model.codes):
            return "the model has no discrete code"
        return None

    def run(self, ctx: EvalContext) -> dict:
        """Up to ``accuracy_samples`` test images."""
        ctx.say(f"accuracy: up to {ctx.sizes.accuracy_samples} {ctx.split} images")
        return categorical_accuracy(
            ctx.model, ctx.data, ctx.sizes.accuracy_samples, ctx.seed, ctx.sizes.batch, ctx.split
        )

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """Accuracy per discrete code."""
        detail = f"Hungarian matching, {result['samples']} of {result['of']} {result['split']} images"
        return [(f"{name} {c['prior']}", c["accuracy"], detail) for name, c in result["codes"].items()]


class MIG(_FactorMetric):
    """Mutual information gap (Chen et al. 2018)."""

    order = 20
    description = "mutual information gap on Q's estimates of real images"

    def run(self, ctx: EvalContext) -> dict:
        """``mig_bins`` bins over the shared representation's training rows."""
        rep, _columns, factors, train, _test = factor_representation(ctx)
        bins = ctx.sizes.mig_bins
        ctx.say(f"MIG: {bins} bins")
        return {**mig(rep[train], factors[train], num_bins=bins), "num_bins": bins, "rows": ctx.sizes.factor_samples}

    label = "MIG"

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """The gap, with its bins and images."""
        return [("", result["mig"], f"{result['num_bins']} bins, {result['rows']} images")]


class SAP(_FactorMetric):
    """Separated attribute predictability (Kumar et al. 2018)."""

    order = 30
    description = "separated attribute predictability, one linear SVM per code column and factor"

    def run(self, ctx: EvalContext) -> dict:
        """Trained on the shared representation's training rows, scored on its test rows."""
        rep, _columns, factors, train, test = factor_representation(ctx)
        ctx.say("SAP: one linear SVM per code column and factor")
        score = sap(rep[train], factors[train], codes_test=rep[test], factors_test=factors[test], seed=ctx.seed)
        return {
            **score,
            "train_rows": ctx.sizes.factor_samples,
            "test_rows": ctx.sizes.factor_test_samples,
            "seed": ctx.seed,
        }

    label = "SAP"

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """The score, with its images."""
        return [("", result["sap"], f"{result['train_rows']} + {result['test_rows']} images")]


class DCI(_FactorMetric):
    """Disentanglement, completeness, informativeness (Eastwood and Williams 2018)."""

    order = 40
    description = "DCI from boosted trees per factor"

    def run(self, ctx: EvalContext) -> dict:
        """``dci_trees`` trees per factor on the shared representation."""
        rep, _columns, factors, train, test = factor_representation(ctx)
        sizes = ctx.sizes
        ctx.say(f"DCI: {sizes.dci_trees} boosted trees per factor")
        score = dci(
            rep[train],
            factors[train],
            rep[test],
            factors[test],
            n_estimators=sizes.dci_trees,
            max_train=sizes.dci_train or None,
            seed=ctx.seed,
        )
        return {**score, "test_rows": sizes.factor_test_samples, "seed": ctx.seed}

    label = "DCI"

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """Disentanglement, with completeness and test informativeness."""
        detail = (
            f"completeness {result['completeness']:.3f}, informativeness {result['informativeness_test']:.3f} (test); "
            f"{result['n_estimators']} trees, {result['num_train']} rows"
        )
        return [("disentanglement", result["disentanglement"], detail)]


class FactorVAE(_FactorMetric):
    """The FactorVAE score (Kim and Mnih 2018): majority-vote classifier of the fixed factor."""

    order = 50
    description = "FactorVAE score, on a complete factor grid"

    def not_applicable(self, ctx: EvalContext) -> str | None:
        """Needs ground-truth factors on a complete grid."""
        reason = super().not_applicable(ctx)
        if reason is None and not ctx.data.factor_grid:
            return f"dataset '{ctx.dataset_name}' has no complete factor grid (factor_grid is false)"
        return reason

    def run(self, ctx: EvalContext) -> dict:
        """``factorvae_train`` + ``factorvae_eval`` votes of ``factorvae_batch`` images."""
        sizes = ctx.sizes
        ctx.say(f"FactorVAE: {sizes.factorvae_train} + {sizes.factorvae_eval} votes of {sizes.factorvae_batch} images")
        score = factor_vae_score(
            UniformFactorSampler(ctx.data.factor_sizes),
            factor_represent(ctx.model, ctx.data, sizes.batch),
            batch_size=sizes.factorvae_batch,
            num_train=sizes.factorvae_train,
            num_eval=sizes.factorvae_eval,
            num_variance_estimate=sizes.factorvae_variance,
            points_per_call=max(sizes.batch, sizes.factorvae_batch),
            seed=ctx.seed,
        )
        return {**score, "seed": ctx.seed}

    label = "FactorVAE"

    def summary(self, result: dict) -> list[tuple[str, float, str]]:
        """The score, with the active code columns."""
        return [("", result["factor_vae"], f"{result['num_active_dims']} active code columns")]


@hookimpl
def register_metrics(register):
    """The built-in metrics."""
    register("mi", InformationBound())
    register("accuracy", Accuracy())
    register("mig", MIG())
    register("sap", SAP())
    register("dci", DCI())
    register("factorvae", FactorVAE())
