"""A vector set made of immutable segment files, so that an append writes only what it adds.

Each generation that adds vectors writes them as one new segment (a :class:`VectorSet` file); removed
vectors are *tombstones* (keys listed in the database) until the segment holding them is merged. Row keys
only grow (SQLite ``AUTOINCREMENT``), so each segment holds one range of keys and the ranges follow the
order of the segments: a key's segment is found by its range.

Merging keeps the number of segments logarithmic in the set's size: when the last ``FANOUT`` segments
(with the new one) are within a factor ``FANOUT`` of each other in size, they are merged into one, the way
a binary counter carries (sizes 1, 1, ... 1 -> 8 -> 8, 8, ... -> 64 ...). Each vector is rewritten about
``log_FANOUT(n / append size)`` times over its life, and searches probe a few dozen segments at most.
Segments of a large set are inverted files sharing one coarse quantizer, so a vector is assigned to its
list once, a merge copies lists (see :meth:`SegmentedVectors.next_segment`) and a query searches the
shared quantizer once. Segments of ``COMPRESSED_FROM`` vectors or more keep 8-bit codes in memory and
their float32 vectors on disk (:mod:`compressed`).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from .compressed import RERANK, CompressedVectors, compressed_index, load_segment
from .manifest import file_checksum
from .vectors import EXACT_UP_TO, TRAIN_SAMPLE, Filler, VectorSet, best, fill_in_place

FANOUT = 8
INVERTED_FROM = 1_000  # fewer vectors than this make an exact segment, whatever the set's size
COMPRESSED_FROM = 100_000  # segments of this many vectors or more keep 8-bit codes, their rows on disk


@dataclass(frozen=True)
class Segment:
    """One segment file as the database records it: its file, key range, vector count and checksum."""

    file: str
    first: int
    last: int
    count: int
    size: int
    checksum: str | None = None

    @classmethod
    def written(cls, path: Path, first: int = 0, last: int = 0, count: int = 0) -> Segment:
        """The record of a file just written (its size and checksum read back)."""
        return cls(path.name, first, last, count, path.stat().st_size, file_checksum(path))

    def to_json(self) -> dict:
        """The record stored in the database's state."""
        return asdict(self)


