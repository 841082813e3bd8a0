"""`storycluster follow` and :class:`Follower` against a real loopback server and a real index: conditional
GET, fetched pages, failures retried, URLs never fetched twice, state committed with the articles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from ingest_fixtures import atom, page, rss, story, when

sys.path.insert(0, str(ROOT / "bench"))
from loopback import LoopbackServer, Route

from storycluster import StoryIndex
from storycluster.ingest import Fetcher, Follower

PLACES = ["Busan", "Santos", "Genoa", "Durban", "Karachi", "Mombasa"]


def fetcher() -> Fetcher:
    return Fetcher(delay=0.0, timeout=1.0, backoff=0.05, retries=1)


@pytest.fixture
def server():
    with LoopbackServer() as server:
        server.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
        yield server


def items(*numbers, **changes):
    return [{"guid": f"h-{n}", "link": f"/a/{n}.html", "title": f"Strike in {PLACES[n]}",
             "text": changes.get(f"text{n}", story(PLACES[n])), "date": when(n + 1)} for n in numbers]


def test_polls_add_new_entries_once_and_an_unchanged_feed_costs_a_304(server, tmp_path, embedder):
    server.routes["/rss.xml"] = Route(rss(items(0, 1, 1)), etag='"r1"')  # entry 1 twice: a duplicate
    server.routes["/wire.atom"] = Route(atom([{"id": "urn:w:4", "link": "/w/4", "title": "Karachi",
                                               "text": story("Karachi"), "date": when(4)}]), etag='"a1"')
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        follower = Follower([server.url("/rss.xml"), server.url("/wire.atom")], index, fetcher=fetcher())
        first = follower.poll()
        assert (first.feeds, first.new, first.added, first.failures) == (2, 3, 3, 0), first.line()
        assert sorted(index.article_vectors()[0]) == ["h-0", "h-1", "urn:w:4"]
        assert index.get("h-1").url == server.url("/a/1.html")  # the relative link, resolved
        state = json.loads(index.state("follow"))
        assert state["feeds"][server.url("/rss.xml")]["etag"] == '"r1"'
        second = follower.poll()
        assert (second.not_modified, second.new, second.added) == (2, 0, 0), second.line()
        assert server.hits("/rss.xml")[-1].headers["If-None-Match"] == '"r1"'
        # the feed changes: a new entry, entry 0 updated in place, a new ETag
        server.routes["/rss.xml"] = Route(rss(items(0, 1, 2, text0=story("Busan", "Friday"))), etag='"r2"')
        third = follower.poll()
        assert (third.not_modified, third.new, third.added, third.updated) == (1, 1, 1, 1), third.line()
        assert "Friday" in index.get("h-0").text and len(index) == 4
        assert third.line().startswith("poll 3: 2 feeds (1 not modified), 1 new entries, 0 pages fetched, 0 failures, 1 articles added")


def test_fetch_pages_honours_robots_retries_failures_and_never_fetches_a_url_twice(server, tmp_path, embedder):
    for n in (0, 1):
        server.routes[f"/a/{n}.html"] = Route(page(f"Strike in {PLACES[n]}", story(PLACES[n]) + "\n\nMore from the page."))
    server.routes["/a/2.html"] = Route(b"boom", status=500)
    server.routes["/a/3.html"] = Route(b'{"json": true}', content_type="application/json")  # not HTML
    server.routes["/private/4.html"] = Route(page("Secret", story("Mombasa")))
    server.routes["/a/5.html"] = Route(page("Slow", story("Durban")), delay=3)
    entries = items(0, 1, 2, 3) + [
        {"guid": "h-4", "link": "/private/4.html", "title": "Private", "text": story("Mombasa")},
        {"guid": "h-5", "link": "/a/5.html", "title": "Slow", "text": story("Durban")},
    ]
    server.routes["/rss.xml"] = Route(rss(entries), etag='"r1"')
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        follower = Follower([server.url("/rss.xml")], index, fetcher=fetcher(), fetch_pages=True)
        first = follower.poll()
        assert sorted(index.article_vectors()[0]) == ["h-0", "h-1", "h-3", "h-4"], first.problems
        assert "More from the page." in index.get("h-0").text and index.get("h-0").source == "Harbour News"
        assert index.get("h-3").text == story(PLACES[3])  # not a page: the feed's own text
        assert index.get("h-4").text == story("Mombasa")  # refused by robots.txt: the feed's own text
        assert (first.fetched, first.failures, first.added) == (3, 3, 4), first.line()
        assert any("disallowed by robots.txt" in p for p in first.problems)
        assert any("HTTP 500" in p for p in first.problems) and any("timed out" in p for p in first.problems)
        assert server.hits("/private/4.html") == [] and len(server.hits("/a/2.html")) == 2  # retried once
        assert json.loads(index.state("follow")) == {"feeds": {}}  # entries failed for now: the feed is read again
        server.routes["/a/2.html"] = Route(page("Strike in Genoa", story("Genoa")))
        server.routes["/a/5.html"] = Route(page("Slow", story("Durban")))
        second = follower.poll()
        assert (second.new, second.fetched, second.added) == (2, 2, 2), second.line()
        assert [len(server.hits(f"/a/{n}.html")) for n in range(4)] == [1, 1, 3, 1]  # indexed URLs: never again
        assert sorted(index.article_vectors()[0]) == ["h-0", "h-1", "h-2", "h-3", "h-4", "h-5"]
        assert json.loads(index.state("follow"))["feeds"][server.url("/rss.xml")] == {"etag": '"r1"'}


def test_the_cli_follows_a_feed_list_logs_one_line_per_poll_and_stops_on_sigterm(server, tmp_path, embedder):
    server.routes["/rss.xml"] = Route(rss(items(0, 1)), etag='"r1"')
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# my feeds\n{server.url('/rss.xml')}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "storycluster", "follow", str(feeds), "--index", str(tmp_path / "index"), "--delay", "0"]
    once = subprocess.run([*command, "--once"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert once.returncode == 0, once.stderr
    lines = [line for line in once.stderr.splitlines() if "poll" in line]
    assert len(lines) == 1 and "poll 1: 1 feeds (0 not modified), 2 new entries" in lines[0] and "2 articles added" in lines[0]
    process = subprocess.Popen([*command, "--every", "0.2s"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        polls = 0
        while polls < 2:
            line = process.stderr.readline()
            assert line, "follow ended before its second poll"
            polls += " poll " in line
        assert "1 not modified" in line
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=30) == 0 and time.monotonic() - started < 10
    finally:
        process.kill()
        process.wait()
    with StoryIndex.open(tmp_path / "index") as index:
        assert sorted(index.article_vectors()[0]) == ["h-0", "h-1"]


def test_add_commits_its_state_with_the_last_chunk_and_alone_only_when_it_changed(tmp_path, embedder):
    from storycluster import Article

    articles = [Article(id=f"a{n}", text=story(PLACES[n], "Tuesday")) for n in range(3)]

    def breaking_off():
        yield from articles[:2]
        raise RuntimeError("the feed broke off")

    with StoryIndex.open(tmp_path / "index", create=True) as index:
        with pytest.raises(RuntimeError):
            index.add(breaking_off(), commit_every=1, state={"follow": "v1"})
        assert index.article_vectors()[0] == ["a0"] and index.state("follow") is None  # a1 and the state: neither
        index.add(articles, commit_every=2, state={"follow": "v1"})
        assert len(index) == 3 and index.state("follow") == "v1"
        generation = index.info().generation
        index.add([], state={"follow": "v2"})
        assert index.state("follow") == "v2" and index.info().generation == generation + 1
        index.add(articles, state={"follow": "v2"})  # nothing new at all: no generation
        assert index.info().generation == generation + 1
    with StoryIndex.open(tmp_path / "index") as index:
        assert index.state("follow") == "v2"


def test_a_poll_that_finds_the_index_locked_leaves_its_news_for_the_next(server, tmp_path, embedder):
    import fcntl

    server.routes["/rss.xml"] = Route(rss(items(0)), etag='"r1"')
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        follower = Follower([server.url("/rss.xml")], index, fetcher=fetcher())
        with open(tmp_path / "index" / ".lock", "a+") as lock:  # another writer holds the index
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            locked = follower.poll()
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        assert (locked.added, locked.failures) == (0, 1) and "not committed" in locked.problems[-1]
        assert len(index) == 0 and index.state("follow") is None
        after = follower.poll()
        assert (after.not_modified, after.added) == (0, 1), after.line()  # fetched again: nothing was lost


def test_the_kill_loop_checker_notices_a_missing_a_stale_and_a_doubled_article():
    """bench/follow_crash.py's final comparison is not vacuous (the loop itself runs there, >= 100 kills)."""
    import random

    import follow_crash

    with LoopbackServer() as server:
        world = follow_crash.Feeds(2, random.Random(3))
        for _ in range(6):
            world.change(server)
    final = {}
    for guid, link in world.links.items():
        if link not in {url for _, url in final.values()}:
            final[guid] = (world.versions[guid][-1], link)
    assert world.final_problems(final) == []
    victim, (text, link) = next(iter(final.items()))
    assert "missing" in world.final_problems({k: v for k, v in final.items() if k != victim})[0]
    assert world.final_problems({**final, victim: ("an older text", link)}) == [f"stale: ['{victim}']"]
    doubled = world.final_problems({**final, "extra-guid": (text, link)})
    assert any("wrong id" in p for p in doubled) and any("articles for" in p for p in doubled)
