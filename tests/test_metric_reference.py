"""The toolkit's MIG, SAP, DCI and FactorVAE score give what disentanglement_lib's definitions give.

Each reference below is a plain, literal restatement of disentanglement_lib's definition
(google-research/disentanglement_lib, ``evaluation/metrics/{mig,sap_score,dci,factor_vae}.py`` and
``utils.py``; settings from ``config/unsupervised_study_v1/metric_configs``), written here with
numpy, scipy and scikit-learn and sharing no code with ``infogan_toolkit.evaluate``. Arrays are laid
out as the toolkit's (rows = samples); the reference's own layout is (dimensions, samples). Three
known cases: the factors themselves, the factors permuted and rescaled beside a collapsed (constant)
dimension, and a representation independent of the factors.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn import ensemble, svm
from sklearn.metrics import mutual_info_score

from infogan_tk_metrics.disentanglement import UniformFactorSampler, dci, factor_vae_score, mig, sap

SIZES = (3, 4, 5, 6)  # a small full grid; 4 factors, one of them with more values than...
BINS = 5  # ...the bins, as dSprites' positions have more values than the reference's 20 bins


# ------------------------------------------------------------------------------ reference definitions
def ref_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """utils._histogram_discretize: per dimension, np.digitize on np.histogram's edges without the last."""
    out = np.zeros_like(codes, dtype=np.int64)
    for d in range(codes.shape[1]):
        out[:, d] = np.digitize(codes[:, d], np.histogram(codes[:, d], num_bins)[1][:-1])
    return out


def ref_mig(codes: np.ndarray, factors: np.ndarray, num_bins: int) -> float:
    """mig._compute_mig: discrete MI (sklearn's mutual_info_score) of every binned dimension with every
    factor, the gap of the two largest per factor over the factor's entropy, averaged."""
    binned = ref_discretize(codes, num_bins)
    m = np.array(
        [
            [mutual_info_score(factors[:, f], binned[:, d]) for f in range(factors.shape[1])]
            for d in range(codes.shape[1])
        ]
    )
    entropy = np.array([mutual_info_score(factors[:, f], factors[:, f]) for f in range(factors.shape[1])])
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


def ref_sap(codes, factors, codes_test, factors_test) -> float:
    """sap_score (discrete factors): test accuracy of LinearSVC(C=0.01, class_weight="balanced") on each
    single dimension for each factor; the mean over factors of the gap between the two best."""
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for d in range(codes.shape[1]):
        for f in range(factors.shape[1]):
            model = svm.LinearSVC(C=0.01, class_weight="balanced")
            model.fit(codes[:, d : d + 1], factors[:, f])
            scores[d, f] = np.mean(model.predict(codes_test[:, d : d + 1]) == factors_test[:, f])
    ranked = np.sort(scores, axis=0)
    return float(np.mean(ranked[-1] - ranked[-2]))


def ref_dci(codes, factors, codes_test, factors_test) -> dict:
    """dci: a GradientBoostingClassifier (defaults) per factor; |feature_importances_| as the columns of R;
    disentanglement = sum_d (1 - H_F(R[d] + 1e-11)) * share_d, completeness likewise over factors."""
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    train_acc, test_acc = [], []
    for f in range(factors.shape[1]):
        # The reference leaves random_state unset; trees break ties between features at random, so a
        # fixed seed (the toolkit's default, 0) is what makes the two runs comparable.
        model = ensemble.GradientBoostingClassifier(random_state=0)
        model.fit(codes, factors[:, f])
        importance[:, f] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes) == factors[:, f]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, f]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    return {
        "disentanglement": float(np.sum(per_code * weights.sum(axis=1) / weights.sum())),
        "completeness": float(np.sum(per_factor * weights.sum(axis=0) / weights.sum())),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
    }


def ref_factor_vae(
    represent,
    sizes,
    seed: int,
    batch_size: int,
    num_train: int,
    num_eval: int,
    num_variance_estimate: int,
    threshold: float = 0.05,
) -> float:
    """factor_vae.compute_factor_vae with its RandomState, one vote at a time. As in the reference, the
    vote goes to the argmin's position among the *active* dimensions; the majority-vote accuracy does
    not depend on how the columns are numbered, so the score is the definition's."""
    rs = np.random.RandomState(seed)
    sizes = np.array(sizes)

    def sample(n):
        return np.stack([rs.randint(s, size=n) for s in sizes], axis=1)

    global_var = np.var(represent(sample(num_variance_estimate)), axis=0, ddof=1)
    active = np.sqrt(global_var) >= threshold
    if not active.any():
        return 0.0

    def votes(n):
        counts = np.zeros((len(sizes), global_var.shape[0]), dtype=np.int64)
        for _ in range(n):
            k = rs.randint(len(sizes))
            factors = sample(batch_size)
            factors[:, k] = factors[0, k]
            local = np.var(represent(factors), axis=0, ddof=1)
            counts[k, np.argmin(local[active] / global_var[active])] += 1
        return counts

    train = votes(num_train)
    classifier = np.argmax(train, axis=0)
    evaluation = votes(num_eval)
    return float(evaluation[classifier, np.arange(evaluation.shape[1])].sum() / evaluation.sum())


