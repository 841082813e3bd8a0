"""StoryIndex with the real model, on a directory (FAISS + SQLite) and on PostgreSQL (pgvector): queries,
appends, updates, filters, atomic writes. Tests taking ``index_location`` run on both stores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from conftest import SEED_ID, stray_files

from storycluster import (
    Article,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
    StoryclusterError,
    StoryIndex,
)
from storycluster.store.base import open_store

QUAKE = Article(
    id="quake-1", title="Earthquake strikes Chile", source="wire-a", published="2024-03-01T08:00:00+00:00",
    text="A magnitude 7.1 earthquake struck northern Chile on Friday, damaging buildings in Antofagasta.\n\n"
    "Rescue teams searched collapsed houses while the navy ruled out a tsunami along the Pacific coast.",
)
QUAKE_2 = Article(
    id="quake-2", title="Strong quake shakes Antofagasta", source="paper-b", published="2024-03-02T10:00:00+00:00",
    text="Buildings were damaged in Antofagasta after a strong earthquake of magnitude 7.1 hit northern Chile.\n\n"
    "Officials said there was no tsunami threat and rescuers were checking collapsed homes.",
)
FOOTBALL = Article(
    id="football-1", title="Late goal wins the derby", source="wire-a", published="2024-05-20T20:00:00+00:00",
    text="A stoppage-time header gave the home side a 2-1 win in the city derby on Sunday night, "
    "sending the fans into raptures and lifting the club to third place in the league table.",
)


@pytest.mark.parametrize(
    "question, evidence",
    [
        ("Which anti-aircraft weapon did the Washington Post say Wagner would deliver to Hezbollah?", "Pantsir-S1"),
        ("What could Tehran hand over to Moscow in return for the help?", "ballistic missiles to Russia"),
    ],
)
def test_paraphrased_question_finds_the_right_paragraph_of_the_seed(index_location, question, evidence):
    with StoryIndex.open(index_location) as index:
        matches = index.similar(question, level="paragraph", k=3)
    assert matches[0].id == SEED_ID
    assert evidence in matches[0].paragraph
    assert matches[0].score == matches[0].paragraph_score > matches[1].score


def test_article_level_match_carries_its_best_paragraph_as_evidence(index_location):
    with StoryIndex.open(index_location) as index:
        [match] = index.similar("Iran may send ballistic missiles to Russia for the war in Ukraine", k=5)
        assert match.id == SEED_ID and 0 < match.score <= 1
        assert "ballistic missiles" in match.paragraph
        assert match.paragraph == index.paragraphs(SEED_ID)[match.paragraph_index]


def test_reindexing_adds_nothing_and_changed_text_replaces_vectors(index_location):
    with StoryIndex.open(index_location) as index:
        seed = index.get(SEED_ID)
        assert index.add([seed]).unchanged == 1
        report = index.add([QUAKE, FOOTBALL])
        assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
        changed = Article(id="football-1", text="The derby was postponed because of snow and ice on the pitch.")
        report = index.add([changed])
        assert (report.added, report.updated) == (0, 1)
        assert len(index) == 3 and index.get("football-1").text == changed.text
        assert index.paragraphs("football-1") == [changed.text]
        hits = index.similar("stoppage-time header wins the city derby 2-1", k=3, level="paragraph")
        assert all("stoppage-time" not in m.paragraph for m in hits)
        info = index.info()
        expected = sum(len(index.paragraphs(i)) for i in (SEED_ID, "quake-1", "football-1"))
        assert (info.articles, info.paragraphs) == (3, expected)


def test_similar_to_never_returns_the_article_itself_and_filters_are_exact(index_location):
    with StoryIndex.open(index_location) as index:
        index.add([QUAKE, QUAKE_2, FOOTBALL])
        matches = index.similar_to("quake-1", k=10)
        assert [m.id for m in matches][0] == "quake-2"
        assert "quake-1" not in [m.id for m in matches] and len(matches) == 3
        assert [m.id for m in index.similar_to("quake-1", k=10, sources=["wire-a"])] == ["football-1"]
        assert {m.id for m in index.similar_to("quake-1", k=10, exclude_sources=["wire-a"])} == {"quake-2", SEED_ID}
        assert [m.id for m in index.similar("earthquake", since="2024-03-02", until="2024-05-19")] == ["quake-2"]
        assert [m.id for m in index.similar("earthquake", until="2024-03-01")] == ["quake-1"]
        paragraph_hits = index.similar_to("quake-1", level="paragraph", k=1)
        assert [m.id for m in paragraph_hits] == ["quake-2"]
        with pytest.raises(StoryclusterError, match="unreadable date"):
            index.similar("earthquake", since="last tuesday")
        with pytest.raises(KeyError):
            index.similar_to("no-such-id")


def test_model_mismatch_is_a_clear_error(index_location):
    with pytest.raises(ModelMismatchError, match="was built with model 'sentence-transformers/all-MiniLM-L6-v2'"):
        StoryIndex.open(index_location, model="sentence-transformers/all-mpnet-base-v2")
    StoryIndex.open(index_location, model="all-MiniLM-L6-v2").close()  # an alias of the same model


def test_an_index_records_the_int8_export_it_was_built_with(index_location):
    from storycluster.embed.onnx import FORMAT

    with StoryIndex.open(index_location) as index:
        assert (index.info().backend, index.directory.read_manifest().export_format) == ("onnx-int8", FORMAT)


def test_appending_with_another_int8_export_says_so_once(seed_index_copy, caplog):
    import json

    from storycluster.embed.onnx import FORMAT

    with StoryIndex.open(seed_index_copy) as index:
        index.add([QUAKE])
    assert "export format" not in caplog.text  # the same export: nothing to say
    manifest = json.loads((seed_index_copy / "manifest.json").read_text())
    (seed_index_copy / "manifest.json").write_text(json.dumps({**manifest, "export_format": FORMAT - 1}))
    with StoryIndex.open(seed_index_copy) as index:
        index.add([QUAKE_2], commit_every=1)
        index.add([FOOTBALL])
        assert len(index) == 4  # appended all the same
    warnings = [r.getMessage() for r in caplog.records if "export format" in r.getMessage()]
    assert len(warnings) == 1 and f"export format {FORMAT - 1}; articles added now get format {FORMAT}" in warnings[0]


def test_missing_index(empty_location):
    with pytest.raises(IndexNotFoundError, match="no index at"):
        StoryIndex.open(empty_location)


def test_corrupt_manifest(seed_index_copy):
    (seed_index_copy / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="unreadable manifest"):
        StoryIndex.open(seed_index_copy)


def test_vectors_and_rows_out_of_step_are_refused(seed_index_copy):
    from storycluster.store.database import Database, connect
    from storycluster.store.directory import IndexDirectory
    from storycluster.store.state import write_state

    directory = IndexDirectory(seed_index_copy)
    state = directory.read_state(directory.read_manifest(state=False))
    *older, paragraphs = state.segments["paragraphs"]
    articles = state.segments["articles"][-1]
    shutil.copyfile(seed_index_copy / articles.file, seed_index_copy / paragraphs.file)
    with pytest.raises(IndexCorruptError, match="damaged since written"):
        StoryIndex.open(seed_index_copy)
    # Even with the generation record rewritten to match the swapped file, vectors and rows disagree.
    swapped = replace(paragraphs, size=articles.size, checksum=articles.checksum)
    db = Database(connect(seed_index_copy / "index.sqlite", readonly=False))
    write_state(db, state.next(segments={**state.segments, "paragraphs": [*older, swapped]}))
    db.connection.commit()
    db.close()
    with pytest.raises(IndexCorruptError, match="out of step"):
        StoryIndex.open(seed_index_copy)


def test_a_second_writer_is_refused(index_location):
    store = open_store(index_location)
    with store.writing():
        with StoryIndex.open(index_location) as index, pytest.raises(IndexLockedError, match="another process"):
            index.add([QUAKE])
    store.close()
    with StoryIndex.open(index_location) as index:  # the lock is gone with its holder
        assert index.add([QUAKE]).added == 1


def test_a_failed_write_leaves_the_previous_state(index_location, monkeypatch):
    def failing(*args):
        raise RuntimeError("injected failure after the rows and vectors were written")

    monkeypatch.setattr("storycluster.index.story_index.mark_copies", failing)
    with StoryIndex.open(index_location) as index:
        generation = index.info().generation
        with pytest.raises(RuntimeError, match="injected"):
            index.add([QUAKE, FOOTBALL])
        assert len(index) == 1 and "quake-1" not in index and index.info().generation == generation
        assert [m.id for m in index.similar("earthquake in Chile", k=5)] == [SEED_ID]
    monkeypatch.undo()
    with StoryIndex.open(index_location) as index:
        assert index.add([QUAKE]).added == 1 and "quake-1" in index


def test_readers_keep_their_generation_until_refresh(index_location):
    with StoryIndex.open(index_location) as reader, StoryIndex.open(index_location) as writer:
        writer.add([QUAKE])
        assert "quake-1" not in reader and len(reader) == 1
        assert reader.refresh() and "quake-1" in reader and len(reader) == 2
        assert not reader.refresh()
        assert reader.similar_to("quake-1", k=1)[0].id == SEED_ID


def test_a_failed_append_leaves_the_previous_index_intact(seed_index_copy, monkeypatch):
    from storycluster.store.vectors import VectorSet

    before = sorted(os.listdir(seed_index_copy))
    original = VectorSet.save
    saves = []

    def failing_save(self, path):
        saves.append(path)
        if len(saves) == 2:
            raise OSError(28, "No space left on device")
        original(self, path)

    monkeypatch.setattr(VectorSet, "save", failing_save)
    with StoryIndex.open(seed_index_copy) as index:
        with pytest.raises(OSError, match="No space left"):
            index.add([QUAKE])
        assert len(index) == 1 and "quake-1" not in index
    assert sorted(os.listdir(seed_index_copy)) == before
    monkeypatch.setattr(VectorSet, "save", original)
    with StoryIndex.open(seed_index_copy) as index:
        assert index.add([QUAKE]).added == 1 and "quake-1" in index


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from storycluster import Article, StoryIndex
    import storycluster.store.snapshot as snapshot
    import storycluster.store.vectors as vectors

    point = sys.argv[2]
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after-vectors":
        original_save = vectors.VectorSet.save
        def save(self, path):
            original_save(self, path)
            if path.name.endswith("paragraphs.faiss"):
                die()
        vectors.VectorSet.save = save
    else:  # the commit of the database publishes the generation: die just before or just after it
        real_connect = snapshot.connect
        class Connection:
            def __init__(self, connection):
                self.connection = connection
            def commit(self):
                if point == "before-commit":
                    die()
                self.connection.commit()
                die()
            def __getattr__(self, name):
                return getattr(self.connection, name)
        def connect(path, *, readonly):
            connection = real_connect(path, readonly=readonly)
            return connection if readonly else Connection(connection)
        snapshot.connect = connect
    index = StoryIndex.open(sys.argv[1])
    index.add([Article(id="killed", text="An article whose append is killed part of the way through.")])
    """
)


