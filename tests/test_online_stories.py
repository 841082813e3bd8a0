"""Appends into a big index: new articles join the stored stories or open new ones (``stories.online``).

Past ``RECLUSTER_UP_TO`` articles of touched stories an append does not re-cluster its neighbourhood; these
tests force that path on small real data (the limit set to 0) and check it keeps the rule's answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from storycluster import ArticleReader, StoryIndex
from storycluster.stories import stored
from storycluster.stories.clustering import ArticleTable
from storycluster.stories.evaluation import bcubed
from storycluster.stories.online import extend_stories


def _table(vectors: np.ndarray, texts: list[str]) -> ArticleTable:
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return ArticleTable(texts, [None] * len(texts), vectors, vectors, np.arange(len(texts) + 1),
                        np.full(len(texts), np.nan), None)


def test_a_new_article_joins_its_story_and_an_unrelated_one_opens_its_own() -> None:
    """Rows 0-5 are six of a stored story's 8 articles and rows 6-7 two of another story's 12; row 8
    reports the first story (same words, near vector), row 9 something else."""
    rng = np.random.default_rng(0)
    quake, vote, far = rng.normal(size=(3, 384))
    vectors = np.stack([quake + 0.1 * rng.normal(size=384) for _ in range(6)]
                       + [vote + 0.1 * rng.normal(size=384) for _ in range(2)]
                       + [quake + 0.1 * rng.normal(size=384), far])
    texts = ["Magnitude 7.1 earthquake strikes Ridgecrest California, buildings damaged"] * 6 \
        + ["Parliament votes on the Brexit withdrawal agreement in London"] * 2 \
        + ["Ridgecrest California earthquake of magnitude 7.1 damages buildings", "Lakers beat Celtics 110-95 in Boston"]
    table = _table(vectors, texts)
    neighbours = np.array([[8, 0, 1, 2, 3, 4, 5, 9], [9, 6, 7, 8, 0, -1, -1, -1]])  # themselves first
    labels = extend_stories(table, np.array([0] * 6 + [1] * 2 + [-1, -1]), np.array([8, 12]), neighbours)
    assert len(set(labels[:6])) == 1 and labels[8] == labels[0]  # joined the earthquake story
    assert labels[6] == labels[7] != labels[0]  # the stored stories stay apart
    assert labels[9] not in {labels[0], labels[6]}  # a story of its own
    # seeing three of the story's rows: enough for a story of 6 (3 of its 6 pairs), not for one of 400 (3 of
    # the 10 pairs an article of a big story is asked for)
    few = np.where(np.isin(neighbours, [3, 4, 5]), -1, neighbours)
    assert extend_stories(table, np.array([0] * 6 + [1] * 2 + [-1, -1]), np.array([6, 12]), few)[8] == labels[0]
    labels = extend_stories(table, np.array([0] * 6 + [1] * 2 + [-1, -1]), np.array([400, 12]), few)
    assert labels[8] != labels[0]


def _rows(bench_dir: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (bench_dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_gvc_appended_in_date_order_past_the_recluster_limit_matches_a_rebuild(
    bench_dir, tmp_path, embedder, monkeypatch
) -> None:
    """Half of gvc (shootings, dated) indexed, then the rest appended in date order, 50 at a time, each
    append extending the stored stories: the stories end within 0.03 B-cubed F1 of re-clustering all, and
    stories no new article joined keep their ids and members."""
    rows = sorted(_rows(bench_dir, "gvc"), key=lambda r: (r["published"], r["id"]))[:300]
    path = tmp_path / "gvc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    articles = list(ArticleReader(input_format="jsonl").read([path]))
    truth = {r["id"]: r["story"] for r in rows}
    monkeypatch.setattr(stored, "RECLUSTER_UP_TO", 0)
    calls = []
    monkeypatch.setattr(stored, "_extend", lambda *a: calls.append(1) or _extend(*a))
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        index.add(articles[:150])
        before = {s.story: set(s.articles) for s in index.stories()}
        for start in range(150, 300, 50):
            index.add(articles[start:start + 50])
        after = {s.story: set(s.articles) for s in index.stories()}
        appended = bcubed([truth[a] for a in truth], [index.story_of(a) for a in truth])[2]
        rebuilt = {a: s.story for s in index.cluster() for a in s.articles}
        full = bcubed([truth[a] for a in truth], [rebuilt[a] for a in truth])[2]
    assert len(calls) == 3  # every append took the extending path
    assert appended >= full - 0.03, (appended, full)
    untouched = [s for s, members in before.items() if s in after and after[s] == members]
    assert len(untouched) >= len(before) // 2  # most old stories are left as they were
    assert all(after.get(s, set()) >= members for s, members in before.items() if s in after)  # nothing taken away


_extend = stored._extend
