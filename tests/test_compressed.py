"""Compressed vector segments (8-bit codes, exact re-ranking from the float32 rows in the same file).

``COMPRESSED_FROM`` is lowered so that small sets are written compressed:

* segments over real FAISS files (an inverted file of float32 vectors as older indexes have, compressed
  ones, an exact one) answer like exact search over the live vectors: recall@10 >= 0.98, exact scores,
  exact stored vectors, through removals, replacements, a merge that copies lists, and a reopen;
* a real index whose segments are compressed answers as the same index stored uncompressed;
* SIGKILL while a compressed segment is being written (or merged) leaves the previous generation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import stray_files
from test_segments import KILLER, port, segment_files

from storycluster import StoryIndex
from storycluster.store import segments as segments_module
from storycluster.store.check import check_index
from storycluster.store.compressed import RERANK, CompressedVectors, load_segment
from storycluster.store.segments import SegmentedVectors
from storycluster.store.vectors import VectorSet

DIMENSION = 32


def clustered(rows: int, seed: int) -> np.ndarray:
    """Unit vectors around 40 centres, the clustered shape of text embeddings."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(40, DIMENSION))
    vectors = centres[rng.integers(0, 40, rows)] + rng.normal(scale=0.6, size=(rows, DIMENSION))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_search(vectors: np.ndarray, keys: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
    index.add_with_ids(vectors, keys)
    return index.search(queries, k)


def append(segmented: SegmentedVectors, directory: Path, name: str, keys: np.ndarray, vectors: np.ndarray, merge: int = 0):
    segmented.add(keys, vectors)
    record, _ = segmented.next_segment(directory / name, merge)
    kept = [s for s, _ in segmented.segments][:len(segmented.segments) - merge]
    dead = segmented.tombstones if not merge else np.zeros(0, np.int64)  # (merge: all segments, rewritten without them)
    return SegmentedVectors.open(directory, DIMENSION, [*kept, record], dead)


def test_compressed_segments_answer_like_exact_search_through_removals_merges_and_reopening(tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "COMPRESSED_FROM", 2_000)
    monkeypatch.setattr(segments_module, "EXACT_UP_TO", 1_000)
    everything = clustered(9_000, 0)
    every_key = np.arange(1, 9_001, dtype=np.int64)
    segmented = SegmentedVectors(DIMENSION, [], np.zeros(0, np.int64))
    segmented = append(segmented, tmp_path, "a.faiss", every_key[:1_500], everything[:1_500])  # float32 inverted file
    segmented = append(segmented, tmp_path, "b.faiss", every_key[1_500:5_000], everything[1_500:5_000])
    segmented = append(segmented, tmp_path, "c.faiss", every_key[5_000:5_300], everything[5_000:5_300])  # exact
    segmented = append(segmented, tmp_path, "d.faiss", every_key[5_300:8_000], everything[5_300:8_000])
    kinds = [type(vectors).__name__ if not vectors.exact else "exact" for _, vectors in segmented.segments]
    assert kinds == ["VectorSet", "CompressedVectors", "exact", "CompressedVectors"]
    first, later = segmented.segments[1][1].index, segmented.segments[3][1].index
    assert segments_module._same_lists(first, later)  # the later one on the same lists and code ranges
    assert first.code_size == DIMENSION  # one byte a dimension
    assert [len(group) for group in segmented._sharing_lists()] == [3]  # one coarse search for the three

    removed = np.array([4, 2_000, 2_001, 5_100, 7_999], dtype=np.int64)  # in four segments
    segmented.remove(removed)
    segmented.add(every_key[8_000:8_100], everything[8_000:8_100])  # the replacements: new keys
    live = np.setdiff1d(every_key[:8_100], removed)
    queries = clustered(50, 1)

    def check(vectors: SegmentedVectors) -> None:
        assert len(vectors) == len(live) and np.array_equal(np.sort(vectors.keys()), live)
        sample = live[::37]
        assert np.array_equal(vectors.vectors(sample), everything[sample - 1])  # exact stored vectors
        _, expected = exact_search(everything[live - 1], live, queries, 10)
        scores, found = vectors.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), expected.tolist())])
        assert recall >= 0.98, recall
        assert np.allclose(scores, (everything[found - 1] * queries[:, None, :]).sum(axis=2), atol=1e-5)  # exact scores
        assert not set(found.ravel()) & set(removed)
        denied = np.unique(expected[:, :2])  # each query's two best: the next ones come up
        _, found = vectors.search(queries, 10, deny=denied)
        assert not set(found.ravel()) & set(denied) and (found >= 0).all()
        assert np.mean([len(set(a) & set(b[2:])) / 8 for a, b in zip(found.tolist(), expected.tolist())]) >= 0.98
        allow = np.array([4, 10, 2_500, 6_000, 8_050, 7_999], dtype=np.int64)
        _, kept = vectors.search(queries[:3], 3, allow=allow, deny=np.array([10]))
        assert set(kept.ravel()) == {2_500, 6_000, 8_050}

    check(segmented)
    merged = append(segmented, tmp_path, "merged.faiss", np.zeros(0, np.int64), np.zeros((0, DIMENSION), np.float32), merge=4)
    assert len(merged.segments) == 1 and isinstance(merged.segments[0][1], CompressedVectors)
    check(merged)
    reopened = SegmentedVectors.open(tmp_path, DIMENSION, [merged.segments[0][0]], np.zeros(0, np.int64))
    check(reopened)
    (tmp_path / "short.faiss").write_bytes((tmp_path / "merged.faiss").read_bytes()[:-100] + (tmp_path / "merged.faiss").read_bytes()[-24:])
    with pytest.raises(ValueError, match="wrong size"):
        load_segment(tmp_path / "short.faiss")
    assert isinstance(load_segment(tmp_path / "c.faiss"), VectorSet)


