"""Reading articles: formats, field mapping, and every kind of bad input reported with file and line."""

from __future__ import annotations

import io
import json

import pytest

from storycluster import ArticleReader, FieldMap, InputError, parse_date


def read(paths, **options):
    reader = ArticleReader(**options)
    return list(reader.read(paths)), reader


def test_text_directory_takes_title_from_a_standalone_first_line(tmp_path):
    (tmp_path / "a.txt").write_text("Quake hits Chile\n\nA strong earthquake struck northern Chile on Monday.\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Floods in Spain\n\nHeavy rain flooded Valencia.\n")
    (tmp_path / "c.txt").write_text("No title here, just one long opening line that runs on.\nAnd a second line.\n")
    (tmp_path / ".hidden.txt").write_text("ignored\n")
    articles, reader = read([tmp_path])
    by_id = {a.id: a for a in articles}
    assert set(by_id) == {"a", "sub/b", "c"}
    assert by_id["a"].title == "Quake hits Chile"
    assert by_id["a"].text == "A strong earthquake struck northern Chile on Monday."
    assert by_id["sub/b"].title == "Floods in Spain"
    assert by_id["c"].title is None and by_id["c"].text.startswith("No title here")
    assert reader.problems == []


def test_seed_article_reads_without_a_title(tmp_path):
    from conftest import SEED_ID, SEEDS

    articles, reader = read([SEEDS])
    assert [a.id for a in articles] == [SEED_ID] and reader.problems == []
    assert "Wagner" in articles[0].text


