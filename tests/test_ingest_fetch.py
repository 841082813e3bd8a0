"""The polite HTTP client against a real loopback server: robots.txt, delays, timeouts, size cap, retries,
redirect loops, conditional GET and URL normalisation."""

from __future__ import annotations

import itertools
import sys
import time

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from loopback import LoopbackServer, Route

from storycluster.ingest.fetch import USER_AGENT, Fetcher, FetchError, normalize_url

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


@pytest.fixture
def server():
    with LoopbackServer() as server:
        server.routes["/robots.txt"] = Route(ROBOTS, content_type="text/plain")
        yield server


def fetcher(**options) -> Fetcher:
    return Fetcher(**{"delay": 0.0, "timeout": 2.0, "backoff": 0.05, **options})


def test_a_page_comes_with_the_user_agent_and_robots_txt_is_read_once(server):
    server.routes["/a.html"] = Route(b"<p>a</p>", etag='"v1"')
    client = fetcher()
    first, second = client.get(server.url("/a.html")), client.get(server.url("/a.html"))
    assert first.status == second.status == 200 and first.body == b"<p>a</p>" and first.etag == '"v1"'
    assert {r.headers["User-Agent"] for r in server.requests} == {USER_AGENT} and "storycluster" in USER_AGENT
    assert len(server.hits("/robots.txt")) == 1 and len(server.hits("/a.html")) == 2


def test_robots_txt_disallowing_a_path_is_honoured_without_a_request(server):
    server.routes["/private/b.html"] = Route(b"<p>secret</p>")
    with pytest.raises(FetchError, match="disallowed by robots.txt"):
        fetcher().get(server.url("/private/b.html"))
    assert server.hits("/private/b.html") == []


def test_a_changed_etag_is_fetched_again_and_an_unchanged_one_answers_304(server):
    server.routes["/feed.xml"] = Route(b"<rss/>", etag='"v1"')
    client = fetcher()
    assert client.get(server.url("/feed.xml"), etag='"v1"').not_modified
    server.routes["/feed.xml"] = Route(b"<rss>2</rss>", etag='"v2"')
    changed = client.get(server.url("/feed.xml"), etag='"v1"')
    assert (changed.status, changed.body, changed.etag) == (200, b"<rss>2</rss>", '"v2"')
    assert [r.headers.get("If-None-Match") for r in server.hits("/feed.xml")] == ['"v1"', '"v1"']


def test_404_fails_at_once_and_500_is_retried_with_backoff(server):
    server.routes["/500"] = Route(b"oops", status=500)
    client = fetcher(retries=2)
    with pytest.raises(FetchError, match="HTTP 404"):
        client.get(server.url("/missing"))
    assert len(server.hits("/missing")) == 1
    with pytest.raises(FetchError, match="HTTP 500"):
        client.get(server.url("/500"))
    times = [r.time for r in server.hits("/500")]
    assert len(times) == 3 and times[2] - times[1] >= 0.09 and times[1] - times[0] >= 0.045  # 0.05 s, then 0.1 s


def test_a_redirect_loop_fails_with_a_clear_reason(server):
    server.routes["/loop-a"] = Route(status=302, headers={"Location": "/loop-b"})
    server.routes["/loop-b"] = Route(status=302, headers={"Location": "/loop-a"})
    server.routes["/moved"] = Route(status=301, headers={"Location": "/target"})
    server.routes["/target"] = Route(b"here")
    client = fetcher()
    assert client.get(server.url("/moved")).url == server.url("/target")
    with pytest.raises(FetchError, match="redirect loop"):
        client.get(server.url("/loop-a"))
    assert len(server.hits("/loop-a")) <= 3


def test_a_slow_response_times_out_and_is_retried(server):
    server.routes["/slow"] = Route(b"late", delay=1.5)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 0.3 s"):
        fetcher(timeout=0.3, retries=1).get(server.url("/slow"))
    assert len(server.hits("/slow")) == 2 and time.monotonic() - started < 1.5


def test_a_50_mb_response_is_cut_off_at_the_size_cap_while_streaming(server):
    sent = []

    def fifty_megabytes():
        chunk = b"x" * 2**16
        for _ in range(50 * 16):
            sent.append(len(chunk))
            yield chunk

    server.routes["/huge"] = Route(fifty_megabytes, content_type="application/octet-stream")
    server.routes["/declared"] = Route(b"", headers={"Content-Length": str(50 * 2**20)})
    client = fetcher(max_bytes=2**20)
    with pytest.raises(FetchError, match="larger than 1,048,576 bytes"):
        client.get(server.url("/huge"))
    assert len(server.hits("/huge")) == 1  # not retried
    time.sleep(0.2)
    assert sum(sent) < 10 * 2**20  # the server stopped soon after the client hung up
    with pytest.raises(FetchError, match=r"52,428,800 declared"):
        client.get(server.url("/declared"))


def test_requests_to_one_host_wait_for_the_delay(server):
    server.routes["/a"] = Route(b"a")
    client = fetcher(delay=0.25)
    for _ in range(3):
        client.get(server.url("/a"))
    times = [r.time for r in server.requests]  # robots.txt, then /a three times
    assert len(times) == 4 and min(b - a for a, b in itertools.pairwise(times)) >= 0.24


def test_urls_are_normalised():
    assert normalize_url("HTTP://Example.COM:80/a/b?utm_source=rss&id=3&fbclid=x#top") == "http://example.com/a/b?id=3"
    assert normalize_url("https://example.com/p?b=2&a=1") == "https://example.com/p?a=1&b=2"
    assert normalize_url("not a url") == "not a url"
