"""The Ray engine: same index as the local engine, IVF shards merged on Ray, the CLI end to end.

One local Ray (2 CPUs) serves the module's in-process tests; the model is the session's, loaded once. The
CLI's end-to-end test runs real processes, each starting and stopping its own Ray as a user's command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import islice

import numpy as np
import pytest
from click.testing import CliRunner

from storycluster import ArticleReader, StoryIndex
from storycluster.cli.main import main
from storycluster.store.vectors import VectorSet

ARTICLES = 40


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray with 2 CPUs for this module, shut down after it; every message Ray prints is printed once
    it arrives (no deduplication: one would hold back a worker's death within 5 s of another)."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # read when Ray is imported
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'storycluster[ray]')")
    from storycluster.engines.ray import RayEngine

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with RayEngine(workers=2) as engine:  # joins the running Ray, sets Ray Data quiet
        yield engine
    ray.shutdown()


@pytest.fixture(scope="module")
def bench_subset(bench_dir, tmp_path_factory):
    """The first articles of ecbplus as a JSON-lines file."""
    path = tmp_path_factory.mktemp("ray") / "subset.jsonl"
    with open(bench_dir / "ecbplus.jsonl", encoding="utf-8") as source:
        path.write_text("".join(islice(source, ARTICLES)), encoding="utf-8")
    return path


def test_the_ray_index_equals_the_local_one(ray_session, bench_subset, embedder, tmp_path):
    # the default backend: a text's vector does not depend on which actor, batch or commit embedded it
    with StoryIndex.open(tmp_path / "local", create=True) as local:
        local.add(ArticleReader().read([bench_subset]))
        reader = ArticleReader()
        with StoryIndex.open(tmp_path / "ray", create=True) as on_ray:
            report = ray_session.add(on_ray, ray_session.read([str(bench_subset)], reader), commit_every=7)
            assert (report.added, reader.problems) == (ARTICLES, [])
            assert on_ray.info().backend == local.info().backend == embedder.backend
            ids, vectors = local.article_vectors()
            ray_ids, ray_vectors = on_ray.article_vectors()
            assert ray_ids == ids
            assert np.abs(ray_vectors - vectors).max() <= 1e-5
            for article_id in ids:
                difference = on_ray.paragraph_vectors(article_id) - local.paragraph_vectors(article_id)
                assert np.abs(difference).max() <= 1e-5
                expected = [m.id for m in local.similar_to(article_id, k=5)]
                assert [m.id for m in on_ray.similar_to(article_id, k=5)] == expected
            query = "earthquake kills dozens"
            assert [m.id for m in on_ray.similar(query, k=5)] == [m.id for m in local.similar(query, k=5)]
            assert _groups(on_ray) == _groups(local)


def test_inverted_file_shards_merged_on_ray_search_like_exact(ray_session):
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(40, 64))
    vectors = centres[rng.integers(0, 40, 3000)] + 0.3 * rng.normal(size=(3000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    keys = rng.permutation(10_000)[:3000].astype(np.int64)
    exact, in_place, sharded = VectorSet.empty(64), VectorSet.empty(64), VectorSet.empty(64)
    exact.add(keys, vectors)
    in_place.add(keys, vectors, exact_up_to=1000)
    sharded.add(keys, vectors, exact_up_to=1000, fill=ray_session.fill)
    assert exact.exact and not sharded.exact and len(sharded) == 3000
    queries = vectors[:100] + 0.05 * rng.normal(size=(100, 64)).astype(np.float32)
    truth = exact.search(queries, 10)[1]
    found = sharded.search(queries, 10)[1]
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]) >= 0.98
    assert np.array_equal(found, in_place.search(queries, 10)[1])  # same lists as the one-process build
    assert np.array_equal(sharded.vectors(keys[:50]), vectors[:50])
    sharded.remove(keys[:50])
    assert len(sharded) == 2950 and not set(keys[:50]) & set(sharded.search(queries, 10)[1].ravel())
    sharded.add(keys[:1], vectors[:1])
    assert sharded.search(vectors[:1], 1)[1][0, 0] == keys[0]


def test_a_ray_commit_gives_every_worker_a_share_of_work(ray_session, bench_subset, embedder, tmp_path):
    from storycluster.engines.ray import ARTICLES_PER_WORKER, MAX_COMMIT, RayEngine

    assert ray_session.commit_every == 2 * ARTICLES_PER_WORKER
    assert RayEngine(workers=400).commit_every == MAX_COMMIT
    articles = list(islice(ArticleReader().read([bench_subset]), 6))
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        start = index.info().generation
        ray_session.add(index, articles[:3])  # the engine's commit size: one generation
        assert index.info().generation == start + 1
        ray_session.add(index, articles[3:], commit_every=1)  # given explicitly: one per article
        assert index.info().generation == start + 4 and len(index) == 6


def test_cli_indexes_on_ray_then_answers_similar(bench_subset, tmp_path):
    # real processes, as a user runs them: the command starts and stops its own Ray, stdout is only data
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'storycluster[ray]')")
    source = tmp_path / "feed.jsonl"
    lines = bench_subset.read_text(encoding="utf-8").splitlines()[:6]
    source.write_text("\n".join([*lines, '{"id": "no-text"}', "not json", ""]), encoding="utf-8")
    index_dir = str(tmp_path / "index")
    on_ray = ["index", str(source), "--index", index_dir, "--engine", "ray", "--workers", "2", "-q"]
    result = _storycluster(*on_ray)
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)  # all of stdout is the one summary line
    assert (summary["added"], summary["skipped"]) == (6, 2)
    assert f"{source}:7: skipped: missing field 'text'" in result.stderr
    assert f"{source}:8: skipped: broken JSON line" in result.stderr
    first = json.loads(lines[0])["id"]
    result = _storycluster("similar", "--id", first, "--index", index_dir, "-k", "3")
    assert result.returncode == 0, result.stderr
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 3 and first not in {h["id"] for h in hits}
    again = _storycluster(*on_ray)
    assert json.loads(again.stdout)["unchanged"] == 6, again.stderr


def test_what_ray_prints_while_indexing_goes_to_stderr(ray_session, bench_subset, tmp_path, monkeypatch):
    # Ray prints a worker's death on the driver's stdout (from a thread of its own, a moment later), as
    # when Ray Data stops an actor that is still loading the model; the summary must stay alone on stdout
    import ray

    from storycluster.engines.ray import RayEngine

    @ray.remote(max_retries=0)
    def die() -> None:
        os._exit(1)

    add = RayEngine.add

    def add_after_a_worker_died(self, *args, **kwargs):
        with pytest.raises(ray.exceptions.WorkerCrashedError):
            ray.get(die.remote())
        deadline = time.monotonic() + 30
        while "worker died" not in _printed(sys.stdout) and time.monotonic() < deadline:
            time.sleep(0.05)
        return add(self, *args, **kwargs)

    monkeypatch.setattr(RayEngine, "add", add_after_a_worker_died)
    index_dir = str(tmp_path / "index")
    result = CliRunner().invoke(main, ["index", str(bench_subset), "--index", index_dir, "--engine", "ray", "-q"])
    assert result.exit_code == 0, result.output
    assert "worker died" in result.stderr  # Ray's message was printed, where logs go
    assert json.loads(result.stdout)["added"] == ARTICLES


def test_csv_and_parquet_rows_are_read_by_the_same_rules(ray_session, tmp_path):
    pandas = pytest.importorskip("pandas")
    rows = [
        {"id": "007", "title": "Quake", "text": "A <p>strong</p> quake hit.", "published": "2024-03-01", "n": 1},
        {"id": "008", "title": "Empty", "text": "", "published": None, "n": 2},
        {"id": "009", "title": None, "text": "Floods rose.", "published": "not a date", "n": 3},
    ]
    pandas.DataFrame(rows).to_csv(tmp_path / "feed.csv", index=False)
    frame = pandas.DataFrame(rows)
    frame["published"] = pandas.to_datetime(frame["published"], errors="coerce")
    frame.to_parquet(tmp_path / "feed.parquet")
    for name in ("feed.csv", "feed.parquet"):
        reader = ArticleReader()
        articles = list(ray_session.read([str(tmp_path / name)], reader))
        assert [a.id for a in articles] == ["007", "008", "009"], name
        assert articles[0].text == "A\n\nstrong\n\nquake hit." and articles[0].published == "2024-03-01T00:00:00+00:00"
        assert articles[1].text == "Empty" and articles[2].published is None
        assert articles[0].extra == {"n": 1}
        assert "[2]: warning: empty text; indexed on its title" in str(reader.problems[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-", "--engine", "ray"], "not standard input"),
        (["nowhere.jsonl", "--engine", "ray"], "no such file"),
        (["seeds", "--engine", "ray"], "no .csv/.json/.jsonl/.ndjson/.parquet/.tsv files"),
        (["x.jsonl", "--workers", "2"], "--address and --workers go with --engine ray"),
        (["x.jsonl", "--engine", "ray", "--encoding", "latin-1"], "drop --encoding"),
    ],
)
def test_ray_usage_errors_fail_before_anything_starts(tmp_path, monkeypatch, args, message):
    pytest.importorskip("ray", reason="Ray is not installed")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text("text")
    result = CliRunner().invoke(main, ["index", *args, "--index", str(tmp_path / "index")])
    assert result.exit_code in (2, 3) and message in result.stderr
    assert not (tmp_path / "index").exists()


def test_without_ray_the_engine_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = CliRunner().invoke(main, ["index", "x.jsonl", "--engine", "ray", "--index", str(tmp_path / "index")])
    assert result.exit_code == 2
    assert "pip install 'storycluster[ray]'" in result.stderr


def test_other_commands_never_import_ray():
    code = "import sys, storycluster.cli.main, storycluster.index.story_index, storycluster.service.app; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _storycluster(*args: str) -> subprocess.CompletedProcess:
    """``storycluster ARGS`` in a process of its own."""
    command = [sys.executable, "-m", "storycluster", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _printed(stream) -> str:
    """What has been written so far to a :class:`CliRunner` stream."""
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "replace")


def _groups(index: StoryIndex) -> set[tuple[str, ...]]:
    return {tuple(sorted(story.articles)) for story in index.stories()}
