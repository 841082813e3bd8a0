"""Term counting: the same hashed ids as scikit-learn's HashingVectorizer, without importing it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS
from sklearn.feature_extraction.text import HashingVectorizer

from storycluster.text.lexical import (
    N_FEATURES,
    TOKEN_PATTERN,
    TermWeights,
    count_terms,
    document_frequencies,
    dot_rows,
    pack,
    stop_words,
    terms,
    unpack,
)

EDGE_CASES = [
    "",
    "a",
    "The the THE and of",
    "É über NAÏVE café's co-op: 42 x 3.5%",
    "U.S. troops — 1,000 of them — left Kabul's airport on 30 August 2021.",
    "北京 上海 Москва Київ 東京",
    "rock'n'roll e-mail -- ' '' x-",
    "word " * 500,
]


def _sklearn_counts(texts: list[str]):
    hasher = HashingVectorizer(
        n_features=N_FEATURES, alternate_sign=False, norm=None, token_pattern=TOKEN_PATTERN,
        stop_words="english", ngram_range=(1, 2), dtype=np.float32,
    )
    counts = hasher.transform(texts).tocsr()
    counts.sort_indices()
    return counts


def _assert_same(texts: list[str]) -> None:
    ours, theirs = count_terms(texts), _sklearn_counts(texts)
    ours.sort_indices()
    assert ours.shape == theirs.shape
    assert np.array_equal(ours.indptr, theirs.indptr)
    assert np.array_equal(ours.indices, theirs.indices)
    assert np.array_equal(ours.data, theirs.data)


def test_stop_words_are_scikit_learns():
    assert stop_words() == ENGLISH_STOP_WORDS


def test_counts_match_hashing_vectorizer_on_edge_cases():
    _assert_same(EDGE_CASES)


def test_counts_match_hashing_vectorizer_on_news(bench_dir):
    texts = []
    for name in ("ecbplus", "neus_val", "googlenews_ts"):
        with open(bench_dir / f"{name}.jsonl", encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for _, line in zip(range(300), lines)]
    _assert_same(texts)


def test_terms_are_words_then_neighbouring_pairs():
    assert terms("The Wagner group sent missiles to Hezbollah") == [
        "wagner", "group", "sent", "missiles", "hezbollah",
        "wagner group", "group sent", "sent missiles", "missiles hezbollah",
    ]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_pack_round_trips(text):
    counts = count_terms([text])
    restored = unpack([pack(counts[0])])
    assert (restored != counts).nnz == 0


def test_dot_rows_equals_the_sparse_product_on_news(bench_dir):
    with open(bench_dir / "neus_val.jsonl", encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for _, line in zip(range(200), lines)]
    counts = count_terms(texts + ["", "nothing in common here zzzyx"])
    rows = TermWeights(document_frequencies(counts), len(texts)).weigh(counts)
    for query in (rows[0], rows[57], rows[-1], rows[-2]):  # a news text, another, an empty text, no shared term
        assert np.allclose(dot_rows(rows, query), (rows @ query.T).toarray().ravel(), atol=1e-6)
    assert dot_rows(rows, rows[0])[0] == pytest.approx(1.0, abs=1e-5)
