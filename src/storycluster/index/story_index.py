"""``StoryIndex``: the public API over one index, a directory or a PostgreSQL database (add, query, stories)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from ..embed.article_vectors import WHOLE_OR_PARAGRAPHS, article_text, derived, embeds_whole
from ..embed.embedder import ONNX_INT8, Embedder, canonical_model_name
from ..errors import IndexNotFoundError, ModelMismatchError, StoryclusterError
from ..ingest.reader import parse_date
from ..records import Article, IndexInfo, Match, Story, StoryCoverage
from ..store.base import IndexSnapshot, IndexStore, open_store
from ..store.database import Filters, StoredParagraph
from ..store.vectors import Filler, fill_in_place
from ..stories.appended import Appended
from ..stories.copies import mark_copies
from ..text.language import article_language, detect_language, normalise_language
from ..text.lexical import (
    count_names,
    count_terms,
    document_frequencies,
    dot_rows,
    lexical_text,
    pack,
    unpack,
)
from ..text.paragraphs import split_paragraphs

Level = Literal["article", "paragraph"]
COMMIT_EVERY = 1000
log = logging.getLogger(__name__)
_STATE = "state."  # prefix of the meta keys that hold add()'s named state
COPY_OVERFETCH = 4
DENSE_WEIGHT = 0.5
RERANK_CANDIDATES = 100

Encoder = Callable[[Sequence[str], Callable[[int], None] | None], np.ndarray]
"""Embeds texts into unit float32 vectors, calling its second argument with counts of texts done
(the signature of :meth:`Embedder.encode`)."""


@dataclass(frozen=True)
class _Embedded:
    """The vectors of one article: its paragraphs, its headline (if any) and the whole article."""

    paragraphs: np.ndarray
    title: np.ndarray | None
    article: np.ndarray


@dataclass(frozen=True)
class AddReport:
    """What one :meth:`StoryIndex.add` call did."""

    added: int
    updated: int
    unchanged: int
    paragraphs: int
    seconds: float


class StoryIndex:
    """An index of news articles and their paragraphs: vectors in FAISS, text and metadata in SQLite, or all
    of it in PostgreSQL with pgvector (open a ``postgresql://`` URL).

    Example::

        from storycluster import StoryIndex, ArticleReader

        index = StoryIndex.open("indexes/default", create=True)
        index.add(ArticleReader().read(["seeds/"]))
        for match in index.similar("Who supplies weapons to Hezbollah?", k=3):
            print(match.score, match.title, match.paragraph)
    """

    def __init__(
        self, directory: IndexStore, embedder: Embedder, snapshot: IndexSnapshot, query_embedder: Embedder | None = None
    ) -> None:
        self.directory = directory
        self.embedder = embedder
        self.query_embedder = query_embedder or embedder
        self._snapshot = snapshot
        self._warned_of_export = False

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | Path, *, model: str | None = None, backend: str | None = None, create: bool = False
    ) -> StoryIndex:
        """Open the index at ``path`` (creating an empty one when ``create`` and there is none).

        ``path`` is a directory, or a ``postgresql://user@host:port/db`` URL of a database with pgvector
        (needs the ``[postgres]`` extra); both behave the same.

        ``model`` defaults to the index's own model; naming a different one raises
        :class:`ModelMismatchError`. A new index uses ``model`` or the default model.

        ``backend`` (``"torch"`` or ``"onnx-int8"``, else ``STORYCLUSTER_BACKEND``) embeds both queries and
        new articles. Without one, articles are embedded with the index's own backend (for a new index the
        fastest available: ``onnx-int8``, indexing at 2.1x torch fp32 with the same story grouping quality,
        see ``bench/fast_path.py`` and ``bench/stories.py``), and queries with the fastest available (no
        torch import, quick start). The two backends' vectors agree closely enough to mix (top-10
        neighbour overlap 0.92-0.99).
        """
        directory = open_store(path)
        try:
            return cls._open(directory, model=model, backend=backend, create=create)
        except BaseException:
            directory.close()
            raise

    @classmethod
    def _open(cls, directory: IndexStore, *, model: str | None, backend: str | None, create: bool) -> StoryIndex:
        if not directory.exists():
            if not create:
                raise IndexNotFoundError(
                    f"no index at {directory.path} (build one with: storycluster index PATH --index {directory.path})"
                )
            embedder = Embedder(model, backend=backend)
            with directory.writing():
                if not directory.exists():  # another process may have created it while we waited
                    directory.create(
                        embedder.model_name, embedder.dimension, WHOLE_OR_PARAGRAPHS, embedder.backend,
                        embedder.export_format,
                    )
        manifest = directory.read_manifest()
        if model is not None and canonical_model_name(model) != manifest.model:
            raise ModelMismatchError(
                f"{directory.path} was built with model {manifest.model!r}, not {canonical_model_name(model)!r}; "
                "query it with its own model or build a new index"
            )
        chosen = backend or os.environ.get("STORYCLUSTER_BACKEND")
        writer = Embedder(manifest.model, backend=chosen or manifest.backend)
        reader = writer if chosen else Embedder(manifest.model)
        return cls(directory, writer, directory.open_snapshot(), query_embedder=reader)

    def close(self) -> None:
        """Release the open files (or database connections)."""
        self._snapshot.close()
        self.directory.close()

    def __enter__(self) -> StoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> bool:
        """Switch to the newest published generation if a writer published one; True if it changed."""
        if self.directory.read_manifest().generation == self._snapshot.manifest.generation:
            return False
        self._reopen()
        return True

    def _reopen(self, *, writable: bool = False) -> None:
        old, self._snapshot = self._snapshot, self.directory.open_snapshot(writable=writable)
        old.close()

    # -- reading -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._snapshot.articles)

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and self._snapshot.db.article_key(_encodable(article_id)) is not None

    def get(self, article_id: str) -> Article:
        """The stored article with ``article_id``; raises :class:`KeyError` if there is none."""
        key = self._key(article_id)
        return self._snapshot.db.articles([key])[key]

    def paragraphs(self, article_id: str) -> list[str]:
        """The paragraphs an article was split into, in order."""
        key = self._key(article_id)
        return [p.text for p in self._snapshot.db.paragraphs_of([key]).get(key, [])]

    def article_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every article id and its vector (rows in the same order)."""
        keys = self._snapshot.articles.keys()
        articles = self._snapshot.db.articles(keys)
        return [articles[int(key)].id for key in keys], self._snapshot.articles.vectors()

    def title_vector(self, article_id: str) -> np.ndarray | None:
        """The vector of an article's headline, or None if it has none."""
        key = self._key(article_id)
        return self._snapshot.titles.vectors([key])[0] if self.get(article_id).title else None

    def paragraph_vectors(self, article_id: str) -> np.ndarray:
        """The vectors of an article's paragraphs, in paragraph order."""
        key = self._key(article_id)
        own = self._snapshot.db.paragraphs_of([key]).get(key, [])
        return self._snapshot.paragraphs.vectors(p.key for p in own)

    def info(self) -> IndexInfo:
        """The manifest and live counts."""
        m = self._snapshot.manifest
        return IndexInfo(
            path=str(self.directory.path), format_version=m.format_version, model=m.model, dimension=m.dimension,
            article_vector=m.article_vector, backend=m.backend, generation=m.generation, articles=len(self._snapshot.articles),
            paragraphs=len(self._snapshot.paragraphs), stories=m.counts.get("stories", 0),
            created=m.created, updated=m.updated,
        )

    # -- queries -------------------------------------------------------------------------------------

    def similar(
        self,
        text: str,
        *,
        k: int = 10,
        level: Level = "article",
        sources: Sequence[str] = (),
        exclude_sources: Sequence[str] = (),
        languages: Sequence[str] = (),
        exclude_languages: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        all_copies: bool = False,
    ) -> list[Match]:
        """Articles (or paragraphs, with ``level="paragraph"``) that report what ``text`` reports.

        Article scores mix the cosine of the article vectors with the TF-IDF cosine of their words
        (names, places and numbers tell one event from another of the same kind); ``paragraph_score`` is
        the cosine of the best-matching paragraph, shown as evidence. Wire copies of one text show once
        (the others listed in ``copies``) unless ``all_copies``.

        The query may be in any language: with the multilingual model, reports in other languages match
        (their words cannot, so for them the lexical part is estimated from the dense cosine, see
        :func:`_cross_language_lexical`). ``sources``/``exclude_sources`` and ``languages``/
        ``exclude_languages`` (ISO 639-1 codes, e.g. ``["pt"]``) keep or drop outlets and languages.
        """
        if not text.strip():
            raise StoryclusterError("the query text is empty")
        text = _encodable(text)
        embedder = self.query_embedder
        paragraphs = split_paragraphs(text, max_words=embedder.max_words) or [text]
        (query,) = self._embed(
            [Article(id="query", text=text)], [paragraphs], None, embedder.encode, embedder.max_words
        )
        filters = _filters(sources, exclude_sources, languages, exclude_languages, since, until)
        terms = count_terms([lexical_text(None, text)])
        return self._search(
            query.paragraphs, query.article, terms, lambda: detect_language(text), k=k, level=level,
            filters=filters, exclude=None, all_copies=all_copies,
        )

    def similar_to(
        self,
        article_id: str,
        *,
        k: int = 10,
        level: Level = "article",
        sources: Sequence[str] = (),
        exclude_sources: Sequence[str] = (),
        languages: Sequence[str] = (),
        exclude_languages: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        all_copies: bool = False,
    ) -> list[Match]:
        """Other articles (or their paragraphs) that report what the stored article ``article_id`` reports.

        Each match's ``same_story`` tells whether it belongs to the same stored story as ``article_id``.
        """
        key = self._key(article_id)
        own = self._snapshot.db.paragraph_keys_of([key]).get(key, [])
        vectors = self._snapshot.paragraphs.vectors(own)
        filters = _filters(sources, exclude_sources, languages, exclude_languages, since, until)
        (terms,), (lang,) = self._snapshot.db.terms_and_languages([key])
        query = self._snapshot.articles.vectors([key])[0]
        return self._search(
            vectors, query, unpack([terms]), lambda: lang, k=k, level=level, filters=filters, exclude=(key, own),
            all_copies=all_copies,
        )

    def _search(
        self, query_paragraphs, query_article, query_terms, query_language: Callable[[], str | None], *, k: int,
        level: Level, filters: Filters, exclude, all_copies: bool,
    ) -> list[Match]:
        if k < 1:
            raise StoryclusterError("k must be at least 1")
        if level not in ("article", "paragraph"):
            raise StoryclusterError(f"level must be 'article' or 'paragraph', not {level!r}")
        db = self._snapshot.db
        if level == "article":
            deny = np.array([exclude[0]], dtype=np.int64) if exclude else None
            allow = db.article_keys(filters) if filters else None
            ranked = self._rank_articles(query_article, query_terms, query_language, k, allow, deny)
            hits = [(key, score, []) for key, score in ranked[:k]] if all_copies else self._one_per_copies(ranked, k)
            matches = self._article_matches(hits, query_paragraphs)
        else:
            deny = np.array(exclude[1], dtype=np.int64) if exclude else None
            allow = db.paragraph_keys(filters) if filters else None
            fetch = k if all_copies else k * COPY_OVERFETCH
            scores, keys = self._snapshot.paragraphs.search(query_paragraphs, fetch, allow=allow, deny=deny)
            best: dict[int, float] = {}
            for key, score in zip(keys.ravel(), scores.ravel()):
                if key >= 0 and score > best.get(int(key), -np.inf):
                    best[int(key)] = float(score)
            matches = self._paragraph_matches(sorted(best.items(), key=lambda item: -item[1]))
            matches = (matches if all_copies else _without_copies(matches))[:k]
        if exclude is None:
            return matches
        own_story = db.stories_of([exclude[0]]).get(exclude[0])
        return [m.with_story(m.story, same_story=own_story is not None and m.story == own_story) for m in matches]

    def _rank_articles(self, query_article, query_terms, query_language, k, allow, deny) -> list[tuple[int, float]]:
        """Dense candidates from FAISS (at least ``k``), re-ranked by the mix of dense and TF-IDF cosine.

        Where the candidates are in several languages, those in another language than the query's take
        :func:`_cross_language_lexical` instead of their TF-IDF cosine (the query's language is identified
        only then).
        """
        snapshot = self._snapshot
        dense, keys = snapshot.articles.search(query_article, max(k, RERANK_CANDIDATES), allow=allow, deny=deny)
        found = keys[0] >= 0
        keys, dense = keys[0][found], dense[0][found]
        if not len(keys):
            return []
        weights = snapshot.term_weights
        terms, languages = snapshot.db.terms_and_languages(keys)
        lexical = dot_rows(weights.weigh(unpack(terms)), weights.weigh(query_terms))
        if len(set(languages) - {None}) > 1:  # candidates in several languages: words match only within one
            lang = query_language()
            if lang is not None:
                elsewhere = np.array([other is not None and other != lang for other in languages])
                lexical = np.where(elsewhere, _cross_language_lexical(dense), lexical)
        scores = DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * lexical
        order = np.argsort(-scores, kind="stable")
        return [(int(keys[i]), float(scores[i])) for i in order]

    def _one_per_copies(self, ranked: list[tuple[int, float]], k: int) -> list[tuple[int, float, list[str]]]:
        """The best-ranked article of each group of wire copies (first ``k`` groups), with the others' ids."""
        groups = self._snapshot.db.copy_groups(key for key, _ in ranked)
        kept: dict[str, tuple[int, float, list[str]]] = {}
        for key, score in ranked:
            article_id, original = groups[key]
            group = original or article_id
            if group in kept:
                kept[group][2].append(article_id)
            elif len(kept) < k:
                kept[group] = (key, score, [])
        return list(kept.values())

    def _article_matches(self, hits: list[tuple[int, float, list[str]]], query_paragraphs: np.ndarray) -> list[Match]:
        db = self._snapshot.db
        keys = [key for key, _, _ in hits]
        articles, paragraphs, stories = db.articles(keys), db.paragraphs_of(keys), db.stories_of(keys)
        originals = db.originals(keys)
        owned = [paragraphs.get(key, []) for key in keys]
        vectors = self._snapshot.paragraphs.vectors(p.key for own in owned for p in own)  # one read for all
        ends = np.cumsum([len(own) for own in owned])
        matches = []
        for (key, score, copies), own, end in zip(hits, owned, ends):
            evidence = vectors[end - len(own):end] @ query_paragraphs.T
            row = int(np.argmax(evidence.max(axis=1)))
            match = _match(articles[key], score, own[row], float(evidence[row].max()), stories.get(key), originals.get(key))
            matches.append(replace(match, copies=copies) if copies else match)
        return matches

    def _paragraph_matches(self, hits: list[tuple[int, float]]) -> list[Match]:
        db = self._snapshot.db
        paragraphs = db.paragraphs(key for key, _ in hits)
        owners = [paragraphs[key].article for key, _ in hits]
        articles, stories, originals = db.articles(owners), db.stories_of(owners), db.originals(owners)
        return [
            _match(articles[owner], score, paragraphs[key], score, stories.get(owner), originals.get(owner))
            for (key, score), owner in zip(hits, owners)
        ]

    def _key(self, article_id: str) -> int:
        key = self._snapshot.db.article_key(_encodable(article_id))
        if key is None:
            raise KeyError(article_id)
        return key

    # -- writing -------------------------------------------------------------------------------------

    def add(
        self,
        articles: Iterable[Article],
        *,
        progress: Callable[[int], None] | None = None,
        commit_every: int = COMMIT_EVERY,
        encode: Encoder | None = None,
        fill: Filler = fill_in_place,
        state: Mapping[str, str] | None = None,
    ) -> AddReport:
        """Add new articles and replace changed ones (same id, new content); unchanged ones are skipped.

        Each new article joins a story or opens one (the neighbourhood of the new articles is
        re-clustered), so the stored stories are current after every call. Work is committed every ``commit_every`` articles as a new generation, published atomically:
        an interrupted run keeps everything committed before it. ``progress`` is called with the number
        of paragraphs embedded after each batch.

        ``encode`` replaces ``self.embedder.encode`` (it must give the same model's vectors, e.g. the same
        :class:`Embedder` run elsewhere: :mod:`storycluster.engines.ray`); ``fill`` adds the vectors of a
        set that grows past the exact threshold to its new inverted file (see :meth:`VectorSet.add`).

        ``state`` holds named values committed in the same generation as the last of these articles (or
        alone, if no article changed), so that they are durable together or not at all: a feed follower
        keeps its feeds' positions there (see :mod:`storycluster.ingest.follow`). Read them with :meth:`state`.
        """
        started = time.perf_counter()
        totals = np.zeros(4, dtype=np.int64)
        pending = {_STATE + name: value for name, value in (state or {}).items()}
        with self.directory.writing():
            self._reopen(writable=True)
            try:
                for chunk, last in _last_marked(_batched(articles, commit_every), look_ahead=bool(pending)):
                    with_state = pending if last else {}  # the state goes with the last chunk
                    totals += self._add_chunk(chunk, progress, encode or self.embedder.encode, fill, with_state)
            finally:
                self._reopen()
        return AddReport(*map(int, totals), seconds=time.perf_counter() - started)

    def state(self, name: str) -> str | None:
        """The value last committed under ``name`` with :meth:`add` (None if never)."""
        return self._snapshot.db.get_meta(_STATE + name)

    def ids_by_url(self, urls: Iterable[str]) -> dict[str, str]:
        """The id of the stored article with each of ``urls`` that is in the index."""
        return self._snapshot.db.ids_by_url([_encodable(url) for url in urls])

    def _add_chunk(
        self, chunk: list[Article], progress: Callable[[int], None] | None, encode: Encoder, fill: Filler,
        state: dict[str, str],
    ) -> np.ndarray:
        from ..stories.stored import update_stories  # numba and the clustering load only for writers

        unique = {article.id: article for article in map(_normalised, chunk)}  # the last of duplicate ids wins
        stored = self._snapshot.db.versions(list(unique))
        todo = [a for a in unique.values() if _changed(a, stored.get(a.id))]
        if not todo:
            self._commit_state(state)
            return np.array([0, 0, len(unique), 0])
        self._warn_of_another_export(encode)
        todo = [a if a.lang else replace(a, lang=article_language(a.title, a.text)) for a in todo]
        split = [split_paragraphs(a.text, max_words=self.embedder.max_words) or [a.text] for a in todo]
        embedded = self._embed(todo, split, progress, encode, self.embedder.max_words)
        texts = [lexical_text(a.title, a.text) for a in todo]
        terms, names = count_terms(texts), count_names(texts)
        snapshot = self._snapshot
        try:
            with snapshot.next_generation(vectors_changed=True) as db:
                _delete(snapshot, db, [a.id for a in todo])
                snapshot.df = snapshot.df + document_frequencies(terms)
                added = []
                for row, (article, paragraphs, vectors) in enumerate(zip(todo, split, embedded)):
                    article_key, paragraph_keys = db.insert_article(
                        article, paragraphs, pack(terms[row]), pack(names[row])
                    )
                    added.append(article_key)
                    snapshot.paragraphs.add(np.array(paragraph_keys), vectors.paragraphs, fill=fill)
                    snapshot.articles.add(np.array([article_key]), vectors.article[None, :], fill=fill)
                    if vectors.title is not None:
                        snapshot.titles.add(np.array([article_key]), vectors.title[None, :], fill=fill)
                appended = Appended.search(snapshot, added)  # one search for the copies and the stories
                mark_copies(db, appended)
                update_stories(snapshot, db, appended)
                db.set_meta(state)
        finally:
            self._reopen(writable=True)
        updated = sum(a.id in stored for a in todo)
        return np.array([len(todo) - updated, updated, len(unique) - len(todo), sum(map(len, split))])

    def _warn_of_another_export(self, encode: Encoder) -> None:
        """Say once, on stderr, when the index's int8 vectors come from another export format than new ones.

        Only where this process embeds (``encode`` is the index's own); Ray's actors run this same code.
        """
        built = self._snapshot.manifest.export_format
        if (self._warned_of_export or not built or encode != self.embedder.encode
                or self.embedder.backend != ONNX_INT8):
            return
        self._warned_of_export = True
        if self.embedder.export_format != built:
            log.warning(
                "%s holds vectors of onnx-int8 export format %d; articles added now get format %d (close, "
                "not equal: see README, Known limits). Re-index from the source to make every vector alike.",
                self.directory.path, built, self.embedder.export_format,
            )

    def _commit_state(self, state: dict[str, str]) -> None:
        """Publish a generation that changes only ``state`` (none if it holds nothing new)."""
        if all(self._snapshot.db.get_meta(key) == value for key, value in state.items()):
            return
        try:
            with self._snapshot.next_generation(vectors_changed=False) as db:
                db.set_meta(state)
        finally:
            self._reopen(writable=True)

    def _embed(
        self, articles: list[Article], split: list[list[str]], progress: Callable[[int], None] | None,
        encode: Encoder, max_words: int,
    ) -> list[_Embedded]:
        """Embed every paragraph, headline and (where it fits the window) whole article in one batched call.

        Articles being added and query texts (an ``Article`` without a headline) go the same way, so a
        query's article vector is made like the stored ones.
        """
        method = self._snapshot.manifest.article_vector
        texts: list[str] = []
        spans = []
        for article, paragraphs in zip(articles, split):
            start = len(texts)
            texts.extend(paragraphs)
            if article.title:
                texts.append(article.title)
            whole = embeds_whole(method, article.title, article.text, max_words)
            if whole:
                texts.append(article_text(article.title, article.text, max_words))
            spans.append((start, len(paragraphs), article.title is not None, whole))
        vectors = encode(texts, progress)
        embedded = []
        for start, n, titled, whole in spans:
            paragraphs, title = vectors[start:start + n], vectors[start + n] if titled else None
            article = vectors[start + n + titled] if whole else derived(paragraphs, title)
            embedded.append(_Embedded(paragraphs, title, article))
        return embedded

    def remove(self, article_ids: Sequence[str]) -> list[str]:
        """Delete articles with their vectors, paragraphs and story membership; returns the ids removed.

        Ids not in the index are ignored (compare the result with what you asked for).
        """
        with self.directory.writing():
            self._reopen(writable=True)
            snapshot = self._snapshot
            try:
                with snapshot.next_generation(vectors_changed=True) as db:
                    removed = _delete(snapshot, db, list(dict.fromkeys(map(_encodable, article_ids))))
                    db.drop_empty_stories()
            finally:
                self._reopen()
        return removed

    # -- stories -------------------------------------------------------------------------------------

    def cluster(self) -> list[Story]:
        """Re-cluster every article into stories from scratch, store the grouping, and return the stories.

        Appends keep the stories current on their own (see :meth:`add`); this rebuilds them in one batch.
        Story ids stay the same where a story's membership carries over from the stored grouping.
        """
        from ..stories.stored import update_stories

        with self.directory.writing():
            self._reopen(writable=True)
            snapshot = self._snapshot
            try:
                with snapshot.next_generation(vectors_changed=False) as db:
                    update_stories(snapshot, db)
            finally:
                self._reopen()
        return self.stories()

    def stories(
        self, *, min_size: int = 1, since: str | None = None, until: str | None = None
    ) -> list[Story]:
        """The stored stories, largest first; ``since``/``until`` keep stories active in that window."""
        from ..stories.stored import load_stories

        window = _filters((), (), (), (), since, until)
        return load_stories(self._snapshot, min_size=min_size, since=window.since, until=window.until)

    def story(self, story_id: str) -> StoryCoverage:
        """One story's coverage: its articles and, for each, the paragraphs other outlets do not report."""
        from ..stories.stored import story_coverage

        return story_coverage(self._snapshot, story_id)

    def story_of(self, article_id: str) -> str | None:
        """The id of the stored story an article belongs to (None before the first clustering)."""
        key = self._key(article_id)
        return self._snapshot.db.stories_of([key]).get(key)


