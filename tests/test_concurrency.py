"""Readers during a writer's appends, a second writer, and a writer killed while it holds the lock.

* Reader processes and threads query while another process appends: every answer comes from one
  complete generation (its article count is one the writer committed, the same for every reader that saw
  that generation, and every hit exists in it with the paragraph it quotes).
* A reader that began opening a generation just before a writer published twice (so the files only that
  generation used are gone) retries with the newest instead of calling a sound index damaged.
* A second writer is refused within a second with the clear message (exit 7 from the CLI) and changes
  nothing; once the first writer is done, the same command goes through.
* A writer SIGKILLed while it holds the lock leaves no stale lock: the next writer proceeds at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, stray_files

from storycluster import Article, IndexLockedError, StoryIndex
from storycluster.cli.main import main
from storycluster.store.check import check_index

TESTS = Path(__file__).resolve().parent

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from storycluster import Article, StoryIndex

    path, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    index = StoryIndex.open(path)
    print(json.dumps({"generation": index.info().generation, "articles": len(index)}), flush=True)
    for b in range(batches):
        articles = [
            Article(id=f"w{b}-{i}", title=f"Bridge {b} closed after crash {i}", source=f"wire-{i % 3}",
                    text=f"Police closed bridge number {b} after lorry crash {i}; traffic was diverted through "
                         f"the old town for hours while engineers inspected the damaged railings and deck.")
            for i in range(size)
        ]
        locked = []
        index.add(articles, progress=lambda n: locked or (locked.append(1), print("locked", flush=True)))
        print(json.dumps({"generation": index.info().generation, "articles": len(index)}), flush=True)
    """
)


