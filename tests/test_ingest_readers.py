"""Reading web pages, RSS/Atom feeds, WARC archives and http(s) addresses (issue 16), with the reader's
bad-input rules: a bad record is reported with its place and skipped; ``strict`` stops at it."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT
from ingest_fixtures import atom, page, rss, story, warc, when

sys.path.insert(0, str(ROOT / "bench"))
from loopback import PAGES, LoopbackServer, Route

from storycluster import ArticleReader
from storycluster.errors import InputError
from storycluster.ingest import html_to_text, read_page

BOILERPLATE = ("cookies", "Related articles", "Celebrity chef", "Comments", "First!", "Copyright", "Sport")


def read(paths, **options):
    reader = ArticleReader(**options)
    articles = list(reader.read([str(p) for p in paths]))
    return articles, [str(problem) for problem in reader.problems]


@pytest.fixture(scope="module")
def pages_dir():
    if not PAGES.is_dir():
        pytest.skip(f"real pages not found at {PAGES} (../shared/web/pages beside the repository)")
    return PAGES


def test_real_pages_never_crash_the_reader_and_each_page_with_an_article_gives_one(pages_dir):
    """Every 5th of the 200 real pages (bench/ingest.py reads all of them: 199 of 199 non-empty pages)."""
    files = sorted(p for p in pages_dir.iterdir() if p.is_file())[::5]
    reader = ArticleReader()
    for file in files:
        articles = list(reader.read([file]))
        if file.stat().st_size == 0:
            assert articles == [] and str(reader.problems[-1]).endswith("skipped: empty file")
            continue
        assert len(articles) == 1, (file.name, reader.problems[-1:])
        article = articles[0]
        assert len(article.text) >= 100 and article.title and article.lang, file.name
        assert "<p>" not in article.text and "</" not in article.text
    assert len(files) == 40


def test_a_page_gives_its_article_without_the_boilerplate_around_it(tmp_path):
    (tmp_path / "strike.html").write_bytes(page("Dock strike halts Rotterdam", story("Rotterdam")))
    (tmp_path / "no-suffix").write_bytes(page("Dock strike halts Genoa", story("Genoa")))  # sniffed as HTML
    articles, problems = read([tmp_path / "strike.html", tmp_path / "no-suffix"])
    assert problems == [] and [a.id for a in articles] == ["strike", "no-suffix"]
    article = articles[0]
    assert article.text == story("Rotterdam") and article.title == "Dock strike halts Rotterdam"
    assert not any(word in article.text for word in BOILERPLATE)
    assert (article.source, article.published, article.lang) == ("Harbour Times", "2024-05-02T08:30:00+00:00", "en")


def test_html_inside_a_text_field_loses_its_boilerplate_too(tmp_path):
    record = {"id": "r1", "title": "<b>Dock</b> strike", "text": page("Dock strike", story("Durban")).decode()}
    (tmp_path / "in.jsonl").write_text(json.dumps(record) + "\n")
    [article], problems = read([tmp_path / "in.jsonl"])
    assert problems == [] and article.title == "Dock strike" and article.text == story("Durban")
    assert html_to_text("<p>One</p><p>Two<br/>lines</p><ul><li>a</li><li>b</li></ul>") == "One\n\nTwo\nlines\n\na\n\nb"
    assert html_to_text("Hello <b>world</b>, <i>again</i>!") == "Hello world, again!"


def test_rss_and_atom_feeds_give_one_article_per_entry(tmp_path):
    (tmp_path / "harbour.xml").write_bytes(rss([
        {"guid": "h-1", "link": "http://harbour.example/a/1?utm_source=rss", "title": "Strike in Busan",
         "text": story("Busan"), "date": when(1)},
        {"link": "http://harbour.example/a/2", "title": "Strike in Santos", "text": story("Santos")},  # no guid
    ]))
    (tmp_path / "wire.atom").write_bytes(atom([
        {"id": "urn:w:1", "link": "http://wire.example/w1", "title": "Strike in Genoa", "text": story("Genoa"),
         "date": when(2)},
    ]))
    articles, problems = read([tmp_path / "harbour.xml", tmp_path / "wire.atom"])
    assert problems == []
    by_id = {a.id: a for a in articles}
    assert set(by_id) == {"h-1", "http://harbour.example/a/2", "urn:w:1"}
    first = by_id["h-1"]
    assert (first.url, first.title, first.source, first.published) == (
        "http://harbour.example/a/1", "Strike in Busan", "Harbour News", "2024-05-01T09:00:00+00:00")
    assert first.text == story("Busan") and by_id["urn:w:1"].text == story("Genoa")
    assert by_id["urn:w:1"].source == "Port Wire" and by_id["urn:w:1"].published == "2024-05-02T09:00:00+00:00"


def test_a_feed_of_headlines_alone_says_so_once_then_counts(tmp_path):
    # a feed of headlines alone (no summaries) is read whole, with two warnings rather than one an entry
    items = [{"guid": f"h-{i}", "link": f"http://harbour.example/h/{i}", "title": f"Strike day {i} in Busan"}
             for i in range(4)]
    items[2]["text"] = story("Busan")
    feed = tmp_path / "headlines.xml"
    feed.write_bytes(rss(items))
    articles, problems = read([feed])
    assert [a.text for a in articles] == ["Strike day 0 in Busan", "Strike day 1 in Busan", story("Busan"),
                                          "Strike day 3 in Busan"]
    assert problems == [f"{feed}[1]: warning: empty text; indexed on its title",
                        f"{feed}: warning: 2 more records with empty text indexed on their titles"]


def test_a_latin1_feed_keeps_its_accents(tmp_path):
    text = "Les dockers de Marseille ont cessé le travail lundi; grève générale à l'été, selon la préfecture."
    (tmp_path / "fr.rss").write_bytes(rss([{"guid": "f1", "link": "http://fr.example/1", "title": "Grève à Marseille",
                                            "text": text}], title="Journal du Port", encoding="iso-8859-1"))
    [article], problems = read([tmp_path / "fr.rss"])
    assert problems == [] and article.title == "Grève à Marseille" and article.text == text
    assert article.source == "Journal du Port"


def test_a_broken_feed_and_a_bad_entry_are_reported_with_their_place(tmp_path):
    (tmp_path / "broken.xml").write_bytes(b"<?xml version='1.0'?><rss><channel><item><title>cut off")
    (tmp_path / "bad-entry.xml").write_bytes(rss([
        {"title": "An entry with neither guid nor link", "text": story("Karachi")},
        {"guid": "ok-1", "link": "http://harbour.example/ok", "title": "Fine", "text": story("Mombasa")},
    ]))
    articles, problems = read([tmp_path / "broken.xml", tmp_path / "bad-entry.xml"])
    assert [a.id for a in articles] == ["ok-1"]
    assert any(p.startswith(f"{tmp_path / 'broken.xml'}") and "skipped" in p for p in problems), problems
    assert f"{tmp_path / 'bad-entry.xml'}[1]: skipped: entry has neither an id nor a link" in problems
    with pytest.raises(InputError, match=r"bad-entry.xml\[1\]: entry has neither"):
        read([tmp_path / "bad-entry.xml"], strict=True)


def test_warc_and_warc_gz_give_their_html_responses(tmp_path):
    records = [
        ("http://harbour.example/a/1", page("Strike in Busan", story("Busan")), "text/html; charset=utf-8"),
        ("http://harbour.example/logo.png", b"\x89PNG\r\n", "image/png"),
        ("http://harbour.example/a/2", page("Strike in Durban", story("Durban")), "text/html"),
    ]
    (tmp_path / "crawl.warc").write_bytes(warc(records))
    (tmp_path / "crawl.warc.gz").write_bytes(warc(records, compress=True))
    (tmp_path / "cut.warc.gz").write_bytes(warc(records, compress=True)[:-200])
    for name in ("crawl.warc", "crawl.warc.gz"):
        articles, problems = read([tmp_path / name])
        assert problems == [] and [a.url for a in articles] == ["http://harbour.example/a/1", "http://harbour.example/a/2"]
        assert [a.id for a in articles] == [a.url for a in articles] and articles[1].text == story("Durban")
    articles, problems = read([tmp_path / "cut.warc.gz"])
    assert [a.url for a in articles] == ["http://harbour.example/a/1"]
    assert len(problems) == 1 and "cut.warc.gz" in problems[0] and "skipped" in problems[0]


def test_http_addresses_are_read_as_the_page_or_feed_there():
    with LoopbackServer() as server:
        server.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
        server.routes["/news/strike.html"] = Route(page("Strike in Genoa", story("Genoa")))
        server.routes["/feeds/rss"] = Route(rss([{"guid": "g", "link": "../news/strike.html", "title": "Genoa",
                                                  "text": story("Genoa")}]), content_type="application/rss+xml")
        server.routes["/private/x.html"] = Route(page("Secret", story("Santos")))
        articles, problems = read([server.url("/news/strike.html?utm_source=x"), server.url("/feeds/rss"),
                                   server.url("/private/x.html"), server.url("/gone")])
        assert [a.id for a in articles] == [server.url("/news/strike.html"), "g"]
        assert articles[1].url == server.url("/news/strike.html")  # resolved against the feed's address
        assert problems == [f"{server.url('/private/x.html')}: skipped: disallowed by robots.txt",
                            f"{server.url('/gone')}: skipped: HTTP 404 Not Found"]


def test_a_page_of_an_html_string_reads_directly():
    found = read_page(page("Strike in Busan", story("Busan")), url="http://harbour.example/a?fbclid=1")
    assert found is not None and found.url == "http://harbour.example/a" and found.text == story("Busan")


def test_the_extraction_libraries_load_only_when_used():
    import subprocess

    code = (
        "import sys, storycluster, storycluster.cli, storycluster.ingest\n"
        "heavy = ('trafilatura', 'feedparser', 'fastwarc', 'courlan', 'lxml', 'htmldate', 'py3langid')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"
