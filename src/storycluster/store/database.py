"""SQL storage of articles and paragraphs; row keys are the keys of their vectors.

The statements run on SQLite and, through ``postgres.py``'s connection adapter (which turns ``?`` into
``%s``), on PostgreSQL: they keep to the SQL both understand (``RETURNING``, ``ON CONFLICT``, ``TRUE``).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..records import Article
from ..text.language import article_language
from ..text.lexical import count_names, lexical_text, pack
from .manifest import utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT,
    text TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    added TEXT NOT NULL,
    terms BLOB NOT NULL,
    duplicate_of TEXT,
    lang TEXT,
    names BLOB
);
CREATE TABLE IF NOT EXISTS paragraphs (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    article INTEGER NOT NULL REFERENCES articles(key) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_article ON paragraphs(article);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_lang ON articles(lang);
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    headline TEXT,
    keywords TEXT NOT NULL DEFAULT '[]',
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS story_members (
    article INTEGER PRIMARY KEY REFERENCES articles(key) ON DELETE CASCADE,
    story TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS story_members_story ON story_members(story);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Connection(Protocol):
    """What :class:`Database` needs of a connection: ``sqlite3.Connection``, or ``postgres.py``'s adapter."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Filters:
    """Restrictions on which articles a query may return."""

    sources: tuple[str, ...] = ()
    exclude_sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    languages: tuple[str, ...] = ()
    exclude_languages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.sources or self.exclude_sources or self.since or self.until or self.languages
            or self.exclude_languages
        )

    def where(self, *, has_lang: bool = True) -> tuple[str, list[str]]:
        """An SQL condition on the ``articles`` table and its parameters.

        ``has_lang`` False: the table predates the ``lang`` column (a generation written before languages
        were kept and not written to since), so no article has a known language.
        """
        clauses, params = ["TRUE"], []
        for column, included, excluded in (
            ("source", self.sources, self.exclude_sources),
            ("lang" if has_lang else "NULL", self.languages, self.exclude_languages),
        ):
            if included:
                clauses.append(f"{column} IN ({', '.join('?' * len(included))})")
                params.extend(included)
            if excluded:
                clauses.append(f"({column} IS NULL OR {column} NOT IN ({', '.join('?' * len(excluded))}))")
                params.extend(excluded)
        if self.since:
            clauses.append("published >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("published <= ?")
            params.append(self.until)
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class StoredParagraph:
    """A paragraph row: its key, the key of its article, its position in the article and its text."""

    key: int
    article: int
    position: int
    text: str


class Database:
    """Typed queries over one generation's tables (a SQLite file, or a PostgreSQL database)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def create_schema(self) -> None:
        """Create the tables of a new index."""
        self.connection.executescript(SCHEMA)

    @functools.cached_property
    def columns(self) -> frozenset[str]:
        """The columns of the articles table (indexes written by older versions lack the newer ones)."""
        cursor = self.connection.execute("SELECT * FROM articles WHERE FALSE")
        return frozenset(column[0] for column in cursor.description)

    @property
    def has_lang(self) -> bool:
        """Whether the articles table has the ``lang`` column (indexes written before it existed do not)."""
        return "lang" in self.columns

    def upgrade(self) -> None:
        """Bring a writable database written by an older version up to the current schema.

        Adds the ``lang`` column and fills it in for the stored articles (identified from their text, as
        new articles are), so an old index becomes filterable by language the first time it is written to;
        adds the ``names`` column and counts the stored articles' names and numbers, as a new article's are.
        """
        columns = self.columns
        if "lang" not in columns:
            self.connection.execute("ALTER TABLE articles ADD COLUMN lang TEXT")
            self.connection.execute("CREATE INDEX IF NOT EXISTS articles_lang ON articles(lang)")
            self._fill("lang", lambda rows: [article_language(title, text) for title, text in rows])
        if "names" not in columns:
            blob = "BLOB" if isinstance(self.connection, sqlite3.Connection) else "BYTEA"
            self.connection.execute(f"ALTER TABLE articles ADD COLUMN names {blob}")
            self._fill("names", lambda rows: [pack(row) for row in count_names([lexical_text(*r) for r in rows])])
        self.__dict__.pop("columns", None)

    def _fill(self, column: str, values: Callable[[list[tuple[str | None, str]]], list[Any]]) -> None:
        """Set ``column`` of every article to ``values`` of the (title, text) of a chunk of articles."""
        keys = [int(key) for (key,) in self.connection.execute("SELECT key FROM articles").fetchall()]
        for chunk in _chunks(keys, 10_000):
            rows = list(self._select_in("SELECT key, title, text FROM articles WHERE key IN ({marks})", chunk))
            found = values([(title, text) for _, title, text in rows])
            self.connection.executemany(
                f"UPDATE articles SET {column} = ? WHERE key = ?", list(zip(found, (int(row[0]) for row in rows)))
            )

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def _select_in(self, sql: str, values: Iterable) -> Iterator[sqlite3.Row]:
        """Rows of ``sql`` whose ``{marks}`` takes ``values``, in chunks under SQLite's parameter limit."""
        for chunk in _chunks([v if isinstance(v, str) else int(v) for v in values]):
            yield from self.connection.execute(sql.format(marks=", ".join("?" * len(chunk))), chunk)

    # -- writing -----------------------------------------------------------------------------------

    def versions(self, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """The stored content hash and language of each of ``ids`` that exists."""
        found: dict[str, tuple[str, str | None]] = {}
        lang = "lang" if self.has_lang else "NULL"
        rows = self._select_in(f"SELECT id, content_hash, {lang} FROM articles WHERE id IN ({{marks}})", ids)
        found.update({row[0]: (row[1], row[2]) for row in rows})
        return found

    def delete_articles(self, ids: Sequence[str]) -> tuple[list[int], list[int], list[bytes]]:
        """Delete articles (and their paragraphs) by id.

        Returns the removed article keys, paragraph keys and packed term counts.
        """
        article_keys: list[int] = []
        paragraph_keys: list[int] = []
        terms: list[bytes] = []
        for chunk in _chunks(list(ids)):
            marks = ", ".join("?" * len(chunk))
            for key, blob in self.connection.execute(f"SELECT key, terms FROM articles WHERE id IN ({marks})", chunk):
                article_keys.append(key)
                terms.append(blob)
            paragraph_keys += [
                r[0] for r in self.connection.execute(
                    f"SELECT p.key FROM paragraphs p JOIN articles a ON a.key = p.article WHERE a.id IN ({marks})", chunk
                )
            ]
            self.connection.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk)
        return article_keys, paragraph_keys, terms

    def insert_article(
        self, article: Article, paragraphs: Sequence[str], terms: bytes, names: bytes
    ) -> tuple[int, list[int]]:
        """Insert one article, its packed term and name counts and its paragraphs; returns the article and
        paragraph keys."""
        row = self.connection.execute(
            "INSERT INTO articles (id, title, text, source, url, published, extra, content_hash, added, terms, lang,"
            " names) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING key",
            (
                article.id, article.title, article.text, article.source, article.url, article.published,
                json.dumps(article.extra, ensure_ascii=False, default=str), article.content_hash, utc_now(), terms,
                article.lang, names,
            ),
        ).fetchone()
        article_key = int(row[0])
        paragraph_keys = []
        for position, text in enumerate(paragraphs):
            row = self.connection.execute(
                "INSERT INTO paragraphs (article, position, text) VALUES (?, ?, ?) RETURNING key",
                (article_key, position, text),
            ).fetchone()
            paragraph_keys.append(int(row[0]))
        return article_key, paragraph_keys

    # -- reading -----------------------------------------------------------------------------------

    # -- stories -----------------------------------------------------------------------------------

    def replace_stories(
        self,
        stories: Sequence[tuple[str, str | None, Sequence[str], Sequence[int]]],
        replaced: Iterable[str] | None = None,
    ) -> None:
        """Store ``(story id, headline, keywords, member article keys)`` per story.

        ``replaced`` names the stored stories the new ones take the place of (all of them when None);
        the members of the new stories leave whatever story they were in.
        """
        if replaced is None:
            self.connection.execute("DELETE FROM story_members")
            self.connection.execute("DELETE FROM stories")
        else:
            for chunk in _chunks(list(replaced)):
                self.connection.execute(f"DELETE FROM stories WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            for chunk in _chunks([int(k) for _, _, _, members in stories for k in members]):
                self.connection.execute(
                    f"DELETE FROM story_members WHERE article IN ({', '.join('?' * len(chunk))})", chunk
                )
            self.drop_empty_stories()
        now = utc_now()
        for story_id, headline, keywords, members in stories:
            self.connection.execute(
                "INSERT INTO stories (id, headline, keywords, updated) VALUES (?, ?, ?, ?)",
                (story_id, headline, json.dumps(list(keywords), ensure_ascii=False), now),
            )
            self.connection.executemany(
                "INSERT INTO story_members (article, story) VALUES (?, ?)", [(int(k), story_id) for k in members]
            )

    def drop_empty_stories(self) -> None:
        """Delete stories left without members (after their articles were removed or moved)."""
        self.connection.execute("DELETE FROM stories WHERE id NOT IN (SELECT DISTINCT story FROM story_members)")

    def members(self, story_ids: Iterable[str]) -> list[int]:
        """The article keys of the given stories."""
        found: list[int] = []
        found.extend(int(r[0]) for r in self._select_in("SELECT article FROM story_members WHERE story IN ({marks})", story_ids))
        return found

    def story_sizes(self, story_ids: Iterable[str]) -> dict[str, int]:
        """How many articles each of the given stories holds."""
        rows = self._select_in("SELECT story, COUNT(*) FROM story_members WHERE story IN ({marks}) GROUP BY story", story_ids)
        return {str(s): int(c) for s, c in rows}

    def set_duplicate(self, key: int, original: str) -> None:
        """Record that the article with ``key`` copies the article with id ``original``."""
        self.connection.execute("UPDATE articles SET duplicate_of = ? WHERE key = ?", (original, int(key)))

    def originals(self, keys: Iterable[int]) -> dict[int, str]:
        """For each of ``keys`` that is a copy, the id of the article it copies."""
        found: dict[int, str] = {}
        rows = self._select_in("SELECT key, duplicate_of FROM articles WHERE duplicate_of IS NOT NULL AND key IN ({marks})", keys)
        found.update({int(k): d for k, d in rows})
        return found

    def has_stories(self) -> bool:
        """Whether any article belongs to a story."""
        return self.connection.execute("SELECT 1 FROM story_members LIMIT 1").fetchone() is not None

    def memberships(self) -> dict[int, str]:
        """The story of every clustered article, by article key."""
        return {int(a): s for a, s in self.connection.execute("SELECT article, story FROM story_members")}

    def stories_of(self, article_keys: Iterable[int]) -> dict[int, str]:
        """The story of each of ``article_keys`` that belongs to one."""
        found: dict[int, str] = {}
        rows = self._select_in("SELECT article, story FROM story_members WHERE article IN ({marks})", article_keys)
        found.update({int(a): s for a, s in rows})
        return found

    def story_rows(self) -> list[sqlite3.Row]:
        """Every stored story with its headline and keywords."""
        return list(self.connection.execute("SELECT id, headline, keywords FROM stories ORDER BY id"))

    def get_meta(self, key: str) -> str | None:
        """The value stored under ``key`` in the ``meta`` table, or None."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        """Store each of ``values`` under its key in the ``meta`` table (replacing what was there)."""
        self.connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    def ids_by_url(self, urls: Iterable[str]) -> dict[str, str]:
        """The id of the article stored with each of ``urls`` that is in the index."""
        found: dict[str, str] = {}
        found.update({row["url"]: row["id"] for row in self._select_in("SELECT url, id FROM articles WHERE url IN ({marks})", urls)})
        return found

    def next_story_number(self, reserve: int) -> int:
        """The first of ``reserve`` new story numbers, never handed out before in this index."""
        row = self.connection.execute("SELECT value FROM meta WHERE key = 'next_story'").fetchone()
        first = int(row[0]) if row else 1
        self.connection.execute(
            "INSERT INTO meta (key, value) VALUES ('next_story', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(first + reserve),),
        )
        return first

    def story_counts(self) -> dict[str, int]:
        """How many stories there are and how many articles belong to one."""
        stories = self.connection.execute("SELECT COUNT(DISTINCT story), COUNT(*) FROM story_members").fetchone()
        return {"stories": int(stories[0]), "clustered": int(stories[1])}

    def counts(self) -> dict[str, int]:
        """The counts a manifest records: articles, paragraphs, stories and clustered articles."""
        return {"articles": self.count("articles"), "paragraphs": self.count("paragraphs"), **self.story_counts()}

    def count(self, table: str) -> int:
        """Number of rows in ``table`` (``articles`` or ``paragraphs``)."""
        if table not in ("articles", "paragraphs"):
            raise ValueError(table)
        return int(self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def article_key(self, article_id: str) -> int | None:
        """The row key of an article id, or None."""
        row = self.connection.execute("SELECT key FROM articles WHERE id = ?", (article_id,)).fetchone()
        return None if row is None else int(row[0])

    def copy_groups(self, keys: Iterable[int]) -> dict[int, tuple[str, str | None]]:
        """Each article's id and the id of the article it copies (None if it is no copy), by row key."""
        found: dict[int, tuple[str, str | None]] = {}
        rows = self._select_in("SELECT key, id, duplicate_of FROM articles WHERE key IN ({marks})", keys)
        found.update({int(k): (i, d) for k, i, d in rows})
        return found

    def articles(self, keys: Iterable[int]) -> dict[int, Article]:
        """Articles by row key (keys that do not exist are left out)."""
        found: dict[int, Article] = {}
        lang = "lang" if self.has_lang else "NULL AS lang"
        rows = self._select_in(
            f"SELECT key, id, title, text, source, url, published, extra, {lang} FROM articles WHERE key IN ({{marks}})",
            keys,
        )
        found.update({int(row["key"]): _article(row) for row in rows})
        return found

    def terms_and_languages(self, keys: Sequence[int]) -> tuple[list[bytes], list[str | None]]:
        """Packed term counts and language (None where unknown) of the articles with ``keys``, in that order."""
        return self._two_columns("terms", "lang" if self.has_lang else "NULL", keys)

    def term_and_name_counts(self, keys: Sequence[int]) -> tuple[list[bytes], list[bytes]]:
        """Packed term counts and name and number counts (:func:`.text.lexical.count_names`) of the articles
        with ``keys``, in that order, in one read (no names for a row an older version wrote after
        :meth:`upgrade`)."""
        terms, names = self._two_columns("terms", "names", keys)
        return terms, [blob or b"" for blob in names]

    def _two_columns(self, first: str, second: str, keys: Sequence[int]) -> tuple[list[Any], list[Any]]:
        """The values of two ``articles`` columns (SQL expressions) for ``keys``, in that order, in one read."""
        found = {int(key): (a, b) for key, a, b in self._select_in(
            f"SELECT key, {first}, {second} FROM articles WHERE key IN ({{marks}})", keys
        )}
        pairs = [found[int(key)] for key in keys]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def paragraphs_of(self, article_keys: Iterable[int]) -> dict[int, list[StoredParagraph]]:
        """The paragraphs of each article, in order."""
        found: dict[int, list[StoredParagraph]] = {}
        rows = self._select_in(
            "SELECT key, article, position, text FROM paragraphs WHERE article IN ({marks}) ORDER BY article, position",
            article_keys,
        )
        for row in rows:
            found.setdefault(int(row["article"]), []).append(StoredParagraph(*row))
        return found

    def paragraph_keys_of(self, article_keys: Iterable[int]) -> dict[int, list[int]]:
        """The keys of each article's paragraphs, in order (without reading their texts).

        An article's paragraphs are inserted in order, so their keys ascend with their positions: ordered by
        key, the query reads the index on ``article`` alone and no table row: 0.25 s instead of 1.5-2.0 s for
        the 165,000 paragraphs of 35,000 articles of a million-article index (``ORDER BY article, position``).
        """
        found: dict[int, list[int]] = {}
        rows = self._select_in(
            "SELECT key, article FROM paragraphs WHERE article IN ({marks}) ORDER BY article, key", article_keys
        )
        for key, article in rows:
            found.setdefault(int(article), []).append(int(key))
        return found

    def paragraphs(self, keys: Iterable[int]) -> dict[int, StoredParagraph]:
        """Paragraphs by row key."""
        found: dict[int, StoredParagraph] = {}
        rows = self._select_in("SELECT key, article, position, text FROM paragraphs WHERE key IN ({marks})", keys)
        found.update({int(row["key"]): StoredParagraph(*row) for row in rows})
        return found

    def article_keys(self, filters: Filters) -> np.ndarray:
        """Keys of the articles that pass ``filters``."""
        where, params = filters.where(has_lang=self.has_lang)
        rows = self.connection.execute(f"SELECT key FROM articles WHERE {where}", params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def paragraph_keys(self, filters: Filters) -> np.ndarray:
        """Keys of the paragraphs of the articles that pass ``filters``."""
        where, params = filters.where(has_lang=self.has_lang)
        rows = self.connection.execute(
            f"SELECT p.key FROM paragraphs p JOIN articles ON articles.key = p.article WHERE {where}", params
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"], text=row["text"], title=row["title"], source=row["source"], url=row["url"],
        published=row["published"], extra=json.loads(row["extra"]), lang=row["lang"],
    )


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def connect(path: Path, *, readonly: bool, wal: bool = True) -> sqlite3.Connection:
    """Open an index database; read-only connections cannot change the published generation.

    A writable one puts the database in WAL mode (``wal``), where readers keep reading the generation
    they opened while a writer commits the next, and every commit is flushed to disk.
    """
    if readonly:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
        connection.execute("PRAGMA synchronous=FULL")
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys=ON")
    return connection
