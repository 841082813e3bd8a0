"""Lexical signal: hashed word and bigram counts per article, and corpus document frequencies.

Dense vectors tell what kind of event an article reports; names, places and numbers tell *which* event.
Each article's term counts are stored with it (hashed, so no vocabulary has to be kept in step), and each
index generation keeps the document frequency of every hashed term, so TF-IDF vectors of stored articles
and of new text can be weighed against the current corpus at any time, without refitting.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import HashingVectorizer

TOKEN_PATTERN = r"(?u)\b\w[\w'-]*\w\b|\b\w\b"
N_FEATURES = 2**20



@functools.cache
def _hasher() -> HashingVectorizer:
    """The term hasher (scikit-learn is imported on first use: queries by id never need it)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=N_FEATURES, alternate_sign=False, norm=None, token_pattern=TOKEN_PATTERN,
        stop_words="english", ngram_range=(1, 2), dtype=np.float32,
    )


def lexical_text(title: str | None, text: str) -> str:
    """The text whose terms are counted: the headline, then the body."""
    return f"{title}. {text}" if title else text


def count_terms(texts: Sequence[str]) -> sp.csr_matrix:
    """Hashed counts of words and word pairs (English stop words left out), one row per text."""
    return _hasher().transform(texts).tocsr()


def pack(row: sp.csr_matrix) -> bytes:
    """One row of counts as bytes for storage (int32 term ids, then float32 counts)."""
    return row.indices.astype(np.int32).tobytes() + row.data.astype(np.float32).tobytes()


def unpack(blobs: Sequence[bytes]) -> sp.csr_matrix:
    """Rows packed by :func:`pack`, stacked into one count matrix."""
    indptr = np.zeros(len(blobs) + 1, dtype=np.int64)
    indices, data = [], []
    for row, blob in enumerate(blobs):
        half = len(blob) // 2
        indices.append(np.frombuffer(blob[:half], dtype=np.int32))
        data.append(np.frombuffer(blob[half:], dtype=np.float32))
        indptr[row + 1] = indptr[row] + half // 4
    if not blobs:
        return sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(blobs), N_FEATURES))


def document_frequencies(counts: sp.csr_matrix) -> np.ndarray:
    """How many rows of ``counts`` contain each term."""
    return np.bincount(counts.indices, minlength=N_FEATURES).astype(np.int32)


class TermWeights:
    """TF-IDF weighting against a corpus: sublinear term frequency times smoothed IDF, L2-normalised.

    Terms in fewer than ``min_df`` articles cannot link two articles and terms in more than ``max_df``
    of them say nothing about which story an article tells, so both are left out (where the corpus is
    big enough for the bounds to mean anything).
    """

    def __init__(self, df: np.ndarray, n_docs: int, *, min_df: int = 2, max_df: float = 0.5) -> None:
        idf = np.log((1.0 + n_docs) / (1.0 + df.astype(np.float32))) + 1.0
        if n_docs >= 2 * min_df:
            idf[df < min_df] = 0.0
        if n_docs >= 10:
            idf[df > max_df * n_docs] = 0.0
        self.idf = idf.astype(np.float32)

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """TF-IDF rows of ``counts`` (each L2-normalised; an all-zero row stays zero)."""
        weights = counts.astype(np.float32, copy=True)
        weights.data = (1.0 + np.log(weights.data)) * self.idf[weights.indices]
        weights.eliminate_zeros()
        rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
        norms = np.sqrt(np.bincount(rows, weights=weights.data.astype(np.float64) ** 2, minlength=weights.shape[0]))
        weights.data /= np.maximum(norms, 1e-12)[rows].astype(np.float32)
        return weights
