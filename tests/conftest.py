"""Shared fixtures: the real model loaded once per session, the bench data, a built seed index."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
