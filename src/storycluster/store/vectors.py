"""FAISS vector sets keyed by the SQLite row keys of articles and paragraphs.

Up to ``EXACT_UP_TO`` vectors a set is searched exactly (``IndexFlatIP`` in an ``IndexIDMap2``). Past
that size it becomes an inverted file (``IndexIVFFlat``, inner product, about ``4 * sqrt(n)`` lists):
it keeps the full vectors, so scores stay exact cosines, and probing ``NPROBE`` lists holds recall@10
against exact search at 0.98 or more (``bench/scale.py`` measures it). Both kinds support adding,
removing and reconstructing by key, and filtered search inside FAISS. Who adds the vectors to a new
inverted file is a hook (:data:`Filler`): the Ray engine adds shards on its workers and merges them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import faiss
import numpy as np

EXACT_UP_TO = 50_000
NPROBE = 48
BATCH_QUERIES = 16  # fewer queries than this run on one thread
TRAIN_SAMPLE = 50_000

Filler = Callable[[faiss.IndexIVF, np.ndarray, np.ndarray], None]
"""Adds ``(keys, vectors)`` to a trained, empty inverted file (float32 vectors or 8-bit codes) without a
direct map (see :func:`fill_in_place`)."""


def fill_in_place(index: faiss.IndexIVF, keys: np.ndarray, vectors: np.ndarray) -> None:
    """The default :data:`Filler`: add every vector in this process."""
    index.add_with_ids(vectors, keys)


class VectorSet:
    """Unit vectors under int64 keys, searched by inner product (cosine) with FAISS."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def empty(cls, dimension: int) -> VectorSet:
        """A new, empty (exact) set for vectors of ``dimension``."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> VectorSet:
        """Read a set written by :meth:`save`; ``mmap`` maps it read-only instead of copying it in."""
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        return cls(faiss.read_index(str(path), flags))  # read_index already returns the concrete class

    def save(self, path: Path) -> None:
        """Write the set to ``path`` and flush it to disk; a short write (disk full) raises ``OSError``.

        Not ``faiss.write_index``: it ignores an error when closing the file, so a full disk could leave
        a short file that would then be published.
        """
        data = faiss.serialize_index(self.index)
        with open(path, "wb") as handle:
            handle.write(memoryview(data))
            handle.flush()
            os.fsync(handle.fileno())

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        """Length of the stored vectors."""
        return int(self.index.d)

    @property
    def exact(self) -> bool:
        """Whether searches are exhaustive (else an inverted file probes ``NPROBE`` lists)."""
        return isinstance(self.index, faiss.IndexIDMap2)

    def add(
        self, keys: np.ndarray, vectors: np.ndarray, *, exact_up_to: int = EXACT_UP_TO, fill: Filler = fill_in_place
    ) -> None:
        """Add ``vectors`` under ``keys`` (one key a row); past ``exact_up_to`` the set turns approximate.

        When it does, ``fill`` puts the set's vectors into the newly trained inverted file (the Ray engine
        passes one that adds shards on its workers and merges them).
        """
        if len(keys):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(keys, dtype=np.int64))
        if self.exact and len(self) > exact_up_to:
            self.index = _inverted_file(self.keys(), self.vectors(), fill)

    def remove(self, keys: Iterable[int]) -> None:
        """Remove the vectors stored under ``keys``."""
        keys = np.fromiter(keys, dtype=np.int64)
        if len(keys):  # an inverted file's hash-table direct map only removes by IDSelectorArray
            self.index.remove_ids(faiss.IDSelectorBatch(keys) if self.exact else faiss.IDSelectorArray(keys))

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of ``keys`` has a vector in the set (an article without headline has no title vector)."""
        keys = np.asarray(keys, dtype=np.int64)
        if self.exact:
            return np.isin(keys, self.keys())
        held = np.zeros(len(keys), dtype=bool)
        for at, key in enumerate(keys.tolist()):
            with contextlib.suppress(RuntimeError):  # an inverted file's direct map raises for a key it lacks
                self.index.reconstruct(key)
                held[at] = True
        return held

    def keys(self) -> np.ndarray:
        """All stored keys (in storage order for an exact set, by list for an inverted file)."""
        if self.exact:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist) if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def vectors(self, keys: Iterable[int] | None = None) -> np.ndarray:
        """The vectors stored under ``keys`` (all of them, in the order of :meth:`keys`, when None)."""
        if keys is None:
            if self.exact and len(self):
                return self.index.index.reconstruct_n(0, len(self))
            keys = self.keys()
        keys = np.fromiter(keys, dtype=np.int64)
        if not len(keys):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(keys)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        deny: np.ndarray | None = None,
        coarse: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and scores for each query row, keys ``-1`` where fewer than ``k`` qualify.

        ``allow`` restricts the search to those keys; ``deny`` excludes keys. The filter runs inside
        FAISS, so a filtered query returns a full result set. ``coarse`` is what :meth:`assign` gave for
        these queries on an inverted file with the same lists (segments sharing a quantizer search it once).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        selector = None
        if allow is not None:
            allowed = np.asarray(allow, dtype=np.int64)
            if deny is not None:
                allowed = np.setdiff1d(allowed, deny)
            if not self.exact:  # probing would miss allowed keys in unprobed lists: search them exhaustively
                return _exhaustive(queries, allowed, self.vectors(allowed), k)
            selector = faiss.IDSelectorBatch(allowed)
        elif deny is not None and len(deny):
            inner = faiss.IDSelectorBatch(np.asarray(deny, dtype=np.int64))
            selector = faiss.IDSelectorNot(inner)
            selector.referenced = inner  # keep the wrapped selector alive as long as the outer one
        if self.exact:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        else:
            params = faiss.SearchParametersIVF(nprobe=NPROBE)
            if selector is not None:
                params.sel = selector
        with _single_threaded(len(queries) < BATCH_QUERIES):
            if coarse is not None and not self.exact:
                return _search_preassigned(self.index, queries, k, coarse, params)
            return self.index.search(queries, k, params=params)

    def assign(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The scores and numbers of the ``NPROBE`` lists an inverted file probes for each query."""
        with _single_threaded(len(queries) < BATCH_QUERIES):
            return self.index.quantizer.search(queries, min(NPROBE, self.index.nlist))


def best(scores: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest ``scores`` of each row with their ``keys`` (-1 and ``-inf`` where fewer are found)."""
    scores = np.where(keys >= 0, scores, -np.inf).astype(np.float32, copy=False)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top_scores, top_keys = np.take_along_axis(scores, order, 1), np.take_along_axis(keys, order, 1)
    if top_keys.shape[1] < k:
        pad = k - top_keys.shape[1]
        top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        top_keys = np.pad(top_keys, ((0, 0), (0, pad)), constant_values=-1)
    return top_scores, np.where(np.isfinite(top_scores), top_keys, -1)


@contextlib.contextmanager
def _single_threaded(enabled: bool) -> Iterator[None]:
    """Search a few queries on one thread: OpenMP's spinning threads cost 100x on a busy machine
    (0.3 ms against 24 ms for one query over 10k vectors, measured with the other core loaded)."""
    if not enabled:
        yield
        return
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def _search_preassigned(
    index: faiss.IndexIVF, queries: np.ndarray, k: int, coarse: tuple[np.ndarray, np.ndarray], params
) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` probing the lists ``coarse`` gives (FAISS's Python wrapper of it takes no parameters)."""
    scores, lists = (np.ascontiguousarray(a) for a in coarse)
    params.nprobe = lists.shape[1]
    distances = np.empty((len(queries), k), dtype=np.float32)
    labels = np.empty((len(queries), k), dtype=np.int64)
    index.search_preassigned_c(
        len(queries), faiss.swig_ptr(queries), k, faiss.swig_ptr(lists), faiss.swig_ptr(scores),
        faiss.swig_ptr(distances), faiss.swig_ptr(labels), False, params,
    )
    return distances, labels


def _exhaustive(queries: np.ndarray, keys: np.ndarray, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of ``queries`` among ``vectors`` (keyed by ``keys``), padded with -1 like FAISS."""
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(queries.shape[1]))
    if len(keys):
        flat.add_with_ids(vectors, keys)
    return flat.search(queries, k)


def _inverted_file(keys: np.ndarray, vectors: np.ndarray, fill: Filler) -> faiss.IndexIVFFlat:
    """An inverted file over ``vectors`` (trained on a sample of them), keyed like the exact set.

    ``fill`` adds the vectors to the trained, empty index; the hash-table direct map (which remove and
    reconstruct by key need) is built afterwards, since FAISS merges shards only without one.
    """
    dimension = vectors.shape[1]
    lists = int(4 * math.sqrt(len(vectors)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), TRAIN_SAMPLE), replace=False)
    index.train(vectors[sample])
    fill(index, keys, vectors)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    return index
