"""Score an index against known story labels: clustering metrics and retrieval figures."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

import numpy as np

from ..stories.evaluation import clustering_report, precision_at_k, recall_at_k
from .story_index import StoryIndex


def score_index(index: StoryIndex, labels: Mapping[str, str], *, recluster: bool = True) -> dict[str, float | int]:
    """Cluster the index (unless ``recluster`` is False) and compare with ``labels`` (article id -> story).

    Returns the B-cubed, pairwise, AMI and ARI figures of the story grouping, plus precision@5 of
    ``similar_to`` and, where every story has exactly three articles, recall@2 (both of an article's
    sibling reports ranked first and second), and ``cluster_s``, the seconds the re-clustering took (0
    without it).
    """
    start = time.perf_counter()
    stories = index.cluster() if recluster else index.stories()
    seconds = time.perf_counter() - start
    predicted = {article: story.story for story in stories for article in story.articles}
    ids = [article_id for article_id in labels if article_id in predicted]
    if not ids:
        raise ValueError("none of the labelled articles is in the index")
    report: dict[str, float | int] = clustering_report([labels[i] for i in ids], [predicted[i] for i in ids])
    row = {article_id: i for i, article_id in enumerate(ids)}
    truth = np.array([labels[i] for i in ids], dtype=object)
    neighbours = np.full((len(ids), 5), -1)
    for i, article_id in enumerate(ids):
        found = [row[m.id] for m in index.similar_to(article_id, k=5) if m.id in row]
        neighbours[i, : len(found)] = found
    padded = np.where(neighbours >= 0, truth[np.maximum(neighbours, 0)], None)
    report["precision_at_5"] = precision_at_k(padded, truth)
    if set(Counter(truth).values()) == {3}:
        report["recall_at_2"] = recall_at_k(neighbours[:, :2], truth)
    report["cluster_s"] = seconds if recluster else 0.0
    return report
