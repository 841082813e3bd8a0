"""Clustering and retrieval metrics checked against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storycluster.stories.evaluation import (
    bcubed,
    clustering_report,
    pairwise_f1,
    precision_at_k,
    recall_at_k,
)

# Running example: stories a,a,a,b,b; predicted clusters 1,1,2,2,2.
# Cluster 1 = {0,1} (both a); cluster 2 = {2 (a), 3 (b), 4 (b)}.
TRUE = ["a", "a", "a", "b", "b"]
PRED = [1, 1, 2, 2, 2]


def test_bcubed_hand_worked() -> None:
    # Precision per item = share of its cluster in its story:
    #   items 0,1: 2/2; item 2: 1/3; items 3,4: 2/3  -> (1 + 1 + 1/3 + 2/3 + 2/3) / 5 = 11/15
    # Recall per item = share of its story in its cluster:
    #   items 0,1: 2/3; item 2: 1/3; items 3,4: 2/2  -> (2/3 + 2/3 + 1/3 + 1 + 1) / 5 = 11/15
    # F1 of two equal values = that value.
    p, r, f = bcubed(TRUE, PRED)
    assert p == pytest.approx(11 / 15)
    assert r == pytest.approx(11 / 15)
    assert f == pytest.approx(11 / 15)


def test_pairwise_hand_worked() -> None:
    # Predicted pairs: C(2,2) + C(3,2) = 1 + 3 = 4; true pairs: C(3,2) + C(2,2) = 3 + 1 = 4.
    # Pairs right: (0,1) in cluster 1 and (3,4) in cluster 2 = 2 -> P = R = F1 = 2/4.
    assert pairwise_f1(TRUE, PRED) == pytest.approx((0.5, 0.5, 0.5))


def test_all_singletons() -> None:
    # Stories a,a,b, every item alone.  Precision 1 for each item.
    # Recall: a-items 1/2 each, b-item 1/1 -> (0.5 + 0.5 + 1) / 3 = 2/3; F1 = 2 * 1 * 2/3 / (5/3) = 0.8.
    assert bcubed(["a", "a", "b"], [0, 1, 2]) == pytest.approx((1.0, 2 / 3, 0.8))
    # No predicted pair -> precision 1 by convention; the one true pair is missed -> recall 0, F1 0.
    assert pairwise_f1(["a", "a", "b"], [0, 1, 2]) == pytest.approx((1.0, 0.0, 0.0))


def test_one_cluster() -> None:
    # Stories a,a,b all in one cluster. Precision: a-items 2/3 each, b-item 1/3 -> (5/3) / 3 = 5/9.
    # Recall 1. F1 = 2 * 5/9 / (14/9) = 5/7.
    assert bcubed(["a", "a", "b"], [7, 7, 7]) == pytest.approx((5 / 9, 1.0, 5 / 7))
    # 3 predicted pairs, 1 of them true, 1 true pair -> P 1/3, R 1, F1 = (2/3) / (4/3) = 0.5.
    assert pairwise_f1(["a", "a", "b"], [7, 7, 7]) == pytest.approx((1 / 3, 1.0, 0.5))


def test_singleton_truth_and_prediction_is_perfect() -> None:
    assert bcubed([1, 2, 3], ["x", "y", "z"]) == (1.0, 1.0, 1.0)
    assert pairwise_f1([1, 2, 3], ["x", "y", "z"]) == (1.0, 1.0, 1.0)


def test_clustering_report_keys_and_values() -> None:
    report = clustering_report(TRUE, PRED)
    assert report["bcubed_f1"] == pytest.approx(11 / 15)
    assert report["pairwise_f1"] == pytest.approx(0.5)
    assert (report["n_docs"], report["n_stories"], report["n_predicted"]) == (5, 2, 2)
    assert -1.0 <= report["ari"] <= 1.0 and -1.0 <= report["ami"] <= 1.0
    perfect = clustering_report(TRUE, ["x", "x", "x", "y", "y"])
    assert perfect["bcubed_f1"] == perfect["pairwise_f1"] == pytest.approx(1.0)
    assert perfect["ami"] == pytest.approx(1.0) and perfect["ari"] == pytest.approx(1.0)


def test_mismatched_or_empty_labels_rejected() -> None:
    with pytest.raises(ValueError):
        bcubed([1, 2], [1])
    with pytest.raises(ValueError):
        bcubed([], [])


def test_precision_at_k_hand_worked() -> None:
    # Rows: a query with [a, a] -> 2 right, a with [a, b] -> 1, b with [b, b] -> 2: 5 of 6.
    neighbours = np.array([["a", "a"], ["a", "b"], ["b", "b"]])
    assert precision_at_k(neighbours, ["a", "a", "b"]) == pytest.approx(5 / 6)


def test_recall_at_k_hand_worked() -> None:
    labels = ["a", "a", "a", "b", "b", "c"]
    neighbours = np.array(
        [
            [1, 2],  # a: others {1, 2} both found -> hit
            [0, 3],  # a: 2 missing -> miss
            [0, 1],  # a: hit
            [4, 0],  # b: other {4} found -> hit
            [5, -1],  # b: 3 missing -> miss
            [0, 1],  # c is alone in its story: not counted
        ]
    )
    assert recall_at_k(neighbours, labels) == pytest.approx(3 / 5)
    assert recall_at_k(np.array([[1], [0]]), ["x", "y"]) == 1.0


@given(st.lists(st.integers(0, 4), min_size=1, max_size=30), st.data())
def test_bcubed_properties(truth: list[int], data: st.DataObject) -> None:
    pred = data.draw(st.lists(st.integers(0, 4), min_size=len(truth), max_size=len(truth)))
    p, r, f = bcubed(truth, pred)
    assert 0.0 < p <= 1.0 and 0.0 < r <= 1.0 and min(p, r) - 1e-12 <= f <= max(p, r) + 1e-12
    # Renaming clusters changes nothing; swapping the roles swaps precision and recall.
    assert bcubed(truth, [f"c{x}" for x in pred]) == pytest.approx((p, r, f))
    assert bcubed(pred, truth) == pytest.approx((r, p, f))
    assert bcubed(truth, truth) == (1.0, 1.0, 1.0)