class SegmentedVectors:
    """Unit vectors under int64 keys across segment files, plus (for a writer) the vectors of the next segment.

    Answers the same calls as :class:`VectorSet` (``store.base.Vectors``). ``tombstones`` are keys whose
    vectors are still in a segment but no longer in the index.
    """

    def __init__(
        self, dimension: int, segments: list[tuple[Segment, VectorSet]], tombstones: np.ndarray
    ) -> None:
        self._dimension = dimension
        self.segments = segments
        self.tombstones = np.unique(np.asarray(tombstones, dtype=np.int64))
        self.removed: list[int] = []  # tombstones added by this writer (not yet stored)
        self.pending = VectorSet.empty(dimension)  # vectors added by this writer (the next segment)
        self.fill: Filler = fill_in_place
        self._cached: list[tuple[int, int, VectorSet, np.ndarray]] | None = None  # what _parts() found
        self._shared: list[list[VectorSet]] | None = None  # what _sharing_lists() found (segments never change)

    @classmethod
    def open(cls, directory: Path, dimension: int, segments: list[Segment], tombstones: np.ndarray) -> SegmentedVectors:
        """Open the segment files: mapped read-only (processes share the pages; segments never change),
        compressed ones with their codes in memory and their rows read from the file."""
        return cls(dimension, [(s, _opened(directory / s.file)) for s in segments], tombstones)

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(vectors) for _, vectors in self.segments) - len(self.tombstones) + len(self.pending)

    @property
    def dimension(self) -> int:
        """Length of the stored vectors."""
        return self._dimension

    def _parts(self) -> list[tuple[int, int, VectorSet, np.ndarray]]:
        """Each segment (and the pending one) with its key range and the tombstones inside that range."""
        if self._cached is None:
            self._cached = self._find_parts()
        return self._cached

    def _find_parts(self) -> list[tuple[int, int, VectorSet, np.ndarray]]:
        parts = []
        for segment, vectors in self.segments:
            low, high = np.searchsorted(self.tombstones, [segment.first, segment.last + 1])
            parts.append((segment.first, segment.last, vectors, self.tombstones[low:high]))
        if len(self.pending):
            held = self.pending.keys()
            parts.append((int(held.min()), int(held.max()), self.pending, np.zeros(0, np.int64)))
        return parts

    def _sharing_lists(self) -> list[list[VectorSet]]:
        """The inverted-file segments in groups of two or more on the same coarse lists."""
        if self._shared is None:
            groups: list[tuple[np.ndarray, list[VectorSet]]] = []
            for _, vectors in self.segments:
                if vectors.exact:
                    continue
                centroids = vectors.index.quantizer.reconstruct_n(0, vectors.index.nlist)
                same = next((group for centroid, group in groups if np.array_equal(centroid, centroids)), None)
                if same is None:
                    groups.append((centroids, [vectors]))
                else:
                    same.append(vectors)
            self._shared = [group for _, group in groups if len(group) > 1]
        return self._shared

    def keys(self) -> np.ndarray:
        """All stored keys, segment by segment."""
        found = [_live(vectors, dead) for _, _, vectors, dead in self._parts()]
        return np.concatenate(found) if found else np.zeros(0, np.int64)

    def vectors(self, keys: Iterable[int] | None = None) -> np.ndarray:
        """The vectors stored under ``keys`` (all of them, in the order of :meth:`keys`, when None)."""
        keys = self.keys() if keys is None else np.fromiter(keys, dtype=np.int64)
        out = np.zeros((len(keys), self._dimension), dtype=np.float32)
        if not len(keys):
            return out
        for first, last, vectors, _ in self._parts():
            inside = (keys >= first) & (keys <= last)
            if inside.any():
                out[inside] = vectors.vectors(keys[inside])
        return out

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keys and scores for each query row over every segment (see :meth:`VectorSet.search`)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores, keys, coarse = [], [], {}
        for shared in self._sharing_lists() if allow is None else []:  # one coarse search for them all
            assigned = shared[0].assign(queries)
            coarse.update((id(vectors), assigned) for vectors in shared)
        compressed, pooled = [], []  # compressed segments' candidates by code, re-scored together below
        for first, last, vectors, dead in self._parts():
            denied = dead if deny is None else np.concatenate([dead, np.asarray(deny, dtype=np.int64)])
            denied = denied if len(denied) else None
            if allow is None and isinstance(vectors, CompressedVectors):
                compressed.append(vectors)
                pooled.append(vectors.candidates(queries, max(k, RERANK), deny=denied, coarse=coarse.get(id(vectors))))
                continue
            held = None
            if allow is not None:  # allowed keys are live rows: those in this segment's range are in it
                held = np.asarray(allow, dtype=np.int64)
                held = np.setdiff1d(held[(held >= first) & (held <= last)], dead)
                if not len(held):
                    continue
            found_scores, found_keys = vectors.search(queries, k, allow=held, deny=denied, coarse=coarse.get(id(vectors)))
            scores.append(found_scores)
            keys.append(found_keys)
        if pooled:  # the best candidates of all of them by code, then each read exactly from its segment
            _, candidates = best(np.hstack([s for s, _ in pooled]), np.hstack([c for _, c in pooled]), max(k, RERANK))
            exact = np.full(candidates.shape, -np.inf, dtype=np.float32)
            for vectors in compressed:
                exact = np.maximum(exact, vectors.rescore(queries, candidates))
            scores.append(exact)
            keys.append(candidates)
        if not scores:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        return best(np.hstack(scores), np.hstack(keys), k)

    # -- writing ---------------------------------------------------------------------------------

    def add(self, keys: np.ndarray, vectors: np.ndarray, *, fill: Filler = fill_in_place) -> None:
        """Add ``vectors`` under ``keys`` to the next segment."""
        self.fill = fill
        self.pending.add(keys, vectors, exact_up_to=np.iinfo(np.int64).max)
        self._cached = None

    def remove(self, keys: Iterable[int]) -> None:
        """Remove the vectors stored under ``keys`` (from the next segment, else as tombstones)."""
        keys = np.unique(np.fromiter(keys, dtype=np.int64))
        if not len(keys):
            return
        pending = self.pending.keys()
        self.pending.remove(keys[np.isin(keys, pending)])
        stored = []
        for segment, vectors in self.segments:
            inside = keys[(keys >= segment.first) & (keys <= segment.last)]
            stored += inside[vectors.contains(inside)].tolist()
        fresh = np.setdiff1d(np.array(stored, dtype=np.int64), self.tombstones)
        self.removed += fresh.tolist()
        self.tombstones = np.union1d(self.tombstones, fresh)
        self._cached = None

    def merge_plan(self) -> int:
        """How many of the last segments to merge with the pending vectors into the next segment (0: none).

        Carries like a counter in base ``FANOUT``: while the last ``FANOUT - 1`` segments and what is being
        written are within a factor ``FANOUT`` of each other in size, they become one segment. Tombstoned
        vectors count in a segment's size until it is merged.
        """
        sizes = [len(vectors) for _, vectors in self.segments]
        written, merged, end = len(self.pending), 0, len(sizes)
        if not written:  # nothing added (a removal): no segment is written, none merged
            return 0
        while end >= FANOUT - 1:
            group = [*sizes[end - FANOUT + 1:end], written]
            if max(group) > FANOUT * max(1, min(group)):
                break
            written += sum(sizes[end - FANOUT + 1:end])
            merged += FANOUT - 1
            end -= FANOUT - 1
        return merged

    def next_segment(self, path: Path, merge: int) -> tuple[Segment, VectorSet] | None:
        """Write the next segment to ``path``: the pending vectors with the last ``merge`` segments.

        Returns it with its record, or None when it would hold no vector (nothing is written then).
        Tombstoned vectors of the merged segments are left out, so their tombstones can go. A segment of
        ``COMPRESSED_FROM`` vectors or more keeps 8-bit codes and its float32 rows on disk
        (:mod:`compressed`). Once the set has an inverted-file segment, every segment of
        ``INVERTED_FROM`` vectors or more is an inverted file on a copy of its coarse quantizer (while it
        has lists enough for the size): each vector is assigned to a list once, when its segment is
        written, and merging inverted files of one kind copies their lists. Before that, segments are
        exact up to ``EXACT_UP_TO`` vectors, and past it an inverted file with a quantizer trained on a
        sample of its vectors.
        """
        live = [(vectors, _live(vectors, dead)) for _, _, vectors, dead in self._parts()[len(self.segments) - merge:]]
        count = sum(len(keys) for _, keys in live)
        if not count:
            return None
        keys = np.sort(np.concatenate([keys for _, keys in live]))
        quantizer = self._quantizer(count) if count >= INVERTED_FROM else None
        if count >= COMPRESSED_FROM:
            index = self._compressed(quantizer, keys)
            written = CompressedVectors.write(path, _inverted_file(index, live, self.vectors, self.fill), keys, self.vectors)
        elif quantizer is None:  # exact, or past EXACT_UP_TO an inverted file with a quantizer of its own
            written = VectorSet.empty(self._dimension)
            written.add(keys, self.vectors(keys), exact_up_to=EXACT_UP_TO, fill=self.fill)
            written.save(path)
        else:
            index = faiss.IndexIVFFlat(quantizer, self._dimension, quantizer.ntotal, faiss.METRIC_INNER_PRODUCT)
            written = VectorSet(_inverted_file(index, live, self.vectors, self.fill))
            written.index.set_direct_map_type(faiss.DirectMap.Hashtable)
            written.save(path)
        return Segment.written(path, int(keys[0]), int(keys[-1]), count), written

    def _quantizer(self, count: int) -> faiss.Index | None:
        """A copy of the coarse quantizer of the inverted-file segment with the most lists, if it has
        enough for ``count`` vectors (at least a quarter of the ``4 * sqrt(count)`` a new one would get)."""
        inverted = [vectors.index for _, vectors in self.segments if not vectors.exact]
        if not inverted:
            return None
        best = max(inverted, key=lambda index: index.nlist)
        if best.nlist < math.sqrt(count):
            return None
        return faiss.clone_index(best.quantizer)

    def _compressed(self, quantizer: faiss.Index | None, keys: np.ndarray) -> faiss.IndexIVFScalarQuantizer:
        """An empty, trained inverted file of 8-bit codes for ``keys``: on ``quantizer`` if given (with the
        code ranges of a compressed segment on the same lists, so that their lists can be copied), else
        on a quantizer and code ranges trained on a sample of the vectors."""
        if quantizer is None:
            index = compressed_index(faiss.IndexFlatIP(self._dimension), int(4 * math.sqrt(len(keys))))
        else:
            index = compressed_index(quantizer, quantizer.ntotal)
            for _, vectors in self.segments:
                if isinstance(vectors, CompressedVectors) and _same_lists(vectors.index, index, codes=False):
                    faiss.copy_array_to_vector(faiss.vector_to_array(vectors.index.sq.trained), index.sq.trained)
                    index.is_trained = True
                    return index
        sample = np.random.default_rng(0).choice(keys, min(len(keys), TRAIN_SAMPLE), replace=False)
        index.train(self.vectors(np.sort(sample)))
        return index


