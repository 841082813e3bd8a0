"""The generation record of an index directory, kept in its database and committed with its rows.

Format 2 directories change their one SQLite database in place: the commit of a write is its publish
point. In the same transaction the writer stores this record (the ``meta`` row ``store``): the generation
number, the counts, the segment files of each vector set, the term frequency file, and the files the
generation stopped using (deleted once the generation after it is published, so a reader that opened the
previous one a moment ago still finds them). Removed vectors are listed in the ``tombstones`` table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np

from .database import Database
from .segments import Segment

STATE_KEY = "store"
VECTOR_PARTS = ("articles", "titles", "paragraphs")


@dataclass(frozen=True)
class State:
    """What one published generation of a format 2 directory consists of."""

    generation: int
    updated: str
    terms: Segment
    segments: dict[str, list[Segment]]
    counts: dict[str, int] = field(default_factory=dict)
    retired: list[tuple[int, str]] = field(default_factory=list)

    def files(self) -> list[str]:
        """The files this generation reads, besides the database."""
        return [self.terms.file, *(s.file for part in VECTOR_PARTS for s in self.segments[part])]

    def to_json(self) -> str:
        """The record as stored in the ``meta`` table."""
        return json.dumps({
            "generation": self.generation, "updated": self.updated, "terms": self.terms.to_json(),
            "segments": {part: [s.to_json() for s in self.segments[part]] for part in VECTOR_PARTS},
            "counts": self.counts, "retired": [list(r) for r in self.retired],
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> State:
        """Parse a stored record."""
        data = json.loads(text)
        return cls(
            generation=int(data["generation"]), updated=data["updated"], terms=Segment(**data["terms"]),
            segments={part: [Segment(**s) for s in data["segments"][part]] for part in VECTOR_PARTS},
            counts=data["counts"], retired=[(int(g), str(f)) for g, f in data["retired"]],
        )

    def next(self, **changes) -> State:
        """A copy with ``changes``."""
        return replace(self, **changes)


def read_state(db: Database) -> State | None:
    """The record committed in ``db`` (None for a database of a format 1 directory)."""
    text = db.get_meta(STATE_KEY)
    return None if text is None else State.from_json(text)


def write_state(db: Database, state: State) -> None:
    """Store ``state`` in the transaction being written."""
    db.set_meta({STATE_KEY: state.to_json()})


def tombstones(db: Database, part: str) -> np.ndarray:
    """The removed keys whose vectors are still in a segment of ``part``, sorted."""
    rows = db.connection.execute("SELECT key FROM tombstones WHERE part = ? ORDER BY key", (part,))
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def bury(db: Database, part: str, keys: list[int], merged: tuple[int, int] | None) -> None:
    """Record ``keys`` as removed from ``part``, and forget those of the key range ``merged`` (rewritten without them)."""
    db.connection.executemany("INSERT OR IGNORE INTO tombstones (part, key) VALUES (?, ?)", [(part, k) for k in keys])
    if merged is not None:
        db.connection.execute("DELETE FROM tombstones WHERE part = ? AND key BETWEEN ? AND ?", (part, *merged))


TOMBSTONES_SCHEMA = """
CREATE TABLE IF NOT EXISTS tombstones (
    part TEXT NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (part, key)
) WITHOUT ROWID;
"""