# ------------------------------------------------------------------------------------------ the cases
SCALE = np.array([0.3, -2.0, 1.7, 0.1])  # every factor spread above the 0.05 pruning threshold
PERM = [2, 0, 3, 1]


def perfect(factors: np.ndarray) -> np.ndarray:
    return factors.astype(np.float64)


def permuted(factors: np.ndarray) -> np.ndarray:
    """The factors in another order, each rescaled (one flipped), and a collapsed dimension."""
    codes = factors[:, PERM] * SCALE + 5.0
    return np.concatenate([codes, np.full((len(factors), 1), 0.25)], axis=1)


_NOISE = np.random.default_rng(17)


def independent(factors: np.ndarray) -> np.ndarray:
    """Codes that carry nothing about the factors: fresh noise on every call."""
    return _NOISE.normal(size=(len(factors), 5))


CASES = {"perfect": perfect, "permuted": permuted, "random": independent}


@pytest.fixture(scope="module")
def data():
    sampler = UniformFactorSampler(SIZES)
    rng = np.random.default_rng(0)
    return sampler.sample(600, rng), sampler.sample(300, rng)


@pytest.mark.parametrize("case", CASES)
def test_mig_matches_the_reference(data, case):
    factors, _ = data
    codes = CASES[case](factors)
    ours = mig(codes, factors, num_bins=BINS)["mig"]
    assert ours == pytest.approx(ref_mig(codes, factors, BINS), abs=1e-12)
    if case != "random":
        assert ours > 0.5  # a gap exists (not 1: 6 values share 5 bins)
    else:
        assert ours < 0.1


@pytest.mark.parametrize("case", CASES)
def test_sap_matches_the_reference(data, case):
    (factors, factors_test), make = data, CASES[case]
    codes, codes_test = make(factors), make(factors_test)
    ours = sap(codes, factors, codes_test=codes_test, factors_test=factors_test)["sap"]
    assert ours == pytest.approx(ref_sap(codes, factors, codes_test, factors_test), abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_dci_matches_the_reference(data, case):
    (factors, factors_test), make = data, CASES[case]
    codes, codes_test = make(factors), make(factors_test)
    ours = dci(codes, factors, codes_test, factors_test, n_estimators=100, seed=0)
    reference = ref_dci(codes, factors, codes_test, factors_test)
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key
    if case == "random":
        assert ours["disentanglement"] < 0.3
    else:
        assert ours["disentanglement"] > 0.95 and ours["completeness"] > 0.95


SIZES_FVAE = {"batch_size": 16, "num_train": 300, "num_eval": 300, "num_variance_estimate": 500}


@pytest.mark.parametrize("case", ["perfect", "permuted"])
def test_factor_vae_matches_the_reference_where_the_answer_is_certain(case):
    make = CASES[case]
    ours = factor_vae_score(UniformFactorSampler(SIZES), make, seed=0, **SIZES_FVAE)
    assert ours["factor_vae"] == 1.0 == ref_factor_vae(make, SIZES, 0, **SIZES_FVAE)
    assert ours["num_active_dims"] == 4  # the collapsed dimension of `permuted` is pruned in both


def test_factor_vae_of_an_independent_representation_is_chance_in_both():
    """Random codes vote at random: the expected accuracy is exactly 1/F under the definition, for any
    sampling, so the two implementations (different random streams) must both land there."""
    sizes = dict(SIZES_FVAE, num_eval=1200)
    ours = factor_vae_score(UniformFactorSampler(SIZES), independent, seed=1, **sizes)["factor_vae"]
    reference = ref_factor_vae(independent, SIZES, 1, **sizes)
    chance, sd = 1 / len(SIZES), (0.25 * 0.75 / 1200) ** 0.5
    assert abs(ours - chance) < 4 * sd and abs(reference - chance) < 4 * sd
