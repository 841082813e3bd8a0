"""The compiled story clustering against the reference implementation it replaced.

The reference (kept here only, not in the package) is the rule of the story-linking issue as it was first
written: per-pair Python loops for the signals and a heap of Python tuples over a dict per cluster for the
graph average-link. The compiled kernels must give the same merges, hence the same labels.
"""

from __future__ import annotations

import heapq
import json
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storycluster.embed.article_vectors import derived
from storycluster.stories.clustering import (
    ArticleFeatures,
    ArticleTable,
    StoryClusterer,
    StoryConfig,
    StorySimilarity,
    best_paragraph_similarity,
    candidate_pairs,
    cut_merges,
    link_stories,
    merge_sequence,
    pair_signals,
)


def reference_merge_sequence(
    n: int, left: np.ndarray, right: np.ndarray, probability: np.ndarray, threshold: float, budget: float = 10.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graph average-link as first written: a heap of Python tuples over a dict of pair sums per cluster."""
    size = np.ones(n)
    adjacency: list[dict[int, list[float]]] = [{} for _ in range(n)]
    for i, j, p in zip(left.tolist(), right.tolist(), probability.tolist()):
        entry = [p, 1.0]
        adjacency[i][j] = entry
        adjacency[j][i] = entry
    version = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)

    def link(a: int, b: int) -> float:
        total, pairs = adjacency[a][b]
        smaller = min(size[a], size[b])
        return total / max(pairs, min(size[a] * size[b], budget * smaller))

    heap = [(-link(a, b), a, b, 0, 0) for a in range(n) for b in adjacency[a] if a < b]
    heapq.heapify(heap)
    merges: list[tuple[int, int, float]] = []
    while heap:
        negative, a, b, version_a, version_b = heapq.heappop(heap)
        if -negative < threshold:
            break
        if not (alive[a] and alive[b]) or version[a] != version_a or version[b] != version_b:
            continue
        merges.append((a, b, -negative))
        if len(adjacency[a]) < len(adjacency[b]):
            a, b = b, a
        del adjacency[a][b], adjacency[b][a]
        for x, (total, pairs) in adjacency[b].items():
            del adjacency[x][b]
            if x in adjacency[a]:
                entry = adjacency[a][x]
                entry[0] += total
                entry[1] += pairs
            else:
                entry = [total, pairs]
                adjacency[a][x] = entry
                adjacency[x][a] = entry
        adjacency[b] = {}
        alive[b] = False
        size[a] += size[b]
        version[a] += 1
        for x in adjacency[a]:
            heapq.heappush(heap, (-link(a, x), a, x, int(version[a]), int(version[x])))
    merged = np.array(merges, dtype=np.float64).reshape(-1, 3)
    return merged[:, 0].astype(np.int64), merged[:, 1].astype(np.int64), merged[:, 2]


def reference_signals(articles: list[ArticleFeatures], similarity: StorySimilarity, left, right, rank, local_k=3):
    """The pair signals as first written: one matrix product per pair, row-indexed sparse products."""
    vectors = np.stack([a.vector for a in articles]).astype(np.float32)
    dense = np.array([best_paragraph_similarity(articles[i].paragraphs, articles[j].paragraphs)
                      for i, j in zip(left, right)])
    words = similarity.words
    lexical = np.asarray(words[left].multiply(words[right]).sum(axis=1)).ravel()
    names = np.asarray(similarity.names[left].multiply(similarity.names[right]).sum(axis=1)).ravel()
    nodes = np.concatenate([left, right])
    values = np.concatenate([0.5 * dense + 0.5 * lexical] * 2)
    order = np.lexsort((-values, nodes))
    nodes, values = nodes[order], values[order]
    top = np.arange(len(nodes)) - np.searchsorted(nodes, np.arange(len(articles)))[nodes] < local_k
    count = np.bincount(nodes[top], minlength=len(articles))
    crowd = np.bincount(nodes[top], weights=values[top], minlength=len(articles)) / np.maximum(count, 1)
    length = np.log1p(np.minimum(*(np.array([len(a.full_text.split()) for a in articles])[x] for x in (left, right))))
    days = np.array([a.published.timestamp() / 86400 if a.published else np.nan for a in articles])
    logs = np.log(np.abs(days[left] - days[right]) + 1 / 24)
    usual = [np.mean([g for g, i, j in zip(logs, left, right) if k in (i, j) and not np.isnan(g)] or [0.0])
             for k in range(len(articles))]
    closeness = [0.0 if np.isnan(g) else g - (usual[i] + usual[j]) / 2 for g, i, j in zip(logs, left, right)]
    return {
        "dense": dense, "article": np.einsum("ij,ij->i", vectors[left], vectors[right]).astype(np.float64),
        "lexical": lexical, "names": names, "crowding": (crowd[left] + crowd[right]) / 2, "length": length,
        "dense_x_length": dense * length, "lexical_x_length": lexical * length,
        "days_apart": np.log1p(np.nan_to_num(np.abs(days[left] - days[right]), nan=0.0)),
        "time_closeness": np.array(closeness), "rank": np.log1p(rank.astype(np.float64)),
    }


# -- the merge kernel on hand-made graphs ---------------------------------------------------------------

def _merge(edges: list[tuple[int, int, float]], threshold: float, budget: float = 10.0, n: int | None = None):
    left, right, p = (np.array(x) for x in zip(*edges))
    n = n or int(max(left.max(), right.max())) + 1
    return merge_sequence(n, left.astype(np.int64), right.astype(np.int64), p.astype(np.float64), threshold, budget)


def test_ties_go_to_the_lower_cluster_numbers() -> None:
    """0-1 and 1-2 tie at 0.8: 0-1 merges first, so {0,1} sees 2 at 0.8 / 2 = 0.4 and 2 joins 3 instead.
    The other order would have given {0}, {1,2}, {3}."""
    edges = [(0, 1, 0.8), (1, 2, 0.8), (2, 3, 0.6)]
    first, second, links = _merge(edges, 0.5)
    assert list(zip(first.tolist(), second.tolist(), links.tolist())) == [(0, 1, 0.8), (2, 3, 0.6)]
    assert cut_merges(4, first, second, links, 0.5).tolist() == [0, 0, 1, 1]


def test_pair_budget_bounds_the_mean_between_big_clusters() -> None:
    """Two triangles of certain pairs joined by one pair of 0.9: a mean over all 9 pairs is 0.1, over a
    budget of 1 pair per article of the smaller cluster (3 pairs) it is 0.3."""
    triangles = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0), (3, 4, 1.0), (3, 5, 1.0), (4, 5, 1.0), (2, 3, 0.9)]
    assert len(set(link_stories(6, *_arrays(triangles), 0.25, budget=10.0).tolist())) == 2
    assert len(set(link_stories(6, *_arrays(triangles), 0.25, budget=1.0).tolist())) == 1
    assert _merge(triangles, 0.25, budget=1.0)[2][-1] == pytest.approx(0.3)


def _arrays(edges):
    left, right, p = zip(*edges)
    return np.array(left, dtype=np.int64), np.array(right, dtype=np.int64), np.array(p, dtype=np.float64)


def test_threshold_cut_is_a_prefix_of_a_lower_run() -> None:
    edges = [(0, 1, 0.9), (1, 2, 0.7), (3, 4, 0.6), (2, 3, 0.55), (4, 5, 0.3)]
    low = _merge(edges, 0.2)
    assert np.all(np.diff(low[2]) <= 0)  # best link first
    for threshold in (0.25, 0.5, 0.65, 0.95):
        high = _merge(edges, threshold)
        assert all(np.array_equal(h, l[: len(high[0])]) for h, l in zip(high, low))
        assert np.all(high[2] >= threshold)
        assert np.array_equal(cut_merges(6, *low, threshold), cut_merges(6, *high, threshold))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 30).flatmap(lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from([0.1, 0.35, 0.5, 0.7, 0.9])),
                 min_size=1, max_size=120),
    )),
    st.sampled_from([0.05, 0.3, 0.5]),
    st.sampled_from([1.0, 2.0, 10.0]),
)
def test_merges_equal_the_reference_on_random_graphs(graph, threshold, budget) -> None:
    """Few distinct probabilities, so ties are everywhere: the merge order must still be the reference's."""
    n, edges = graph
    unique = {(min(i, j), max(i, j)): p for i, j, p in edges if i != j}
    if not unique:
        return
    left, right = (np.array(x, dtype=np.int64) for x in zip(*unique))
    p = np.array(list(unique.values()))
    expected = reference_merge_sequence(n, left, right, p, threshold, budget)
    found = merge_sequence(n, left, right, p, threshold, budget)
    for e, f in zip(expected, found):
        assert np.array_equal(e, f)


# -- the whole clustering on small real corpora -----------------------------------------------------------

def _features(embedder, rows: list[dict]) -> list[ArticleFeatures]:
    """Real model vectors: a vector per paragraph (the title one of them) and the derived article vector."""
    texts = [[p for p in row["text"].split("\n\n") if p.strip()] for row in rows]
    titles = [row.get("title") or None for row in rows]
    flat = [t for t in titles if t] + [p for paragraphs in texts for p in paragraphs]
    vectors = iter(embedder.encode(flat))
    title_vectors = [next(vectors) if t else None for t in titles]
    articles = []
    for row, title, title_vector, paragraphs in zip(rows, titles, title_vectors, texts):
        own = np.array([next(vectors) for _ in paragraphs]).reshape(-1, embedder.dimension)
        vector = derived(own, title_vector) if len(own) else title_vector
        rows_of = own if title_vector is None else np.vstack([title_vector[None, :], own])
        published = datetime.fromisoformat(row["published"][:19]) if row.get("published") else None
        articles.append(ArticleFeatures(row["text"], title, vector, rows_of, published))
    return articles


@pytest.mark.parametrize("name, count", [("uci_news_dev", 400), ("googlenews_ts", 300), ("gvc", 60)])
def test_same_labels_as_the_reference_on_real_corpora(bench_dir, embedder, name, count) -> None:
    """Headlines, snippets and dated full articles with several paragraphs each."""
    rows = [json.loads(line) for line in (bench_dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    articles = _features(embedder, rows[:count])
    config = StoryConfig()
    clusterer = StoryClusterer(config).fit(articles)

    similarity = StorySimilarity(config, [a.full_text for a in articles])
    vectors = np.stack([a.vector for a in articles]).astype(np.float32)
    left, right, rank = candidate_pairs(vectors, config.n_neighbours)
    signals = reference_signals(articles, similarity, left, right, rank, config.local_k)
    fast = pair_signals(ArticleTable.from_features(articles), similarity, left, right, rank, config.local_k)
    for signal, values in signals.items():
        np.testing.assert_allclose(fast[signal], values, rtol=1e-6, atol=2e-6, err_msg=signal)
    probability = config.pair_model.probability(signals, similarity.cross_language(left, right))
    merges = reference_merge_sequence(len(articles), left, right, probability, config.merge_threshold)
    expected = cut_merges(len(articles), *merges, config.merge_threshold)
    found = clusterer.labels_
    assert len(set(zip(expected.tolist(), found.tolist()))) == len(set(expected.tolist())) == len(set(found.tolist()))
    assert len(set(found.tolist())) < len(articles) * 0.8  # stories were found, not only singletons


def test_inverted_file_neighbours_find_the_exact_ones(monkeypatch) -> None:
    """Above the exact size, the inverted-file join (k-means lists, neighbouring lists probed) returns
    nearly the exact neighbours, best first, on clustered vectors."""
    from storycluster.stories import neighbours

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 32))
    vectors = (centres[rng.integers(0, 60, 3000)] + 0.5 * rng.normal(size=(3000, 32))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = neighbours.nearest_neighbours(vectors, 10)
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 1000)
    found = neighbours.nearest_neighbours(vectors, 10)
    assert found.shape == (3000, 10) and np.all(found[:, 0] == np.arange(3000))  # itself first
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)]) >= 0.95
    sims = np.take_along_axis(vectors @ vectors.T, found, 1)
    assert np.all(np.diff(sims, axis=1) <= 1e-6)
    assert np.array_equal(found, neighbours.nearest_neighbours(vectors, 10))  # deterministic