def test_jsonl_with_broken_lines_keeps_the_good_records(tmp_path):
    path = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"id": "1", "title": "T", "text": "First text.", "source": "a", "published": "2024-05-01"}),
        '{"id": "2", "text": "unterminated',
        json.dumps({"id": "3", "title": "no text"}),
        json.dumps({"id": "4", "text": ["a", "list"]}),
        json.dumps({"id": "5", "text": "   "}),
        json.dumps(["not", "an", "object"]),
        "",
        json.dumps({"id": 6, "text": "Numeric id.", "published": "yesterday-ish", "tags": ["x"]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    articles, reader = read([path])
    assert [a.id for a in articles] == ["1", "6"]
    assert articles[0].published == "2024-05-01T00:00:00+00:00" and articles[0].source == "a"
    assert articles[1].extra == {"tags": ["x"]} and articles[1].published is None
    messages = [str(p) for p in reader.problems]
    assert messages == [
        f"{path}:2: skipped: broken JSON line (Unterminated string starting at: column 21)",
        f"{path}:3: skipped: missing field 'text'",
        f"{path}:4: skipped: field 'text' must be a string, got list",
        f"{path}:5: skipped: empty text",
        f"{path}:6: skipped: expected a JSON object, got list",
        f"{path}:8: warning: unreadable date 'yesterday-ish'; article kept without a date",
    ]
    assert reader.skipped == 5


def test_strict_stops_at_the_first_bad_record(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"id": "1", "text": "ok"}\n{broken\n')
    with pytest.raises(InputError, match=r"feed.jsonl:2: broken JSON line"):
        read([path], strict=True)


def test_field_mapping_and_csv(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text('key,headline,body,outlet\nk1,Head,"Body, with comma\nand newline",BBC\nk2,H2,,CNN\n')
    articles, reader = read([path], fields=FieldMap(id="key", title="headline", text="body", source="outlet"))
    assert [(a.id, a.title, a.source) for a in articles] == [("k1", "Head", "BBC"), ("k2", "H2", "CNN")]
    assert articles[0].text == "Body, with comma\nand newline"
    assert articles[1].text == "H2"  # a headline-only item is indexed on its headline
    assert [str(p) for p in reader.problems] == [f"{path}:4: warning: empty text; indexed on its title"]


def test_a_file_of_headlines_alone_says_so_once_then_counts(tmp_path):
    # a feed of headlines (empty text) is read whole, without a warning a line: the first, then a count
    path = tmp_path / "headlines.jsonl"
    rows = [{"id": str(i), "title": f"Headline {i}", "text": ""} for i in range(4)]
    rows.insert(2, {"id": "full", "title": "With a body", "text": "A body."})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    other = tmp_path / "one.jsonl"
    other.write_text(json.dumps({"id": "x", "title": "Alone", "text": ""}) + "\n")
    articles, reader = read([path, other])
    assert [a.text for a in articles] == ["Headline 0", "Headline 1", "A body.", "Headline 2", "Headline 3", "Alone"]
    assert [str(p) for p in reader.problems] == [
        f"{path}:1: warning: empty text; indexed on its title",
        f"{path}: warning: 3 more records with empty text indexed on their titles",
        f"{other}:1: warning: empty text; indexed on its title",
    ]
    assert reader.skipped == 0


def test_csv_without_text_column_is_named(tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text("id,body\n1,hello\n")
    _, reader = read([path])
    assert "no 'text' column" in str(reader.problems[0])


def test_unknown_format_binary_empty_and_missing_files(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0binary")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02\x03 not text")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "ok.txt").write_text("A real article about a storm.")
    articles, reader = read([tmp_path, tmp_path / "absent.jsonl"])
    assert [a.id for a in articles] == ["ok"]
    messages = {p.location.rsplit("/", 1)[-1]: p.message for p in reader.problems}
    assert messages["photo.jpg"].startswith("unknown format '.jpg'")
    assert messages["bin.txt"] == "binary data (NUL bytes), not text"
    assert messages["empty.txt"] == "empty file"
    assert messages["absent.jsonl"] == "no such file or directory"


def test_encodings(tmp_path):
    (tmp_path / "latin.txt").write_bytes("Zürich café".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("Zürich café in UTF-16".encode("utf-16"))
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "b", "text": "BOM"}).encode())
    articles, reader = read([tmp_path])
    assert {a.id: a.text for a in articles} == {"utf16": "Zürich café in UTF-16", "b": "BOM"}
    assert reader.problems[0].message.startswith("not UTF-8 (byte 0xfc at offset 1); give --encoding")
    articles, _ = read([tmp_path / "latin.txt"], encoding="latin-1")
    assert articles[0].text == "Zürich café"


def test_invalid_utf8_in_one_jsonl_line_loses_only_that_line(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b'{"id": "1", "text": "fine"}\n{"id": "2", "text": "caf\xe9"}\n{"id": "3", "text": "also fine"}\n')
    articles, reader = read([path])
    assert [a.id for a in articles] == ["1", "3"]
    assert reader.problems[0].location == f"{path}:2"


def test_stdin_is_sniffed_as_jsonl_or_text():
    reader = ArticleReader()
    articles = list(reader.read(["-"], stdin=io.BytesIO(b'{"id": "x", "text": "from a pipe"}\n')))
    assert [(a.id, a.text) for a in articles] == [("x", "from a pipe")]
    articles = list(reader.read(["-"], stdin=io.BytesIO(b"Headline\n\nPlain text from a pipe.\n")))
    assert articles[0].title == "Headline" and articles[0].id == "stdin"


def test_null_bytes_and_crlf_are_cleaned(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"id": "n", "text": "a\u0000b\r\nc"}) + "\n")
    articles, _ = read([path])
    assert articles[0].text == "ab\nc"


def test_missing_id_gets_a_stable_content_id(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"text": "same text"}) + "\n")
    first, _ = read([path])
    second, _ = read([path])
    assert first[0].id == second[0].id and first[0].id.startswith("sha-")


def test_too_long_articles_are_skipped_with_the_limit_named(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 100)
    _, reader = read([path], max_chars=50)
    assert "over the limit of 50 (--max-chars)" in reader.problems[0].message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01", "2024-05-01T00:00:00+00:00"),
        ("2024-05-01T12:30:00Z", "2024-05-01T12:30:00+00:00"),
        ("2024-05-01T14:30:00+02:00", "2024-05-01T12:30:00+00:00"),
        ("Wed, 01 May 2024 12:30:00 GMT", "2024-05-01T12:30:00+00:00"),
        (1714566600, "2024-05-01T12:30:00+00:00"),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["soon", "", True, [2024], "0001-01-01T00:00:00+14:00", 10**20])
def test_parse_date_rejects(value):
    with pytest.raises(ValueError):
        parse_date(value)