@pytest.mark.parametrize("point", ["after-vectors", "before-commit", "after-commit"])
def test_a_writer_killed_mid_append_leaves_a_readable_index(seed_index_copy, point):
    process = subprocess.run([sys.executable, "-c", KILLER, str(seed_index_copy), point], capture_output=True)
    assert process.returncode == -9, process.stderr.decode()
    with StoryIndex.open(seed_index_copy) as index:
        committed = point == "after-commit"
        assert ("killed" in index) is committed and len(index) == 1 + committed
        assert index.similar_to(SEED_ID, k=5) == ([] if not committed else index.similar_to(SEED_ID, k=5))
        report = index.add([Article(id="killed", text="An article whose append is killed part of the way through.")])
        assert report.added == (0 if committed else 1)
        assert len(index) == 2
    assert stray_files(seed_index_copy) == set()  # the current generation's files and the one before, no leftovers


def test_remove_deletes_vectors_rows_and_story_membership(index_location):
    with StoryIndex.open(index_location) as index:
        index.add([QUAKE, QUAKE_2, FOOTBALL])
        assert index.story_of("quake-1") == index.story_of("quake-2")
        assert index.remove(["quake-2", "not-there", "quake-2"]) == ["quake-2"]
        assert "quake-2" not in index and len(index) == 3
        assert all(m.id != "quake-2" for m in index.similar("earthquake in Antofagasta", k=10))
        assert all(m.id != "quake-2" for m in index.similar("earthquake in Antofagasta", k=10, level="paragraph"))
        assert [s.articles for s in index.stories() if "quake-1" in s.articles] == [["quake-1"]]
        info = index.info()
        assert info.paragraphs == sum(len(index.paragraphs(i)) for i in (SEED_ID, "quake-1", "football-1"))
