"""Term counting: the same hashed ids as scikit-learn's HashingVectorizer and the same counts as its
CountVectorizer, without importing it."""

from __future__ import annotations

import json

import mmh3
import numpy as np
import pytest
from sklearn.feature_extraction._stop_words import ENGLISH_STOP_WORDS
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

from storycluster.text.lexical import (
    N_FEATURES,
    TOKEN_PATTERN,
    TermWeights,
    count_names,
    count_terms,
    count_vocabulary,
    document_frequencies,
    dot_rows,
    name_tokens,
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
    _assert_same(_news(bench_dir))


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


def _news(bench_dir, names=("ecbplus", "neus_val", "googlenews_ts"), each=300) -> list[str]:
    texts = []
    for name in names:
        with open(bench_dir / f"{name}.jsonl", encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for _, line in zip(range(each), lines)]
    return texts


def test_vocabulary_counts_match_count_vectorizer(bench_dir):
    texts = _news(bench_dir, each=100) + EDGE_CASES
    ours, vocabulary = count_vocabulary(texts)
    vectorizer = CountVectorizer(token_pattern=TOKEN_PATTERN, stop_words="english", ngram_range=(1, 2))
    theirs = vectorizer.fit_transform(texts).tocsr()
    assert vocabulary == vectorizer.get_feature_names_out().tolist()
    assert (ours != theirs).nnz == 0
    names, found = count_vocabulary(["Obama met NATO chiefs in 2008", "", "obama"], name_tokens)
    assert found == ["2008", "nato", "obama"] and names.toarray().tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    empty, nothing = count_vocabulary([])
    assert empty.shape == (0, 0) and nothing == []


def test_names_are_counted_with_the_term_ids():
    text = "U.S. troops left Kabul on 30 August 2021; NATO's McCain-era plan, 3:2 and 1,000."  # "U.S.": no name
    assert name_tokens(text) == ["kabul", "30", "august", "2021", "nato's", "mccain-era", "3:2", "1,000"]
    counts = count_names([text, ""])
    ids = sorted({abs(mmh3.hash(token)) % N_FEATURES for token in name_tokens(text)})
    assert counts[0].indices.tolist() == ids and counts[1].nnz == 0
