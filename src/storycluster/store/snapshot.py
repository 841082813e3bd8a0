"""One published generation of an index, opened for reading and, by a writer, for building the next."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sqlite3
import time
from collections.abc import Iterator, Sized
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexCorruptError
from ..text.lexical import TermWeights
from .database import Database, connect
from .manifest import Manifest, file_checksum, utc_now
from .segments import Segment, SegmentedVectors
from .state import VECTOR_PARTS, State, bury, read_state, tombstones, write_state

if TYPE_CHECKING:
    from .directory import IndexDirectory

_SQLITE_IOERR, _SQLITE_FULL = 10, 13  # primary result codes (sqlite3 names them from Python 3.11 on)
VERIFY_ON_OPEN_BYTES = 512 * 2**20  # checksums are verified on open up to this size; `storycluster check` always


class TermWeighted:
    """TF-IDF weights of a snapshot's ``df`` and ``articles``, kept until ``df`` is replaced."""

    df: np.ndarray
    articles: Sized
    _weights: tuple[np.ndarray, TermWeights] | None = None

    @property
    def term_weights(self) -> TermWeights:
        """TF-IDF weighting against the articles of this generation (recomputed when ``df`` changes)."""
        if self._weights is None or self._weights[0] is not self.df:
            self._weights = (self.df, TermWeights(self.df, len(self.articles)))
        return self._weights[1]


class Snapshot(TermWeighted):
    """The database, vector segments and term frequencies of one generation, checked to agree.

    A reader holds one SQLite read transaction open for the snapshot's life (WAL mode), so its rows stay
    those of the generation it opened while writers commit newer ones. A format 1 directory (one set of
    ``gNNNNNN.*`` files per generation) is read the same way, each vector set one segment.
    """

    def __init__(self, directory: IndexDirectory, manifest: Manifest, *, writable: bool = False) -> None:
        self.directory = directory
        database = directory.file(manifest, "database")
        if not database.is_file():
            raise FileNotFoundError(database.name)
        self.db = Database(connect(database, readonly=not writable))
        try:
            self._load(manifest, writable)
        except BaseException:
            self.db.close()
            raise

    def _load(self, manifest: Manifest, writable: bool) -> None:
        directory = self.directory
        database = directory.file(manifest, "database")
        try:
            if not writable:
                self.db.connection.execute("BEGIN")  # the read transaction that pins this generation
            stored = read_state(self.db)
            state = stored or legacy_state(manifest)
            dead = {part: tombstones(self.db, part) if stored else np.zeros(0, np.int64) for part in VECTOR_PARTS}
        except sqlite3.DatabaseError as exc:
            _raise_if_removed([database])
            raise unreadable(database, exc) from None
        self.state = state
        self.manifest = replace(manifest, generation=state.generation, counts=state.counts, updated=state.updated)
        records = [state.terms, *(s for part in VECTOR_PARTS for s in state.segments[part])]
        files = [directory.path / r.file for r in records]
        _raise_if_removed(files)
        damaged = [f.name for r, f in zip(records, files) if r.size not in (None, f.stat().st_size)]
        if not damaged and sum(f.stat().st_size for f in [database, *files]) <= VERIFY_ON_OPEN_BYTES:
            damaged = [f.name for r, f in zip(records, files) if r.checksum not in (None, file_checksum(f))]
            if stored and not _sound(self.db):  # changed in place, so checked by SQLite rather than a checksum
                damaged.append(database.name)
        if damaged:
            raise IndexCorruptError(f"{directory.path}: {', '.join(damaged)} damaged since written; run storycluster check")
        try:
            for part in VECTOR_PARTS:
                vectors = SegmentedVectors.open(directory.path, manifest.dimension, state.segments[part], dead[part])
                setattr(self, part, vectors)
            self.df = np.load(directory.path / state.terms.file)
        except (RuntimeError, ValueError, OSError) as exc:
            _raise_if_removed(files)  # a writer removed this generation meanwhile: open() retries
            raise IndexCorruptError(f"{directory.path}: unreadable vector file ({str(exc).splitlines()[0]}); run storycluster check") from None
        if stored:  # counted in the transaction that committed the rows
            counts = (state.counts["paragraphs"], state.counts["articles"])
        else:  # format 1: the rows themselves
            counts = (self.db.count("paragraphs"), self.db.count("articles"))
        if counts != (len(self.paragraphs), len(self.articles)):
            raise IndexCorruptError(
                f"{directory.path}: generation {state.generation} has vectors and rows out of step"
            )

    @classmethod
    def open(cls, directory: IndexDirectory, *, writable: bool = False, attempts: int = 5) -> Snapshot:
        """Open the current generation, retrying if a writer replaced it between manifest and files.

        Vector segments are mapped read-only (processes share the pages); a writer (``writable``) opens
        the database for writing, and adds its vectors as the next segment.
        """
        for attempt in range(attempts):
            manifest = directory.read_manifest(state=False)
            try:
                return cls(directory, manifest, writable=writable)
            except FileNotFoundError as exc:
                if attempt == attempts - 1:
                    raise IndexCorruptError(f"{directory.path}: manifest names missing files ({exc})") from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Release the database connection (and with it the read transaction)."""
        self.db.close()

    def files(self) -> list[str]:
        """The files of this generation: the database's and those :class:`State` lists."""
        return [self.directory.file(self.manifest, "database").name, *self.state.files()]

    @contextlib.contextmanager
    def next_generation(self, *, vectors_changed: bool) -> Iterator[Database]:
        """Build and publish the next generation from this one (the caller holds the writer lock).

        Yields the database inside a write transaction; the caller changes it and, when
        ``vectors_changed``, this snapshot's vector sets and term frequencies. Inside the block the
        snapshot shows the pending state. On a clean exit the new vectors are written as one segment
        per set (merged with the last segments when they are many, see :mod:`segments`), the term
        frequencies as a new file, all flushed, and the transaction commits with the new
        :class:`State`: that commit publishes the generation. On any error the transaction rolls back
        and the new files are removed: the published generation is untouched. Either way, reopen the
        index afterwards.
        """
        directory, db, state = self.directory, self.db, self.state
        generation = state.generation + 1
        stem = directory.path / f"g{generation:06d}"
        retired = [r for r in state.retired if r[0] >= generation - 1]
        segments, terms = dict(state.segments), state.terms
        try:
            db.connection.execute("BEGIN IMMEDIATE")
            db.upgrade()
            yield db
            if vectors_changed:
                for part in VECTOR_PARTS:
                    segments[part] = self._write_segment(part, Path(f"{stem}.{part}.faiss"), generation, retired)
                path = Path(f"{stem}.df.npy")
                save_array(path, self.df)
                terms = Segment.written(path)
                retired.append((generation, state.terms.file))
                fsync_directory(directory.path)
            write_state(db, State(generation, utc_now(), terms, segments, db.counts(), retired))
            db.connection.commit()
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                db.connection.rollback()
            directory.remove_leftovers()
            if _disk_error(exc):  # SQLite's disk full / I/O error, as the OSError any other write would raise
                raise unreadable(directory.file(self.manifest, "database"), exc) from exc
            raise
        directory.remove_leftovers()

    def _write_segment(self, part: str, path: Path, generation: int, retired: list[tuple[int, str]]) -> list[Segment]:
        """Write the next segment of one vector set and its tombstones; returns the set's new segment list."""
        vectors: SegmentedVectors = getattr(self, part)
        merge = vectors.merge_plan()
        kept = [segment for segment, _ in vectors.segments]
        dropped = kept[len(kept) - merge:] if merge else []
        written = vectors.next_segment(path, merge)
        retired.extend((generation, segment.file) for segment in dropped)
        bury(self.db, part, vectors.removed, (dropped[0].first, dropped[-1].last) if dropped else None)
        return kept[:len(kept) - merge] + ([written[0]] if written else [])


