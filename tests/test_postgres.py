"""What only the PostgreSQL store has: filtered HNSW searches that return full result sets, the CLI on a URL
end to end, an unreachable server, psycopg left unimported for directories. The behaviour both stores share
is tested on both in test_index.py, test_stories.py and test_service.py (``index_location``)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SEED_ID, SEEDS

from storycluster import Article, StoryIndex
from storycluster.cli.main import main

ARTICLES = 2000
RARE_EVERY = 200  # 10 articles of the source "rare"
K = 8
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def synthetic(pg_databases) -> tuple[str, np.ndarray]:
    """A store of random unit vectors (no model needed), large enough for the planner to use HNSW."""
    from storycluster.store.postgres import PostgresStore

    url = pg_databases.create()
    vectors = np.random.default_rng(0).normal(size=(ARTICLES, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = PostgresStore(url)
    with store.writing():
        store.create(MODEL, 384, "headline+text", "torch")
        snapshot = store.open_snapshot(writable=True)
        with snapshot.next_generation(vectors_changed=True) as db:
            keys, paragraph_keys = [], []
            for i in range(ARTICLES):
                source = "rare" if i % RARE_EVERY == 0 else "common"
                article = Article(id=f"a{i}", text=f"article {i}", source=source, published=f"2024-01-{1 + i % 28:02d}T12:00:00+00:00")
                key, [paragraph] = db.insert_article(article, [article.text], b"", b"")
                keys.append(key)
                paragraph_keys.append(paragraph)
            snapshot.articles.add(np.array(keys), vectors)
            snapshot.paragraphs.add(np.array(paragraph_keys), vectors)
        snapshot.close()
    store.close()
    return url, vectors


def exact_top(vectors: np.ndarray, query: int, allowed: list[int], k: int) -> list[str]:
    """The ids of the true top ``k`` among ``allowed`` rows (never the query itself)."""
    candidates = [i for i in allowed if i != query]
    scores = vectors[candidates] @ vectors[query]
    return [f"a{candidates[i]}" for i in np.argsort(-scores)[:k]]


def test_a_filter_to_a_rare_source_still_returns_k_results(synthetic):
    url, vectors = synthetic
    rare = list(range(0, ARTICLES, RARE_EVERY))
    with StoryIndex.open(url) as index:
        for level in ("article", "paragraph"):
            hits = index.similar_to("a1", k=K, level=level, sources=["rare"])
            assert [m.id for m in hits] == exact_top(vectors, 1, rare, K)
        window = [i for i in range(ARTICLES) if i % 28 == 4]  # published on 2024-01-05 only
        hits = index.similar_to("a1", k=K, since="2024-01-05", until="2024-01-05")
        assert [m.id for m in hits] == exact_top(vectors, 1, window, K)
        assert len(index.similar_to("a1", k=K, exclude_sources=["common"])) == K


def test_hnsw_alone_would_cut_a_filtered_result_short_and_the_store_does_not(synthetic, monkeypatch):
    import psycopg
    from pgvector.psycopg import register_vector

    import storycluster.store.postgres as postgres

    url, vectors = synthetic
    rare_ids = [f"a{i}" for i in range(0, ARTICLES, RARE_EVERY)]
    with psycopg.connect(url) as connection:
        register_vector(connection)
        plan = "\n".join(r[0] for r in connection.execute(
            "EXPLAIN SELECT key FROM article_vectors ORDER BY embedding <#> %s LIMIT 10", (vectors[1],)))
        assert "article_vectors_hnsw" in plan  # the searches below do go through HNSW
        connection.execute("SET enable_sort = off")  # as the planner does for a filter it thinks lax
        rare = "SELECT key FROM articles WHERE source = 'rare'"
        sql = f"SELECT key FROM article_vectors WHERE key IN ({rare}) ORDER BY embedding <#> %s LIMIT %s"
        assert "article_vectors_hnsw" in "\n".join(r[0] for r in connection.execute(f"EXPLAIN {sql}", (vectors[1], K)))
        plain = connection.execute(sql, (vectors[1], K)).fetchall()
        assert len(plain) < K  # HNSW without iterative scans, filtered after the fact: too few rows
    # Force the HNSW path for the rare filter, and make its iterative scan give up early: the exact
    # fallback still returns the full, exact result.
    monkeypatch.setattr(postgres, "EXACT_UP_TO", 0)
    monkeypatch.setattr(postgres, "_SESSION", (*postgres._SESSION, "SET hnsw.max_scan_tuples = 50"))
    with StoryIndex.open(url) as index:
        hits = index.similar_to("a1", k=K, sources=["rare"])
    assert [m.id for m in hits] == exact_top(vectors, 1, [int(i[1:]) for i in rare_ids], K)


def test_check_counts_rows_against_vectors(synthetic):
    url, _ = synthetic
    result = CliRunner().invoke(main, ["check", "--index", url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"index": url, "ok": True, "problems": []}


def test_cli_end_to_end_on_a_postgres_url(pg_databases, tmp_path, embedder):
    url = pg_databases.create()
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({
        "id": "w1", "title": "Wagner to arm Hezbollah, US says", "source": "wire", "published": "2023-11-21",
        "text": "The White House said the Wagner Group plans to give Hezbollah an air defence system.",
    }) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["index", str(SEEDS), str(feed), "--index", url, "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) | {"seconds": 0} == {
        "index": url, "added": 2, "updated": 0, "unchanged": 0, "skipped": 0, "paragraphs": 8, "seconds": 0}

    result = runner.invoke(main, ["similar", "Wagner air defence for Hezbollah", "--index", url, "-k", "2"])
    assert result.exit_code == 0 and {json.loads(line)["id"] for line in result.stdout.splitlines()} == {SEED_ID, "w1"}
    result = runner.invoke(main, ["similar", "--id", SEED_ID, "--index", url, "--source", "wire"])
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["w1"]

    result = runner.invoke(main, ["stories", "--index", url])
    assert result.exit_code == 0, result.output
    stories = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(a for s in stories for a in s["articles"]) == sorted([SEED_ID, "w1"])

    info = json.loads(runner.invoke(main, ["info", "--index", url]).stdout)
    assert (info["path"], info["articles"], info["paragraphs"], info["model"]) == (url, 2, 8, MODEL)
    assert runner.invoke(main, ["check", "--index", url]).exit_code == 0
    removed = runner.invoke(main, ["remove", "w1", "--index", url])
    assert json.loads(removed.stdout) == {"removed": 1, "missing": []}
    assert json.loads(runner.invoke(main, ["info", "--index", url]).stdout)["articles"] == 1


def test_an_unreachable_server_is_a_clear_error_with_its_own_exit_code():
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://someone:secret@127.0.0.1:{port}/news"
    for command in (["info"], ["similar", "anything"], ["check"]):
        result = CliRunner().invoke(main, [*command, "--index", url])
        assert result.exit_code == 10, (command, result.output)
        assert f"cannot reach the index database postgresql://someone:***@127.0.0.1:{port}/news" in result.stderr
        assert "secret" not in result.stderr


def test_a_directory_index_never_imports_psycopg(seed_index_dir):
    code = (
        "import sys; from storycluster import StoryIndex; "
        f"index = StoryIndex.open({str(seed_index_dir)!r}); index.similar_to({SEED_ID!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('psycopg', 'pgvector'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


KILLER = (
    "import os, signal, sys\n"
    "import storycluster.index.story_index\n"
    "from storycluster import Article, StoryIndex\n"
    "storycluster.index.story_index.mark_copies = lambda *args: os.kill(os.getpid(), signal.SIGKILL)\n"
    "StoryIndex.open(sys.argv[1]).add([Article(id='killed', text='An append killed inside its transaction.')])\n"
)


def test_a_writer_killed_inside_its_transaction_leaves_the_previous_state_and_no_lock(seed_index_postgres, pg_databases):
    url = pg_databases.create(template=seed_index_postgres)
    process = subprocess.run([sys.executable, "-c", KILLER, url], capture_output=True)
    assert process.returncode == -9, process.stderr.decode()
    with StoryIndex.open(url) as index:
        assert "killed" not in index and len(index) == 1 and index.info().generation == 2
        assert index.add([Article(id="killed", text="An append killed inside its transaction.")]).added == 1


def test_an_index_written_before_names_were_stored_gains_them_on_its_next_write(seed_index_postgres, pg_databases):
    import psycopg

    from storycluster.text.lexical import count_names, lexical_text, pack

    url = pg_databases.create(template=seed_index_postgres)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ALTER TABLE articles DROP COLUMN names")  # as an older version wrote it
    with StoryIndex.open(url) as index:
        assert index.add([Article(id="later", text="Wagner sent air defence systems to Hezbollah.")]).added == 1
        articles = [index.get(SEED_ID), index.get("later")]
        db = index._snapshot.db
        stored = db.term_and_name_counts([db.article_key(a.id) for a in articles])[1]
    assert [bytes(blob) for blob in stored] == [
        pack(row) for row in count_names([lexical_text(a.title, a.text) for a in articles])
    ]
