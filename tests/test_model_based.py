"""Model-based tests (hypothesis): random add / update / remove / re-cluster / reopen / crash sequences.

A ``RuleBasedStateMachine`` drives a small real index (real FAISS, SQLite, manifest and generations)
against a plain dict of what it should hold. After every step: counts agree, ids map one to one (FAISS
keys equal SQLite keys, ``check_index`` is clean), every stored text is the last one added for its id,
every story's articles exist and each is in one story at most, and every stored article and paragraph
vector finds itself first. A simulated crash makes an append fail part of the way through its write
(an exception injected before or after one of its steps) and the index must be exactly as before.

For speed the embedding model is replaced, in THIS file only, by a deterministic hashing embedder
(``Embedder.encode``, ``dimension`` and ``max_words`` monkeypatched): the state machine tests storage,
not the model, which the rest of the suite tests for real. The reader, paragraph splitter and
``similar()`` fuzz tests at the end do use the real model.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import storycluster.index.story_index as index_module
from storycluster import Article, ArticleReader, Embedder, StoryclusterError, StoryIndex
from storycluster.store.check import check_index
from storycluster.text.paragraphs import split_paragraphs

DIMENSION = 32
WORDS = [
    "port", "flood", "strike", "fire", "storm", "mayor", "crane", "ship", "rain", "police", "bridge", "court",
    "Zürich", "Genève", "東京", "Кијев", "القاهرة", "naïve", "ﬁre", "e\u0301", "🚢", "x" * 40, "7.1", "2024",
]


def hashing_encode(self, texts, progress=None):
    """Unit vectors from hashed words: deterministic, and texts sharing words get similar vectors."""
    out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split() or [""]:
            seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8", "replace"), digest_size=8).digest(), "little")
            out[row] += np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
        out[row] /= max(float(np.linalg.norm(out[row])), 1e-6)
    if progress is not None:
        progress(len(texts))
    return out


def fake_embedder() -> ExitStack:
    stack = ExitStack()
    stack.enter_context(mock.patch.object(Embedder, "encode", hashing_encode))
    stack.enter_context(mock.patch.object(Embedder, "dimension", property(lambda self: DIMENSION)))
    stack.enter_context(mock.patch.object(Embedder, "max_words", property(lambda self: 30), create=True))
    return stack


ids = st.sampled_from([f"a{i}" for i in range(10)])
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=70).map(
    lambda words: " ".join(w if i % 17 else w + ".\n\n" for i, w in enumerate(words))
)
titles = st.none() | st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)
articles = st.builds(Article, id=ids, text=texts, title=titles, source=st.sampled_from(["s1", "s2", None]),
                     published=st.sampled_from([None, "2024-05-01", "2024-05-20T10:00:00Z"]))

CRASH_POINTS = [
    ("storycluster.store.segments.SegmentedVectors.next_segment", "before"),
    ("storycluster.store.segments.SegmentedVectors.next_segment", "after"),
    ("storycluster.store.vectors.VectorSet.save", "before"), ("storycluster.store.vectors.VectorSet.save", "after"),
    ("storycluster.store.snapshot.save_array", "before"), ("storycluster.store.snapshot.save_array", "after"),
    ("storycluster.store.snapshot.fsync_directory", "before"), ("storycluster.store.snapshot.write_state", "after"),
    ("storycluster.stories.stored.update_stories", "after"), ("storycluster.stories.copies.mark_copies", "before"),
]


class Injected(Exception):
    """The simulated crash."""


class IndexMachine(RuleBasedStateMachine):
    """A real index against a dict of id -> (text, title)."""

    def __init__(self) -> None:
        super().__init__()
        self.scratch = tempfile.mkdtemp(prefix="storycluster-model-")
        self.path = Path(self.scratch) / "index"
        self.index = StoryIndex.open(self.path, create=True)
        self.model: dict[str, tuple[str, str | None]] = {}

    def teardown(self) -> None:
        self.index.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    @rule(batch=st.lists(articles, min_size=1, max_size=4), commit_every=st.sampled_from([1, 2, 1000]))
    def add(self, batch, commit_every):
        report = self.index.add(batch, commit_every=commit_every)
        for article in batch:
            self.model[article.id] = (article.text, article.title)
        assert report.added + report.updated + report.unchanged <= len(batch)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), text=texts)
    def update(self, data, text):
        article_id = data.draw(st.sampled_from(sorted(self.model)))
        report = self.index.add([Article(id=article_id, text=text)])
        assert (report.added, report.updated + report.unchanged) == (0, 1)
        self.model[article_id] = (text, None)

    @rule(chosen=st.lists(ids, max_size=3), ghost=st.booleans())
    def remove(self, chosen, ghost):
        asked = chosen + (["never-added"] if ghost else [])
        removed = self.index.remove(asked)
        assert sorted(removed) == sorted({i for i in chosen if i in self.model})
        for article_id in removed:
            del self.model[article_id]

    @rule()
    def recluster(self):
        stories = self.index.cluster()
        assert sorted(a for s in stories for a in s.articles) == sorted(self.model)

    @rule()
    def reopen(self):
        self.index.close()
        self.index = StoryIndex.open(self.path)

    @rule(batch=st.lists(articles, min_size=1, max_size=3), point=st.sampled_from(CRASH_POINTS))
    def crash(self, batch, point):
        target, when = point
        before = (sorted(os.listdir(self.path)), self._answers())
        original = _resolve(target)

        calls = []

        def failing(*args, **kwargs):
            calls.append(target)
            if when == "after":
                original(*args, **kwargs)
            raise Injected(target)

        with ExitStack() as patches:
            patches.enter_context(mock.patch(target, failing))
            name = target.rpartition(".")[2]
            if hasattr(index_module, name):  # imported by name into index.py: patch that name too
                patches.enter_context(mock.patch.object(index_module, name, failing))
            try:
                report = self.index.add(batch)
            except Injected:
                assert calls
            else:  # every article was unchanged: nothing to write, so the step never ran
                assert not calls and report.added + report.updated == 0
        after = (sorted(os.listdir(self.path)), self._answers())
        assert after == before, f"a crash at {point} changed the index"

    def _answers(self):
        index = StoryIndex.open(self.path)
        try:
            ids, _ = index.article_vectors()
            return index.info().generation, sorted(ids), {i: index.get(i).text for i in ids}
        finally:
            index.close()

    @invariant()
    def agrees_with_the_model(self):
        index = self.index
        ids, _ = index.article_vectors()
        assert len(index) == len(ids) == len(set(ids)) == len(self.model)
        assert set(ids) == set(self.model)
        for article_id in ids:
            stored = index.get(article_id)
            assert (stored.text, stored.title) == self.model[article_id]
        assert index.info().paragraphs == sum(len(index.paragraphs(i)) for i in ids)
        assert check_index(self.path) == []

    @invariant()
    def stories_hold_existing_articles_once(self):
        members = [a for story in self.index.stories() for a in story.articles]
        assert len(members) == len(set(members)) and set(members) <= set(self.model)

    @invariant()
    def stored_vectors_find_themselves_first(self):
        snapshot = self.index._snapshot
        ids, vectors = self.index.article_vectors()
        keys = snapshot.articles.keys()
        for row, key in enumerate(keys):
            scores, found = snapshot.articles.search(vectors[row], len(keys))
            tied = {int(k) for k, s in zip(found[0], scores[0]) if s >= scores[0][0] - 1e-4}
            assert int(key) in tied, ids[row]
        for article_id in ids:
            own = snapshot.db.paragraphs_of([self.index._key(article_id)]).get(self.index._key(article_id), [])
            for paragraph, vector in zip(own, self.index.paragraph_vectors(article_id)):
                scores, found = snapshot.paragraphs.search(vector, len(snapshot.paragraphs))
                tied = {int(k) for k, s in zip(found[0], scores[0]) if s >= scores[0][0] - 1e-4}
                assert paragraph.key in tied


def _resolve(target: str):
    module, _, name = target.rpartition(".")
    try:
        owner = __import__(module, fromlist=["_"])
    except ImportError:
        module, _, cls = module.rpartition(".")
        owner = getattr(__import__(module, fromlist=["_"]), cls)
    return getattr(owner, name)


def test_random_sequences_keep_the_invariants():
    with fake_embedder():
        run_state_machine_as_test(
            IndexMachine,
            settings=settings(max_examples=20, stateful_step_count=15, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow]),
        )


# -- never crash on arbitrary input -------------------------------------------------------------------

FIELDS = ["id", "text", "title", "source", "url", "published", "extra"]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.sampled_from(["\ud800", "2024-05-01", "\x00", "<p>html</p>", "1e400"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
json_lines = st.lists(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(lambda r: __import__("json").dumps(r))
    | st.text(max_size=60),
    max_size=8,
).map("\n".join)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "utf-32"])
inputs = (
    st.binary(max_size=2000)
    | st.tuples(json_lines, encodings).map(lambda t: t[0].encode(t[1], "replace"))
    | st.tuples(st.text(max_size=500), encodings).map(lambda t: t[0].encode(t[1], "replace"))
    | st.text(max_size=300).map(lambda t: ("id,title,text\n" + t).encode("utf-8"))
)


@settings(max_examples=250, deadline=None)
@given(data=inputs, fmt=st.sampled_from(["text", "jsonl", "csv"]), encoding=st.none() | encodings)
def test_readers_never_crash_on_arbitrary_bytes(data, fmt, encoding):
    reader = ArticleReader(input_format=fmt, encoding=encoding, max_chars=5000)
    articles = list(reader.read(["-"], stdin=io.BytesIO(data)))
    for article in articles:
        assert isinstance(article.id, str) and article.id and article.text.strip()
        assert "\x00" not in article.text and article.content_hash  # hashable: valid unicode throughout
    for problem in reader.problems:
        assert "\n" not in str(problem) and problem.location.startswith("<stdin>")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=inputs, suffix=st.sampled_from([".txt", ".jsonl", ".csv", ".md", ".tsv", ".json"]))
def test_reading_files_of_arbitrary_bytes_never_crashes(tmp_path, data, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    reader = ArticleReader()
    articles = list(reader.read([path]))
    assert all(a.text.strip() and a.content_hash for a in articles)
    assert all("\n" not in str(p) and str(p).startswith(str(path)) for p in reader.problems)


whitespace = st.sampled_from([" ", "\n", "\n\n", "\t", "\r\n", "\u2028", "\x85", "\x0c", "\xa0", ". ", "! "])
unicode_texts = st.lists(st.text(max_size=12) | whitespace, max_size=80).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=unicode_texts, max_words=st.integers(1, 200), min_words=st.integers(0, 40))
def test_the_paragraph_splitter_never_crashes_or_loses_words(text, max_words, min_words):
    paragraphs = split_paragraphs(text, min_words=min_words, max_words=max_words)
    assert " ".join(paragraphs).split() == text.split()
    assert all(p.strip() for p in paragraphs)


@pytest.fixture(scope="module")
def seed_index(seed_index_dir):
    with StoryIndex.open(seed_index_dir) as index:
        yield index


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=unicode_texts | st.sampled_from(["\udcff Wagner", "\ud800", "\x00" * 50, "a" * 20000, "🚢" * 300]),
    level=st.sampled_from(["article", "paragraph"]),
    k=st.integers(1, 50),
)
def test_similar_never_crashes_on_arbitrary_unicode(seed_index, text, level, k):
    """With the real model: any query text gives results or, when blank, a clear StoryclusterError."""
    try:
        matches = seed_index.similar(text, k=k, level=level)
    except StoryclusterError as exc:
        assert not text.strip() and "empty" in str(exc)
        return
    assert text.strip() and len(matches) <= k
    assert all(np.isfinite(m.score) and -1.01 <= m.score <= 1.01 for m in matches)
