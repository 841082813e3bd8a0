"""The index directory: a manifest naming one generation of files, switched atomically.

Layout of an index directory::

    manifest.json               format version, model, dimension, counts, timestamps, current files
    g000007.sqlite              articles, paragraphs (and stories) of generation 7
    g000007.articles.faiss      article vectors (headline and text), keyed by article row key
    g000007.titles.faiss        headline vectors, keyed by article row key
    g000007.paragraphs.faiss    paragraph vectors, keyed by paragraph row key
    g000007.df.npy              document frequency of each hashed term (see ``lexical.py``)
    .lock                       held by the one writer

A writer builds generation N+1 beside generation N and publishes it by renaming a new manifest over the
old one, so a crash or Ctrl-C at any point leaves generation N intact and readable. Files of older
generations and leftovers of a failed run are removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..errors import IndexCorruptError, IndexLockedError, IndexNotFoundError
from .manifest import Manifest, file_checksum
from .snapshot import Snapshot

MANIFEST = "manifest.json"
LOCK = ".lock"
_GENERATION_FILE = re.compile(r"^g(\d{6})\.")


class IndexDirectory:
    """One index directory on disk: reading its manifest, locking it, publishing generations."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        """Where the manifest lives."""
        return self.path / MANIFEST

    def exists(self) -> bool:
        """Whether the directory holds a published index."""
        return self.manifest_path.is_file()

    def read_manifest(self) -> Manifest:
        """The current manifest; raises :class:`IndexNotFoundError` if there is none."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IndexNotFoundError(
                f"no index at {self.path} (build one with: storycluster index PATH --index {self.path})"
            ) from None
        return Manifest.from_json(text, self.manifest_path)

    def file(self, manifest: Manifest, part: str) -> Path:
        """Path of one part (``database``, ``articles``, ``paragraphs``) of the manifest's generation."""
        return self.path / manifest.files[part]

    def create(self, model: str, dimension: int, article_vector: str, backend: str) -> None:
        """Publish generation 1 of a new, empty index (the caller holds the writer lock)."""
        Snapshot.create(self, model, dimension, article_vector, backend)

    def open_snapshot(self, *, writable: bool = False) -> Snapshot:
        """The current generation (see :meth:`Snapshot.open`)."""
        return Snapshot.open(self, writable=writable)

    def close(self) -> None:
        """Nothing to release: a directory holds no open handle between calls."""

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
        """Make ``manifest`` current with an atomic rename, then drop generations older than the last."""
        for part in manifest.files:
            if not self.file(manifest, part).is_file():
                raise IndexCorruptError(f"refusing to publish: {manifest.files[part]} is missing")
        manifest = replace(
            manifest,
            sizes={part: self.file(manifest, part).stat().st_size for part in manifest.files},
            checksums={part: file_checksum(self.file(manifest, part)) for part in manifest.files},
        )
        temporary = self.path / f".{MANIFEST}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        previous = self.manifest_path.read_bytes() if self.manifest_path.is_file() else None
        os.replace(temporary, self.manifest_path)
        try:
            _fsync_directory(self.path)
        except BaseException:
            # The switch is not known to be durable: put the previous manifest back, so that a publish
            # that raised never leaves its generation current (the caller then removes its files).
            self._restore_manifest(previous)
            raise
        self.remove_leftovers()

    def _restore_manifest(self, previous: bytes | None) -> None:
        """Best effort: make ``previous`` (None: no manifest) the manifest again after a failed publish."""
        with contextlib.suppress(OSError):
            if previous is None:
                self.manifest_path.unlink(missing_ok=True)
                return
            temporary = self.path / f".{MANIFEST}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(previous)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.manifest_path)
            _fsync_directory(self.path)

    def remove_leftovers(self) -> None:
        """Delete temporary files and generation files that are neither current nor the one before.

        The previous generation is kept so that a reader which read the old manifest a moment ago can
        still open its files.
        """
        current = self.read_manifest().generation if self.exists() else 0
        for entry in self.path.iterdir():
            match = _GENERATION_FILE.match(entry.name)
            stale = match is not None and int(match.group(1)) not in (current, current - 1)
            if stale or entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
