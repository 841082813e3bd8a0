"""The index directory: a manifest, one SQLite database changed in place, immutable vector segments.

Layout of an index directory (format 2)::

    manifest.json               format version, model, dimension, article vector method, backend
    index.sqlite                articles, paragraphs, stories, and the generation record (``state.py``):
                                which segment files and term frequency file make the current generation
    g000007.articles.faiss      the article vectors generation 7 added (or merged), keyed by article row key
    g000007.titles.faiss        headline vectors, keyed by article row key
    g000007.paragraphs.faiss    paragraph vectors, keyed by paragraph row key
    g000007.df.npy              document frequency of each hashed term (see ``lexical.py``)
    .lock                       held by the one writer

A writer changes the database inside one transaction, writes the vectors it adds as new segment files
beside the old ones, and publishes the generation by committing: a crash or Ctrl-C at any point leaves
the previous generation intact and readable, and an append costs what it adds, not the size of the index.
Readers see one generation until they refresh (SQLite WAL snapshots). Files the current and the previous
generation do not use (merged segments, leftovers of a failed run) are removed by the next writer.

Format 1 directories (a copy of every file per generation, switched by renaming the manifest) are read
as they are and converted to format 2 by their first write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, IndexLockedError, IndexNotFoundError
from ..text.lexical import N_FEATURES
from .database import Database, connect
from .manifest import FORMAT_VERSION, Manifest, utc_now
from .segments import Segment
from .snapshot import Snapshot, fsync_directory, legacy_state, save_array, unreadable
from .state import TOMBSTONES_SCHEMA, VECTOR_PARTS, State, read_state, write_state
from .vectors import VectorSet

MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
LOCK = ".lock"
_GENERATION_FILE = re.compile(r"^g(\d{6})\.")
_DATABASE_FILES = (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal")


class IndexDirectory:
    """One index directory on disk: reading its manifest, locking it, publishing generations."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._probe: Database | None = None  # reads the newest generation record (no transaction held)

    @property
    def manifest_path(self) -> Path:
        """Where the manifest lives."""
        return self.path / MANIFEST

    def exists(self) -> bool:
        """Whether the directory holds a published index."""
        return self.manifest_path.is_file()

    def read_manifest(self, *, state: bool = True) -> Manifest:
        """The current manifest; raises :class:`IndexNotFoundError` if there is none.

        For format 2, with ``state`` the generation, counts and time of the last write are read from the
        database (a query of a few hundred microseconds); without, they are left out.
        """
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IndexNotFoundError(
                f"no index at {self.path} (build one with: storycluster index PATH --index {self.path})"
            ) from None
        manifest = Manifest.from_json(text, self.manifest_path)
        if not state or manifest.format_version == 1:
            return manifest
        current = self.read_state(manifest)
        return replace(manifest, generation=current.generation, counts=current.counts, updated=current.updated)

    def read_state(self, manifest: Manifest) -> State:
        """The generation record committed in a format 2 directory's database."""
        database = self.file(manifest, "database")
        try:
            if self._probe is None:  # kept open: a refresh on every request costs one query, not a connection
                self._probe = Database(connect(database, readonly=True))
            found = read_state(self._probe)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise unreadable(database, exc) from None
        if found is None:
            raise IndexCorruptError(f"{self.path}: the database records no generation; run storycluster check")
        return found

    def file(self, manifest: Manifest, part: str) -> Path:
        """Path of one part (``database``, and in format 1 ``articles``, ``paragraphs``...) of the manifest."""
        return self.path / manifest.files[part]

    def create(self, model: str, dimension: int, article_vector: str, backend: str, export_format: int = 0) -> None:
        """Publish generation 1 of a new, empty index (the caller holds the writer lock)."""
        manifest = Manifest(
            model=model, dimension=dimension, article_vector=article_vector, backend=backend,
            export_format=export_format, files={"database": DATABASE},
        )
        try:
            self.remove_leftovers()
            terms = self.path / "g000001.df.npy"
            save_array(terms, np.zeros(N_FEATURES, dtype=np.int32))
            db = Database(connect(self.path / DATABASE, readonly=False))
            try:
                db.create_schema()
                db.connection.executescript(TOMBSTONES_SCHEMA)
                empty = {part: [] for part in VECTOR_PARTS}
                write_state(db, State(1, utc_now(), Segment.written(terms), empty, db.counts()))
                db.connection.commit()
            finally:
                db.close()
            fsync_directory(self.path)
            self.publish(manifest)
        finally:
            self.remove_leftovers()

    def open_snapshot(self, *, writable: bool = False) -> Snapshot:
        """The current generation (see :meth:`Snapshot.open`); a writer first converts a format 1 directory."""
        if writable and self.read_manifest(state=False).format_version == 1:
            self._convert()
        return Snapshot.open(self, writable=writable)

    def _convert(self) -> None:
        """Turn a format 1 directory into format 2 (the caller holds the writer lock).

        The current generation's database is copied once to ``index.sqlite`` and its vector and term
        files become the first segments; renaming the format 2 manifest over the old one is the switch.
        """
        old = self.read_manifest()
        legacy = legacy_state(old)
        temporary = self.path / f".{DATABASE}.tmp"
        shutil.copyfile(self.file(old, "database"), temporary)
        db = Database(connect(temporary, readonly=False, wal=False))
        try:
            db.connection.executescript(TOMBSTONES_SCHEMA)
            db.upgrade()
            segments = {}
            for part in VECTOR_PARTS:
                table = "paragraphs" if part == "paragraphs" else "articles"
                row = db.connection.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
                (record,) = legacy.segments[part]
                count = len(VectorSet.load(self.path / record.file, mmap=True))
                segments[part] = [replace(record, last=int(row[0]) if row else 0, count=count)]
            retired = [(old.generation + 1, old.files["database"])]
            write_state(db, replace(legacy, segments=segments, counts=db.counts(), retired=retired))
            db.connection.commit()
            db.connection.execute("PRAGMA journal_mode=WAL")  # so that readers never block the first writer
        finally:
            db.close()
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.path / DATABASE)
        fsync_directory(self.path)
        self.publish(replace(old, files={"database": DATABASE}, format_version=FORMAT_VERSION))

    def close(self) -> None:
        """Close the connection that reads the generation record, if one is open."""
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock; a second writer fails at once with :class:`IndexLockedError`."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK, "a+") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexLockedError(f"{self.path} is being written by another process; try again later") from None
            try:
                self.remove_leftovers()
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def publish(self, manifest: Manifest) -> None:
        """Make ``manifest`` the directory's manifest with an atomic rename (on creation and conversion)."""
        temporary = self.path / f".{MANIFEST}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.manifest_path)
        fsync_directory(self.path)

    def live_files(self, manifest: Manifest | None = None) -> set[str]:
        """The generation files of a format 2 directory that the current or the previous generation uses."""
        state = self.read_state(manifest or self.read_manifest(state=False))
        return {*state.files(), *(name for generation, name in state.retired if generation >= state.generation)}

    def remove_leftovers(self) -> None:
        """Delete temporary files and generation files neither the current nor the previous generation uses.

        The previous generation's files are kept so that a reader which opened it a moment ago can still
        load them. Called by the writer (under the lock) before and after each write.
        """
        manifest = self.read_manifest(state=False) if self.exists() else None
        if manifest is None or manifest.format_version == 1:
            current = manifest.generation if manifest else 0
            for name in _DATABASE_FILES:  # a conversion or creation that did not finish
                (self.path / name).unlink(missing_ok=True)
            keep = {name for name in os.listdir(self.path) if _generation(name) in (current, current - 1)}
        else:
            keep = self.live_files(manifest)
        for entry in self.path.iterdir():
            if (_generation(entry.name) is not None and entry.name not in keep) or entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


def _generation(name: str) -> int | None:
    match = _GENERATION_FILE.match(name)
    return int(match.group(1)) if match else None
