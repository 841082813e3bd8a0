"""One published generation of an index, opened for reading and, by a writer, for building the next."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sized
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexCorruptError
from ..text.lexical import N_FEATURES, TermWeights
from .database import Database, connect
from .manifest import Manifest, file_checksum
from .vectors import VectorSet

if TYPE_CHECKING:
    from .directory import IndexDirectory

PARTS = ("database", "articles", "titles", "paragraphs", "terms")
VECTOR_PARTS = ("articles", "titles", "paragraphs")
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
    """The database, vector sets and term frequencies of one generation, checked to agree."""

    def __init__(self, directory: IndexDirectory, manifest: Manifest, *, writable: bool = False) -> None:
        self.directory = directory
        self.manifest = manifest
        files = {part: directory.file(manifest, part) for part in PARTS}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise FileNotFoundError(", ".join(missing))
        damaged = [f.name for part, f in files.items() if manifest.sizes.get(part, f.stat().st_size) != f.stat().st_size]
        if not damaged and sum(f.stat().st_size for f in files.values()) <= VERIFY_ON_OPEN_BYTES:
            damaged = [
                f.name for part, f in files.items()
                if part in manifest.checksums and manifest.checksums[part] != file_checksum(f)
            ]
        if damaged:
            raise IndexCorruptError(f"{directory.path}: {', '.join(damaged)} damaged since written; run storycluster check")
        try:
            self.articles = VectorSet.load(files["articles"], mmap=not writable)
            self.titles = VectorSet.load(files["titles"], mmap=not writable)
            self.paragraphs = VectorSet.load(files["paragraphs"], mmap=not writable)
            self.df = np.load(files["terms"])
        except (RuntimeError, ValueError, OSError) as exc:
            _raise_if_removed(files)  # a writer removed this generation meanwhile: open() retries
            raise IndexCorruptError(f"{directory.path}: unreadable vector file ({str(exc).splitlines()[0]}); run storycluster check") from None
        try:
            self.db = Database(connect(files["database"], readonly=True))
        except sqlite3.OperationalError:
            _raise_if_removed(files)
            raise
        try:
            counts = (self.db.count("paragraphs"), self.db.count("articles"))
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise IndexCorruptError(f"{directory.path}: unreadable database ({exc}); run storycluster check") from None
        if counts != (len(self.paragraphs), len(self.articles)):
            self.db.close()
            raise IndexCorruptError(
                f"{directory.path}: generation {manifest.generation} has vectors and rows out of step"
            )

    @classmethod
    def open(cls, directory: IndexDirectory, *, writable: bool = False, attempts: int = 5) -> Snapshot:
        """Open the current generation, retrying if a writer replaced it between manifest and files.

        Readers map the vector files read-only (processes share the pages); a writer, which changes
        the sets in memory to build the next generation, asks for ``writable`` copies.
        """
        for attempt in range(attempts):
            manifest = directory.read_manifest()
            try:
                return cls(directory, manifest, writable=writable)
            except FileNotFoundError as exc:
                if attempt == attempts - 1:
                    raise IndexCorruptError(f"{directory.path}: manifest names missing files ({exc})") from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    @staticmethod
    def create(directory: IndexDirectory, model: str, dimension: int, article_vector: str, backend: str) -> None:
        """Publish generation 1 of a new, empty index (the caller holds the writer lock)."""
        manifest = Manifest(model=model, dimension=dimension, article_vector=article_vector, backend=backend).next({})
        try:
            db = Database(connect(directory.file(manifest, "database"), readonly=False))
            db.create_schema()
            db.connection.commit()
            db.close()
            for part in VECTOR_PARTS:
                VectorSet.empty(dimension).save(directory.file(manifest, part))
            _save_array(directory.file(manifest, "terms"), np.zeros(N_FEATURES, dtype=np.int32))
            directory.publish(replace(manifest, counts={"articles": 0, "paragraphs": 0}))
        finally:
            directory.remove_leftovers()

    def close(self) -> None:
        """Release the database connection."""
        self.db.close()

    @contextlib.contextmanager
    def next_generation(self, *, vectors_changed: bool) -> Iterator[Database]:
        """Build and publish the next generation from this one (the caller holds the writer lock).

        Yields a writable copy of the database; the caller changes it and, when ``vectors_changed``,
        this snapshot's in-memory vector sets and term frequencies. Inside the block the snapshot reads
        through the new database, so it shows the pending state. On a clean exit everything is written,
        flushed and published with one atomic rename; on any error the new files are removed and the
        published generation is untouched. Either way, reopen the index afterwards.
        """
        directory = self.directory
        manifest = self.manifest.next({})
        new = {part: directory.file(manifest, part) for part in PARTS}
        db = None
        reader = self.db
        try:
            shutil.copyfile(directory.file(self.manifest, "database"), new["database"])
            db = self.db = Database(connect(new["database"], readonly=False))
            db.upgrade()
            yield db
            db.connection.commit()
            counts = db.counts()
            db.close()
            db = None
            _fsync(new["database"])
            if vectors_changed:
                for part in VECTOR_PARTS:
                    getattr(self, part).save(new[part])
                _save_array(new["terms"], self.df)
            else:  # files of a generation never change, so unchanged parts are shared by hard links
                for part in (*VECTOR_PARTS, "terms"):
                    os.link(directory.file(self.manifest, part), new[part])
            directory.publish(replace(manifest, counts=counts))
        except BaseException as exc:
            if db is not None:
                db.close()
            directory.remove_leftovers()
            code = _disk_error(exc)
            if code:  # SQLite's disk full / I/O error, as the OSError any other write would raise
                raise OSError(code, f"{os.strerror(code)} (SQLite: {exc})", str(new["database"])) from exc
            raise
        finally:
            self.db = reader


def _raise_if_removed(files: dict) -> None:
    """Raise FileNotFoundError if a file of the generation being opened is gone (removed by a writer)."""
    missing = [f.name for f in files.values() if not f.is_file()]
    if missing:
        raise FileNotFoundError(", ".join(missing))


def _save_array(path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    with open(path, "wb") as handle:  # a short write raises OSError with its errno (np.save to a file: no errno)
        handle.write(buffer.getbuffer())
        handle.flush()
        os.fsync(handle.fileno())


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


def _fsync(path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
