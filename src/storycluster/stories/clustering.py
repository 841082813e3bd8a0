"""Story clustering: group articles that report the same story, whatever the outlet, length or language.

Pure functions over numpy arrays and texts: no I/O, no model loading. The method was chosen by
leave-one-corpus-out over seven labelled corpora (``bench/generalization.py``; the pair model is fitted by
``bench/fit_pair_model.py``):

1. **Candidate pairs**: the symmetric k-nearest-neighbour graph of the article vectors (FAISS). Only these
   pairs are ever scored, so nothing grows with n squared.
2. **Pair model**: a logistic regression (coefficients in ``pair_models.json``, package data, one per
   embedding model since cosines mean different things under different models) turns a handful
   of signals of a pair into the probability that both report one story: the cosine of the best-matching
   paragraphs (the headline counts as one), the article vectors' cosine, word/bigram TF-IDF cosine, shared
   names and numbers, how crowded both articles' neighbourhoods are (hubness), the shorter text's length
   (headlines have lower cosines than long texts), the neighbour rank, the gap in days between the two
   publication dates and how much closer in time the pair is than both articles' usual look-alikes
   (:func:`_relative_gap`). Time is evidence, not a wall: a report weeks later still joins when the text says it
   is the same story. Where the two texts are in different languages or scripts, words cannot meet, so the
   lexical signals would veto every match: the model's dense-only variant scores those pairs.
3. **Graph average-link**: clusters merge, best first, while the mean pair probability between them is at
   least ``threshold``. Between small clusters the mean runs over all their pairs (a pair off the graph
   counts as 0); between big ones over about ``pair_budget`` pairs per article of the smaller, since an
   article sees only its nearest neighbours. So a 300-headline story stays one story while two small
   stories of the same kind, which see each other, stay two.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph  # noqa: F401  (sp.csgraph)

from ..embed.registry import DEFAULT_MODEL, canonical_model_name
from ..text.lexical import TermWeights, count_vocabulary, document_frequencies, lexical_text, name_tokens
from . import kernels
from .labels import is_date_term
from .neighbours import nearest_neighbours

__all__ = [
    "ArticleFeatures",
    "ArticleTable",
    "PairModel",
    "StoryClusterer",
    "StoryConfig",
    "StorySimilarity",
    "StorySummary",
    "best_paragraph_similarity",
    "candidate_pairs",
    "cut_merges",
    "describe_stories",
    "link_stories",
    "merge_sequence",
    "neighbour_pairs",
]


@dataclass(frozen=True)
class ArticleFeatures:
    """What the clustering needs to know about one article.

    ``vector`` is the normalised article vector (d,), ``paragraphs`` the normalised paragraph vectors (p, d)
    (include the embedded title as one of them when there is a title). ``published`` feeds the time gap of
    a pair (unknown dates are simply not evidence); ``lang`` (a language code, None when unknown) tells
    which pairs cross languages.
    """

    text: str
    title: str | None
    vector: np.ndarray
    paragraphs: np.ndarray
    published: datetime | None = None
    lang: str | None = None

    @property
    def full_text(self) -> str:
        """Title and text, as the TF-IDF sees them."""
        return lexical_text(self.title, self.text)


@dataclass(frozen=True)
class ArticleTable:
    """Many articles' features in columns: what :class:`StoryClusterer` reads, without an object per article.

    ``vectors`` (n, d) are the normalised article vectors; the normalised paragraph vectors of article i are
    ``paragraphs[offsets[i]:offsets[i + 1]]`` (at least one each; the embedded title is one of them when
    there is a title); ``days`` are publication times in days since 1970 (NaN where unknown); ``languages``
    are language codes (None where unknown; None for the whole column: none known). At a million
    articles the vectors alone take gigabytes: build the table straight from arrays, not from a list of
    :class:`ArticleFeatures`.
    """

    texts: Sequence[str]
    titles: Sequence[str | None]
    vectors: np.ndarray
    paragraphs: np.ndarray
    offsets: np.ndarray
    days: np.ndarray
    languages: Sequence[str | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.texts)
        if not (len(self.titles) == len(self.vectors) == len(self.days) == len(self.offsets) - 1 == n):
            raise ValueError("texts, titles, vectors, days and offsets - 1 must have one entry per article")
        if n and (np.diff(self.offsets).min() < 1 or self.offsets[-1] != len(self.paragraphs)):
            raise ValueError("every article needs at least one paragraph vector; offsets must end at their count")

    @classmethod
    def from_features(cls, articles: Sequence[ArticleFeatures]) -> ArticleTable:
        """The table of a list of articles (copies their vectors)."""
        paragraphs = [np.atleast_2d(a.paragraphs) for a in articles]
        return cls(
            [a.text for a in articles], [a.title for a in articles],
            np.stack([a.vector for a in articles]).astype(np.float32),
            np.concatenate(paragraphs).astype(np.float32), np.r_[0, np.cumsum([len(p) for p in paragraphs])],
            np.array([a.published.timestamp() / 86400 if a.published else np.nan for a in articles]),
            [a.lang for a in articles],
        )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def full_texts(self) -> list[str]:
        """Title and text of each article, as the TF-IDF sees them."""
        return [lexical_text(title, text) for text, title in zip(self.texts, self.titles)]


@dataclass(frozen=True)
class PairModel:
    """Logistic regression over pair signals: P(same story) = sigmoid(intercept + coef . features).

    ``dense_coef``/``dense_intercept`` are the variant without lexical signals, used for pairs whose
    texts are in different languages or scripts. ``threshold`` is the merge threshold chosen with the model.
    """

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    dense_features: tuple[str, ...]
    dense_coef: tuple[float, ...]
    dense_intercept: float
    threshold: float
    fitted_on: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> PairModel:
        """The model from its JSON form (what ``bench/fit_pair_model.py`` writes)."""
        return cls(
            tuple(data["features"]), tuple(data["coef"]), float(data["intercept"]),
            tuple(data["dense_features"]), tuple(data["dense_coef"]), float(data["dense_intercept"]),
            float(data["threshold"]), tuple(data.get("fitted_on", ())),
        )

    def to_dict(self) -> dict:
        """The JSON form of the model."""
        return {
            "features": list(self.features), "coef": list(self.coef), "intercept": self.intercept,
            "dense_features": list(self.dense_features), "dense_coef": list(self.dense_coef),
            "dense_intercept": self.dense_intercept, "threshold": self.threshold, "fitted_on": list(self.fitted_on),
        }

    def probability(self, signals: dict[str, np.ndarray], cross_language: np.ndarray | None = None) -> np.ndarray:
        """P(same story) of each pair from its signals (see :func:`pair_signals`); ``cross_language`` marks
        the pairs scored by the dense-only variant."""
        full = _sigmoid(self.intercept + sum(c * signals[f] for f, c in zip(self.features, self.coef)))
        if cross_language is None or not cross_language.any():
            return full
        dense = _sigmoid(
            self.dense_intercept + sum(c * signals[f] for f, c in zip(self.dense_features, self.dense_coef))
        )
        return np.where(cross_language, dense, full)


@cache
def default_pair_model(embedding_model: str | None = None) -> PairModel:
    """The pair model shipped with the package for vectors of ``embedding_model`` (``stories/pair_models.json``).

    Each packaged embedding model has its own pair model, fitted on the same corpora embedded with it. A
    model without one (a sentence-transformers model from a path or the hub) gets the default model's.
    """
    text = resources.files(__package__).joinpath("pair_models.json").read_text(encoding="utf-8")
    models = json.loads(text)
    name = canonical_model_name(embedding_model or DEFAULT_MODEL)
    return PairModel.from_dict(models.get(name) or models[DEFAULT_MODEL])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class StoryConfig:
    """Clustering settings; the defaults were chosen by leave-one-corpus-out (see ``bench/generalization.py``).

    Attributes:
        threshold: merge while the mean pair probability between two clusters is at least this (None: the
            threshold chosen with the pair model).
        n_neighbours: size of the FAISS k-NN candidate list per article (edges of the sparse graph).
        local_k: neighbours whose mean similarity measures how crowded an article's topic is.
        min_df: a term must occur in this many articles to count (rarer ones cannot link two articles).
        max_df: terms in more than this share of articles are ignored.
        pair_budget: a link between two clusters is a mean over at least ``min(|A| |B|, pair_budget *
            min(|A|, |B|))`` pairs (see :func:`merge_sequence`).
        embedding_model: the model the article vectors come from; picks the shipped pair model fitted for it.
        model: the pair model (None: the one shipped with the package for ``embedding_model``).
    """

    threshold: float | None = None
    n_neighbours: int = 30
    local_k: int = 3
    min_df: int = 2
    max_df: float = 0.5
    pair_budget: float = 10.0
    embedding_model: str | None = None
    model: PairModel | None = field(default=None, compare=False)

    @property
    def pair_model(self) -> PairModel:
        """The pair model in use."""
        return self.model or default_pair_model(self.embedding_model)

    @property
    def merge_threshold(self) -> float:
        """The threshold in use."""
        return self.pair_model.threshold if self.threshold is None else self.threshold


def best_paragraph_similarity(paragraphs_a: np.ndarray, paragraphs_b: np.ndarray) -> float:
    """Cosine of the best-matching pair of (normalised) paragraph vectors of two articles."""
    return float((np.atleast_2d(paragraphs_a) @ np.atleast_2d(paragraphs_b).T).max())


class StorySimilarity:
    """The lexical side of the pair signals: word/bigram TF-IDF and name/number TF-IDF fitted on a corpus.

    ``languages`` (one code per text, None or '' when unknown) and the texts' scripts tell which pairs
    cross languages. Term weights are fitted per language: in a corpus that is one fifth Spanish, "Juegos"
    is in a twentieth of all texts but in a quarter of the Spanish ones, and only the latter says how
    little it tells.
    """

    def __init__(
        self, config: StoryConfig, texts: Sequence[str], languages: Sequence[str | None] | None = None,
        words: sp.csr_matrix | None = None, names: sp.csr_matrix | None = None,
    ) -> None:
        """``words``, when given, are the texts' word/bigram TF-IDF rows already weighed (an index keeps
        each article's hashed term counts and the corpus's document frequencies: an append into a big
        index weighs those instead of fitting on its neighbourhood). ``names``, when given, are the texts'
        name and number counts (:func:`.text.lexical.count_names`, which an index stores with each article)."""
        self.scripts = np.array([script_of(text) for text in texts])
        self.languages = np.array([code or "" for code in languages or [""] * len(texts)])
        if words is None:
            words = _per_group(count_vocabulary(texts)[0], self.languages, min_df=config.min_df, max_df=config.max_df)
        self.words = words.tocsr()
        if names is None:
            names = count_vocabulary(texts, name_tokens)[0]
        self.names = _per_group(names, self.languages, min_df=1, max_df=1.0)

    def lexical(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(word TF-IDF cosine, name TF-IDF cosine) of the pairs ``(left[e], right[e])``."""
        left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)

        def cosine(matrix: sp.csr_matrix) -> np.ndarray:
            matrix.sort_indices()
            return kernels.sparse_row_dots(matrix.indptr, matrix.indices, matrix.data, left, right)

        return cosine(self.words), cosine(self.names)

    def cross_language(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """True for pairs whose texts are in different languages or scripts (their words cannot meet)."""
        return _differ(self.scripts, left, right) | _differ(self.languages, left, right)


def _per_group(counts: sp.csr_matrix, groups: np.ndarray, *, min_df: int, max_df: float) -> sp.csr_matrix:
    """TF-IDF rows of ``counts`` with term weights fitted on each group of rows on its own, side by side
    in one matrix (each group's terms in columns of their own, so rows of different groups never share a
    term): scikit-learn's ``TfidfVectorizer(sublinear_tf=True, min_df=min_df, max_df=max_df)`` per group."""
    counts = counts.tocsr()
    distinct = np.unique(groups)
    rows, columns, values = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.float32)]
    for offset, group in enumerate(distinct):
        members = np.flatnonzero(groups == group)
        block = counts[members]
        weights = TermWeights(document_frequencies(block), len(members), min_df=min_df, max_df=max_df)
        weighed = weights.weigh(block).tocoo()
        rows.append(members[weighed.row])
        columns.append(weighed.col + offset * counts.shape[1])
        values.append(weighed.data)
    return sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(counts.shape[0], max(len(distinct), 1) * counts.shape[1]), dtype=np.float32,
    )