_OPENED: weakref.WeakValueDictionary[tuple, VectorSet] = weakref.WeakValueDictionary()
_OPENING = threading.Lock()


def _opened(path: Path) -> VectorSet:
    """The segment file at ``path``, loaded once per process for as long as a snapshot holds it.

    Segment files never change once published (a merge writes a new one), so a file of the same path,
    inode, size and modification time is the same segment: reopening an index after a commit, in a writer
    or in a reader that follows it, shares the segments it already has instead of reading every code again
    (2.4 GB of codes at a million articles).
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _OPENING:
        vectors = _OPENED.get(key)
        if vectors is None:
            vectors = _OPENED[key] = load_segment(path)
        return vectors


def _inverted_file(index: faiss.IndexIVF, live: list[tuple[VectorSet, np.ndarray]], vectors_of, fill: Filler) -> faiss.IndexIVF:
    """Fill the trained, empty inverted file ``index`` with the live vectors of ``live`` segments.

    Segments that are inverted files of the same kind on the same lists give their lists' entries as they
    are; the vectors of the others are assigned to lists by ``fill`` (as the Ray engine's filler would).
    """
    copied, assigned = [], []
    for vectors, keys in live:
        (copied if _same_lists(vectors.index, index) else assigned).append((vectors, keys))
    if assigned:
        keys = np.sort(np.concatenate([keys for _, keys in assigned]))
        fill(index, keys, vectors_of(keys))
    total = index.ntotal
    for vectors, keys in copied:
        total += _copy_lists(vectors.index, index, keys)
    index.ntotal = total
    return index


def _same_lists(source: faiss.Index, target: faiss.IndexIVF, *, codes: bool = True) -> bool:
    """Whether ``source`` is an inverted file on the same coarse centroids as ``target`` (and, with
    ``codes``, of the same class and code ranges, so that its entries can be copied as they are)."""
    if not isinstance(source, faiss.IndexIVF) or source.nlist != target.nlist:
        return False
    if codes and (type(source) is not type(target) or source.code_size != target.code_size):
        return False
    if codes and isinstance(target, faiss.IndexIVFScalarQuantizer) and not np.array_equal(
        faiss.vector_to_array(source.sq.trained), faiss.vector_to_array(target.sq.trained)
    ):
        return False
    return np.array_equal(source.quantizer.reconstruct_n(0, source.nlist), target.quantizer.reconstruct_n(0, target.nlist))


def _copy_lists(source: faiss.IndexIVF, target: faiss.IndexIVF, keep: np.ndarray) -> int:
    """Append the entries of ``source``'s lists whose ids are in ``keep`` to the same lists of ``target``."""
    lists, size, copied = source.invlists, source.code_size, 0
    for number in range(source.nlist):
        n = lists.list_size(number)
        if not n:
            continue
        ids = faiss.rev_swig_ptr(lists.get_ids(number), n).astype(np.int64)
        codes = faiss.rev_swig_ptr(lists.get_codes(number), n * size).reshape(n, size)
        kept = np.isin(ids, keep, assume_unique=True)
        ids, codes = np.ascontiguousarray(ids[kept]), np.ascontiguousarray(codes[kept])
        if len(ids):  # (the arrays stay referenced while FAISS reads them)
            target.invlists.add_entries(number, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(codes))
            copied += len(ids)
    return copied


def _live(vectors: VectorSet, dead: np.ndarray) -> np.ndarray:
    """The keys of a segment that are not tombstoned."""
    keys = vectors.keys()
    return np.setdiff1d(keys, dead, assume_unique=True) if len(dead) else keys
