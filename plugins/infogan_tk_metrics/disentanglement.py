"""Disentanglement metrics against known ground-truth factors: MIG, SAP, DCI and the FactorVAE score.

Definitions and defaults follow the common reference implementation (google-research
``disentanglement_lib``, as used by Locatello et al. 2019), so numbers are comparable with published
tables. Everything works on plain numpy arrays: a representation ``codes`` of shape ``(N, D)`` (one row
per observation, e.g. Q's point estimates) and integer ground-truth factor indices ``factors`` of shape
``(N, F)``. Turning factors into observations and running Q is the caller's job; the FactorVAE score,
which needs batches with one factor held fixed, asks for that through :class:`FactorSampler` and a
``represent`` callable. See ``docs/evaluation.md`` for each definition and its cost.

MIG needs only numpy; SAP (discrete factors) and DCI need scikit-learn (the ``eval`` extra).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import attrs
import numpy as np

from infogan_toolkit.api import ConfigError, DataError, ToolkitError

# Added to importances before normalising, as the reference does, so that an all-zero row has a defined entropy.
_IMPORTANCE_EPS = 1e-11


# ----------------------------------------------------------------------------------------------- inputs
def _sklearn() -> Any:
    """Import scikit-learn lazily: it is an optional dependency and only SAP and DCI need it."""
    try:
        import sklearn.ensemble
        import sklearn.exceptions
        import sklearn.svm
    except ImportError:
        raise ToolkitError(
            "scikit-learn is not installed but SAP and DCI need it; install it with: pip install "
            "'infogan-toolkit[eval]'"
        ) from None
    return sklearn


def _check_codes(codes: Any, name: str) -> np.ndarray:
    array = np.asarray(codes, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(
            f"{name} must have shape (N, D) with N, D >= 1, got {np.shape(codes)}; pass one code row per sample."
        )
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} holds NaN or infinite values; check the representation (Q head outputs).")
    return array


def _check_factors(factors: Any, name: str) -> np.ndarray:
    array = np.asarray(factors)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(
            f"{name} must have shape (N, F) with N, F >= 1, got {np.shape(factors)}; pass factor indices per sample."
        )
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DataError(
                f"{name} must hold integer factor indices, got dtype {array.dtype}; pass indices, not values."
            )
    return array.astype(np.int64)


def _check_pair(codes: Any, factors: Any, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    c = _check_codes(codes, "codes" + suffix)
    f = _check_factors(factors, "factors" + suffix)
    if c.shape[0] != f.shape[0]:
        raise DataError(
            f"codes{suffix} has {c.shape[0]} rows but factors{suffix} has {f.shape[0]}; pass the factors of the same "
            "samples."
        )
    return c, f


def _positive(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}; pass a whole number >= {minimum}.")
    return int(value)


# -------------------------------------------------------------------------------------------------- MIG
def _histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin each column into ``num_bins`` equal-width bins over its own range (values 1..num_bins)."""
    binned = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        # Dropping the last edge makes the column maximum fall in the top bin instead of a bin of its own.
        left_edges = np.histogram_bin_edges(codes[:, d], bins=num_bins)[:-1]
        binned[:, d] = np.digitize(codes[:, d], left_edges)
    return binned


