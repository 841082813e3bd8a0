"""Dirty input, as scraped text arrives: each case is handled or reported on one line naming file and line.

Every case of issue 9: empty and binary files, Latin-1 and UTF-16 with a BOM, broken JSON lines, missing
and mistyped fields, null bytes, a 50 MB article, 100,000 tiny articles, HTML given as text, duplicate ids
with different texts, dates in odd formats and in the future. Where the message matters the input goes
through the CLI; in every case the other records are all indexed.

100,000 tiny articles are read (JSON lines and CSV) and checked one by one; embedding all of them would
take minutes here, so 2,000 of them are indexed (two commits of 1,000) and checked.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import time

import pytest
from click.testing import CliRunner

from storycluster import ArticleReader, StoryIndex
from storycluster.cli.main import main
from storycluster.store.check import check_index

ARTICLE = (
    "Firefighters contained a large blaze at a chemical plant on the edge of the city on Tuesday, officials "
    "said, after residents were told to keep their windows shut for most of the afternoon."
)


def jsonl(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def run_index(tmp_path, *args):
    result = CliRunner().invoke(main, ["index", *map(str, args), "--index", str(tmp_path / "index"), "-q"])
    summary = json.loads(result.stdout) if result.stdout.strip() else None
    return result, summary, result.stderr.splitlines()


def stored_ids(tmp_path) -> set[str]:
    with StoryIndex.open(tmp_path / "index") as index:
        return set(index.article_vectors()[0])


def test_broken_files_and_records_are_one_line_each_and_every_good_record_is_indexed(tmp_path, embedder):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "empty.txt").write_text("")
    (inputs / "empty.jsonl").write_text("")
    (inputs / "blank.csv").write_text("\n  \n")
    (inputs / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (inputs / "feed.jsonl.gz").write_bytes(gzip.compress(jsonl({"id": "gz", "text": ARTICLE}).encode()))
    (inputs / "gzipped.jsonl").write_bytes(gzip.compress(jsonl({"id": "gz", "text": ARTICLE}).encode() * 50))
    (inputs / "latin1.txt").write_bytes(f"Zürich: {ARTICLE}".encode("latin-1"))
    (inputs / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + f"Genève: {ARTICLE}".encode("utf-16-le"))
    (inputs / "utf16.jsonl").write_bytes(
        jsonl({"id": "u16", "title": "Köln", "text": f"Köln: {ARTICLE}"}).encode("utf-16")
    )
    (inputs / "utf16.csv").write_bytes(f'id,title,text\nc16,Malmö,"Malmö: {ARTICLE}"\n'.encode("utf-16"))
    (inputs / "nul.txt").write_bytes(b"Nul\x00 bytes " + ARTICLE.encode())
    (inputs / "records.jsonl").write_bytes(
        jsonl(
            {"id": "good-1", "title": "Plant fire", "text": ARTICLE, "source": "a", "published": "2024-05-01"},
            '{"id": "broken", "text": "unterminated',
            {"id": "no-text", "title": "Only a title, no text field at all here"},
            {"id": "list-text", "text": ["not", "a", "string"]},
            {"id": "dict-title", "title": {"en": "x"}, "text": ARTICLE},
            {"id": ["a", "list"], "text": ARTICLE},
            {"id": 1.5, "text": ARTICLE},
            {"id": "nulls", "text": f"Null\u0000 bytes inside: {ARTICLE}", "source": "b\u0000c"},
            "[1, 2, 3]",
            "null",
            '{"id": "trailing", "text": "x"} garbage',
            {"id": "   ", "text": f"A blank id gets a content id. {ARTICLE}"},
            {"id": "good-2", "text": f"Second good record. {ARTICLE}", "published": 1714566600},
        ).encode()
        + b'{"id": "raw-nul", "text": "a\x00b"}\n'
        + b'{"id": "latin1-line", "text": "caf\xe9"}\n'
        + jsonl({"id": "good-3", "text": f"Third good record. {ARTICLE}"}).encode()
    )
    (inputs / "mistyped.csv").write_text(f'id,text,published\ncsv-1,"{ARTICLE}",2024-05-02\ncsv-2,,\ncsv-3,"x {ARTICLE}",then\n')

    result, summary, errors = run_index(tmp_path, inputs)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    good = {"good-1", "good-2", "good-3", "nulls", "raw-nul", "u16", "c16", "nul", "utf16", "csv-1", "csv-3"}
    ids = stored_ids(tmp_path)
    assert good <= ids and len(ids) == len(good) + 1  # and the record whose blank id became a content id
    assert [i for i in ids - good if not i.startswith("sha-")] == []
    assert summary["added"] == len(good) + 1 and summary["skipped"] == len(errors) - 1  # one is a warning
    for line in errors:  # one line per problem, each naming its file (and line, for records)
        assert line.startswith(f"storycluster: {inputs}/"), line
    by_place = {line.split(": ", 2)[1].removeprefix(f"{inputs}/"): line.split(": ", 2)[2] for line in errors}
    expected = {
        "empty.txt": "skipped: empty file",
        "empty.jsonl": "skipped: empty file",
        "blank.csv": "skipped: empty file",
        "binary.txt": "skipped: binary data (NUL bytes), not text",
        "feed.jsonl.gz": "skipped: unknown format '.gz'",
        "gzipped.jsonl": "skipped: gzip-compressed data, not text (decompress it first)",
        "latin1.txt": "skipped: not UTF-8 (byte 0xfc at offset 1); give --encoding",
        "records.jsonl:2": "skipped: broken JSON line",
        "records.jsonl:3": "skipped: missing field 'text'",
        "records.jsonl:4": "skipped: field 'text' must be a string, got list",
        "records.jsonl:5": "skipped: field 'title' must be a string, got dict",
        "records.jsonl:6": "skipped: field 'id' must be a string or an integer, got list",
        "records.jsonl:7": "skipped: field 'id' must be a string or an integer, got float",
        "records.jsonl:9": "skipped: expected a JSON object, got list",
        "records.jsonl:10": "skipped: expected a JSON object, got NoneType",
        "records.jsonl:11": "skipped: broken JSON line (Extra data",
        "records.jsonl:15": "skipped: not UTF-8 (byte 0xe9",
        "mistyped.csv:3": "skipped: empty text",
        "mistyped.csv:4": "warning: unreadable date 'then'; article kept without a date",
    }
    assert set(by_place) == set(expected), sorted(by_place)
    for place, start in expected.items():
        assert by_place[place].startswith(start), (place, by_place[place])
    with StoryIndex.open(tmp_path / "index") as index:
        assert "\x00" not in index.get("nulls").text and index.get("nulls").source == "bc"
        assert index.get("raw-nul").text == "ab" and index.get("nul").text.startswith("Nul bytes")
        assert index.get("u16").title == "Köln" and index.get("c16").title == "Malmö"
        assert index.get("utf16").text.startswith("Genève")
        assert index.get("good-2").published == "2024-05-01T12:30:00+00:00"
        assert check_index(tmp_path / "index") == []


def test_latin1_reads_with_the_encoding_it_is_in(tmp_path, embedder):
    feed = tmp_path / "latin1.jsonl"
    feed.write_bytes(jsonl({"id": "l1", "title": "Zürich", "text": f"Café in Zürich. {ARTICLE}"}).encode("latin-1"))
    result, summary, errors = run_index(tmp_path, feed, "--encoding", "latin-1")
    assert result.exit_code == 0 and errors == [] and summary["added"] == 1
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.get("l1").title == "Zürich"


def test_a_50_mb_article_is_skipped_with_the_limit_named_and_nothing_else_lost(tmp_path, embedder):
    huge = "word " * 10_000_000  # 50,000,000 characters
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "huge.txt").write_text(huge)
    (tmp_path / "in" / "feed.jsonl").write_text(
        jsonl({"id": "before", "text": ARTICLE}, {"id": "huge", "text": huge}, {"id": "after", "text": f"After. {ARTICLE}"})
    )
    started = time.perf_counter()
    result, summary, errors = run_index(tmp_path, tmp_path / "in")
    assert time.perf_counter() - started < 60
    assert result.exit_code == 3 and summary["added"] == 2 and summary["skipped"] == 2
    assert errors == [
        (f"storycluster: {tmp_path}/in/feed.jsonl:2: skipped: text of 50,000,000 characters is over the limit "
         "of 1,000,000 (--max-chars)"),
        (f"storycluster: {tmp_path}/in/huge.txt: skipped: text of 50,000,000 characters is over the limit of "
         "1,000,000 (--max-chars)"),
    ]
    assert stored_ids(tmp_path) == {"before", "after"}


def tiny(n: int) -> dict:
    return {"id": f"t{n}", "title": f"Item {n}", "text": f"Short item number {n} about the weather in town {n % 97}.",
            "source": f"s{n % 7}", "published": f"2024-01-{1 + n % 28:02d}"}


def test_100000_tiny_articles_are_read_fast_and_none_is_lost(tmp_path):
    records = [tiny(n) for n in range(100_000)]
    feed = tmp_path / "tiny.jsonl"
    feed.write_text(jsonl(*records))
    table = tmp_path / "tiny.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    for path in (feed, table):
        reader = ArticleReader()
        started = time.perf_counter()
        articles = list(reader.read([path]))
        seconds = time.perf_counter() - started
        assert reader.problems == []
        assert len(articles) == 100_000 and len({a.id for a in articles}) == 100_000
        assert all(a.id == r["id"] and a.text == r["text"] and a.title == r["title"] for a, r in zip(articles, records))
        assert seconds < 20, f"{path.name}: {seconds:.1f} s"


def test_2000_tiny_articles_index_in_two_commits_and_all_are_there(tmp_path, embedder):
    feed = tmp_path / "tiny.jsonl"
    feed.write_text(jsonl(*(tiny(n) for n in range(2_000))))
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        generation = index.info().generation
        report = index.add(ArticleReader().read([feed]))
        assert (report.added, report.unchanged) == (2_000, 0)
        assert len(index) == 2_000 and index.info().generation == generation + 2
        assert set(index.article_vectors()[0]) == {f"t{n}" for n in range(2_000)}
        assert index.get("t1234").text == tiny(1234)["text"] and index.get("t1999").source == "s4"
    assert check_index(tmp_path / "index") == []


HTML = """<html><head><title>Page title</title><style>p { color: red }</style>
<script>var tracking = "do not index me";</script></head>
<body><nav><a href="/">Home</a></nav>
<h1>Chemical plant fire contained</h1>
<p>Firefighters contained a large blaze at a chemical plant on the edge of the city on Tuesday, officials said,
after residents were told to keep their &amp; windows shut for most of the afternoon.</p>
<p>The cause of the fire is not yet known; an investigation will begin once the site is safe, the
<b>fire chief</b> told reporters at the gate.<br>No one was hurt.</p>
</body></html>"""


def test_html_given_as_text_is_indexed_as_its_text(tmp_path, embedder):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.txt").write_text(HTML)
    (tmp_path / "in" / "feed.jsonl").write_text(jsonl(
        {"id": "html", "title": "<b>Plant</b> fire", "text": HTML},
        {"id": "maths", "text": f"When a < b and c > d, nothing here is markup. {ARTICLE} <3"},
    ))
    result, summary, errors = run_index(tmp_path, tmp_path / "in")
    assert result.exit_code == 0 and errors == [] and summary["added"] == 3
    with StoryIndex.open(tmp_path / "index") as index:
        page, record = index.get("page"), index.get("html")
        assert page.title == "Chemical plant fire contained" and record.title == "Plant fire"  # a saved page's headline
        for article in (page, record):
            assert "<" not in article.text and "tracking" not in article.text and "color" not in article.text
            assert "keep their & windows" in article.text and "the fire chief told" in article.text
            assert "\nNo one was hurt." in article.text
        paragraphs = index.paragraphs("html")
        assert paragraphs[-1].startswith("The cause of the fire") or len(paragraphs) == 1
        assert index.get("maths").text.startswith("When a < b and c > d") and index.get("maths").text.endswith("<3")
        assert index.similar("chemical plant blaze contained by firefighters", k=1)[0].id in {"page", "html"}


def test_html_to_text_keeps_words_and_paragraphs():
    from storycluster.ingest.html import html_to_text

    assert html_to_text("Hello <b>world</b>, <i>again</i>!") == "Hello world, again!"
    assert html_to_text("<p>One</p><p>Two<br/>lines</p><ul><li>a</li><li>b</li></ul>") == "One\n\nTwo\nlines\n\na\n\nb"
    assert html_to_text("<!-- a comment --><div>Body&nbsp;text &eacute;t&eacute;</div>") == "Body text été"  # &nbsp; is a space
    assert html_to_text("<p>unclosed <div") == "unclosed"  # an unclosed tag is a tag, as browsers read it
    for plain in ("x < y > z", "see <https://example.com>", "i <3 u", "a<b"):
        assert html_to_text(plain) == plain


def test_duplicate_ids_with_different_texts_are_reported_and_the_last_wins(tmp_path, embedder):
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "b").mkdir()
    feed = tmp_path / "in" / "feed.jsonl"
    feed.write_text(jsonl(
        {"id": "dup", "text": f"First version. {ARTICLE}"},
        {"id": "other", "text": f"Another story. {ARTICLE}"},
        {"id": "dup", "text": f"First version. {ARTICLE}"},  # the same content again: not worth a word
        {"id": "dup", "text": f"Second version. {ARTICLE}"},
    ))
    (tmp_path / "in" / "a" / "story.txt").write_text(f"From folder a. {ARTICLE}")
    (tmp_path / "in" / "b" / "story.txt").write_text(f"From folder b. {ARTICLE}")
    result, summary, errors = run_index(tmp_path, feed, tmp_path / "in" / "a", tmp_path / "in" / "b")
    assert result.exit_code == 0 and summary["added"] == 3
    assert errors == [
        (f"storycluster: {feed}:4: warning: duplicate id 'dup' with different content (first at {feed}:1); "
         "the last one wins"),
        (f"storycluster: {tmp_path}/in/b/story.txt: warning: duplicate id 'story' with different content "
         f"(first at {tmp_path}/in/a/story.txt); the last one wins"),
    ]
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.get("dup").text.startswith("Second version.")
        assert index.get("story").text.startswith("From folder b.")
        assert len(index) == 3


def test_duplicates_across_commits_also_end_with_the_last(tmp_path, embedder):
    from storycluster import Article

    articles = [Article(id="d", text=f"Version {v}. {ARTICLE}") for v in range(3)]
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        index.add([articles[0], Article(id="x", text=ARTICLE), articles[1], articles[2]], commit_every=2)
        assert index.get("d").text.startswith("Version 2.") and len(index) == 2
    assert check_index(tmp_path / "index") == []


@pytest.mark.parametrize(
    "value, stored, warning",
    [
        ("2024-05-01", "2024-05-01T00:00:00+00:00", None),
        ("2024-05-01 12:30", "2024-05-01T12:30:00+00:00", None),
        ("2024-05-01T12:30:00.123456789Z", "2024-05-01T12:30:00+00:00", None),
        ("Wed, 01 May 2024 14:30:00 +0200", "2024-05-01T12:30:00+00:00", None),
        (1714566600, "2024-05-01T12:30:00+00:00", None),
        (1714566600000, "2024-05-01T12:30:00+00:00", None),  # milliseconds, as JavaScript writes them
        ("01/05/2024", None, "unreadable date"),
        ("yesterday", None, "unreadable date"),
        ("0000-00-00", None, "unreadable date"),
        ("2024-02-30", None, "unreadable date"),
        ("0001-01-01T00:00:00+05:00", None, "unreadable date"),
        (10**30, None, "unreadable date"),
        ([2024, 5, 1], None, "unreadable date"),
        (True, None, "unreadable date"),
        ("2999-01-01", "2999-01-01T00:00:00+00:00", "is in the future; kept as given"),
    ],
)
def test_odd_and_future_dates(value, stored, warning):
    reader = ArticleReader()
    data = jsonl({"id": "d", "text": ARTICLE, "published": value}).encode()
    [article] = reader.read(["-"], stdin=io.BytesIO(data))
    assert article.published == stored
    assert [p.message for p in reader.problems if warning and warning in p.message] or not warning
    assert all(not p.skipped for p in reader.problems) and len(reader.problems) == (warning is not None)
    assert all(p.location == "<stdin>:1" for p in reader.problems)


def test_odd_dates_through_the_cli_keep_every_article(tmp_path, embedder):
    feed = tmp_path / "dates.jsonl"
    feed.write_text(jsonl(
        {"id": "ms", "text": f"Milliseconds. {ARTICLE}", "published": 1714566600000},
        {"id": "slash", "text": f"Slashes. {ARTICLE}", "published": "01/05/2024"},
        {"id": "future", "text": f"Future. {ARTICLE}", "published": "2999-01-01T00:00:00Z"},
        '{"id": "inf", "text": "Infinity. ' + ARTICLE + '", "published": 1e400}',
    ))
    result, summary, errors = run_index(tmp_path, feed)
    assert result.exit_code == 0 and summary["added"] == 4
    assert [line.split(": ", 2)[1] for line in errors] == [f"{feed}:2", f"{feed}:3", f"{feed}:4"]
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.get("ms").published == "2024-05-01T12:30:00+00:00"
        assert index.get("future").published == "2999-01-01T00:00:00+00:00"
        assert index.get("slash").published is None and index.get("inf").published is None
        assert [m.id for m in index.similar("plant fire", k=5, since="2998-01-01")] == ["future"]


def test_lone_surrogates_from_json_escapes_are_replaced_and_nothing_is_lost(tmp_path, embedder):
    # json.loads turns "\ud800" into a lone surrogate, which UTF-8 cannot encode: hashing or storing the
    # record used to crash the whole run. It becomes U+FFFD, like any undecodable character.
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        '{"text": "No id and a lone \\ud800 surrogate. ' + ARTICLE + '"}\n'
        '{"id": "odd\\udfff", "text": "A pair \\ud83d\\ude00 is fine. ' + ARTICLE + '", "tags": ["\\udc00"]}\n'
        + jsonl({"id": "plain", "text": ARTICLE})
    )
    result, summary, errors = run_index(tmp_path, feed)
    assert result.exit_code == 0 and errors == [] and summary["added"] == 3, result.output
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.get("odd\ufffd").text.startswith("A pair \U0001f600 is fine.")
        assert index.get("odd\ufffd").extra == {"tags": ["\ufffd"]}
        assert any("lone \ufffd surrogate" in index.get(i).text for i in index.article_vectors()[0])


def test_ids_with_undecodable_bytes_from_the_command_line_are_errors_not_crashes(tmp_path, embedder):
    # A shell passes bytes that are not UTF-8 to Python as lone surrogates ("\udcff"): the id cannot match a
    # stored one (stored ids are valid UTF-8), so it is reported as unknown rather than crashing in SQLite.
    feed = tmp_path / "feed.jsonl"
    feed.write_text(jsonl({"id": "kept", "text": ARTICLE}))
    assert run_index(tmp_path, feed)[0].exit_code == 0
    result = CliRunner().invoke(main, ["similar", "--id", "bad\udcff", "--index", str(tmp_path / "index")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("storycluster: error: no article")
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.remove(["bad\udcff"]) == [] and "bad\udcff" not in index
        with pytest.raises(KeyError):
            index.get("bad\udcff")
    assert stored_ids(tmp_path) == {"kept"}
