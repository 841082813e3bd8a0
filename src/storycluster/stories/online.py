"""Appends: new articles join the stored stories or open new ones, at a cost that follows what is added.

Re-clustering the neighbourhood of 1,000 new articles would, in a big index, re-cluster most of it: news
articles have look-alikes everywhere. Here the stored stories stay as they are and each one becomes a
single node of the graph average-link of :mod:`.clustering`, holding its articles; the new articles are
scored by the same pair model against their nearest neighbours (stored or new) and merged by the same
rule: a new article joins a story when the mean pair probability between them, over about ``pair_budget``
pairs per article of the smaller side, is at least the threshold. Two stored stories merge only when the
new articles between them bring a link strong enough on its own.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .clustering import (
    ArticleTable,
    StoryConfig,
    StorySimilarity,
    cut_merges,
    merge_sequence,
    neighbour_pairs,
    pair_signals,
)


def extend_stories(
    table: ArticleTable, stories: np.ndarray, sizes: np.ndarray, neighbours: np.ndarray,
    config: StoryConfig | None = None, words: sp.csr_matrix | None = None, names: sp.csr_matrix | None = None,
) -> np.ndarray:
    """A group label per row of ``table`` after the new rows join the stored stories or each other.

    ``stories[i]`` is the stored story (0..m-1) of row i, or -1 for a new article; ``sizes[s]`` is the
    number of articles of stored story s (all of them, not only its rows in the table);
    ``neighbours[r]`` are the rows of the r-th new row's nearest articles, nearest first, as an index
    search returns them (the row itself first; -1: none). Rows of one stored story always share a label;
    rows with equal labels form one story. ``words`` are the rows' word TF-IDF weighed against the whole
    index, ``names`` their stored name and number counts (None: both from the table's texts, see
    :class:`.clustering.StorySimilarity`).
    """
    config = config or StoryConfig()
    stories = np.asarray(stories, dtype=np.int64)
    new = np.flatnonzero(stories < 0)
    left, right, rank = neighbour_pairs(len(table), new, np.asarray(neighbours, dtype=np.int64).reshape(len(new), -1))
    similarity = StorySimilarity(config, table.full_texts, table.languages, words, names)
    signals = pair_signals(table, similarity, left, right, rank, config.local_k)
    probability = config.pair_model.probability(signals, similarity.cross_language(left, right))
    # one node per stored story (0..m-1), then one per new article
    stored = len(sizes)
    node = stories.copy()
    node[new] = stored + np.arange(len(new))
    a, b = np.minimum(node[left], node[right]), np.maximum(node[left], node[right])
    nodes = stored + len(new)
    edge, inverse = np.unique(a * nodes + b, return_inverse=True)
    total = np.bincount(inverse, weights=probability, minlength=len(edge))
    pairs = np.bincount(inverse, minlength=len(edge)).astype(np.float64)
    node_sizes = np.concatenate([np.asarray(sizes, dtype=np.float64), np.ones(len(new))])
    threshold = config.merge_threshold
    merges = merge_sequence(
        nodes, edge // nodes, edge % nodes, total, threshold, config.pair_budget, pairs=pairs, sizes=node_sizes
    )
    return cut_merges(nodes, *merges, threshold)[node]