def _discrete_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information of two discrete samples, in nats (same value as sklearn's mutual_info_score)."""
    _, a_idx = np.unique(a, return_inverse=True)
    _, b_idx = np.unique(b, return_inverse=True)
    joint = np.zeros((a_idx.max() + 1, b_idx.max() + 1), dtype=np.float64)
    np.add.at(joint, (a_idx, b_idx), 1.0)
    n = float(a.shape[0])
    rows, cols = np.nonzero(joint)
    n_ij = joint[rows, cols]
    n_i = joint.sum(axis=1)[rows]
    n_j = joint.sum(axis=0)[cols]
    mi = float(np.sum(n_ij / n * (np.log(n_ij) + np.log(n) - np.log(n_i) - np.log(n_j))))
    return max(mi, 0.0)  # rounding can leave -1e-16 for independent samples


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """Mutual Information Gap (Chen et al. 2018, "Isolating sources of disentanglement").

    Each code dimension is discretised into ``num_bins`` equal-width histogram bins; the discrete
    mutual information ``I(v_d; y_f)`` is computed for every code dimension and factor; for each factor
    the gap between the largest and second-largest MI, divided by the factor's entropy ``H(y_f)``, is
    its MIG; the score is the mean over factors. Reference default: 10000 samples, 20 bins.

    Note that binning merges factor values when a factor has more than ``num_bins`` values, so even the
    true factors score below 1 (a uniform 32-valued factor in 20 bins reaches 0.85).

    Returns:
        ``mig`` (mean over factors that vary), ``mig_per_factor`` (``None`` for a constant factor),
        ``mutual_information`` (``D x F`` nested lists, nats), ``factor_entropy`` (nats).
        With a single code dimension the second-largest MI is taken as 0.
    """
    codes, factors = _check_pair(codes, factors)
    num_bins = _positive(num_bins, "num_bins")
    binned = _histogram_discretize(codes, num_bins)
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    mi = np.array(
        [
            [_discrete_mutual_information(binned[:, d], factors[:, f]) for f in range(num_factors)]
            for d in range(num_codes)
        ]
    )
    entropy = np.array([_discrete_mutual_information(factors[:, f], factors[:, f]) for f in range(num_factors)])
    ranked = -np.sort(-mi, axis=0)
    second = ranked[1] if num_codes > 1 else np.zeros(num_factors)
    per_factor: list[float | None] = [
        float((ranked[0, f] - second[f]) / entropy[f]) if entropy[f] > 0 else None for f in range(num_factors)
    ]
    varying = [v for v in per_factor if v is not None]
    if not varying:
        raise DataError("every factor is constant in these samples; sample factors that vary to compute MIG.")
    return {
        "mig": float(np.mean(varying)),
        "mig_per_factor": per_factor,
        "mutual_information": mi.tolist(),
        "factor_entropy": entropy.tolist(),
    }


# -------------------------------------------------------------------------------------------------- SAP
def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(
            f"test_fraction must lie strictly between 0 and 1, got {test_fraction}; the reference uses 1/3."
        )
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test >= n:
        raise DataError(
            f"{n} samples cannot be split into train and test at test_fraction={test_fraction}; pass more samples."
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[n_test:], order[:n_test]


def _require_two_values(factors: np.ndarray, name: str) -> None:
    for f in range(factors.shape[1]):
        if np.unique(factors[:, f]).size < 2:
            raise DataError(f"factor {f} takes a single value in {name}; a classifier needs samples where it varies.")


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    continuous_factors: bool = False,
    *,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    test_fraction: float = 1 / 3,
    seed: int = 0,
) -> dict:
    """Separated Attribute Predictability (Kumar et al. 2018, Sec. 3).

    A score matrix ``S[d, f]`` says how well code dimension ``d`` alone predicts factor ``f``. Discrete
    factors (the reference default): the test accuracy of a one-feature linear SVM
    (``LinearSVC(C=0.01, class_weight="balanced")``) trained on the training part. Continuous factors:
    the squared correlation of ``d`` and ``f`` on all of ``codes`` (no test part). For each factor the
    gap between its two best dimensions is taken; SAP is the mean gap.

    Without ``codes_test``/``factors_test`` a seeded random ``test_fraction`` of the rows is held out;
    the reference samples 10000 training and 5000 test points, i.e. 1/3 of 15000.

    Returns:
        ``sap``, ``sap_per_factor``, ``score_matrix`` (``D x F`` nested lists).
    """
    codes, factors = _check_pair(codes, factors)
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    scores = np.zeros((num_codes, num_factors))
    if continuous_factors:
        # Squared Pearson correlation; a constant dimension predicts nothing.
        c = codes - codes.mean(axis=0)
        y = factors - factors.mean(axis=0)
        cov = c.T @ y / max(codes.shape[0] - 1, 1)
        var_c = (c**2).sum(axis=0) / max(codes.shape[0] - 1, 1)
        var_y = (y**2).sum(axis=0) / max(codes.shape[0] - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = cov**2 / (var_c[:, None] * var_y[None, :])
        scores[(var_c <= 1e-12)[:, None] | (var_y <= 1e-12)[None, :] | ~np.isfinite(scores)] = 0.0
    else:
        if (codes_test is None) != (factors_test is None):
            raise ConfigError("pass both codes_test and factors_test, or neither to split off a test part.")
        if codes_test is None:
            train, test = _split(codes.shape[0], test_fraction, seed)
            codes, codes_test, factors, factors_test = codes[train], codes[test], factors[train], factors[test]
        else:
            codes_test, factors_test = _check_pair(codes_test, factors_test, "_test")
            if codes_test.shape[1] != num_codes or factors_test.shape[1] != num_factors:
                raise DataError(
                    "codes_test/factors_test have other widths than codes/factors; pass the same dimensions."
                )
        _require_two_values(factors, "the SAP training part")
        sk = _sklearn()
        for d in range(num_codes):
            for f in range(num_factors):
                model = sk.svm.LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
                with warnings.catch_warnings():
                    # The reference keeps whatever the solver reached; a convergence note per fit is noise.
                    warnings.simplefilter("ignore", sk.exceptions.ConvergenceWarning)
                    model.fit(codes[:, d : d + 1], factors[:, f])
                scores[d, f] = np.mean(model.predict(codes_test[:, d : d + 1]) == factors_test[:, f])
    ranked = np.sort(scores, axis=0)
    gaps = ranked[-1] - (ranked[-2] if num_codes > 1 else 0.0)
    return {"sap": float(np.mean(gaps)), "sap_per_factor": gaps.tolist(), "score_matrix": scores.tolist()}


# -------------------------------------------------------------------------------------------------- DCI
def _one_minus_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """``1 - H(p)/log(K)`` along ``axis`` (K = its length), after normalising ``p`` to sum to one there."""
    k = p.shape[axis]
    if k == 1:
        return np.ones(p.shape[1 - axis])  # one choice only: trivially concentrated
    q = (p + _IMPORTANCE_EPS) / (p + _IMPORTANCE_EPS).sum(axis=axis, keepdims=True)
    return 1.0 - (-(q * np.log(q)).sum(axis=axis) / np.log(k))


def _dci_scores(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Disentanglement and completeness of an importance matrix ``R`` of shape (codes, factors)."""
    per_code = _one_minus_entropy(importance, axis=1)
    per_factor = _one_minus_entropy(importance, axis=0)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_weight = weights.sum(axis=1) / weights.sum()
    factor_weight = weights.sum(axis=0) / weights.sum()
    return float(per_code @ code_weight), float(per_factor @ factor_weight), per_code, per_factor


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_estimators: int = 100,
    *,
    max_train: int | None = None,
    seed: int = 0,
) -> dict:
    """Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018).

    One gradient-boosted tree classifier per factor (sklearn ``GradientBoostingClassifier``, the
    reference's default settings) predicts the factor from all code dimensions; its feature importances
    form column ``f`` of the importance matrix ``R`` (codes x factors). Disentanglement is
    ``1 - H_F(R[d, :])`` per code (entropy base F of the normalised row), averaged with weights
    ``sum_f R[d, f] / sum R``; completeness is ``1 - H_D(R[:, f])`` per factor, weighted likewise.
    Informativeness is the classifiers' mean accuracy on the training and on the test data.

    Cost: ``n_estimators`` boosting stages, each with one tree per class of a multi-class factor, on
    every training row, so the reference default (100 trees, 10000 train and 5000 test points) takes
    minutes. ``n_estimators`` and ``max_train`` (a seeded random subset of the training rows) trade
    fidelity for time; say so when reporting numbers computed with them.

    Returns:
        ``disentanglement``, ``completeness``, ``informativeness_train``, ``informativeness_test``,
        ``importance_matrix`` (``D x F`` nested lists), ``disentanglement_per_code``,
        ``completeness_per_factor``, ``num_train``, ``n_estimators``.
    """
    codes_train, factors_train = _check_pair(codes_train, factors_train, "_train")
    codes_test, factors_test = _check_pair(codes_test, factors_test, "_test")
    if codes_test.shape[1] != codes_train.shape[1] or factors_test.shape[1] != factors_train.shape[1]:
        raise DataError("the test codes/factors have other widths than the training ones; pass the same dimensions.")
    n_estimators = _positive(n_estimators, "n_estimators")
    if max_train is not None and _positive(max_train, "max_train") < codes_train.shape[0]:
        keep = np.random.default_rng(seed).choice(codes_train.shape[0], size=max_train, replace=False)
        codes_train, factors_train = codes_train[keep], factors_train[keep]
    _require_two_values(factors_train, "the DCI training data")
    sk = _sklearn()

    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    importance = np.zeros((num_codes, num_factors))
    train_acc, test_acc = [], []
    for f in range(num_factors):
        model = sk.ensemble.GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(codes_train, factors_train[:, f])
        importance[:, f] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes_train) == factors_train[:, f]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, f]))
    disentanglement, completeness, per_code, per_factor = _dci_scores(importance)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "importance_matrix": importance.tolist(),
        "disentanglement_per_code": per_code.tolist(),
        "completeness_per_factor": per_factor.tolist(),
        "num_train": int(codes_train.shape[0]),
        "n_estimators": n_estimators,
    }


# -------------------------------------------------------------------------------------------- FactorVAE
@runtime_checkable
class FactorSampler(Protocol):
    """Draws ground-truth factor indices; the FactorVAE score needs nothing else from a dataset.

    ``factor_sizes[f]`` is the number of values factor ``f`` takes (list only factors that vary).
    ``sample(n, rng)`` returns an int array of shape ``(n, F)`` with ``0 <= [:, f] < factor_sizes[f]``,
    drawn as the dataset's observations are distributed (uniformly on a full factor grid).
    """

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each factor."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` factor-index rows."""
        ...


@attrs.frozen
class UniformFactorSampler:
    """Samples every factor independently and uniformly: the distribution of a full factor grid."""

    factor_sizes: tuple[int, ...] = attrs.field(converter=lambda sizes: tuple(int(s) for s in sizes))

    @factor_sizes.validator
    def _check_sizes(self, _attribute: Any, sizes: tuple[int, ...]) -> None:
        if not sizes or min(sizes) < 1:
            raise ConfigError(
                f"factor_sizes must be a non-empty list of positive integers, got {sizes}; list each factor's size."
            )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` rows of independent uniform factor indices, shape ``(n, F)``."""
        return rng.integers(0, np.array(self.factor_sizes), size=(n, len(self.factor_sizes)), dtype=np.int64)


def _represent_checked(
    represent: Callable[[np.ndarray], np.ndarray], factors: np.ndarray, width: int | None
) -> np.ndarray:
    codes = np.asarray(represent(factors), dtype=np.float64)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.ndim != 2 or codes.shape[0] != factors.shape[0] or (width is not None and codes.shape[1] != width):
        raise DataError(
            f"represent returned shape {codes.shape} for {factors.shape[0]} factor rows; it must return (n, D) codes."
        )
    if not np.all(np.isfinite(codes)):
        raise DataError("represent returned NaN or infinite codes; check the Q head outputs.")
    return codes


def _sample_checked(sampler: FactorSampler, n: int, rng: np.random.Generator, sizes: np.ndarray) -> np.ndarray:
    factors = np.asarray(sampler.sample(n, rng))
    if factors.shape != (n, sizes.size) or np.any(factors < 0) or np.any(factors >= sizes):
        raise DataError(
            f"the factor sampler returned shape {factors.shape} or indices outside factor_sizes;"
            f" it must return ({n}, {sizes.size}) indices."
        )
    return factors.astype(np.int64)


def factor_vae_score(
    sampler: FactorSampler,
    represent: Callable[[np.ndarray], np.ndarray],
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    points_per_call: int = 4096,
    seed: int = 0,
) -> dict:
    """The FactorVAE disentanglement score (Kim & Mnih 2018), with the reference's defaults.

    Global variances of every code dimension are estimated from ``num_variance_estimate`` samples;
    dimensions whose standard deviation is below ``prune_threshold`` count as collapsed and are ignored.
    One vote: pick a factor ``k`` uniformly, draw ``batch_size`` factor rows that share the value of
    ``k``, represent them, divide each active dimension's variance in the batch by its global variance,
    and vote ``(k, argmin dimension)``. The classifier maps each dimension to the factor that won most
    of its ``num_train`` training votes (majority vote); the score is its accuracy on ``num_eval`` fresh
    votes (``eval_accuracy``). A perfect representation scores 1; an uninformative one about ``1/F``.

    Args:
        sampler: draws factor indices (see :class:`FactorSampler`).
        represent: maps factor indices ``(n, F)`` to codes ``(n, D)``; the caller renders the
            observations for those factors and runs Q on them.
        points_per_call: upper bound on the rows passed to ``represent`` at once (several votes'
            batches are grouped to keep a network busy); it does not change the definition.
        seed: seeds the numpy Generator used for every draw.

    Returns:
        ``factor_vae`` (= ``eval_accuracy``), ``train_accuracy``, ``eval_accuracy``,
        ``num_active_dims``, ``active_dims`` (list of bools), ``dim_to_factor`` (the majority-vote
        classifier, ``None`` for an inactive or never-voted dimension).
    """
    sizes = np.array(tuple(sampler.factor_sizes), dtype=np.int64)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.min() < 1:
        raise ConfigError(
            f"factor_sizes must be positive integers, got {tuple(sampler.factor_sizes)}; list each factor's size."
        )
    batch_size = _positive(batch_size, "batch_size", minimum=2)  # a variance needs two points
    num_train = _positive(num_train, "num_train")
    num_eval = _positive(num_eval, "num_eval")
    num_variance_estimate = _positive(num_variance_estimate, "num_variance_estimate", minimum=2)
    points_per_call = _positive(points_per_call, "points_per_call")
    if not prune_threshold >= 0:
        raise ConfigError(f"prune_threshold must be >= 0, got {prune_threshold}; the reference uses 0.05.")
    rng = np.random.default_rng(seed)
    num_factors = sizes.size

    global_codes = _represent_checked(represent, _sample_checked(sampler, num_variance_estimate, rng, sizes), None)
    num_codes = global_codes.shape[1]
    global_var = np.var(global_codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {
            "factor_vae": 0.0,
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "active_dims": active.tolist(),
            "dim_to_factor": [None] * num_codes,
        }
    active_index = np.flatnonzero(active)

    def votes(num_points: int) -> np.ndarray:
        counts = np.zeros((num_factors, num_codes), dtype=np.int64)
        groups_per_call = max(1, points_per_call // batch_size)
        done = 0
        while done < num_points:
            g = min(groups_per_call, num_points - done)
            fixed = rng.integers(0, num_factors, size=g)
            rows = _sample_checked(sampler, g * batch_size, rng, sizes).reshape(g, batch_size, num_factors)
            group = np.arange(g)
            # Hold the chosen factor of each group at the value of the group's first row.
            rows[group[:, None], np.arange(batch_size)[None, :], fixed[:, None]] = rows[group, 0, fixed][:, None]
            codes = _represent_checked(represent, rows.reshape(-1, num_factors), num_codes).reshape(
                g, batch_size, num_codes
            )
            ratio = np.var(codes[:, :, active_index], axis=1, ddof=1) / global_var[active_index]
            np.add.at(counts, (fixed, active_index[np.argmin(ratio, axis=1)]), 1)
            done += g
        return counts

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(num_codes)
    train_accuracy = float(train_votes[classifier, dims].sum() / train_votes.sum())
    eval_votes = votes(num_eval)
    eval_accuracy = float(eval_votes[classifier, dims].sum() / eval_votes.sum())
    voted = train_votes.sum(axis=0) > 0
    return {
        "factor_vae": eval_accuracy,
        "train_accuracy": train_accuracy,
        "eval_accuracy": eval_accuracy,
        "num_active_dims": int(active.sum()),
        "active_dims": active.tolist(),
        "dim_to_factor": [int(classifier[d]) if voted[d] else None for d in range(num_codes)],
    }
