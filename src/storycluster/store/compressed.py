"""Large vector segments: 8-bit codes searched in memory, the best candidates re-ranked exactly from disk.

A segment of ``segments.COMPRESSED_FROM`` vectors or more is written as one file: an inverted file of
8-bit scalar-quantised codes (FAISS ``IndexIVFScalarQuantizer``, ``QT_8bit``: a quarter of the float32
size), then the segment's keys in ascending order, then its float32 vectors in the same order, then a
trailer saying where the keys start. A reader loads the codes and keys into memory; the float32 rows stay
on disk and are read with ``pread`` when needed (the page cache holds them, not the reader: a memory
mapping would count every row it ever touched in the reader's RSS). A search takes the ``RERANK`` best
candidates by code and re-scores them exactly (a set of several such segments pools their candidates and
reads only the best ``RERANK`` of all, not as many from each), so scores are exact cosines and :meth:`vectors` returns
the stored vectors, as for the other segments. Being one file, such a segment is written, checksummed,
published, merged and removed exactly like the others.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np

from .vectors import VectorSet, best

RERANK = 64  # candidates re-scored exactly against the float32 rows (per query)
_MAGIC = b"SCSQ8RR1"
_TRAILER = struct.Struct("<QQ8s")  # offset of the keys, number of vectors, magic
_ALIGN = 64
_WINDOW = 4096  # rows: requested rows closer together than this are read as one span when dense enough
_ONE_BY_ONE = 256  # rows requested at most this many are read one by one
_WRITE_ROWS = 65_536  # rows read and written at a time when writing a segment


def compressed_index(quantizer: faiss.Index, lists: int) -> faiss.IndexIVFScalarQuantizer:
    """An empty inverted file of 8-bit codes over ``lists`` lists of ``quantizer`` (inner product)."""
    return faiss.IndexIVFScalarQuantizer(
        quantizer, quantizer.d, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )


def load_segment(path: Path) -> VectorSet:
    """Open a segment file of either kind: a compressed one, else a FAISS file mapped read-only."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() >= _TRAILER.size:
            handle.seek(-_TRAILER.size, os.SEEK_END)
            keys_at, count, magic = _TRAILER.unpack(handle.read(_TRAILER.size))
            if magic == _MAGIC:
                return CompressedVectors.load(path, keys_at, count)
    return VectorSet.load(path, mmap=True)


