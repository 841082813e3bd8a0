"""Injected I/O faults: every write, fsync and commit of one append fails in turn, and a real full disk.

A recording pass counts the storage operations one append performs (segment and term frequency file
writes, fsyncs, the SQLite commit that publishes; no copy, no rename); then each of them is made to fail
once, with ENOSPC and with EIO. Every
time the append must raise a clear one-line error, the reopened index must answer a fixed query with the
same ids and scores as before, ``check_index`` must be clean and no file of the failed generation may be
left behind. The same holds with a real limit on file size (``ulimit -f``, ``RLIMIT_FSIZE``) in a forked
child, for a limit just under the size of every file the append writes, and through the real CLI.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from storycluster import Article, StoryIndex
from storycluster.cli.main import main
from storycluster.store.check import check_index

QUERY = "Flooding closes the port after days of heavy rain"
PLACES = ["Valparaiso", "Rotterdam", "Mombasa", "Chittagong", "Genoa", "Durban", "Karachi", "Santos"]
EVENTS = [
    ("flood", "Heavy rain flooded the harbour district and the port authority closed the container terminals"),
    ("strike", "Dock workers walked out over pay and the container terminals stood idle for a second day"),
    ("fire", "A fire broke out in a warehouse at the docks and firefighters fought the blaze through the night"),
    ("storm", "A storm with winds above 120 km/h tore cranes from their rails and grounded two cargo ships"),
]


def story(n: int, version: int = 0) -> Article:
    """A synthetic article of three 30-word paragraphs about one event in one port (deterministic)."""
    place = PLACES[n % len(PLACES)]
    kind, lead = EVENTS[n % len(EVENTS)]
    paragraphs = [
        (f"{lead} in {place} on day {n}, officials said, and shipping lines warned customers of long delays "
         f"for goods bound for the region (report {n}.{version})."),
        (f"The mayor of {place} said {n + 3} people had been hurt and that the clean-up would take weeks, while "
         f"insurers began to estimate the damage to cargo held in the {kind}-hit area of the port."),
        (f"Traders said prices of grain and fuel moved after the {kind} in {place}, and economists expect the "
         f"disruption to weigh on exports for the rest of the quarter, version {version} of this account says."),
    ]
    return Article(
        id=f"port-{n}", title=f"{kind.title()} hits the port of {place}", source=f"outlet-{n % 3}",
        published=f"2024-06-{1 + n % 28:02d}T08:00:00Z", text="\n\n".join(paragraphs),
    )


BASE = [story(n) for n in range(12)]
APPEND = [story(100), story(101), story(3, version=1)]  # two new articles and one update


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, embedder) -> Path:
    path = tmp_path_factory.mktemp("faults") / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add(BASE)
    return path


@pytest.fixture
def index_copy(base_index, tmp_path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(base_index, target)
    return target


def answers(path: Path) -> tuple:
    """What a reader sees: counts, article-level and paragraph-level hits (ids and scores) of QUERY."""
    with StoryIndex.open(path) as index:
        articles = [(m.id, m.score) for m in index.similar(QUERY, k=8)]
        paragraphs = [(m.id, m.score, m.paragraph_index) for m in index.similar(QUERY, k=8, level="paragraph")]
        return len(index), index.info().paragraphs, articles, paragraphs, sorted(s.story for s in index.stories())


class _File:
    """A file object whose writes go through the fault plan."""

    def __init__(self, handle, plan: Faults) -> None:
        self._handle, self._plan = handle, plan

    def write(self, data):
        self._plan.hit("write", self._handle.name)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


class _Connection:
    """An SQLite connection whose commit goes through the fault plan."""

    def __init__(self, connection: sqlite3.Connection, name: str, plan: Faults) -> None:
        self._connection, self._name, self._plan = connection, name, plan

    def commit(self):
        self._plan.hit("commit", self._name)
        return self._connection.commit()

    def __getattr__(self, name):
        return getattr(self._connection, name)


class Faults:
    """Counts the storage operations of a run (``fail_at=None``) or fails the one numbered ``fail_at``."""

    def __init__(self, fail_at: int | None = None, code: int = errno.ENOSPC) -> None:
        self.fail_at, self.code = fail_at, code
        self.ops: list[tuple[str, str]] = []
        self.failed: tuple[str, str] | None = None

    def hit(self, kind: str, name) -> None:
        self.ops.append((kind, "<directory>" if os.path.isdir(name) else Path(str(name)).name))
        if len(self.ops) - 1 == self.fail_at:
            self.failed = self.ops[-1]
            if kind == "commit":
                raise sqlite3.OperationalError("database or disk is full" if self.code == errno.ENOSPC else "disk I/O error")
            raise OSError(self.code, os.strerror(self.code), str(name))

    def install(self, monkeypatch) -> Faults:
        import storycluster.store.directory as store_module
        import storycluster.store.snapshot as snapshot_module
        import storycluster.store.vectors as vectors_module

        real_open, real_fsync, real_replace = open, os.fsync, os.replace
        real_copyfile, real_link = shutil.copyfile, os.link
        real_connect = snapshot_module.connect

        def opener(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            return _File(handle, self) if any(c in mode for c in "wa+") else handle

        def fsync(fd):
            self.hit("fsync", os.readlink(f"/proc/self/fd/{fd}"))
            return real_fsync(fd)

        def replace(src, dst):
            self.hit("rename", dst)
            return real_replace(src, dst)

        def copyfile(src, dst, **kwargs):
            self.hit("copyfile", dst)
            return real_copyfile(src, dst, **kwargs)

        def link(src, dst, **kwargs):
            self.hit("link", dst)
            return real_link(src, dst, **kwargs)

        def connect(path, *, readonly):
            connection = real_connect(path, readonly=readonly)
            return connection if readonly else _Connection(connection, path, self)

        for module in (store_module, snapshot_module, vectors_module):
            monkeypatch.setattr(module, "open", opener, raising=False)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "link", link)
        monkeypatch.setattr(shutil, "copyfile", copyfile)
        monkeypatch.setattr(snapshot_module, "connect", connect)
        return self


def generation_files(path: Path) -> list[str]:
    """The index's files, without SQLite's own WAL and shared-memory files."""
    return sorted(name for name in os.listdir(path) if not name.endswith(("-wal", "-shm")))


def test_every_io_operation_of_an_append_failing_leaves_the_index_as_it_was(
    base_index, tmp_path, monkeypatch, capsys
):
    before, files_before = answers(base_index), generation_files(base_index)
    recorded = tmp_path / "recorded"
    shutil.copytree(base_index, recorded)
    with monkeypatch.context() as patch:
        recording = Faults().install(patch)
        with StoryIndex.open(recorded) as index:
            index.add(APPEND)
    after = answers(recorded)
    assert after != before and after[0] == before[0] + 2
    kinds = [kind for kind, _ in recording.ops]
    assert {"write", "fsync", "commit"} <= set(kinds) and not {"rename", "copyfile"} & set(kinds), recording.ops

    injected: dict[str, int] = {}
    fresh = tmp_path / "index"
    shutil.copytree(base_index, fresh)  # one copy for every fault: a failed append must leave nothing behind
    for code in (errno.ENOSPC, errno.EIO):
        for n in range(len(recording.ops)):
            with monkeypatch.context() as patch:
                plan = Faults(fail_at=n, code=code).install(patch)
                with StoryIndex.open(fresh) as index:
                    with pytest.raises(OSError) as failure:
                        index.add(APPEND)
                    assert len(index) == before[0], (code, n, plan.failed)  # the same object answers as before
            assert plan.failed == recording.ops[n], (n, plan.ops)
            message = str(failure.value)
            assert "\n" not in message and os.strerror(code) in message, message
            assert answers(fresh) == before, (code, n, plan.failed)
            assert check_index(fresh) == [], (code, n, plan.failed)
            assert generation_files(fresh) == files_before, (code, n, plan.failed)
            injected[plan.failed[0]] = injected.get(plan.failed[0], 0) + 1
    with capsys.disabled():
        print(f"\n  one append = {len(recording.ops)} storage operations {_tally(kinds)}; "
              f"faults injected (ENOSPC and EIO each): {_tally_dict(injected)}")
    # After all that, the same append goes through on the index that took every fault.
    with StoryIndex.open(fresh) as index:
        assert index.add(APPEND).added == 2
    assert answers(fresh) == after and check_index(fresh) == []


def _tally(kinds: list[str]) -> str:
    return _tally_dict({k: kinds.count(k) for k in dict.fromkeys(kinds)})


def _tally_dict(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in counts.items())


@pytest.mark.parametrize("operation", ["cluster", "remove"])
def test_every_io_operation_of_a_recluster_or_remove_failing_leaves_the_index_as_it_was(
    operation, base_index, tmp_path, monkeypatch
):
    """The other writers: re-clustering writes no file (only the database), removing writes term frequencies."""

    def run(path):
        with StoryIndex.open(path) as index:
            index.cluster() if operation == "cluster" else index.remove(["port-1", "port-2"])

    before, files_before = answers(base_index), generation_files(base_index)
    recorded = tmp_path / "recorded"
    shutil.copytree(base_index, recorded)
    with monkeypatch.context() as patch:
        recording = Faults().install(patch)
        run(recorded)
    kinds = {kind for kind, _ in recording.ops}
    assert kinds == ({"commit"} if operation == "cluster" else {"commit", "fsync", "write"}), kinds
    target = tmp_path / "index"
    shutil.copytree(base_index, target)
    for n in range(len(recording.ops)):
        with monkeypatch.context() as patch:
            plan = Faults(fail_at=n, code=errno.EIO if n % 2 else errno.ENOSPC).install(patch)
            with pytest.raises(OSError):
                run(target)
        assert plan.failed == recording.ops[n]
        assert answers(target) == before and check_index(target) == [], plan.failed
        assert generation_files(target) == files_before, plan.failed


def test_each_kind_of_fault_is_one_line_through_the_cli(base_index, tmp_path, monkeypatch):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps({**a.__dict__, "extra": None}) + "\n" for a in APPEND))
    recorded = tmp_path / "recorded"
    shutil.copytree(base_index, recorded)
    with monkeypatch.context() as patch:
        recording = Faults().install(patch)
        assert CliRunner().invoke(main, ["index", str(feed), "--index", str(recorded), "-q"]).exit_code == 0
    before = answers(base_index)
    firsts = {kind: n for n, (kind, _) in reversed(list(enumerate(recording.ops)))}
    for kind, n in firsts.items():
        target = tmp_path / f"fault-{kind}"
        shutil.copytree(base_index, target)
        with monkeypatch.context() as patch:
            plan = Faults(fail_at=n, code=errno.ENOSPC).install(patch)
            result = CliRunner().invoke(main, ["index", str(feed), "--index", str(target), "-q"])
        assert plan.failed and plan.failed[0] == kind
        assert result.exit_code == 9, (kind, result.output, result.exception)
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1, (kind, result.stderr)
        assert result.stderr.startswith("storycluster: error: ") and "Traceback" not in result.stderr
        assert "No space left on device" in result.stderr or "disk is full" in result.stderr, result.stderr
        assert answers(target) == before and check_index(target) == []


WORKER = textwrap.dedent(
    """
    import json, resource, signal, sys
    import numpy as np
    from storycluster import Article, StoryIndex
    from storycluster.store.vectors import VectorSet
    from storycluster.text.language import detect_language

    detect_language("warm up")  # py3langid unpacks its model into a temporary file once: not an index write
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    for line in sys.stdin:
        job = json.loads(line)
        resource.setrlimit(resource.RLIMIT_FSIZE, (job["limit"], hard))
        try:
            if job["do"] == "append":
                with StoryIndex.open(job["index"]) as index:
                    index.add([Article(**a) for a in job["articles"]])
            else:
                vectors = VectorSet.empty(16)
                vectors.add(np.arange(3), np.eye(3, 16, dtype=np.float32))
                vectors.save(job["path"])
            outcome = ["ok", ""]
        except BaseException as exc:
            outcome = [type(exc).__name__, str(exc)]
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        print(json.dumps(outcome), flush=True)
    """
)


class FileSizeLimited:
    """A worker process that runs jobs with a limit on the size of the files it writes (``ulimit -f``).

    A fresh interpreter rather than a fork of the test process: FAISS's OpenMP threads do not survive
    a fork. The limit applies to each job only, so one worker serves every limit of a test.
    """

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )

    def run(self, limit: int, **job) -> tuple[str, str]:
        self.process.stdin.write(json.dumps({"limit": limit, **job}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the worker died"
        return tuple(json.loads(line))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def limited():
    worker = FileSizeLimited()
    yield worker
    worker.close()


def test_a_vector_file_cut_short_by_a_full_disk_is_an_error_not_a_short_file(tmp_path, limited):
    # faiss.write_index ignores the error of its final fclose: a full disk left a short file, silently.
    assert limited.run(1 << 30, do="save", path=str(tmp_path / "full.faiss")) == ("ok", "")
    size = (tmp_path / "full.faiss").stat().st_size
    for limit in (size - 1, size // 2, 1):
        outcome = limited.run(limit, do="save", path=str(tmp_path / "cut.faiss"))
        assert outcome[0] == "OSError" and "File too large" in outcome[1], (limit, outcome)


def test_a_real_full_disk_at_every_file_of_an_append(base_index, tmp_path, capsys, limited):
    recorded = tmp_path / "recorded"
    shutil.copytree(base_index, recorded)
    old = {p.name for p in recorded.iterdir()}
    with StoryIndex.open(recorded) as index:
        index.add(APPEND)
    written = {p.name: p.stat().st_size for p in recorded.iterdir() if p.name not in old and p.is_file()}
    before, files_before = answers(base_index), generation_files(base_index)
    target = tmp_path / "index"
    shutil.copytree(base_index, target)

    articles = [a.__dict__ for a in APPEND]

    def append(limit: int) -> tuple[str, str]:
        return limited.run(limit, do="append", index=str(target), articles=articles)

    failures = {}
    for name, size in sorted(written.items(), key=lambda item: item[1]):
        outcome = append(size - 1)
        if outcome[0] == "ok":  # a file written earlier, of the same size, already counted
            continue
        failures[size - 1] = outcome
        assert outcome[0] == "OSError" and "\n" not in outcome[1], (name, size, outcome)
        assert answers(target) == before and check_index(target) == [], (name, outcome)
        assert generation_files(target) == files_before, (name, outcome)
    assert len(failures) >= 3, failures
    assert append(max(written.values()) + 1) == ("ok", "")
    assert answers(target) == answers(recorded) and check_index(target) == []
    with capsys.disabled():
        print(f"\n  real full disk (RLIMIT_FSIZE) at {len(failures)} limits: "
              + "; ".join(f"{limit} B: {message.replace(str(target) + '/', '')}" for limit, (_, message) in failures.items()))


def test_ulimit_f_through_the_real_cli_is_one_line_and_keeps_the_index(base_index, tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps({**a.__dict__, "extra": None}) + "\n" for a in APPEND))
    target = tmp_path / "index"
    shutil.copytree(base_index, target)
    before = answers(target)
    database = (target / "index.sqlite").stat().st_size

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (database + 2048, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    result = subprocess.run(
        [sys.executable, "-m", "storycluster", "index", str(feed), "--index", str(target), "-q"],
        capture_output=True, text=True, preexec_fn=limit, timeout=120, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 9, result.stderr
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("storycluster: error: ") and "keeps its last committed state" in result.stderr
    assert answers(target) == before and check_index(target) == []
