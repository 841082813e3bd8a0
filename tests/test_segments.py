"""Appends that write only what they add: vector segments, tombstones, merging, and the format 2 directory.

* ``SegmentedVectors`` over real FAISS segment files answers like one exact set over the same live vectors
  (search, filtered search, keys, vectors), with removed keys as tombstones.
* A real index grown by several appends is several segments; removing and replacing articles whose
  vectors sit in older segments works; merging (``FANOUT`` lowered to 3) keeps the segment count down,
  drops the tombstones of what it rewrote and removes the merged files once no reader needs them.
* SIGKILL during an append and during a merge leaves the previous generation readable and clean.
* A format 1 index (``tests/data/index-v0.1``) is converted by its first write.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import SEED_ID, stray_files

from storycluster import Article, StoryIndex
from storycluster.store import segments as segments_module
from storycluster.store.check import check_index
from storycluster.store.directory import IndexDirectory
from storycluster.store.segments import Segment, SegmentedVectors
from storycluster.store.vectors import VectorSet

OLD_INDEX = Path(__file__).parent / "data" / "index-v0.1"
DIMENSION = 16


def unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def written(tmp_path: Path, name: str, keys: np.ndarray, vectors: np.ndarray, exact_up_to: int) -> tuple[Segment, VectorSet]:
    vector_set = VectorSet.empty(DIMENSION)
    vector_set.add(keys, vectors, exact_up_to=exact_up_to)
    vector_set.save(tmp_path / name)
    return Segment.written(tmp_path / name, int(keys[0]), int(keys[-1]), len(keys)), VectorSet.load(tmp_path / name, mmap=True)


def test_segments_answer_like_one_exact_set(tmp_path):
    keys, vectors = np.arange(1, 1201, dtype=np.int64), unit(1200, 0)
    parts = [  # an inverted file (exact_up_to=500), then two exact segments: the shapes a real index has
        written(tmp_path, "a.faiss", keys[:800], vectors[:800], exact_up_to=500),
        written(tmp_path, "b.faiss", keys[800:1000], vectors[800:1000], exact_up_to=10_000),
        written(tmp_path, "c.faiss", keys[1000:], vectors[1000:], exact_up_to=10_000),
    ]
    assert not parts[0][1].exact and parts[1][1].exact
    dead = np.array([3, 17, 805, 1100], dtype=np.int64)
    segmented = SegmentedVectors(DIMENSION, parts, dead)
    segmented.add(np.arange(1201, 1221, dtype=np.int64), unit(20, 1))
    segmented.remove([5, 1201, 999, 999])  # an old segment, the pending one, twice the same key
    live = np.setdiff1d(np.arange(1, 1221), [3, 17, 805, 1100, 5, 1201, 999])
    assert len(segmented) == len(live) and np.array_equal(np.sort(segmented.keys()), live)
    assert sorted(segmented.removed) == [5, 999]
    everything = np.vstack([vectors, unit(20, 1)])
    assert np.allclose(segmented.vectors([1210, 2, 900]), everything[[1209, 1, 899]])
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
    exact.add_with_ids(everything[live - 1], live)
    queries = unit(20, 2)
    _, expected = exact.search(queries, 10)
    _, found = segmented.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, expected)])
    assert recall >= 0.9, recall  # the inverted file probes NPROBE of its lists
    allow = np.array([2, 4, 5, 900, 1150, 1210, 1201], dtype=np.int64)  # 5 and 1201 are removed
    _, found = segmented.search(queries, 4, allow=allow, deny=np.array([900]))
    assert set(found.ravel()) <= {2, 4, 1150, 1210} and (found >= 0).all()


def test_a_merge_past_the_exact_size_reuses_the_quantizer_of_an_inverted_file(tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "EXACT_UP_TO", 500)
    keys, vectors = np.arange(1, 1201, dtype=np.int64), unit(1200, 0)
    parts = [
        written(tmp_path, "a.faiss", keys[:800], vectors[:800], exact_up_to=500),
        written(tmp_path, "b.faiss", keys[800:1000], vectors[800:1000], exact_up_to=10_000),
        written(tmp_path, "c.faiss", keys[1000:], vectors[1000:], exact_up_to=10_000),
    ]
    segmented = SegmentedVectors(DIMENSION, parts, np.array([3, 805], dtype=np.int64))
    segmented.add(np.arange(1201, 1221, dtype=np.int64), unit(20, 1))
    record, merged = segmented.next_segment(tmp_path / "merged.faiss", 3)  # all three and the pending vectors
    live = np.setdiff1d(np.arange(1, 1221), [3, 805])
    assert (record.first, record.last, record.count) == (1, 1220, len(live)) and len(merged) == len(live)
    assert not merged.exact and np.array_equal(  # the inverted file's lists, not a newly trained quantizer
        merged.index.quantizer.reconstruct_n(0, merged.index.nlist),
        parts[0][1].index.quantizer.reconstruct_n(0, parts[0][1].index.nlist),
    )
    everything = np.vstack([vectors, unit(20, 1)])
    assert np.array_equal(np.sort(merged.keys()), live) and np.allclose(merged.vectors(live), everything[live - 1])
    reloaded = VectorSet.load(tmp_path / "merged.faiss", mmap=True)
    _, found = reloaded.search(everything[live[::50] - 1], 1)
    assert np.array_equal(found[:, 0], live[::50])  # each stored vector finds itself


def test_merge_plan_carries_like_a_counter(monkeypatch):
    def plan(sizes: list[int], pending: int) -> int:
        segmented = SegmentedVectors(DIMENSION, [], np.zeros(0, np.int64))
        segmented.segments = [(None, range(size)) for size in sizes]
        segmented.pending = range(pending)
        return segmented.merge_plan()

    monkeypatch.setattr(segments_module, "FANOUT", 4)
    assert plan([], 5) == 0 and plan([5, 5], 5) == 0 and plan([5, 5, 5], 0) == 0
    assert plan([5, 5, 5], 5) == 3  # four of a size: one segment of 20
    assert plan([20, 20, 20, 5, 5, 5], 5) == 6  # carries twice: 20 + 5+5+5+5 -> four of 20 -> 80
    assert plan([1000, 5, 5, 5], 5) == 3  # a big old segment is left alone
    assert plan([5, 5, 5], 100) == 0  # an append much bigger than the last segments starts its own tier


def port(n: int, version: int = 0) -> Article:
    places = ["Valparaiso", "Rotterdam", "Mombasa", "Genoa", "Durban", "Santos"]
    return Article(
        id=f"port-{n}", title=f"Storm hits the port of {places[n % 6]}", source=f"outlet-{n % 3}",
        text=f"A storm closed the port of {places[n % 6]} on day {n}, version {version}; cranes were damaged.\n\n"
             f"Shipping lines said {n + 2} vessels waited offshore and cargo for the region would be late.",
    )


def segment_files(path: Path, part: str) -> list[str]:
    directory = IndexDirectory(path)
    return [s.file for s in directory.read_state(directory.read_manifest(state=False)).segments[part]]


def test_appends_removals_and_merges_across_segments(tmp_path, embedder, monkeypatch):
    monkeypatch.setattr(segments_module, "FANOUT", 4)
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add([port(0), port(1)])
        index.add([port(2), port(3)])
        assert len(segment_files(path, "articles")) == 2 and len(segment_files(path, "paragraphs")) == 2
        index.remove(["port-0"])  # its vectors are in the first segment: a tombstone
        index.add([port(2, version=1)])  # a replacement: a tombstone in the second segment, a new vector
        assert len(index) == 3 and "port-0" not in index
        assert "version 1" in index.get("port-2").text
        assert index.similar_to("port-2", k=3)[0].id in {"port-1", "port-3"}
        assert "port-0" not in [m.id for m in index.similar("storm closes port", k=5)]
        segment_files_before_merge = segment_files(path, "articles")
        assert len(segment_files_before_merge) == 3  # the remove wrote no segment, the replacement one
        assert check_index(path) == []
        hits = [(m.id, m.score, m.paragraph_index) for m in index.similar("storm closes port", k=6, level="paragraph")]
        index.add([port(4)])  # three segments of like size and the new one: merged into one (FANOUT 4)
        merged = segment_files(path, "articles")
        assert len(merged) == 1 and len(segment_files(path, "paragraphs")) == 1 and check_index(path) == []
        after = [(m.id, m.score, m.paragraph_index) for m in index.similar("storm closes port", k=7, level="paragraph")]
        assert [hit for hit in after if hit[0] != "port-4"] == hits  # the same vectors, merged
    connection = sqlite3.connect(path / "index.sqlite")
    assert connection.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0] == 0  # rewritten without them
    connection.close()
    retired = set(segment_files_before_merge) - set(merged)
    assert retired and retired <= {p.name for p in path.iterdir()}  # kept while a reader may still need them
    with StoryIndex.open(path) as index:
        assert len(index) == 4 and sorted(index.article_vectors()[0]) == ["port-1", "port-2", "port-3", "port-4"]
        assert {m.id for m in index.similar("storm closes port", k=10)} == {"port-1", "port-2", "port-3", "port-4"}
        index.add([port(5)])  # the next generation removes the files the merge retired
    assert not retired & {p.name for p in path.iterdir()}
    assert stray_files(path) == set() and check_index(path) == []


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from storycluster import Article, StoryIndex
    import storycluster.store.segments as segments
    import storycluster.store.snapshot as snapshot

    segments.FANOUT = 3
    point = sys.argv[2]
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_next = segments.SegmentedVectors.next_segment
    def next_segment(self, path, merge):
        made = real_next(self, path, merge)
        if point == "merge" and merge:
            die()  # the merged segment is written, the generation not yet published
        return made
    segments.SegmentedVectors.next_segment = next_segment
    real_write = snapshot.write_state
    def write_state(db, state):
        real_write(db, state)
        if point == "before-commit":
            die()
    snapshot.write_state = write_state
    index = StoryIndex.open(sys.argv[1])
    index.add([Article(id=f"killed-{n}", text=f"Report {n}: an append that is killed before it commits.")
               for n in range(int(sys.argv[3]))])
    """
)