class CompressedVectors(VectorSet):
    """An immutable segment: 8-bit codes in memory, exact float32 rows read from its file by key."""

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, keys: np.ndarray, path: Path, rows_at: int) -> None:
        super().__init__(index)
        self._keys = keys
        self._keys.flags.writeable = False
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (open as long as the segment: pread)
        self._rows_at = rows_at

    @classmethod
    def write(
        cls, path: Path, index: faiss.IndexIVFScalarQuantizer, keys: np.ndarray, vectors_of
    ) -> CompressedVectors:
        """Write the filled ``index`` and the rows ``vectors_of(keys)`` (sorted ``keys``) to ``path``, flushed.

        Rows are fetched and written a chunk at a time, so a writer never holds them all; a short write
        (disk full) raises ``OSError``.
        """
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        with open(path, "wb") as handle:
            handle.write(memoryview(faiss.serialize_index(index)))
            handle.write(b"\0" * (-handle.tell() % _ALIGN))
            keys_at = handle.tell()
            handle.write(keys.tobytes())
            for start in range(0, len(keys), _WRITE_ROWS):
                rows = np.ascontiguousarray(vectors_of(keys[start:start + _WRITE_ROWS]), dtype=np.float32)
                handle.write(rows.tobytes())
            handle.write(_TRAILER.pack(keys_at, len(keys), _MAGIC))
            handle.flush()
            os.fsync(handle.fileno())
        return cls(index, keys, path, keys_at + keys.nbytes)

    @classmethod
    def load(cls, path: Path, keys_at: int, count: int) -> CompressedVectors:  # type: ignore[override]
        """Read the codes and keys of a segment written by :meth:`write` (the rows stay on disk)."""
        index = faiss.read_index(str(path))
        keys = np.fromfile(path, dtype=np.int64, count=count, offset=keys_at)
        expected = keys_at + 8 * count + 4 * index.d * count + _TRAILER.size
        if len(keys) != count or index.ntotal != count or path.stat().st_size != expected:
            raise ValueError(f"{path.name}: compressed segment of the wrong size")
        return cls(index, keys, path, keys_at + keys.nbytes)

    def keys(self) -> np.ndarray:
        """All stored keys, ascending (read-only)."""
        return self._keys

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of ``keys`` has a vector here."""
        keys = np.asarray(keys, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[positions] == keys

    def vectors(self, keys: Iterable[int] | None = None) -> np.ndarray:
        """The exact float32 vectors stored under ``keys`` (all of them, in key order, when None)."""
        keys = self._keys if keys is None else np.fromiter(keys, dtype=np.int64)
        held = self.contains(keys)
        if not held.all():
            raise KeyError(f"no vector under key {int(keys[~held][0])}")
        return self._rows(np.searchsorted(self._keys, keys))

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        deny: np.ndarray | None = None,
        coarse: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and exact scores: the ``RERANK`` best by code, re-scored against the stored rows.

        With ``allow``, the allowed keys' rows are searched exhaustively (as an inverted file does).
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if allow is not None:
            allow = np.asarray(allow, dtype=np.int64)
            return super().search(queries, k, allow=allow[self.contains(allow)], deny=deny)
        k = max(1, min(k, len(self)))
        _, candidates = self.candidates(queries, max(k, RERANK), deny=deny, coarse=coarse)
        return best(self.rescore(queries, candidates), candidates, k)

    def candidates(
        self, queries: np.ndarray, k: int, *, deny: np.ndarray | None = None,
        coarse: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best keys by code and their approximate scores (no row is read): what :meth:`rescore`
        turns into exact ones, here or, for several segments, after their candidates were pooled."""
        return super().search(queries, k, deny=deny, coarse=coarse)

    def rescore(self, queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Exact scores of ``keys[i, j]`` against ``queries[i]``, read from the stored rows; ``-inf`` where a
        key is -1 or not in this segment."""
        held = (keys >= 0) & self.contains(keys)
        scores = np.full(keys.shape, -np.inf, dtype=np.float32)
        if not held.any():
            return scores
        unique = np.unique(keys[held])
        rows = self._rows(np.searchsorted(self._keys, unique))
        scores[held] = np.einsum("ij,ij->i", rows[np.searchsorted(unique, keys[held])], queries[np.nonzero(held)[0]])
        return scores

    def _rows(self, positions: np.ndarray) -> np.ndarray:
        """The float32 rows at ``positions``, read with ``pread``: a few one by one, many by dense spans."""
        if len(positions) <= _ONE_BY_ONE:
            return self._read(positions.tolist(), 1)
        out = np.empty((len(positions), self.dimension), dtype=np.float32)
        order = np.argsort(positions, kind="stable")
        ordered = positions[order]
        for group in np.split(np.arange(len(ordered)), np.flatnonzero(np.diff(ordered // _WINDOW)) + 1):
            first, last = int(ordered[group[0]]), int(ordered[group[-1]])
            if last - first + 1 <= 8 * len(group):
                out[order[group]] = self._read([first], last - first + 1)[ordered[group] - first]
            else:
                out[order[group]] = self._read(ordered[group].tolist(), 1)
        return out

    def _read(self, firsts: list[int], count: int) -> np.ndarray:
        """``count`` rows from each of ``firsts``, one after the other."""
        dimension = int(self.index.d)
        size, descriptor, at = count * 4 * dimension, self._file.fileno(), self._rows_at
        data = b"".join([os.pread(descriptor, size, at + first * 4 * dimension) for first in firsts])
        if len(data) != size * len(firsts):
            raise OSError(f"{self._file.name}: short read of its vectors")
        return np.frombuffer(data, dtype=np.float32).reshape(-1, dimension)
