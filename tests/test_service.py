"""The HTTP service on a real uvicorn over loopback: every endpoint, auth, errors, freshness, and a fuzz.

Tests that go through the index run on a directory and on PostgreSQL (``index_location``); the others
(auth, limits, fuzzing, hostile requests) on a directory only."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path

import httpx
import pytest
import schemathesis
from conftest import SEED_ID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from storycluster import Article, FieldMap, Match, StoryIndex
from storycluster.service.app import ArticleIn, create_app, serve
from storycluster.store.base import open_store

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARTICLES = [
    Article(
        id="quake-1", title="Earthquake strikes Chile", source="wire-a",
        published="2024-03-01T08:00:00+00:00",
        text="A magnitude 7.1 earthquake struck northern Chile on Friday, damaging buildings in "
        "Antofagasta.\n\nRescue teams searched collapsed houses while the navy ruled out a tsunami along "
        "the Pacific coast.",
    ),
    Article(
        id="quake-2", title="Strong quake shakes Antofagasta", source="paper-b",
        published="2024-03-02T10:00:00+00:00",
        text="Buildings were damaged in Antofagasta after a strong earthquake of magnitude 7.1 hit northern "
        "Chile.\n\nOfficials said there was no tsunami threat and rescuers were checking collapsed homes.",
    ),
    Article(
        id="football-1", title="Late goal wins the derby", source="wire-a",
        published="2024-05-20T20:00:00+00:00",
        text="A stoppage-time header gave the home side a 2-1 win in the city derby on Sunday night, "
        "sending the fans into raptures and lifting the club to third place in the league table.",
    ),
]
FLOOD = {
    "id": "feeds/wire/flood-1", "title": "Floods cut off villages in Bavaria", "source": "wire-c",
    "published": "2024-06-02", "lang": "en", "region": "Bavaria",
    "text": "Heavy rain flooded villages along the Danube in Bavaria; rescuers evacuated hundreds of people.",
}


@pytest.fixture(scope="module")
def story_index_dir(seed_index_dir, tmp_path_factory) -> Path:
    """The seed index plus three articles, clustered (the two quake reports form one story)."""
    path = tmp_path_factory.mktemp("service") / "index"
    shutil.copytree(seed_index_dir, path)
    with StoryIndex.open(path) as index:
        index.add(ARTICLES)
        index.cluster()
    return path


@pytest.fixture(scope="module")
def story_index_postgres(seed_index_postgres, pg_databases) -> str:
    """The same story index in a PostgreSQL database."""
    url = pg_databases.create(template=seed_index_postgres)
    with StoryIndex.open(url) as index:
        index.add(ARTICLES)
        index.cluster()
    return url


@pytest.fixture
def index_dir(story_index_dir, tmp_path) -> Path:
    """A private copy of the story index that a test's server may change."""
    target = tmp_path / "index"
    shutil.copytree(story_index_dir, target)
    return target


@pytest.fixture
def index_location(store_kind, request) -> str:
    """A private copy of the story index: a directory, or a PostgreSQL database."""
    if store_kind == "directory":
        return str(request.getfixturevalue("index_dir"))
    return request.getfixturevalue("pg_databases").create(template=request.getfixturevalue("story_index_postgres"))


directory_only = pytest.mark.parametrize("store_kind", ["directory"])


@contextmanager
def running(app) -> Iterator[str]:
    """Run ``app`` on a real uvicorn in a thread, on a free loopback port; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def start(index_location, embedder) -> Iterator[Callable[..., httpx.Client]]:
    """Start a server over ``index_location`` with ``create_app`` options; returns an HTTP client bound to it."""
    with ExitStack() as stack:

        def start_server(**options) -> httpx.Client:
            base = stack.enter_context(running(create_app(index_location, **options)))
            return stack.enter_context(httpx.Client(base_url=base, timeout=30))

        yield start_server


def error(response: httpx.Response, status: int) -> str:
    """The message of a JSON error response, after checking its status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


