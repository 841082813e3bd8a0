"""``storycluster check``: verify that an index's manifest, files, vector sets and rows agree."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from ..errors import StoreUnavailableError, StoryclusterError
from .base import IndexSnapshot, open_store
from .directory import IndexDirectory
from .manifest import file_checksum
from .snapshot import legacy_state
from .state import VECTOR_PARTS


def check_index(path: str | Path) -> list[str]:
    """Every problem found in the index at ``path`` (an empty list when it is sound).

    For a directory, checks that the manifest parses, SQLite passes its integrity check, and the
    generation's files exist with their recorded SHA-256 checksums. For both kinds of store, that
    every vector set has exactly one vector per row (articles, headlines, paragraphs), every story
    member exists and the term frequencies add up. An unreachable database raises
    :class:`StoreUnavailableError` rather than counting as a problem of the index.
    """
    store = open_store(path)
    try:
        problems = _file_problems(store) if isinstance(store, IndexDirectory) else []
        if problems:
            return problems
        try:
            snapshot = store.open_snapshot()
        except StoreUnavailableError:
            raise
        except StoryclusterError as exc:
            return [str(exc)]
        try:
            return _agreement(snapshot)
        finally:
            snapshot.close()
    finally:
        store.close()


def _file_problems(directory: IndexDirectory) -> list[str]:
    """What is wrong with a directory's manifest, database and files, before they are opened."""
    try:
        manifest = directory.read_manifest(state=False)
    except StoryclusterError as exc:
        return [str(exc)]
    name = manifest.files.get("database")
    if name is None or not (directory.path / name).is_file():
        return [f"{name or 'database'}: missing"]
    try:
        connection = sqlite3.connect(f"file:{directory.path / name}?mode=ro", uri=True)
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        connection.close()
    except sqlite3.DatabaseError as exc:
        return [f"{name}: not a readable SQLite database ({exc})"]
    if verdict != "ok":
        return [f"{name}: SQLite integrity check failed: {verdict}"]
    try:
        state = legacy_state(manifest) if manifest.format_version == 1 else directory.read_state(manifest)
    except StoryclusterError as exc:
        return [str(exc)]
    problems = []
    for record in [state.terms, *(s for part in VECTOR_PARTS for s in state.segments[part])]:
        file = directory.path / record.file
        if not file.is_file():
            problems.append(f"{record.file}: missing")
        elif record.checksum not in (None, file_checksum(file)):
            problems.append(f"{record.file}: checksum differs from the one recorded (damaged or changed since written)")
    return problems


def _agreement(snapshot: IndexSnapshot) -> list[str]:
    db = snapshot.db.connection
    problems = []
    expected = {
        "articles": {r[0] for r in db.execute("SELECT key FROM articles")},
        "titles": {r[0] for r in db.execute("SELECT key FROM articles WHERE title IS NOT NULL")},
        "paragraphs": {r[0] for r in db.execute("SELECT key FROM paragraphs")},
    }
    for part, keys in expected.items():
        stored = snapshot.__getattribute__(part).keys()
        if len(stored) != len(set(stored.tolist())) or set(stored.tolist()) != keys:
            problems.append(f"{part}: {len(stored)} vectors for {len(keys)} rows, or other keys")
    orphans = db.execute("SELECT COUNT(*) FROM story_members WHERE article NOT IN (SELECT key FROM articles)").fetchone()[0]
    if orphans:
        problems.append(f"stories: {orphans} members are not in the index")
    if int(snapshot.df.sum()) != sum(len(blob) // 8 for (blob,) in db.execute("SELECT terms FROM articles")):
        problems.append("term frequencies do not add up to the stored term counts")
    if np.any(snapshot.df < 0):
        problems.append("negative term frequencies")
    return problems