def _delete(snapshot: IndexSnapshot, db, article_ids: list[str]) -> list[str]:
    """Delete articles inside a generation being written: rows, vectors and term frequencies."""
    present = [i for i in article_ids if db.article_key(i) is not None]
    article_keys, paragraph_keys, terms = db.delete_articles(present)
    snapshot.articles.remove(article_keys)
    snapshot.titles.remove(article_keys)
    snapshot.paragraphs.remove(paragraph_keys)
    snapshot.df = snapshot.df - document_frequencies(unpack(terms))
    return present


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a command line, ``\\ud800`` in JSON) as U+FFFD.

    They cannot be encoded as UTF-8, so the tokenizer, hashing and SQLite would all fail on them.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _normalised(article: Article) -> Article:
    """The article with its date in ISO 8601 UTC and its language tag as stored (``"pt-BR"`` -> ``"pt"``; a
    value that is no language tag is dropped, so the language is identified); an unreadable date is an error
    naming the article."""
    strings = {name: getattr(article, name) for name in ("id", "text", "title", "source", "url")}
    cleaned = {name: _encodable(value) for name, value in strings.items() if isinstance(value, str)}
    if cleaned != {name: value for name, value in strings.items() if isinstance(value, str)}:
        article = replace(article, **cleaned)
    if article.lang is not None:
        lang = normalise_language(article.lang) if isinstance(article.lang, str) else None
        if lang != article.lang:
            article = replace(article, lang=lang)
    if article.published is None:
        return article
    try:
        return replace(article, published=parse_date(article.published))
    except ValueError:
        raise StoryclusterError(f"article {article.id!r}: unreadable date {article.published!r}") from None