def posted(article: Article) -> dict:
    """An article as a client posts it."""
    return {k: v for k, v in asdict(article).items() if k != "extra"}


def test_every_read_endpoint_answers_with_the_python_api_records(start):
    client = start()
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["articles"] == 4 and health["stories"] >= 2

    [quake, other] = client.get("/similar", params={"q": "earthquake in northern Chile", "k": 2}).json()
    assert quake["id"] in ("quake-1", "quake-2") and quake["score"] >= other["score"]
    assert set(quake) == {f.name for f in fields(Match)}
    [hit] = client.get("/similar", params={"q": "tsunami threat", "level": "paragraph", "k": 1}).json()
    assert "tsunami" in hit["paragraph"] and hit["paragraph_score"] == hit["score"]
    only_b = client.get("/similar", params={"q": "earthquake", "source": "paper-b"}).json()
    assert [m["id"] for m in only_b] == ["quake-2"]
    not_a = client.get("/similar", params=[("q", "earthquake"), ("exclude_source", "wire-a")]).json()
    assert not {"quake-1", "football-1"} & {m["id"] for m in not_a}
    window = {"q": "earthquake", "since": "2024-03-02", "until": "2024-03-02"}
    assert [m["id"] for m in client.get("/similar", params=window).json()] == ["quake-2"]

    assert client.get("/articles/quake-1").json() == asdict(replace(ARTICLES[0], lang="en"))  # identified
    related = client.get("/articles/quake-1/similar", params={"k": 3}).json()
    assert related[0]["id"] == "quake-2" and related[0]["same_story"] is True
    assert "quake-1" not in {m["id"] for m in related}

    [story] = [s for s in client.get("/stories", params={"min_size": 2}).json() if "quake-1" in s["articles"]]
    assert sorted(story["articles"]) == ["quake-1", "quake-2"] and story["sources"] == ["paper-b", "wire-a"]
    later = client.get("/stories", params={"since": "2024-04-01"}).json()
    assert later and story["story"] not in {s["story"] for s in later}
    coverage = client.get(f"/stories/{story['story']}").json()
    assert coverage["story"] == story and [c["id"] for c in coverage["coverage"]] == ["quake-1", "quake-2"]

    assert client.get("/openapi.json").json()["info"]["title"] == "storycluster"


