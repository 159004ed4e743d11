"""Choosing a model without labels: UDR (Duan et al. 2020, "Unsupervised model selection for
variational disentangled representation learning", ICLR), and how well its ranking agrees with the
supervised metrics (Spearman's rank correlation over the runs).

UDR rests on the observation that disentangled models of one setting agree with each other up to a
permutation and sign of their latent dimensions, while entangled ones each mix the factors in their
own way. For two models a and b on the same inputs, ``R`` is the matrix of absolute Spearman
correlations between every latent dimension of a and of b; the pair's score is the mean of the
"relative strength" of each row and each column (its largest entry squared over its sum: 1 when one
dimension of the other model matches it alone, ``1/d`` when it spreads evenly). A model's UDR is the
median of its pair scores with every other model of its setting. This is the Spearman variant of
disentanglement_lib's ``compute_udr_sklearn``. On a finite sample, independent dimensions correlate
by chance (``|rho|`` about ``1/sqrt(n)``), so even identical models score below 1 (about 0.88 for 4
dimensions on 600 inputs); scores compare runs read on the same inputs, not against 1. Duan et al. weigh dimensions by
how
informative they are (a VAE's KL); an InfoGAN code is informative by construction, so every column
counts and a collapsed (constant) one scores 0. A categorical code enters as one column per
category (its one-hot class), so the matching does not depend on the arbitrary order of classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..errors import DataError


def abs_rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|Spearman|`` between every column of ``a`` (n, da) and of ``b`` (n, db): a (da, db) matrix;
    a constant column correlates 0 with everything."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0] or a.shape[0] < 2:
        raise DataError(f"representations must be (n, d) on the same n >= 2 inputs, got {a.shape} and {b.shape}")
    ra = stats.rankdata(a, axis=0)
    rb = stats.rankdata(b, axis=0)
    ra -= ra.mean(axis=0)
    rb -= rb.mean(axis=0)
    na, nb = np.linalg.norm(ra, axis=0), np.linalg.norm(rb, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (ra.T @ rb) / np.outer(na, nb)
    return np.abs(np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0))


def relative_strength(corr: np.ndarray) -> float:
    """UDR's pair score from a (da, db) matrix of absolute correlations: the mean over columns and over
    rows of (largest entry)^2 / sum, averaged; an all-zero row or column scores 0."""
    corr = np.asarray(corr, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols = np.nan_to_num(corr.max(axis=0) ** 2 / corr.sum(axis=0), nan=0.0)
        rows = np.nan_to_num(corr.max(axis=1) ** 2 / corr.sum(axis=1), nan=0.0)
    return float((cols.mean() + rows.mean()) / 2)


def udr_scores(representations: Sequence[np.ndarray]) -> list[float]:
    """Each model's UDR: the median of its pair scores with every other model (at least two models,
    each an (n, d) representation of the same n inputs)."""
    m = len(representations)
    if m < 2:
        raise DataError(
            f"UDR compares models with each other and needs at least 2 runs of a setting, got {m}; add seeds"
        )
    pair = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            pair[i, j] = pair[j, i] = relative_strength(abs_rank_correlation(representations[i], representations[j]))
    return [float(np.median(np.delete(pair[i], i))) for i in range(m)]


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation of two equally long sequences; None when it is undefined (fewer
    than 3 values, or one side constant)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return None
    return float(stats.spearmanr(xs, ys).statistic)


def code_representation(model: Any, data: Any, count: int, seed: int, batch: int = 256) -> np.ndarray:
    """Q's representation of ``count`` seeded images of ``data`` (the same images for every model
    given the same seed and data): a continuous code's point estimate per dimension, a categorical
    code's one-hot class."""
    import torch

    from ..evaluate.report import q_outputs

    n = len(data)
    rng = np.random.default_rng((seed, 7))
    index = np.sort(rng.choice(n, size=min(count, n), replace=False))
    params = q_outputs(model, data, torch.from_numpy(index), batch)
    columns = []
    for code in model.codes:
        est = code.head.point_estimate(params[:, code.param_slice]).detach().to("cpu", torch.float64)
        categories = code.code.categories
        if categories is not None and est.dim() == 1:
            columns.append(np.eye(categories)[est.long().clamp(0, categories - 1).numpy()])
        else:
            columns.append(est.reshape(est.shape[0], -1).numpy())
    return np.concatenate(columns, axis=1)
