"""Stories stored in the index: clustering through the API and CLI, stable ids, coverage, eval.

Tests taking ``index_location`` run on a directory and on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import SEED_ID

from storycluster import Article, StoryclusterError, StoryIndex
from storycluster.cli.main import main


def article(id_: str, source: str, published: str, title: str, text: str) -> Article:
    return Article(id=id_, source=source, published=published, title=title, text=text)


CHILE = [
    article("chile-a", "wire", "2024-03-01T08:00:00+00:00", "Magnitude 7.1 earthquake hits northern Chile",
            "A magnitude 7.1 earthquake struck near Antofagasta in northern Chile on Friday, damaging homes. "
            "Chile's navy said there was no tsunami risk."),
    article("chile-b", "paper", "2024-03-01T11:00:00+00:00", "Antofagasta shaken by strong quake",
            "Residents of Antofagasta ran into the streets when a 7.1 magnitude quake shook northern Chile on "
            "Friday. Chilean officials ruled out a tsunami."),
]
JAPAN = [
    article("japan-a", "wire", "2024-06-10T02:00:00+00:00", "Earthquake of magnitude 6.4 rattles Hokkaido",
            "A 6.4 magnitude earthquake rattled Hokkaido in northern Japan on Monday, halting trains in Sapporo. "
            "The Japan Meteorological Agency issued no tsunami warning."),
    article("japan-b", "tv", "2024-06-10T05:00:00+00:00", "Sapporo trains halted after Hokkaido quake",
            "Trains in Sapporo stopped after a magnitude 6.4 quake hit Japan's Hokkaido island on Monday, the "
            "Japan Meteorological Agency said, adding there was no tsunami threat."),
]


@pytest.fixture
def quake_index(index_location):
    with StoryIndex.open(index_location) as index:
        index.add(CHILE + JAPAN)
        yield index


def test_two_quakes_are_two_stories_and_ids_are_stable(quake_index):
    stories = quake_index.cluster()
    groups = sorted(sorted(s.articles) for s in stories)
    assert groups == [[SEED_ID], ["chile-a", "chile-b"], ["japan-a", "japan-b"]]
    chile = next(s for s in stories if "chile-a" in s.articles)
    assert chile.sources == ["paper", "wire"] and chile.size == 2
    assert chile.first_published == "2024-03-01T08:00:00+00:00" and chile.last_published == "2024-03-01T11:00:00+00:00"
    assert chile.headline in {a.title for a in CHILE}
    assert {"antofagasta", "chile"} & set(chile.keywords)
    again = {s.story: sorted(s.articles) for s in quake_index.cluster()}
    assert again == {s.story: sorted(s.articles) for s in stories}

    quake_index.add([article("football", "tv", "2024-07-01", "Late goal wins the derby",
                             "A stoppage-time header gave the home side a 2-1 win in the city derby.")])
    online = {s.story: sorted(s.articles) for s in quake_index.stories()}  # current without re-clustering
    assert online == {**again, quake_index.story_of("football"): ["football"]}
    assert quake_index.story_of("football") not in again
    assert {s.story: sorted(s.articles) for s in quake_index.cluster()} == online  # a rebuild keeps the ids


def test_story_windows_sizes_and_coverage(quake_index):
    quake_index.cluster()
    assert [s.articles for s in quake_index.stories(min_size=2, since="2024-06-01")] == [["japan-a", "japan-b"]]
    assert [sorted(s.articles) for s in quake_index.stories(until="2024-03-01")] == [["chile-a", "chile-b"]]
    chile = quake_index.story_of("chile-a")
    detail = quake_index.story(chile)
    assert [c.id for c in detail.coverage] == ["chile-a", "chile-b"]
    assert all(len(c.distinct) == 1 and 0 <= c.distinct[0].novelty <= 2 for c in detail.coverage)
    with pytest.raises(StoryclusterError, match="no story with id 'nope'"):
        quake_index.story("nope")


def test_similar_to_tells_which_hits_share_the_story(quake_index):
    quake_index.cluster()
    matches = quake_index.similar_to("chile-a", k=3)
    assert matches[0].id == "chile-b" and matches[0].same_story is True
    assert all(m.same_story is False for m in matches[1:])
    assert matches[0].story == quake_index.story_of("chile-a")


def test_empty_and_one_article_indexes(empty_location, index_location, embedder):
    with StoryIndex.open(empty_location, create=True) as empty:
        assert empty.cluster() == [] and empty.stories() == []
    with StoryIndex.open(index_location) as one:
        [story] = one.cluster()
        assert story.articles == [SEED_ID] and story.size == 1 and story.sources == []
        assert story.headline.startswith("date 2023-11-22 The American government accused")


def test_cli_stories_and_story(index_location, empty_location):
    runner = CliRunner()
    result = runner.invoke(main, ["stories", "--index", index_location])
    assert result.exit_code == 0, result.output
    [story] = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(story) == {"story", "size", "sources", "languages", "headline", "keywords", "first_published",
                          "last_published", "articles"}
    shown = runner.invoke(main, ["stories", "--index", index_location, "--story", story["story"]])
    assert json.loads(shown.stdout)["coverage"][0]["id"] == SEED_ID
    missing = runner.invoke(main, ["stories", "--index", index_location, "--story", "s999"])
    assert missing.exit_code == 1 and "no story with id 's999'" in missing.stderr
    empty = runner.invoke(main, ["stories", "--index", empty_location])
    assert empty.exit_code == 4


def test_cli_eval_on_small_real_subsets_one_row_per_file(bench_dir, tmp_path, embedder):
    lines = (bench_dir / "neus_val.jsonl").read_text().splitlines(keepends=True)
    first, second = tmp_path / "neus30.jsonl", tmp_path / "neus_next30.jsonl"
    first.write_text("".join(lines[:30]))
    second.write_text("".join(lines[30:60]))
    result = CliRunner().invoke(main, ["eval", str(first), str(second), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["corpus"] for row in rows] == ["neus30", "neus_next30"]
    for report in rows:
        assert set(report) == {"corpus", "bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_f1", "ami", "ari",
                               "n_docs", "n_stories", "n_predicted", "precision_at_5", "recall_at_2", "cluster_s"}
        assert report["n_docs"] == 30 and report["n_stories"] == 10 and report["cluster_s"] > 0
        assert report["bcubed_f1"] > 0.85 and report["recall_at_2"] > 0.8
        precision, recall = report["bcubed_precision"], report["bcubed_recall"]
        assert report["bcubed_f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=2e-4)
    table = CliRunner().invoke(main, ["eval", str(first), str(second), "--quiet", "--format", "table"])
    header, *body = table.stdout.splitlines()
    assert header.split()[:3] == ["CORPUS", "N_DOCS", "N_STORIES"] and "BCUBED_F1" in header
    assert [line.split()[0] for line in body] == ["neus30", "neus_next30"]
    both = CliRunner().invoke(main, ["eval", str(first), str(second), "--index", str(tmp_path / "one")])
    assert both.exit_code == 2 and "--index goes with one DATA file" in both.stderr


def test_cli_eval_without_labels_is_an_input_error(tmp_path):
    data = tmp_path / "plain.jsonl"
    data.write_text(json.dumps({"id": "a", "text": "no label here"}) + "\n")
    result = CliRunner().invoke(main, ["eval", str(data)])
    assert result.exit_code == 3 and "no record has a 'story' label" in result.stderr


WIRE = ("PARIS (Wire) - French farmers blocked motorways around Paris on Monday with hundreds of tractors, "
        "demanding lower fuel taxes and fewer environmental rules, and vowed to stay until the government "
        "answers their demands. Police said 600 tractors took part.")


def test_wire_copies_and_rewrites_are_flagged_kept_in_the_story_and_shown_once(index_location):
    copies = [
        article("wire-1", "agency", "2024-01-29T07:00:00+00:00", "Farmers block Paris motorways", WIRE),
        article("copy-1", "paper-a", "2024-01-29T08:00:00+00:00", "Farmers block Paris motorways", WIRE),
        article("rewrite-1", "paper-b", "2024-01-29T09:00:00+00:00", "Tractors block roads around Paris",
                WIRE.replace("on Monday", "early on Monday").replace("Police said", "According to police,")),
        article("own-1", "paper-c", "2024-01-29T10:00:00+00:00", "Angry farmers besiege the capital",
                "Hundreds of tractors closed the main roads into Paris as farmers protested against fuel taxes "
                "and green rules; the prime minister promised talks. Officers counted about 600 vehicles."),
    ]
    with StoryIndex.open(index_location) as index:
        index.add(copies)
        flagged = {m.id: m.duplicate_of for m in index.similar_to("wire-1", k=5, all_copies=True)}
        assert {i: flagged[i] for i in ("copy-1", "rewrite-1", "own-1")} == {
            "copy-1": "wire-1", "rewrite-1": "wire-1", "own-1": None}
        story = next(s for s in index.stories() if "wire-1" in s.articles)
        assert sorted(story.articles) == ["copy-1", "own-1", "rewrite-1", "wire-1"]
        assert story.sources == ["agency", "paper-a", "paper-b", "paper-c"]
        shown = index.similar_to("own-1", k=5)
        farm = [m for m in shown if m.id in ("wire-1", "copy-1", "rewrite-1")]
        assert len(farm) == 1 and sorted([farm[0].id, *farm[0].copies]) == ["copy-1", "rewrite-1", "wire-1"]
        assert {m.id for m in index.similar_to("own-1", k=5, all_copies=True)} >= {"wire-1", "copy-1", "rewrite-1"}


def test_a_like_event_a_year_later_opens_a_new_story(index_location):
    """Dates are evidence, not a wall (no 7-day cut any more): next year's quake in the same country, told
    with other places and numbers and a year apart, opens a story of its own."""
    a_year_later = [
        article("chile-2025-a", "wire", "2025-03-04T08:00:00+00:00", "Deadly quake strikes Iquique port",
                "Two people died when a 6.2 magnitude earthquake hit the port city of Iquique on Tuesday, Chile's "
                "emergency office said. Landslides blocked the coastal highway."),
        article("chile-2025-b", "paper", "2025-03-04T10:00:00+00:00", "Iquique quake kills two, blocks highway",
                "A magnitude 6.2 earthquake killed two people in Iquique on Tuesday and landslides cut the coastal "
                "highway, Chilean emergency officials said."),
    ]
    with StoryIndex.open(index_location) as index:
        index.add(CHILE)
        index.add(a_year_later)
        assert index.story_of("chile-a") == index.story_of("chile-b")
        assert index.story_of("chile-2025-a") == index.story_of("chile-2025-b") != index.story_of("chile-a")
        rebuilt = {frozenset(s.articles) for s in index.cluster()}
        assert frozenset({"chile-a", "chile-b"}) in rebuilt and frozenset({"chile-2025-a", "chile-2025-b"}) in rebuilt


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Gov. Sarah Palin said on Friday she would resign. More text follows here.",
         "Gov. Sarah Palin said on Friday she would resign."),
        ("No full stop in a very long opening that goes on and on well past the twenty word limit of a "
         "headline without ever ending its sentence at all", "No full stop in a very long opening that goes on "
         "and on well past the twenty word limit of…"),
    ],
)
def test_headline_without_a_title_is_the_first_real_sentence(text, expected):
    from storycluster.stories.labels import headline

    assert headline(Article(id="x", text=text)) == expected
    assert headline(Article(id="x", text=text, title="A title")) == "A title"