def test_docs_load_with_their_assets_from_the_server_itself(start):
    """/docs works offline: every script, style and icon it names is served by the same server."""
    client = start()
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+\.(?:js|css|png))['"]""", html.text)
        assert assets, f"{page} names no script or style"
        for asset in assets:
            assert not asset.startswith(("http:", "https:", "//")), f"{page} loads {asset} from elsewhere"
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100, asset


def test_bad_requests_get_a_json_error_naming_the_problem(start):
    client = start()
    assert error(client.get("/articles/nope"), 404) == "no article with id 'nope'"
    assert "nope" in error(client.get("/articles/nope/similar"), 404)
    assert "s999" in error(client.get("/stories/s999"), 404)
    error(client.get("/no/such/route"), 404)
    assert "query.k" in error(client.get("/similar", params={"q": "x", "k": 0}), 422)
    assert "query.k" in error(client.get("/articles/quake-1/similar", params={"k": 101}), 422)
    assert "query.level" in error(client.get("/similar", params={"q": "x", "level": "page"}), 422)
    late = client.get("/similar", params={"q": "x", "since": "last week"})
    assert "query.since: unreadable date 'last week'" in error(late, 422)
    assert "query.until" in error(client.get("/stories", params={"until": "0001-01-01T00:00:00+14:00"}), 422)
    assert "query.q" in error(client.get("/similar"), 422)
    assert "query.q" in error(client.get("/similar", params={"q": " \n "}), 422)
    assert "query.min_size" in error(client.get("/stories", params={"min_size": "many"}), 422)
    assert "writes are disabled" in error(client.post("/articles", json=[FLOOD]), 403)
    assert "writes are disabled" in error(client.post("/articles", json=[FLOOD], headers=AUTH), 403)


def test_post_then_get_sees_it_and_writes_need_the_token(start, index_location):
    client = start(token=TOKEN)
    assert "missing Authorization" in error(client.post("/articles", json=[FLOOD]), 401)
    wrong = client.post("/articles", json=[FLOOD], headers={"Authorization": "Bearer nope"})
    assert error(wrong, 401) == "wrong bearer token" and wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/similar", params={"q": "floods"}).status_code == 200  # reads stay open

    report = client.post("/articles", json=[FLOOD], headers=AUTH).json()
    assert (report["added"], report["updated"], report["unchanged"], report["paragraphs"]) == (1, 0, 0, 1)
    stored = client.get("/articles/feeds/wire/flood-1").json()  # an id with slashes
    assert stored["published"] == "2024-06-02T00:00:00+00:00" and stored["extra"] == {"region": "Bavaria"}
    assert stored["lang"] == "en"
    [hit] = client.get("/similar", params={"q": "Danube floods in Bavaria", "k": 1}).json()
    assert hit["id"] == FLOOD["id"]
    assert client.get("/articles/feeds/wire/flood-1/similar").status_code == 200

    changed = {**FLOOD, "text": FLOOD["text"] + "\n\nThe army was sent in.", "title": "  Bavaria floods  "}
    report = client.post("/articles", json=[changed, posted(ARTICLES[2])], headers=AUTH).json()
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 1, 1)
    assert client.get("/articles/feeds/wire/flood-1").json()["title"] == "Bavaria floods"  # trimmed as by CLI

    def rejected(body: list[dict]) -> str:
        return error(client.post("/articles", json=body, headers=AUTH), 422)

    assert "body.0.text: Field required" in rejected([{"id": "x"}])
    assert "articles[1]: empty text" in rejected([FLOOD, {"id": "blank", "text": " \x00 \r\n"}])
    assert "unreadable date 'soon'" in rejected([{**FLOOD, "published": "soon"}])
    broken = client.post("/articles", content=b"[{", headers={**AUTH, "content-type": "application/json"})
    assert "JSON decode error" in error(broken, 422)
    assert client.get("/health").json()["articles"] == 5  # nothing of the rejected posts was stored
    with StoryIndex.open(index_location) as index:
        assert index.get(FLOOD["id"]).text.endswith("The army was sent in.")


@directory_only
def test_token_reads_puts_every_read_but_health_behind_the_token(start):
    client = start(token=TOKEN, token_reads=True)
    assert client.get("/health").status_code == 200
    reads = ("/similar?q=quake", "/articles/quake-1", "/articles/quake-1/similar", "/stories", "/stories/s1")
    for path in reads:
        error(client.get(path), 401)
        assert client.get(path, headers=AUTH).status_code in (200, 404)
    assert client.get("/articles/quake-1", headers=AUTH).json()["id"] == "quake-1"
    with pytest.raises(ValueError, match="needs a token"):
        serve("unused", token_reads=True)


@directory_only
def test_bodies_over_the_limit_get_413_before_parsing(start):
    client = start(token=TOKEN, max_body_bytes=2048)
    big = [{**FLOOD, "text": "word " * 1000}]
    assert "over the limit of 2,048 bytes" in error(client.post("/articles", json=big, headers=AUTH), 413)
    chunks = iter([b'[{"id": "x", "text": "', b"y" * 3000, b'"}]'])  # no Content-Length: streamed, counted
    error(client.post("/articles", content=chunks, headers={**AUTH, "content-type": "application/json"}), 413)
    assert client.post("/articles", json=[FLOOD], headers=AUTH).status_code == 200


