"""The story-linking rule on small real subsets of the bench corpora (real model, real index).

Big headline-only stories stay whole, same-kind events days apart stay apart, a follow-up weeks later
joins its story, and story labels are headlines, never datelines.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from storycluster import Article, ArticleReader, StoryIndex
from storycluster.stories.clustering import PairModel, StoryClusterer, default_pair_model
from storycluster.stories.evaluation import bcubed
from storycluster.stories.labels import headline, is_date_term, is_dateline


def _rows(bench_dir: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (bench_dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def _index(tmp_path: Path, rows: list[dict]) -> StoryIndex:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    index = StoryIndex.open(tmp_path / "index", create=True)
    index.add(ArticleReader(input_format="jsonl").read([path]))
    return index


def test_two_big_headline_stories_come_back_as_two(bench_dir, tmp_path, embedder) -> None:
    """60 headlines each of two of uci_news_dev's biggest Google News stories (cannabis taxes in Colorado,
    the Mt. Gox bitcoin exchange): headlines only, each seeing only its nearest neighbours."""
    rows = _rows(bench_dir, "uci_news_dev")
    big = [story for story, _ in Counter(r["story"] for r in rows).most_common(4)[2:]]
    subset = [r for story in big for r in [r for r in rows if r["story"] == story][:60]]
    with _index(tmp_path, subset) as index:
        stories = index.cluster()
    predicted = {a: s.story for s in stories for a in s.articles}
    precision, recall, f1 = bcubed([r["story"] for r in subset], [predicted[r["id"]] for r in subset])
    sizes = sorted((s.size for s in stories), reverse=True)
    assert precision >= 0.98 and f1 >= 0.85, (precision, recall, f1, sizes)
    assert sizes[1] >= 40, sizes  # two big stories, not a heap of fragments


GVC_STORIES = {
    "gvc-544535": "2-year-old shoots himself with his mother's gun (20 April 2016); the mother charged 21 days later",
    "gvc-548527": "Paulding County toddler shoots himself with a found gun, a week later",
}


def test_same_kind_shootings_a_week_apart_stay_apart_and_a_late_report_joins(bench_dir, tmp_path, embedder) -> None:
    rows = [r for r in _rows(bench_dir, "gvc") if r["story"] in GVC_STORIES]
    late = max((r for r in rows if r["story"] == "gvc-544535"), key=lambda r: r["published"])
    first = min(r["published"] for r in rows if r["story"] == "gvc-544535")
    assert late["published"][:10] == "2016-05-11" and first[:10] == "2016-04-20"  # three weeks on
    with _index(tmp_path, rows) as index:
        stories = {r["id"]: index.story_of(r["id"]) for r in rows}
    by_story = {s: {stories[r["id"]] for r in rows if r["story"] == s} for s in GVC_STORIES}
    assert all(len(found) == 1 for found in by_story.values()), by_story  # the late report joins
    assert by_story["gvc-544535"] != by_story["gvc-548527"]  # two toddlers, two towns, one week: two stories


def test_dates_are_evidence_not_a_wall() -> None:
    """The fitted pair model lowers the probability as the gap grows, without a cut-off: two long reports
    that share their best paragraph and half their terms still link three weeks apart."""
    model = default_pair_model()
    gaps = np.array([0.0, 7.0, 21.0, 365.0])
    length = np.log1p(300)
    signals = {"dense": 0.85, "article": 0.85, "lexical": 0.5, "names": 0.5, "crowding": 0.6, "length": length,
               "dense_x_length": 0.85 * length, "lexical_x_length": 0.5 * length, "rank": np.log1p(1)}
    p = model.probability({**{k: np.full(4, v) for k, v in signals.items()}, "days_apart": np.log1p(gaps),
                           "time_closeness": np.zeros(4)})  # as far apart as both reports' usual look-alikes
    assert np.all(np.diff(p) < 0) and p[2] > model.threshold, p


def test_labels_never_start_with_a_dateline(bench_dir, tmp_path, embedder) -> None:
    """ECB+ articles whose text opens with a dateline ("Posted : Nov 27 , 2005 8 : 20 AM ET ...")."""
    rows = _rows(bench_dir, "ecbplus")
    dated = [r for r in rows if is_dateline(r["text"].split("\n")[0])]
    assert len(dated) >= 10
    stories = {r["story"] for r in dated[:6]}
    subset = [r for r in rows if r["story"] in stories][:40]
    with _index(tmp_path, subset) as index:
        found = index.cluster()
    assert any(is_dateline(r["text"].split("\n")[0]) for r in subset)
    for story in found:
        assert story.headline and not is_dateline(story.headline.split(" , ")[0]), story.headline
        assert not is_dateline(" ".join(story.headline.split()[:4])), story.headline
        assert not any(is_date_term(k) for k in story.keywords), story.keywords


@pytest.mark.parametrize(
    "line, dateline",
    [
        ("Updated : November 11 , 2011 20 : 09 IST", True),
        ("Thursday , December 11 , 2008", True),
        ("Posted : Nov 27 , 2005 8 : 20 AM ET Last Updated : Nov 27 , 2005 8 : 10 PM ET", True),
        ("Updated 5 : 40 p . m . ET", True),
        ("Judge sentences Orozco to death", False),
        ("Obama wins", False),
    ],
)
def test_dateline_detection(line: str, dateline: bool) -> None:
    assert is_dateline(line) is dateline


def test_headline_skips_datelines() -> None:
    text = "May 2 , 2013 , 1 : 12 PM\n\nLawyer : Lindsay Lohan checks into rehab facility\n\nUpdated 4 : 08 p . m . ET"
    assert headline(Article(id="x", text=text)) == "Lawyer : Lindsay Lohan checks into rehab facility"
    assert headline(Article(id="x", text=text, title="Thursday , December 11 , 2008")).startswith("Lawyer")


def test_pair_model_round_trips_and_a_threshold_overrides_it() -> None:
    model = default_pair_model()
    assert PairModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert 0 < model.threshold < 1 and len(model.fitted_on) >= 6
    assert StoryClusterer().config.merge_threshold == model.threshold