def test_reopening_after_an_append_shares_the_segments_it_already_loaded(tmp_path, embedder):
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add([port(0), port(1)])
        first = index._snapshot.articles.segments[0][1]
        with StoryIndex.open(path) as reader:  # another snapshot of the same generation in this process
            assert reader._snapshot.articles.segments[0][1] is first
        index.add([port(2)])  # a second segment; the first is not read again
        assert [vectors for _, vectors in index._snapshot.articles.segments][0] is first
        assert len(index._snapshot.articles.segments) == 2
        assert index.similar_to("port-0", k=2)[0].id in {"port-1", "port-2"}


@pytest.mark.parametrize("point", ["before-commit", "merge"])
def test_a_writer_killed_mid_append_or_mid_merge_leaves_the_previous_generation(tmp_path, embedder, point):
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        for n in range(3):  # three segments: the next append merges (FANOUT 3 in the killed process)
            index.add([port(n)])
    before = (segment_files(path, "articles"), sorted(p.name for p in path.iterdir() if not p.name.endswith(("-wal", "-shm"))))
    with StoryIndex.open(path) as index:
        answer = [(m.id, m.score) for m in index.similar("storm closes port", k=5)]
    process = subprocess.run([sys.executable, "-c", KILLER, str(path), point, "2"], capture_output=True, check=False)
    assert process.returncode == -9, process.stderr.decode()
    with StoryIndex.open(path) as index:
        assert len(index) == 3 and "killed-0" not in index
        assert [(m.id, m.score) for m in index.similar("storm closes port", k=5)] == answer
    assert check_index(path) == [] and segment_files(path, "articles") == before[0]
    with StoryIndex.open(path) as index:  # the next writer clears what the killed one left and goes on
        assert index.add([Article(id="after", text="A later report about the storm in the port.")]).added == 1
        assert len(index) == 4
    assert check_index(path) == [] and stray_files(path) == set()


