"""Metrics for story clustering and related-coverage retrieval.

Clustering metrics compare a predicted partition with the true stories:

* B-cubed precision/recall/F1 (Bagga & Baldwin 1998): per item, the share of its predicted cluster that
  belongs to its story (precision) and the share of its story that is in its predicted cluster (recall),
  averaged over items. This is the headline metric of the project.
* Pairwise F1: precision/recall over the pairs of items put together.
* AMI and ARI from scikit-learn.

Retrieval metrics score a k-nearest-neighbour list per query item.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "bcubed",
    "clustering_report",
    "pairwise_f1",
    "precision_at_k",
    "recall_at_k",
]

Labels = Sequence[Hashable] | np.ndarray


def _harmonic(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _contingency(labels_true: Labels, labels_pred: Labels) -> np.ndarray:
    """Dense contingency table, rows = true stories, columns = predicted clusters."""
    if len(labels_true) != len(labels_pred):
        raise ValueError(f"label lists differ in length: {len(labels_true)} != {len(labels_pred)}")
    if len(labels_true) == 0:
        raise ValueError("no items to score")
    true = np.unique(np.asarray(labels_true, dtype=object).astype(str), return_inverse=True)[1]
    pred = np.unique(np.asarray(labels_pred, dtype=object).astype(str), return_inverse=True)[1]
    return np.asarray(contingency_matrix(true, pred, sparse=False), dtype=np.float64)


def bcubed(labels_true: Labels, labels_pred: Labels) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1) of a predicted partition against the true one.

    With ``n_ij`` items of story ``i`` in cluster ``j``, story sizes ``a_i`` and cluster sizes ``b_j``:
    precision = sum_ij n_ij^2 / b_j / N, recall = sum_ij n_ij^2 / a_i / N, F1 their harmonic mean.
    Labels may be any hashable values (compared by their string form).
    """
    table = _contingency(labels_true, labels_pred)
    n = table.sum()
    squared = table**2
    precision = float((squared / table.sum(axis=0, keepdims=True)).sum() / n)
    recall = float((squared / table.sum(axis=1, keepdims=True)).sum() / n)
    return precision, recall, _harmonic(precision, recall)


def pairwise_f1(labels_true: Labels, labels_pred: Labels) -> tuple[float, float, float]:
    """Pairwise (precision, recall, F1) over unordered item pairs placed in one cluster.

    A side without any pair (all singletons) has nothing wrong in it and scores 1.0.
    """
    table = _contingency(labels_true, labels_pred)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    together = pairs(table)
    pred_pairs = pairs(table.sum(axis=0))
    true_pairs = pairs(table.sum(axis=1))
    precision = together / pred_pairs if pred_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    return precision, recall, _harmonic(precision, recall)


def clustering_report(labels_true: Labels, labels_pred: Labels) -> dict[str, float | int]:
    """All clustering metrics in one dict (see module docstring)."""
    precision, recall, f1 = bcubed(labels_true, labels_pred)
    true = np.asarray(labels_true, dtype=object).astype(str)
    pred = np.asarray(labels_pred, dtype=object).astype(str)
    return {
        "bcubed_precision": precision,
        "bcubed_recall": recall,
        "bcubed_f1": f1,
        "pairwise_f1": pairwise_f1(true, pred)[2],
        "ami": float(adjusted_mutual_info_score(true, pred)),
        "ari": float(adjusted_rand_score(true, pred)),
        "n_docs": len(true),
        "n_stories": len(np.unique(true)),
        "n_predicted": len(np.unique(pred)),
    }


def precision_at_k(neighbour_labels: np.ndarray, query_labels: Labels) -> float:
    """Mean share of each query's k neighbours that belong to the query's story.

    ``neighbour_labels`` is an ``(n_queries, k)`` array of the neighbours' story labels (the query itself
    excluded); ``query_labels`` holds the ``n_queries`` story labels of the queries.
    """
    neighbours = np.asarray(neighbour_labels, dtype=object)
    queries = np.asarray(query_labels, dtype=object)
    if neighbours.ndim != 2 or neighbours.shape[0] != len(queries):
        raise ValueError("neighbour_labels must be (n_queries, k) with one row per query label")
    return float((neighbours == queries[:, None]).mean())


def recall_at_k(neighbours: np.ndarray, labels: Labels) -> float:
    """Share of items whose other story members all appear among their k neighbours.

    ``neighbours`` is an ``(n, k)`` array of item indices (query itself excluded, ``-1`` for missing) for
    every item of ``labels``. Items alone in their story are left out; with none left the result is 1.0.
    Suits corpora such as NeuS where each story has a fixed small number of outlets.
    """
    index = np.asarray(neighbours)
    story = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)[1]
    if index.ndim != 2 or index.shape[0] != len(story):
        raise ValueError("neighbours must be (n, k) with one row per label")
    size = np.bincount(story)[story]
    valid = index >= 0
    same = valid & (story[np.where(valid, index, 0)] == story[:, None])
    same &= index != np.arange(len(story))[:, None]
    has_peers = size > 1
    if not has_peers.any():
        return 1.0
    return float((same.sum(axis=1) == size - 1)[has_peers].mean())