def test_a_post_while_another_process_writes_gets_409(start, index_location):
    client = start(token=TOKEN)
    store = open_store(index_location)
    with store.writing():
        response = client.post("/articles", json=[FLOOD], headers=AUTH)
        assert "being written by another process" in error(response, 409)
        assert response.headers["retry-after"] == "1"
        assert client.get("/articles/quake-1").status_code == 200  # reads go on
    store.close()
    assert client.post("/articles", json=[FLOOD], headers=AUTH).status_code == 200


def test_a_writer_outside_the_server_is_served_without_restart(start, index_location):
    client = start()
    before = client.get("/health").json()["generation"]
    error(client.get("/articles/feeds/wire/flood-1"), 404)
    with StoryIndex.open(index_location) as writer:
        writer.add([Article(**{k: v for k, v in FLOOD.items() if k != "region"})])
    assert client.get("/articles/feeds/wire/flood-1").json()["title"] == FLOOD["title"]
    assert client.get("/health").json()["generation"] == before + 1
    assert client.get("/similar", params={"q": "Danube floods", "k": 1}).json()[0]["id"] == FLOOD["id"]


def test_posted_fields_are_the_cli_input_fields():
    assert set(ArticleIn.model_fields) == {f.name for f in fields(FieldMap)}


def test_fuzzed_requests_from_the_openapi_document_never_get_a_server_error(index_dir, embedder):
    app = create_app(index_dir, token=TOKEN, token_reads=True, max_body_bytes=64 * 1024)
    with running(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)

            @given(case=st.one_of(*(operation.as_strategy(mode) for mode in modes)))
            @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def fuzz(case) -> None:
                response = case.call(headers=AUTH, timeout=30)
                assert response.status_code < 500, (case.as_curl_command(), response.text)
                assert response.headers["content-type"] == ["application/json"], case.as_curl_command()

            fuzz()
    with StoryIndex.open(index_dir) as index:  # whatever was posted, the index opens and agrees with itself
        assert index.get(SEED_ID) and len(index) >= 4


def test_the_serve_command_runs_a_real_server(index_location):
    """`storycluster serve` as a user runs it: a subprocess on a free port, answering until terminated."""
    import os
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "storycluster", "serve", "--index", index_location, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "STORYCLUSTER_TOKEN": ""},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["articles"] == 4
        hits = httpx.get(f"http://127.0.0.1:{port}/articles/quake-1/similar", params={"k": 1}, timeout=30).json()
        assert hits[0]["id"] == "quake-2"
    finally:
        process.terminate()
        process.wait(10)


def test_serve_refuses_token_reads_without_a_token(index_dir):
    from click.testing import CliRunner

    from storycluster.cli.main import main

    result = CliRunner().invoke(main, ["serve", "--index", str(index_dir), "--token-reads"], env={"STORYCLUSTER_TOKEN": ""})
    assert result.exit_code == 2 and "--token-reads needs --token" in result.output


@directory_only
def test_hostile_requests_get_4xx_never_5xx(start):
    """Deep JSON, invalid UTF-8, path traversal in ids and a slow client (issue 9's service list)."""
    client = start(token="s3cret")
    auth = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}
    deep = client.post("/articles", content=b"[" * 100_000 + b"]" * 100_000, headers=auth)
    assert 400 <= deep.status_code < 500 and "error" in deep.json()
    bad_utf8 = client.post("/articles", content=b'[{"id": "x", "text": "caf\xe9"}]', headers=auth)
    assert 400 <= bad_utf8.status_code < 500 and "error" in bad_utf8.json()
    for path in ("/articles/../../etc/passwd", "/articles/..%2F..%2Fmanifest.json", "/stories/..%2F..%2Fx"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
    with socket.create_connection((client.base_url.host, client.base_url.port), timeout=30) as slow:
        slow.sendall(b"POST /articles HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[")
        time.sleep(1)  # a client that stops sending does not hold up others
        assert client.get("/health").status_code == 200
    assert client.get("/health").json()["status"] == "ok"