def test_a_format_1_index_is_read_as_it_is_and_converted_by_its_first_write(tmp_path, embedder):
    path = tmp_path / "index"
    shutil.copytree(OLD_INDEX, path)
    with StoryIndex.open(path) as index:
        assert index.info().format_version == 1 and index.info().generation == 2 and len(index) == 1
        assert check_index(path) == []
        index.add([Article(id="later", text="Heavy rain flooded villages along the Danube in Bavaria.")])
        info = index.info()
        assert (info.format_version, info.generation, info.articles) == (2, 3, 2)
        assert index.similar_to(SEED_ID, k=1)[0].id == "later"
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["files"] == {"database": "index.sqlite"}
    assert check_index(path) == [] and stray_files(path) == set()
    assert (path / "g000002.sqlite").exists()  # kept for readers of the old manifest until the next write
    with StoryIndex.open(path) as reader, StoryIndex.open(path) as writer:  # a reader never blocks the writer
        assert writer.remove(["later"]) == ["later"] and "later" in reader
        assert reader.refresh() and "later" not in reader
    with StoryIndex.open(path) as index:
        index.add([Article(id="later-2", text="A second flood report from the Danube valley in Bavaria.")])
        assert len(index) == 2 and index.get(SEED_ID).id == SEED_ID
    assert not (path / "g000002.sqlite").exists() and check_index(path) == []