def start_writer(path: Path, batches: int, size: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(batches), str(size)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def read_loop(path: str, stop: str, mode: str, deadline: float, emit) -> None:
    """Query the index until ``stop`` exists; ``emit`` one observation per query (or the problem found).

    ``mode`` ``open`` opens the index afresh for every query; ``refresh`` keeps it open and refreshes.
    """
    index = StoryIndex.open(path) if mode == "refresh" else None
    queries = ["bridge closed after a lorry crash", "engineers inspect railings", "traffic diverted"]
    n = 0
    while not os.path.exists(stop) and time.monotonic() < deadline:
        n += 1
        if mode == "open":
            current = StoryIndex.open(path)
        else:
            index.refresh()
            current = index
        try:
            info = current.info()
            ids, _ = current.article_vectors()
            problems = []
            if len(ids) != len(set(ids)) or len(ids) != info.articles:
                problems.append(f"{len(ids)} ids for {info.articles} vectors")
            for match in current.similar(queries[n % len(queries)], k=5, level="paragraph"):
                if match.paragraph not in current.paragraphs(match.id):
                    problems.append(f"hit {match.id} quotes a paragraph it does not have")
            if ids:
                for match in current.similar_to(ids[n % len(ids)], k=3):
                    current.get(match.id)  # raises KeyError if the hit is not in this snapshot
            emit({"generation": info.generation, "articles": info.articles, "problems": problems})
        except Exception as exc:  # noqa: BLE001 - every failure is an observation for the test
            emit({"error": f"{type(exc).__name__}: {exc}"})
        finally:
            if mode == "open":
                current.close()


READER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from test_concurrency import read_loop
    read_loop(sys.argv[2], sys.argv[3], sys.argv[4], time.monotonic() + 120,
              lambda o: print(json.dumps(o), flush=True))
    """
)


@pytest.fixture
def small_index(tmp_path, embedder) -> Path:
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add([
            Article(id=f"seed-{i}", title=f"Ferry {i} delayed", text=f"Ferry {i} was delayed by fog in the "
                    f"harbour this morning; passengers waited for hours before the crossing resumed at noon.")
            for i in range(4)
        ])
    return path


def test_readers_always_see_one_complete_snapshot(small_index, tmp_path, capsys):
    stop = tmp_path / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(TESTS), str(small_index), str(stop), mode],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for mode in ("open", "refresh")
    ]
    seen: list[dict] = []
    threads = [
        threading.Thread(target=read_loop, args=(str(small_index), str(stop), mode, time.monotonic() + 120, seen.append))
        for mode in ("open", "refresh")
    ]
    for thread in threads:
        thread.start()
    writer = start_writer(small_index, batches=12, size=2)
    out, err = writer.communicate(timeout=180)
    stop.touch()
    for thread in threads:
        thread.join(timeout=60)
    for reader in readers:
        reader_out, reader_err = reader.communicate(timeout=60)
        assert reader.returncode == 0, reader_err
        seen += [json.loads(line) for line in reader_out.splitlines()]
    assert writer.returncode == 0, err
    committed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    counts = {c["generation"]: c["articles"] for c in committed}
    assert [c["articles"] for c in committed] == [4 + 2 * b for b in range(13)]
    errors = [o["error"] for o in seen if "error" in o]
    assert errors == []
    assert [o for o in seen if o["problems"]] == []
    for observation in seen:  # each answer came from a committed generation, with its count
        assert counts.get(observation["generation"]) == observation["articles"], observation
    generations = {o["generation"] for o in seen}
    with capsys.disabled():
        print(f"\n  {len(seen)} reader queries (2 processes, 2 threads) during 12 appends saw "
              f"{len(generations)} of {len(counts)} generations, each complete")
    assert len(seen) >= 20 and len(generations) >= 3
    assert check_index(small_index) == []


def test_a_reader_retries_when_a_writer_removes_the_generation_it_was_opening(small_index, monkeypatch):
    from storycluster.store import segments

    writer = StoryIndex.open(small_index)
    real_opened = segments._opened
    raced = []

    def opened(path):
        if not raced:  # between reading the generation record and loading its files, a writer publishes twice
            raced.append(path)
            for b in range(2):
                writer.add([Article(id=f"race-{b}", text=f"A ferry race number {b} was held in the bay today.")])
            assert stray_files(small_index) == set() and not (small_index / "g000002.df.npy").exists()
        return real_opened(path)

    monkeypatch.setattr(segments, "_opened", opened)
    with StoryIndex.open(small_index) as reader:
        assert raced and len(reader) == 6 and "race-1" in reader
    writer.close()


def wait_for_lock(writer: subprocess.Popen) -> None:
    """Block until the writer process says it holds the lock (it is embedding an append)."""
    for line in writer.stdout:
        if line.strip() == "locked":
            return
    raise AssertionError(f"the writer ended without taking the lock: {writer.stderr.read()}")


def test_a_second_writer_is_refused_at_once_and_changes_nothing(small_index, tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "second", "text": "A second writer tries to add this article."}) + "\n")
    writer = start_writer(small_index, batches=1, size=150)
    wait_for_lock(writer)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["index", str(feed), "--index", str(small_index), "-q"])
    refused_after = time.monotonic() - started
    assert result.exit_code == 7 and result.stdout == ""
    assert result.stderr == f"storycluster: error: {small_index} is being written by another process; try again later\n"
    assert refused_after < 1.0
    with StoryIndex.open(small_index) as index:
        for attempt in (lambda: index.add([Article(id="x", text="x")]), lambda: index.remove(["seed-0"]), index.cluster):
            started = time.monotonic()
            with pytest.raises(IndexLockedError, match="being written by another process"):
                attempt()
            assert time.monotonic() - started < 1.0
    writer.communicate(timeout=180)
    assert writer.returncode == 0
    assert check_index(small_index) == []
    with StoryIndex.open(small_index) as index:
        assert len(index) == 154 and "second" not in index and "seed-0" in index
    result = CliRunner().invoke(main, ["index", str(feed), "--index", str(small_index), "-q"])
    assert result.exit_code == 0 and json.loads(result.stdout)["added"] == 1


def test_a_writer_killed_holding_the_lock_leaves_no_stale_lock(small_index):
    writer = start_writer(small_index, batches=1, size=150)
    wait_for_lock(writer)
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    started = time.monotonic()
    with StoryIndex.open(small_index) as index:
        assert index.add([Article(id="after", text="The writer after the killed one adds this.")]).added == 1
        assert len(index) == 5
    assert time.monotonic() - started < 10
    assert check_index(small_index) == []
    assert stray_files(small_index) == set()
