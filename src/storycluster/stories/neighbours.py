"""The k nearest neighbours of every article among all articles: the candidate pairs of the story clustering.

Exact (FAISS) up to :data:`EXACT_UP_TO` articles, every bench corpus included. Above, exact search grows
with n squared (hours at a million articles), so an inverted file answers instead: spherical k-means splits
the vectors into about sqrt(n) lists, and the members of each list are compared, by one matrix product per
block, with the members of the :data:`PROBES` lists whose centres are nearest to their list's centre.
Recall@30 against exact search is printed by ``bench/scale_stories.py``. Deterministic: fixed sample, seed.
"""

from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp

from .kernels import top_columns

EXACT_UP_TO = 20_000
PROBES = 8
TRAIN_PER_LIST = 32
ITERATIONS = 10
BLOCK_CELLS = 1 << 24  # similarities computed at once (64 MB of float32)


def nearest_neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """Row i: the ``k`` nearest vectors to ``vectors[i]`` by inner product, best first (-1 where none)."""
    n = len(vectors)
    if n <= EXACT_UP_TO:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index.search(vectors, k)[1]
    found = np.full((n, k), -1, dtype=np.int64)
    centres = _kmeans(vectors, int(np.sqrt(n)), np.random.default_rng(0))
    lists = _nearest(vectors, centres)
    probes = np.argsort(-(centres @ centres.T), axis=1, kind="stable")[:, :PROBES]
    order = np.argsort(lists, kind="stable")
    bounds = np.searchsorted(lists[order], np.arange(len(centres) + 1))
    for number, probed in enumerate(probes):
        members = order[bounds[number]:bounds[number + 1]]
        if len(members):
            _fill(found, vectors, members, np.concatenate([order[bounds[p]:bounds[p + 1]] for p in probed]))
    return found


def _fill(found: np.ndarray, vectors: np.ndarray, queries: np.ndarray, candidates: np.ndarray) -> None:
    """``found[q]``: the best of ``candidates`` for each of ``queries``, one matrix product per block."""
    against = vectors[candidates]
    top = min(found.shape[1], len(candidates))
    step = max(1, BLOCK_CELLS // len(candidates))
    for start in range(0, len(queries), step):
        rows = queries[start:start + step]
        found[rows, :top] = candidates[top_columns(vectors[rows] @ against.T, top)]


def _nearest(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of the nearest centre of each vector, in blocks."""
    step = max(1, BLOCK_CELLS // len(centres))
    return np.concatenate([np.argmax(vectors[s:s + step] @ centres.T, axis=1) for s in range(0, len(vectors), step)])


def _kmeans(vectors: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` unit centres by spherical k-means on a sample of ``TRAIN_PER_LIST`` vectors a centre."""
    sample = vectors[np.sort(rng.choice(len(vectors), min(len(vectors), TRAIN_PER_LIST * count), replace=False))]
    centres = sample[rng.choice(len(sample), count, replace=False)].astype(np.float32)
    for _ in range(ITERATIONS):
        lists = _nearest(sample, centres)
        membership = sp.csr_matrix((np.ones(len(sample), np.float32), (lists, np.arange(len(sample)))),
                                   shape=(count, len(sample)))
        sums = np.asarray(membership @ sample)
        norms = np.linalg.norm(sums, axis=1)
        kept = norms > 0  # a centre that lost all its vectors stays where it was
        centres[kept] = sums[kept] / norms[kept, None]
    return centres