def legacy_state(manifest: Manifest) -> State:
    """The :class:`State` of a format 1 generation: each vector set one segment, as its manifest names them."""

    def record(part: str) -> Segment:
        return Segment(manifest.files[part], 0, 2**62, 0, manifest.sizes.get(part), manifest.checksums.get(part))

    return State(
        generation=manifest.generation, updated=manifest.updated, terms=record("terms"),
        segments={part: [record(part)] for part in VECTOR_PARTS}, counts=manifest.counts,
    )


def _sound(db: Database) -> bool:
    """Whether SQLite's quick check passes on the database."""
    try:
        return db.connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        return False


def _raise_if_removed(files: list[Path]) -> None:
    """Raise FileNotFoundError if a file of the generation being opened is gone (removed by a writer)."""
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(", ".join(missing))


def save_array(path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    with open(path, "wb") as handle:  # a short write raises OSError with its errno (np.save to a file: no errno)
        handle.write(buffer.getbuffer())
        handle.flush()
        os.fsync(handle.fileno())


def unreadable(database: Path, exc: sqlite3.Error) -> Exception:
    """The error to raise for a failed SQLite call: the OSError of a full disk or I/O error, else a damaged index."""
    code = _disk_error(exc)
    if code:
        return OSError(code, f"{os.strerror(code)} (SQLite: {exc})", str(database))
    return IndexCorruptError(f"{database.parent}: unreadable database ({exc}); run storycluster check")


def _disk_error(exc: BaseException) -> int | None:
    """ENOSPC or EIO where ``exc`` is SQLite failing to write (disk full, I/O error), else None."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    if primary == _SQLITE_FULL or (code is None and "disk is full" in str(exc)):
        return errno.ENOSPC
    if primary == _SQLITE_IOERR or (code is None and "disk I/O error" in str(exc)):
        return errno.EIO
    return None


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
