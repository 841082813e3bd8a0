"""FAISS vector sets keyed by the SQLite row keys of articles and paragraphs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np


class VectorSet:
    """Unit vectors under int64 keys, searched by inner product (cosine) with FAISS.

    Exact search (``IndexFlatIP``) wrapped in ``IndexIDMap2`` so that vectors can be removed and
    reconstructed by key.
    """

    def __init__(self, index: faiss.IndexIDMap2) -> None:
        self.index = index

    @classmethod
    def empty(cls, dimension: int) -> VectorSet:
        """A new, empty set for vectors of ``dimension``."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def load(cls, path: Path) -> VectorSet:
        """Read a set written by :meth:`save`."""
        index = faiss.read_index(str(path))
        if not isinstance(index, faiss.IndexIDMap2):
            index = faiss.downcast_index(index)
        return cls(index)

    def save(self, path: Path) -> None:
        """Write the set to ``path`` and flush it to disk."""
        faiss.write_index(self.index, str(path))
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        """Length of the stored vectors."""
        return int(self.index.d)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` under ``keys`` (one key a row)."""
        if len(keys):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(keys, dtype=np.int64))

    def remove(self, keys: Iterable[int]) -> None:
        """Remove the vectors stored under ``keys``."""
        keys = np.fromiter(keys, dtype=np.int64)
        if len(keys):
            self.index.remove_ids(faiss.IDSelectorBatch(keys))

    def keys(self) -> np.ndarray:
        """All stored keys, in storage order."""
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self, keys: Iterable[int] | None = None) -> np.ndarray:
        """The vectors stored under ``keys`` (all of them, in storage order, when ``keys`` is None)."""
        if keys is None:
            return self.index.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dimension), np.float32)
        keys = list(keys)
        out = np.empty((len(keys), self.dimension), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self.index.reconstruct(int(key))
        return out

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        deny: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and scores for each query row, keys ``-1`` where fewer than ``k`` qualify.

        ``allow`` restricts the search to those keys; ``deny`` excludes keys. The filter runs inside
        FAISS, so a filtered query returns a full result set.
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
            selector = faiss.IDSelectorBatch(allowed)
        elif deny is not None and len(deny):
            inner = faiss.IDSelectorBatch(np.asarray(deny, dtype=np.int64))
            selector = faiss.IDSelectorNot(inner)
            selector.referenced = inner  # keep the wrapped selector alive as long as the outer one
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
        scores, keys = self.index.search(queries, k, params=params)
        return scores, keys
