"""Known-answer tests for the evaluation metrics: Hungarian accuracy, the L_I bound, MIG, SAP, DCI, FactorVAE."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from infogan_tk_metrics import disentanglement as dis
from infogan_tk_metrics.disentanglement import (
    FactorSampler,
    UniformFactorSampler,
    dci,
    factor_vae_score,
    mig,
    sap,
)
from infogan_toolkit.errors import ConfigError, DataError
from infogan_toolkit.evaluate.accuracy import unsupervised_accuracy
from infogan_toolkit.evaluate.information import mutual_information_bound

# A small factor grid with the layout of a shapes dataset: shape, scale, orientation, x, y.
SIZES = (3, 6, 10, 8, 8)
PERM = [3, 0, 4, 1, 2]  # code dimension d copies factor PERM[d]


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    return UniformFactorSampler(SIZES).sample(4000, np.random.default_rng(0))


def random_codes(n: int, d: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


# ------------------------------------------------------------------------------------------- accuracy
def test_accuracy_is_one_for_a_permuted_labelling() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=500)
    relabel = rng.permutation(10)
    result = unsupervised_accuracy(relabel[labels], labels)
    assert result["accuracy"] == 1.0
    # Category relabel[l] must be matched back to label l.
    assert [result["mapping"][relabel[label]] for label in range(10)] == list(range(10))


def test_accuracy_uses_the_optimal_not_the_greedy_matching() -> None:
    # rows = true label, cols = predicted category. Greedy takes (0,0)=6 and strands label 1;
    # the optimum is label0->cat1 (5) + label1->cat0 (5) + label2->cat2 (4) = 14 of 20.
    confusion = np.array([[6, 5, 0], [5, 0, 0], [0, 0, 4]])
    labels, pred = [], []
    for label, row in enumerate(confusion):
        for category, count in enumerate(row):
            labels += [label] * count
            pred += [category] * count
    order = np.random.default_rng(3).permutation(len(labels))
    result = unsupervised_accuracy(np.array(pred)[order], np.array(labels)[order])
    assert result["accuracy"] == pytest.approx(14 / 20)
    assert result["mapping"] == [1, 0, 2]
    assert result["confusion"] == confusion.tolist()


def test_accuracy_rectangular_more_categories_than_labels() -> None:
    # Four categories, two labels: categories 0,1 are label 0; 2 is label 1; 3 (mixed) is left over.
    labels = np.array([0] * 6 + [1] * 4 + [0, 1])
    pred = np.array([0] * 4 + [1] * 2 + [2] * 4 + [3, 3])
    result = unsupervised_accuracy(pred, labels)
    assert result["num_classes"] == 4 and result["num_labels"] == 2
    assert result["accuracy"] == pytest.approx((4 + 4) / 12)
    assert result["mapping"][0] == 0 and result["mapping"][2] == 1
    assert result["mapping"][1] is None and result["mapping"][3] is None


def test_accuracy_rectangular_fewer_categories_than_labels_and_unused_columns() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([1, 1, 0, 0, 0, 1])
    result = unsupervised_accuracy(pred, labels, num_classes=3)  # category 2 never predicted
    assert np.array(result["confusion"]).shape == (3, 3)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["mapping"][1] == 0 and result["mapping"][0] == 1


def test_accuracy_result_round_trips_through_json(tmp_path) -> None:
    path = tmp_path / "accuracy.json"
    result = unsupervised_accuracy(np.array([2, 2, 0, 1]), np.array([0, 0, 1, 2]))
    path.write_text(json.dumps(result))
    assert json.loads(path.read_text()) == result


def test_accuracy_rejects_bad_input() -> None:
    with pytest.raises(DataError, match="samples"):
        unsupervised_accuracy(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(DataError, match="integer"):
        unsupervised_accuracy(np.array([0.2, 0.7]), np.array([0, 1]))
    with pytest.raises(DataError, match="negative"):
        unsupervised_accuracy(np.array([-1, 1]), np.array([0, 1]))
    with pytest.raises(ConfigError, match="num_classes"):
        unsupervised_accuracy(np.array([0, 5]), np.array([0, 1]), num_classes=3)


# ---------------------------------------------------------------------------------------- information
@pytest.mark.parametrize("k", [2, 10])
def test_bound_is_ln_k_for_a_perfect_q_and_zero_for_an_uninformative_one(k: int) -> None:
    n = 256
    codes = torch.randint(0, k, (n,))
    perfect_logits = torch.full((n, k), -1e4).scatter(1, codes[:, None], 0.0)
    perfect = torch.log_softmax(perfect_logits, dim=1).gather(1, codes[:, None]).squeeze(1)
    uniform = torch.log_softmax(torch.zeros(n, k, requires_grad=True), dim=1).gather(1, codes[:, None]).squeeze(1)
    assert mutual_information_bound(perfect, math.log(k)) == pytest.approx(math.log(k), abs=1e-9)
    assert mutual_information_bound(uniform, math.log(k)) == pytest.approx(0.0, abs=1e-6)
    assert mutual_information_bound(np.full(n, math.log(1 / k)), math.log(k)) == pytest.approx(0.0, abs=1e-12)


def test_bound_sums_code_dimensions_and_rejects_garbage() -> None:
    per_dim = np.array([[-0.5, -1.0], [-1.5, -2.0]])
    assert mutual_information_bound(per_dim, 3.0) == pytest.approx(3.0 - 2.5)
    with pytest.raises(DataError, match="empty"):
        mutual_information_bound(np.array([]), 1.0)
    with pytest.raises(DataError, match="NaN"):
        mutual_information_bound(torch.tensor([0.0, float("nan")]), 1.0)


# ------------------------------------------------------------------------------------------------ MIG
def test_discrete_mutual_information_matches_sklearn() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 7, 900), rng.integers(0, 4, 900)
    b = np.where(rng.random(900) < 0.5, a % 4, b)  # partly dependent
    assert dis._discrete_mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), abs=1e-12)


def test_mig_of_true_factors_is_near_one(grid: np.ndarray) -> None:
    result = mig(grid[:, PERM].astype(float), grid)
    assert result["mig"] > 0.95
    assert np.array(result["mutual_information"]).shape == (5, 5)


def test_mig_of_a_32_valued_factor_in_20_bins_is_about_085() -> None:
    # 32 values in 20 equal bins: 12 bins hold two values, 8 hold one, so H(bin)/H(y) = 4.25/5.
    y = np.random.default_rng(2).integers(0, 32, size=(20000, 1))
    codes = np.c_[y.astype(float), random_codes(20000, 1)]
    assert 0.82 < mig(codes, y)["mig"] < 0.88
    assert mig(codes, y, num_bins=64)["mig"] > 0.98  # enough bins separate every value


def test_mig_of_random_codes_is_near_zero(grid: np.ndarray) -> None:
    assert mig(random_codes(len(grid), 10), grid)["mig"] < 0.05


def test_mig_of_a_duplicated_latent_is_zero_for_that_factor(grid: np.ndarray) -> None:
    codes = np.c_[grid[:, 0], grid[:, 0], grid[:, 1:]].astype(float)
    per_factor = mig(codes, grid)["mig_per_factor"]
    assert per_factor[0] < 0.05
    assert min(per_factor[1:]) > 0.95


def test_mig_skips_a_constant_factor_and_checks_input(grid: np.ndarray) -> None:
    factors = np.c_[grid[:, :2], np.zeros(len(grid), dtype=int)]
    result = mig(grid[:, :2].astype(float), factors)
    assert result["mig_per_factor"][2] is None and result["mig"] > 0.95
    with pytest.raises(DataError, match="rows"):
        mig(random_codes(10, 2), grid)
    with pytest.raises(DataError, match="NaN"):
        mig(np.full((len(grid), 2), np.nan), grid)
    with pytest.raises(ConfigError, match="num_bins"):
        mig(grid.astype(float), grid, num_bins=0)


# ------------------------------------------------------------------------------------------------ SAP
def test_sap_continuous_true_factors_high_random_and_duplicated_low(grid: np.ndarray) -> None:
    assert sap(grid[:, PERM].astype(float), grid, continuous_factors=True)["sap"] > 0.9
    assert sap(random_codes(len(grid), 10), grid, continuous_factors=True)["sap"] < 0.05
    doubled = np.c_[grid, grid].astype(float)
    assert sap(doubled, grid, continuous_factors=True)["sap"] < 0.05


def test_sap_discrete_true_factors_beat_random(grid: np.ndarray) -> None:
    codes = grid[:, PERM].astype(float)
    true = sap(codes, grid)
    rand = sap(random_codes(len(grid), 5), grid)
    # The 3-valued factor is predicted perfectly by its own dimension; other dimensions reach only the
    # balanced chance level 1/3, so its gap is about 2/3.
    assert true["sap_per_factor"][0] == pytest.approx(2 / 3, abs=0.05)
    assert true["sap"] > 0.25  # one linear SVM per class on one feature under-rates many-valued factors
    assert rand["sap"] < 0.05


def test_sap_accepts_an_explicit_test_set_and_checks_options(grid: np.ndarray) -> None:
    codes = grid[:, PERM].astype(float)
    result = sap(codes[:3000], grid[:3000], codes_test=codes[3000:], factors_test=grid[3000:])
    assert np.array(result["score_matrix"]).shape == (5, 5)
    assert result["score_matrix"][1][0] == pytest.approx(1.0)  # dimension 1 copies the 3-valued factor 0
    with pytest.raises(ConfigError, match="test_fraction"):
        sap(codes, grid, test_fraction=1.5)
    with pytest.raises(ConfigError, match="both"):
        sap(codes, grid, codes_test=codes)


# ------------------------------------------------------------------------------------------------ DCI
def test_dci_scores_of_known_importance_matrices() -> None:
    d, c, _, _ = dis._dci_scores(np.eye(4)[[2, 0, 3, 1]])
    assert d == pytest.approx(1.0, abs=1e-6) and c == pytest.approx(1.0, abs=1e-6)
    d, c, _, _ = dis._dci_scores(np.ones((4, 4)))
    assert d == pytest.approx(0.0, abs=1e-6) and c == pytest.approx(0.0, abs=1e-6)
    # One code explains both factors: not disentangled, but each factor lives in one code (complete).
    d, c, _, _ = dis._dci_scores(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d == pytest.approx(0.0, abs=1e-6) and c == pytest.approx(1.0, abs=1e-6)


def test_dci_true_factors_near_one_random_low(grid: np.ndarray) -> None:
    codes = grid[:, PERM].astype(float)
    true = dci(codes[:1500], grid[:1500], codes[3000:3500], grid[3000:3500], n_estimators=10)
    assert true["disentanglement"] > 0.95 and true["completeness"] > 0.95
    assert true["informativeness_test"] > 0.95
    assert np.argmax(np.array(true["importance_matrix"]), axis=1).tolist() == PERM

    noise = random_codes(len(grid), 5)
    rand = dci(noise[:1500], grid[:1500], noise[3000:3500], grid[3000:3500], n_estimators=10)
    assert rand["disentanglement"] < 0.2 and rand["completeness"] < 0.2
    assert rand["informativeness_test"] < 0.35


def test_dci_size_options(grid: np.ndarray) -> None:
    codes = grid[:, PERM].astype(float)
    result = dci(codes[:3000], grid[:3000], codes[3000:], grid[3000:], n_estimators=5, max_train=400)
    assert result["num_train"] == 400 and result["n_estimators"] == 5
    with pytest.raises(ConfigError, match="n_estimators"):
        dci(codes, grid, codes, grid, n_estimators=0)
    with pytest.raises(DataError, match="single value"):
        dci(codes, np.c_[grid[:, :2], np.zeros(len(grid), dtype=int)], codes, grid[:, :3])


# ------------------------------------------------------------------------------------------ FactorVAE
SMALL = dict(batch_size=32, num_train=600, num_eval=1000, num_variance_estimate=2000)


def test_factor_vae_true_factors_score_one() -> None:
    sampler = UniformFactorSampler(SIZES)
    assert isinstance(sampler, FactorSampler)
    result = factor_vae_score(sampler, lambda f: f[:, PERM].astype(float), **SMALL)
    assert result["factor_vae"] == 1.0 and result["train_accuracy"] == 1.0
    assert result["dim_to_factor"] == PERM
    assert result["num_active_dims"] == 5


def test_factor_vae_random_codes_score_chance() -> None:
    def represent(f: np.ndarray) -> np.ndarray:
        return np.random.default_rng(int(f.sum())).normal(size=(len(f), 8))

    result = factor_vae_score(UniformFactorSampler(SIZES), represent, **SMALL)
    assert abs(result["factor_vae"] - 1 / len(SIZES)) < 0.06


def test_factor_vae_prunes_collapsed_dimensions() -> None:
    def represent(f: np.ndarray) -> np.ndarray:
        collapsed = np.full((len(f), 1), 3.0) + 0.001 * np.random.default_rng(len(f)).normal(size=(len(f), 1))
        return np.c_[collapsed, f.astype(float)]  # dimension 0 barely moves: std below 0.05

    result = factor_vae_score(UniformFactorSampler(SIZES), represent, **SMALL)
    assert result["active_dims"] == [False, True, True, True, True, True]
    assert result["dim_to_factor"][0] is None and result["factor_vae"] == 1.0
    dead = factor_vae_score(UniformFactorSampler(SIZES), lambda f: np.zeros((len(f), 3)), **SMALL)
    assert dead["factor_vae"] == 0.0 and dead["num_active_dims"] == 0


def test_factor_vae_with_a_custom_sampler_and_bad_represent() -> None:
    class ListedGrid:
        """A sampler over an explicit list of factor rows, as a dataset with a partial grid would be."""

        factor_sizes = (2, 4)

        def __init__(self) -> None:
            self.rows = np.array([(a, b) for a in range(2) for b in range(4) if (a, b) != (1, 3)])

        def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
            return self.rows[rng.integers(0, len(self.rows), size=n)]

    result = factor_vae_score(ListedGrid(), lambda f: f[:, ::-1].astype(float), **SMALL)
    assert result["dim_to_factor"] == [1, 0] and result["factor_vae"] > 0.99
    again = factor_vae_score(ListedGrid(), lambda f: f[:, ::-1].astype(float), **SMALL)
    assert again == result  # fixed seed: deterministic
    with pytest.raises(DataError, match="represent returned"):
        factor_vae_score(ListedGrid(), lambda f: f[:1].astype(float), **SMALL)
    with pytest.raises(ConfigError, match="batch_size"):
        factor_vae_score(ListedGrid(), lambda f: f.astype(float), batch_size=1)


def test_uniform_sampler_rejects_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="factor_sizes"):
        UniformFactorSampler((3, 0))