def _differ(values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """True where both values are known ('' is unknown) and differ."""
    a, b = values[left], values[right]
    return (a != b) & (a != "") & (b != "")


SCRIPTS = {
    "LATIN": re.compile(r"[A-Za-z\u00c0-\u024f]"),
    "CYRILLIC": re.compile(r"[\u0400-\u052f]"),
    "GREEK": re.compile(r"[\u0370-\u03ff]"),
    "ARABIC": re.compile(r"[\u0600-\u06ff\u0750-\u077f]"),
    "HEBREW": re.compile(r"[\u0590-\u05ff]"),
    "DEVANAGARI": re.compile(r"[\u0900-\u097f]"),
    "CJK": re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"),
}

_ASCII_LETTER = re.compile(r"[A-Za-z]")


def script_of(text: str, chars: int = 400) -> str:
    """The main script of a text (LATIN, CYRILLIC, ARABIC, ...) from its first characters; '' without letters."""
    head = text[:chars]
    if head.isascii():  # the common case, without seven regular expressions
        return "LATIN" if _ASCII_LETTER.search(head) else ""
    counts = {name: len(pattern.findall(head)) for name, pattern in SCRIPTS.items()}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ""


def candidate_pairs(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs (i < j) of the symmetric k-NN graph: left, right, and each pair's best neighbour rank.

    The neighbours are exact up to ``neighbours.EXACT_UP_TO`` articles, from an inverted file above.
    """
    n = len(vectors)
    k = min(k, n - 1)
    if k <= 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    return neighbour_pairs(n, np.arange(n), nearest_neighbours(vectors, k + 1))


def neighbour_pairs(n: int, rows: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs (i < j) of each of ``rows`` with its ``neighbours`` (one row each, nearest first, the
    row itself usually first; -1: none), with each pair's best rank (position in a list)."""
    k = neighbours.shape[1]
    left = np.repeat(np.asarray(rows, dtype=np.int64), k)
    right = neighbours.ravel().astype(np.int64)
    rank = np.tile(np.arange(k), len(rows))
    keep = (right >= 0) & (right != left)
    low, high, rank = np.minimum(left, right)[keep], np.maximum(left, right)[keep], rank[keep]
    del left, right
    key = low * n + high
    del low, high
    order = np.lexsort((rank, key))
    key, rank = key[order], rank[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.empty(0, bool)
    return key[first] // n, key[first] % n, rank[first]


def _crowding(n: int, left: np.ndarray, right: np.ndarray, sims: np.ndarray, k: int) -> np.ndarray:
    """Mean of each article's ``k`` highest pair similarities (0 for an article without pairs)."""
    return kernels.top_mean(n, left, right, np.asarray(sims, dtype=np.float64), k)


def pair_signals(
    articles: Sequence[ArticleFeatures] | ArticleTable, similarity: StorySimilarity, left: np.ndarray,
    right: np.ndarray, rank: np.ndarray, local_k: int = 3,
) -> dict[str, np.ndarray]:
    """The signals the pair model reads, one array per signal, for the pairs ``(left[e], right[e])``."""
    table = articles if isinstance(articles, ArticleTable) else ArticleTable.from_features(articles)
    left, right = np.ascontiguousarray(left, dtype=np.int64), np.ascontiguousarray(right, dtype=np.int64)
    paragraphs = np.ascontiguousarray(table.paragraphs, dtype=np.float32)
    vectors = np.ascontiguousarray(table.vectors, dtype=np.float32)
    dense = kernels.best_row_dots(paragraphs, np.asarray(table.offsets, dtype=np.int64), left, right)
    lexical, names = similarity.lexical(left, right)
    crowd = _crowding(len(table), left, right, 0.5 * dense + 0.5 * lexical, local_k)
    words = np.array([len(text.split()) for text in table.full_texts], dtype=np.float64)
    length = np.log1p(np.minimum(words[left], words[right]))
    gap = np.abs(table.days[left] - table.days[right])  # NaN where a date is unknown: no evidence either way
    return {
        "dense": dense,
        "article": kernels.best_row_dots(vectors, np.arange(len(table) + 1), left, right),
        "lexical": lexical.astype(np.float64),
        "names": names.astype(np.float64),
        "crowding": (crowd[left] + crowd[right]) / 2,
        "length": length,
        "dense_x_length": dense * length,
        "lexical_x_length": lexical * length,
        "days_apart": np.log1p(np.nan_to_num(gap, nan=0.0)),
        "time_closeness": _relative_gap(len(table), left, right, gap),
        "rank": np.log1p(rank.astype(np.float64)),
    }


def _relative_gap(n: int, left: np.ndarray, right: np.ndarray, gap: np.ndarray, hour: float = 1 / 24) -> np.ndarray:
    """How much closer in time a pair is than both articles' usual candidates: log(gap) minus the mean of
    the two articles' mean log gaps to their candidates (gaps in days, plus an hour).

    Scale-free: a report hours after another in a feed of Olympic titles, where look-alikes are days apart,
    and one days after another in an archive of shootings, where look-alikes are months apart, both count
    as close. 0 where a date is unknown (no evidence either way).
    """
    logs = np.log(gap + hour)
    dated = ~np.isnan(logs)
    nodes = np.concatenate([left[dated], right[dated]])
    values = np.concatenate([logs[dated], logs[dated]])
    count = np.bincount(nodes, minlength=n)
    usual = np.divide(np.bincount(nodes, weights=values, minlength=n), count, out=np.zeros(n), where=count > 0)
    return np.nan_to_num(logs - (usual[left] + usual[right]) / 2, nan=0.0)


def link_stories(
    n: int, left: np.ndarray, right: np.ndarray, probability: np.ndarray, threshold: float, budget: float = 10.0
) -> np.ndarray:
    """Graph average-link: a story label per article (see :func:`merge_sequence` for the rule)."""
    return cut_merges(n, *merge_sequence(n, left, right, probability, threshold, budget), threshold)


def cut_merges(n: int, first: np.ndarray, second: np.ndarray, links: np.ndarray, threshold: float) -> np.ndarray:
    """A label per article after the merges of :func:`merge_sequence` made before a link fell below ``threshold``.

    Merges happen best link first, so a run with a low threshold holds every higher threshold's run as
    its prefix: one run serves a whole range of thresholds.
    """
    below = np.flatnonzero(links < threshold)
    done = below[0] if len(below) else len(links)
    graph = sp.coo_matrix((np.ones(done), (first[:done], second[:done])), shape=(n, n))
    return sp.csgraph.connected_components(graph, directed=False)[1]


def merge_sequence(
    n: int, left: np.ndarray, right: np.ndarray, probability: np.ndarray, threshold: float, budget: float = 10.0,
    *, pairs: np.ndarray | None = None, sizes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merges of graph average-link, in order: (an article of cluster A, one of cluster B, link).

    Two clusters A and B merge, best first, while their link is at least ``threshold``:

        link(A, B) = sum(p over the given pairs between A and B) / max(pairs, min(|A| |B|, budget min(|A|, |B|)))

    Between small clusters this is the mean over *all* their pairs (a pair missing from the graph counts
    as p = 0: the two articles are not even among each other's nearest neighbours). Between big clusters
    it is the mean over about ``budget`` pairs per article of the smaller one, because an article sees
    only its nearest neighbours and cannot have a pair with every member of a 300-article story.

    Pairs are unique (i != j). Ties go to the lower cluster numbers; the merges are computed by a compiled
    kernel (:func:`kernels.average_link`), whose order is that of a heap of Python tuples.

    The nodes may also be clusters already (appends start from the stored stories): node i then holds
    ``sizes[i]`` articles and edge e the sum ``probability[e]`` of ``pairs[e]`` article pairs.
    """
    left, right = np.ascontiguousarray(left, dtype=np.int64), np.ascontiguousarray(right, dtype=np.int64)
    probability = np.ascontiguousarray(probability, dtype=np.float64)
    pairs = np.ones(len(left)) if pairs is None else np.ascontiguousarray(pairs, dtype=np.float64)
    sizes = np.ones(n) if sizes is None else np.ascontiguousarray(sizes, dtype=np.float64)
    return kernels.average_link(n, left, right, probability, pairs, sizes, float(threshold), float(budget))


def _relabel(roots: np.ndarray) -> np.ndarray:
    """Consecutive labels 0..m-1 in order of first appearance."""
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


class StoryClusterer:
    """Group articles into stories (scikit-learn style: ``fit`` sets ``labels_``)."""

    def __init__(self, config: StoryConfig = StoryConfig()) -> None:
        self.config = config

    def fit(self, articles: Sequence[ArticleFeatures] | ArticleTable) -> StoryClusterer:
        """Cluster ``articles``; sets ``labels_`` (int array, 0..m-1), ``pairs_`` and ``probability_``."""
        config = self.config
        n = len(articles)
        if n == 0:
            raise ValueError("no articles to cluster")
        table = articles if isinstance(articles, ArticleTable) else ArticleTable.from_features(articles)
        vectors = np.ascontiguousarray(table.vectors, dtype=np.float32)
        similarity = StorySimilarity(config, table.full_texts, table.languages)
        left, right, rank = candidate_pairs(vectors, config.n_neighbours)
        signals = pair_signals(table, similarity, left, right, rank, config.local_k)
        self.pairs_ = (left, right)
        self.probability_ = config.pair_model.probability(signals, similarity.cross_language(left, right))
        del signals, similarity  # gigabytes at a million articles: gone before the merge
        roots = link_stories(n, left, right, self.probability_, config.merge_threshold, config.pair_budget)
        self.labels_ = _relabel(roots)
        return self


@dataclass(frozen=True)
class StorySummary:
    """One story: its label, size, the index of its most central article and its telling terms."""

    label: int
    size: int
    representative: int
    keywords: tuple[str, ...]


def describe_stories(
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    n_keywords: int = 8,
) -> list[StorySummary]:
    """Keywords (class-based TF-IDF) and most central article per cluster, largest story first.

    ``texts`` should include titles; ``vectors`` are the normalised article vectors. A term scores
    ``tf_in_story * log(1 + mean_story_length / term_frequency_over_stories)`` (BERTopic's c-TF-IDF), so
    words frequent in this story but rare elsewhere win. The representative is the member closest to the
    story's mean vector.
    """
    labels = np.asarray(labels)
    stories, inverse = np.unique(labels, return_inverse=True)
    counts, terms = count_vocabulary(texts)
    membership = sp.csr_matrix(
        (np.ones(len(labels)), (inverse, np.arange(len(labels)))), shape=(len(stories), len(labels))
    )
    per_story = (membership @ counts).tocsr()  # sparse: stories x vocabulary would not fit densely at scale
    mean_length = per_story.sum() / max(len(stories), 1)
    totals = np.asarray(per_story.sum(axis=0)).ravel()
    weights = per_story.multiply(np.log1p(mean_length / np.maximum(totals, 1e-12))[None, :]).tocsr()
    vectors = np.asarray(vectors, dtype=np.float32)
    centroids = membership @ vectors
    by_story = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[by_story], np.arange(len(stories) + 1))
    summaries = []
    for s, label in enumerate(stories):
        members = by_story[bounds[s]:bounds[s + 1]]
        central = members[np.argmax(vectors[members] @ centroids[s])]
        row = slice(weights.indptr[s], weights.indptr[s + 1])
        indices, data = weights.indices[row], weights.data[row]
        order = np.lexsort((indices, -data))[: n_keywords * 4]  # best first; ties by term order
        top = [indices[i] for i in order if data[i] > 0]
        keywords = _drop_covered([str(terms[t]) for t in top if not is_date_term(str(terms[t]))])[:n_keywords]
        summaries.append(StorySummary(int(label), len(members), int(central), tuple(keywords)))
    return sorted(summaries, key=lambda summary: (-summary.size, summary.label))


def _drop_covered(terms: list[str]) -> list[str]:
    """Keep terms in rank order, skipping any that repeats a word of a term already kept."""
    kept: list[str] = []
    shown: set[str] = set()
    for term in terms:
        words = set(term.split())
        if words & shown:
            continue
        kept.append(term)
        shown |= words
    return kept