def _changed(article: Article, stored: tuple[str, str | None] | None) -> bool:
    """Whether ``article`` is new or differs from its stored version (content, or a given language)."""
    if stored is None or stored[0] != article.content_hash:
        return True
    return article.lang is not None and article.lang != stored[1]


def _filters(
    sources: Sequence[str], exclude: Sequence[str], languages: Sequence[str], exclude_languages: Sequence[str],
    since: str | None, until: str | None,
) -> Filters:
    if until and len(until.strip()) == 10:  # a bare date: until the end of that day
        until = until.strip() + "T23:59:59"
    try:
        return Filters(
            sources=tuple(sources), exclude_sources=tuple(exclude),
            languages=_language_codes(languages), exclude_languages=_language_codes(exclude_languages),
            since=parse_date(since) if since else None, until=parse_date(until) if until else None,
        )
    except ValueError as exc:
        raise StoryclusterError(f"unreadable date {exc.args[0]!r} (use ISO 8601, e.g. 2024-05-31)") from None


def _cross_language_lexical(dense: np.ndarray) -> np.ndarray:
    """What stands in for the TF-IDF cosine of two texts in different languages: the dense cosine cubed.

    Their words cannot match, so a TF-IDF cosine of about zero would rank every report in another language
    below unrelated ones in the query's own. Measured through :meth:`StoryIndex.similar_to` on 3,239
    og2021_dev titles of 150 stories told in 2+ languages (multilingual model; ``bench/languages.py --parts
    ranking``): precision@5 / share of the title's same-story titles in other languages found in its top 10
    are 0.654 / 0.067 with the plain mix (zero), 0.605 / 0.419 with the dense cosine, 0.660 / 0.342 squared
    and 0.676 / 0.253 cubed: the cube ranks best and finds 3.8x the reports in other languages.
    """
    return np.clip(dense, 0.0, None) ** 3


