"""Unsupervised classification accuracy of a categorical code: Hungarian matching of categories to labels.

A categorical code learns *some* labelling of the data, with arbitrary category numbers. Its accuracy
is the best one-to-one assignment of predicted categories to true labels (Chen et al. 2016, Sec. 5.1:
"5% error" on digits), found with the Hungarian algorithm on the confusion matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError


def _as_index_vector(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array of non-negative indices, or raise DataError."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array of class indices, got shape {array.shape}; pass one index per sample."
        )
    if array.size == 0:
        raise DataError(f"{name} is empty; evaluate on at least one sample.")
    if not np.issubdtype(array.dtype, np.integer):
        # Float arrays holding whole numbers (e.g. read back from JSON) are accepted; anything else is not.
        if (
            not np.issubdtype(array.dtype, np.floating)
            or not np.all(np.isfinite(array))
            or np.any(array != np.round(array))
        ):
            raise DataError(
                f"{name} must hold integer class indices, got dtype {array.dtype}; pass argmax indices, not scores."
            )
    array = array.astype(np.int64)
    if array.min() < 0:
        raise DataError(f"{name} holds a negative index ({array.min()}); class indices start at 0.")
    return array


def unsupervised_accuracy(
    pred: np.ndarray,
    labels: np.ndarray,
    num_classes: int | None = None,
    *,
    num_labels: int | None = None,
) -> dict:
    """Accuracy of predicted categories after the best one-to-one matching to the true labels.

    Args:
        pred: predicted category per sample, shape ``(N,)``, integers in ``[0, K)``.
        labels: true label per sample, shape ``(N,)``, integers in ``[0, L)``.
        num_classes: ``K``, the number of categories the code can predict (so unused categories still
            get a column); defaults to ``pred.max() + 1``.
        num_labels: ``L``, the number of true labels; defaults to ``labels.max() + 1``.

    ``K`` and ``L`` may differ: the matching is rectangular, so ``min(K, L)`` pairs are made and the
    samples of an unmatched category (or of an unmatched label) all count as errors.

    Returns:
        ``accuracy`` (float in [0, 1]); ``mapping``, a list of length ``K`` giving the label matched to
        each category, or ``None`` where a category is unmatched; ``confusion``, the ``L x K`` count
        matrix as nested lists (rows = true label, columns = predicted category); ``num_samples``,
        ``num_classes`` and ``num_labels``.
    """
    pred = _as_index_vector(pred, "pred")
    labels = _as_index_vector(labels, "labels")
    if pred.shape != labels.shape:
        raise DataError(
            f"pred has {pred.size} samples but labels has {labels.size}; pass one prediction per labelled sample."
        )
    k = int(pred.max()) + 1 if num_classes is None else int(num_classes)
    n_labels = int(labels.max()) + 1 if num_labels is None else int(num_labels)
    if k < 1 or pred.max() >= k:
        raise ConfigError(f"num_classes={num_classes} but pred holds category {pred.max()}; set num_classes above it.")
    if n_labels < 1 or labels.max() >= n_labels:
        raise ConfigError(f"num_labels={num_labels} but labels holds label {labels.max()}; set num_labels above it.")

    from scipy.optimize import linear_sum_assignment  # a quarter second to load; only scoring needs it

    confusion = np.zeros((n_labels, k), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)

    mapping: list[int | None] = [None] * k
    for label, category in zip(rows, cols):
        mapping[int(category)] = int(label)
    correct = int(confusion[rows, cols].sum())
    return {
        "accuracy": correct / pred.size,
        "mapping": mapping,
        "confusion": confusion.tolist(),
        "num_samples": int(pred.size),
        "num_classes": k,
        "num_labels": n_labels,
    }