def test_several_compressed_segments_read_only_the_best_candidates_of_all_of_them(tmp_path, monkeypatch):
    monkeypatch.setattr(segments_module, "COMPRESSED_FROM", 2_000)
    monkeypatch.setattr(segments_module, "EXACT_UP_TO", 1_000)
    everything = clustered(9_000, 2)
    every_key = np.arange(1, 9_001, dtype=np.int64)
    segmented = SegmentedVectors(DIMENSION, [], np.zeros(0, np.int64))
    for name, start, end in (("a", 0, 3_000), ("b", 3_000, 6_000), ("c", 6_000, 9_000)):
        segmented = append(segmented, tmp_path, f"{name}.faiss", every_key[start:end], everything[start:end])
    assert [type(vectors).__name__ for _, vectors in segmented.segments] == ["CompressedVectors"] * 3
    read = []
    rows = CompressedVectors._rows
    monkeypatch.setattr(CompressedVectors, "_rows", lambda self, positions: read.append(len(positions)) or rows(self, positions))
    queries = clustered(1, 3)
    scores, found = segmented.search(queries, 10)
    assert sum(read) <= RERANK < 3 * RERANK  # one pool of candidates, not RERANK rows from each segment
    expected_scores, expected = exact_search(everything, every_key, queries, 10)
    assert len(set(found[0]) & set(expected[0])) >= 9 and np.allclose(scores, expected_scores, atol=1e-5)


ARTICLES = 48  # one paragraph each


def build(path: Path) -> list:
    with StoryIndex.open(path, create=True) as index:
        for start in range(0, ARTICLES, 16):  # three segments
            index.add([port(n) for n in range(start, start + 16)])
        index.remove(["port-3", "port-9"])
        index.add([port(n, version=1) for n in range(12, 16)])  # replacements
        answers = [
            [(m.id, m.score) for m in index.similar("storm closes the port, ships wait", k=8)],
            [(m.id, m.paragraph_index, m.score) for m in index.similar("vessels waited offshore", k=8, level="paragraph")],
            [(m.id, m.score) for m in index.similar_to("port-5", k=6, level="paragraph", all_copies=True)],
        ]
        vectors = [index.paragraph_vectors(f"port-{n}") for n in (0, 12, 23)]
    return [answers, vectors]


def same(found: list[tuple], expected: list[tuple]) -> bool:
    """The same hits in the same order, scores equal within float32 rounding."""
    return [hit[:-1] for hit in found] == [hit[:-1] for hit in expected] and np.allclose(
        [hit[-1] for hit in found], [hit[-1] for hit in expected], atol=1e-5
    )


def test_an_index_of_compressed_segments_answers_as_the_same_index_uncompressed(tmp_path, embedder, monkeypatch):
    plain = build(tmp_path / "plain")
    monkeypatch.setattr(segments_module, "COMPRESSED_FROM", 16)
    path = tmp_path / "compressed"
    compressed = build(path)
    for part in ("articles", "titles", "paragraphs"):
        kinds = [type(load_segment(path / name)).__name__ for name in segment_files(path, part)]
        assert kinds == ["CompressedVectors"] * 3 + ["VectorSet"]  # the replacements': an exact segment
    for found, expected in zip(compressed[0], plain[0]):
        assert same(found, expected)
    for a, b in zip(compressed[1], plain[1]):
        assert np.array_equal(a, b)
    monkeypatch.setattr(segments_module, "FANOUT", 4)
    with StoryIndex.open(path) as index:
        index.add([port(n) for n in range(ARTICLES, ARTICLES + 4)])  # merged with the last three segments
        files = segment_files(path, "paragraphs")
        assert len(files) == 2 and isinstance(load_segment(path / files[-1]), CompressedVectors)
        found = [(m.id, m.score) for m in index.similar_to("port-5", k=6, level="paragraph", all_copies=True)]
        old = [hit for hit in found if int(hit[0].split("-")[1]) < ARTICLES]  # the same vectors, merged
        assert len(old) >= 3 and same(old, plain[0][2][:len(old)])
    assert check_index(path) == [] and stray_files(path) == set()


@pytest.mark.parametrize("point", ["before-commit", "merge"])
def test_a_writer_killed_while_writing_a_compressed_segment_leaves_the_previous_generation(tmp_path, embedder, point):
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        for start in range(0, 18, 6):  # three exact segments of 6 vectors (FANOUT 3 in the killed process)
            index.add([port(n) for n in range(start, start + 6)])
        answer = [(m.id, m.score) for m in index.similar("storm closes port", k=5, level="paragraph")]
    before, published = segment_files(path, "paragraphs"), segment_files(path, "articles")
    killer = "import storycluster.store.segments as s\ns.COMPRESSED_FROM = 16\n" + KILLER  # the merge writes 18 vectors
    process = subprocess.run([sys.executable, "-c", killer, str(path), point, "6"], capture_output=True, check=False)
    assert process.returncode == -9, process.stderr.decode()
    (left,) = [f for f in path.glob("*.articles.faiss") if f.name not in published]  # written, not published
    assert isinstance(load_segment(left), CompressedVectors)
    with StoryIndex.open(path) as index:
        assert len(index) == 18 and "killed-0" not in index
        assert [(m.id, m.score) for m in index.similar("storm closes port", k=5, level="paragraph")] == answer
    assert check_index(path) == [] and segment_files(path, "paragraphs") == before
    with StoryIndex.open(path) as index:
        assert index.add([port(40)]).added == 1 and len(index) == 19
    assert check_index(path) == [] and stray_files(path) == set()