def _language_codes(values: Sequence[str]) -> tuple[str, ...]:
    """Language filter values as stored (``"PT-br"`` -> ``"pt"``); a value that is no language tag is an error."""
    codes = []
    for value in values:
        code = normalise_language(value)
        if code is None:
            raise StoryclusterError(f"{value!r} is not a language code (use ISO 639-1, e.g. pt, en, ru)")
        codes.append(code)
    return tuple(codes)


def _match(
    article: Article, score: float, paragraph: StoredParagraph, paragraph_score: float, story: str | None,
    duplicate_of: str | None,
) -> Match:
    return Match(
        id=article.id, score=round(score, 4), title=article.title, source=article.source, url=article.url,
        published=article.published, paragraph=paragraph.text, paragraph_score=round(paragraph_score, 4),
        paragraph_index=paragraph.position, lang=article.lang, story=story, duplicate_of=duplicate_of,
    )


def _without_copies(matches: list[Match]) -> list[Match]:
    """Paragraph hits without those of wire copies of an article already hit (its own paragraphs stay)."""
    first: dict[str, str] = {}  # original id -> id of the first article of that group hit
    out = []
    for match in matches:
        group = match.duplicate_of or match.id
        if first.setdefault(group, match.id) == match.id:
            out.append(match)
    return out


def _last_marked(chunks: Iterator[list[Article]], *, look_ahead: bool) -> Iterator[tuple[list[Article], bool]]:
    """Each chunk and whether it is the last. With ``look_ahead`` the next chunk is read before one is handed
    out (so the last is known, and an empty input gives one empty chunk); without, none is marked last and
    each chunk is committed before the next is read."""
    if not look_ahead:
        yield from ((chunk, False) for chunk in chunks)
        return
    chunk = next(chunks, [])
    for following in chunks:
        yield chunk, False
        chunk = following
    yield chunk, True


def _batched(items: Iterable[Article], size: int) -> Iterator[list[Article]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
