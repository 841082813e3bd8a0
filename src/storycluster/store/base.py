"""Where an index lives: a directory (SQLite + FAISS files) or a PostgreSQL database (pgvector).

:class:`StoryIndex` and the story and duplicate code talk to a store and its snapshots only through the
two protocols below, so both kinds of store run the same logic:

- :class:`IndexStore` (``store.IndexDirectory``, ``postgres.PostgresStore``): whether an index exists,
  its manifest, the writer lock, creating an empty index, opening the current generation.
- :class:`IndexSnapshot` (``snapshot.Snapshot``, ``postgres.PostgresSnapshot``): one generation's
  database (:class:`~storycluster.database.Database`), its three vector sets, its term frequencies, and
  ``next_generation()``, which builds and publishes the next generation atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from ..text.lexical import TermWeights
    from .database import Database
    from .manifest import Manifest
    from .vectors import Filler

URL_SCHEMES = ("postgresql://", "postgres://")


class Vectors(Protocol):
    """Unit vectors under int64 keys, searched by inner product (``vectors.VectorSet``, ``postgres.PgVectorSet``)."""

    def __len__(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray, *, fill: Filler = ...) -> None: ...

    def remove(self, keys: Iterable[int]) -> None: ...

    def keys(self) -> np.ndarray: ...

    def vectors(self, keys: Iterable[int] | None = None) -> np.ndarray: ...

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


class IndexSnapshot(Protocol):
    """One published generation of an index, and for a writer the way to the next one."""

    manifest: Manifest
    db: Database
    articles: Vectors
    titles: Vectors
    paragraphs: Vectors
    df: np.ndarray

    @property
    def term_weights(self) -> TermWeights: ...

    def next_generation(self, *, vectors_changed: bool) -> contextlib.AbstractContextManager[Database]: ...

    def close(self) -> None: ...


class IndexStore(Protocol):
    """An index's home: its manifest, its writer lock and its generations."""

    @property
    def path(self) -> str | Path: ...

    def exists(self) -> bool: ...

    def read_manifest(self) -> Manifest: ...

    def writing(self) -> contextlib.AbstractContextManager[None]: ...

    def create(self, model: str, dimension: int, article_vector: str, backend: str, export_format: int = 0) -> None: ...

    def open_snapshot(self, *, writable: bool = False) -> IndexSnapshot: ...

    def close(self) -> None: ...


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a directory."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def open_store(location: str | Path) -> IndexStore:
    """The store at ``location``: a ``postgresql://`` URL or a directory path.

    psycopg is imported only for a URL, so a directory index never needs the ``[postgres]`` extra.
    """
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(str(location))
    from .directory import IndexDirectory

    return IndexDirectory(location)


def resolve_location(location: str | Path) -> str:
    """``location`` as another process can use it: an absolute directory path, or the URL unchanged."""
    return str(location) if is_database_url(location) else str(Path(location).resolve())
