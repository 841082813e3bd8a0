"""Crash loop: SIGKILL `storycluster index` at random points of its appends, then check that nothing is lost.

Each trial runs `storycluster index BATCH --index DIR` (the CLI's own ``main``) on a few small JSON-lines
batches in a fresh process and kills it with SIGKILL: either after a random delay, or at an injected kill
point just before or after one of the steps of an append (each vector segment built and each file
written, each fsync, the term frequencies, the generation record, the SQLite commit that publishes, the
clean-up). A batch is acknowledged once the
process printed its summary line. After every kill the checker requires that

* the index opens and ``storycluster check`` finds nothing wrong (the generation record names only files
  that exist, with their checksums; FAISS holds exactly one vector per SQLite row);
* every acknowledged article is there with its last acknowledged text (or a later one that was sent),
  no article is there that was never sent, and none is there twice;

and the next trial reruns the first unacknowledged batch, so the work completes. Batches re-send some
ids with new text (updates). Every ``--round`` batches the loop starts a new index so appends stay cheap.

To keep kills cheap, the processes are forked from a zygote that has imported storycluster and loaded the
model once (FAISS's OpenMP threads do not survive a fork, so the zygote never touches FAISS); ``--fresh``
also kills a few `python -m storycluster index` processes started from scratch.

    python bench/crash_loop.py --kills 1000          # prints kills survived and records lost (must be 0)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Kill points: (name, steps of that kind in one append). A kill point fires just before or just after
# the n-th such step of the process.
KILL_POINTS = {
    "segment": 3,  # each vector set's next segment built (the new vectors, merged with the last segments)
    "vectors": 3,  # each FAISS segment file written
    "fsync": 5,  # three segment files, term frequencies, directory
    "terms": 1,  # the term-frequency array written
    "state": 1,  # the generation record written into the open transaction
    "commit": 1,  # the SQLite commit of generation N+1: the switch
    "leftovers": 2,  # clean-up of old files, at lock time and after the commit
}

# The zygote's loop: one JSON job a line on stdin; fork a child running ``child(job)``, SIGKILL it after
# ``job["delay"]`` seconds (None: let it finish), answer with how it ended.
FORK_LOOP = r"""
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(job)
    if job["delay"] is not None:
        import time
        time.sleep(job["delay"])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                      "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}), flush=True)
"""

_ZYGOTE = r"""
import json, os, signal, sys, traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from storycluster import Embedder
from storycluster.cli.main import main
import storycluster.store.snapshot as snapshot
import storycluster.store.directory as store
import storycluster.store.segments as segments
import storycluster.store.vectors as vectors

Embedder().encode(["warm up"])  # load the model once; every forked process shares it

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def arm(point):
    name, when, nth = point["name"], point["when"], point["nth"]
    seen = [0]

    def wrap(function):
        def wrapper(*args, **kwargs):
            seen[0] += 1
            hit = seen[0] == nth
            if hit and when == "before":
                die()
            result = function(*args, **kwargs)
            if hit:
                die()
            return result
        return wrapper

    if name == "commit":
        real_connect = snapshot.connect

        class Connection:
            def __init__(self, connection):
                self._connection = connection
                self.commit = wrap(connection.commit)

            def __getattr__(self, attribute):
                return getattr(self._connection, attribute)

        def connect(path, *, readonly):
            connection = real_connect(path, readonly=readonly)
            return connection if readonly else Connection(connection)

        snapshot.connect = connect
        return
    owner, attribute = {
        "segment": (segments.SegmentedVectors, "next_segment"), "fsync": (os, "fsync"),
        "vectors": (vectors.VectorSet, "save"), "terms": (snapshot, "save_array"),
        "state": (snapshot, "write_state"), "leftovers": (store.IndexDirectory, "remove_leftovers"),
    }[name]
    setattr(owner, attribute, wrap(getattr(owner, attribute)))

def child(job):
    out = open(job["out"], "a", buffering=1)
    os.dup2(out.fileno(), 1)  # nothing of the child reaches the zygote's pipe
    os.dup2(out.fileno(), 2)
    sys.stdout = out
    if job["point"]:
        arm(job["point"])
    for batch in job["batches"]:
        out.write("start " + batch + "\n")
        try:
            main(["index", batch, "--index", job["index"], "-q"], standalone_mode=False)
        except BaseException:
            traceback.print_exc(file=out)
            out.flush()
            os._exit(1)
    out.flush()
    os._exit(0)

""" + FORK_LOOP


class Zygote:
    """A process that has loaded storycluster and the model, forking one child per trial (`storycluster
    index`, or what ``script``'s ``child(job)`` runs before ``FORK_LOOP``)."""

    def __init__(self, script: str = _ZYGOTE) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=ROOT,
        )

    def run(self, index: Path, batches: list[Path], out: Path, point: dict | None, delay: float | None) -> dict:
        job = {"index": str(index), "batches": [str(b) for b in batches], "out": str(out), "point": point,
               "delay": delay}
        return self.send(job)

    def send(self, job: dict) -> dict:
        """Hand one job to the zygote; returns how its child ended (``signal``, ``code``)."""
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the zygote died")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


# -- the work ------------------------------------------------------------------------------------------

PLACES = ["Valparaiso", "Rotterdam", "Mombasa", "Chittagong", "Genoa", "Durban", "Karachi", "Santos", "Busan"]
EVENTS = ["a flood", "a strike", "a fire", "a storm", "a power cut", "a cyber attack", "a collision"]


def make_batches(directory: Path, count: int, size: int, rng: random.Random, prefix: str) -> list[Path]:
    """``count`` JSON-lines files of ``size`` articles; about one article in four updates an earlier id."""
    directory.mkdir(parents=True, exist_ok=True)
    batches, sent = [], []
    for b in range(count):
        records = []
        for i in range(size):
            if sent and rng.random() < 0.25:
                article_id = rng.choice(sent)
            else:
                article_id = f"{prefix}-{b}-{i}"
                sent.append(article_id)
            place, event = rng.choice(PLACES), rng.choice(EVENTS)
            text = "\n\n".join(
                f"Paragraph {p} of version {b}.{i}: {event} hit the port of {place} on day {rng.randint(1, 999)}, "
                f"officials said, and {rng.randint(2, 90)} ships waited offshore while crews assessed the damage "
                f"to cranes, warehouses and the rail link that carries containers inland."
                for p in range(rng.randint(1, 2))
            )
            records.append({"id": article_id, "title": f"{event.capitalize()} in {place}", "text": text,
                            "source": f"outlet-{rng.randint(1, 5)}", "published": f"2024-07-{rng.randint(1, 28):02d}"})
        path = directory / f"batch-{b:04d}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        batches.append(path)
    return batches


def batch_texts(path: Path) -> dict[str, str]:
    """The text each id of a batch gets (the last of duplicate ids wins, as in the index)."""
    texts = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        texts[record["id"]] = record["text"]
    return texts


def acknowledged(out: Path) -> list[str]:
    """Batches whose `storycluster index` printed its summary line (the line after their start line)."""
    done, current = [], None
    for line in out.read_text().splitlines() if out.exists() else []:
        if line.startswith("start "):
            current = line[len("start "):]
        elif current and line.startswith("{") and '"added"' in line:
            done.append(current)
            current = None
    return done


# -- checking ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What a crash loop did and found."""

    trials: int = 0
    kills: int = 0
    kills_by_point: dict[str, int] = field(default_factory=dict)
    timed_kills: int = 0
    fresh_kills: int = 0
    batches_acknowledged: int = 0
    articles_acknowledged: int = 0
    lost: int = 0
    invented: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    check_seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "kills_survived": self.kills - len(self.problems), "kills": self.kills, "trials": self.trials,
            "timed_kills": self.timed_kills, "kills_at_points": self.kills_by_point, "fresh_process_kills": self.fresh_kills,
            "batches_acknowledged": self.batches_acknowledged, "articles_acknowledged": self.articles_acknowledged,
            "records_lost": self.lost, "records_invented": self.invented, "records_duplicated": self.duplicated,
            "problems": self.problems[:10], "seconds": round(self.seconds, 1),
            "checking_seconds": round(self.check_seconds, 1),
        }


class Ledger:
    """What was sent and acknowledged for one index, and the check of the index against it."""

    def __init__(self, batches: list[Path]) -> None:
        self.batches = batches
        self.texts = [batch_texts(b) for b in batches]
        self.acked = 0  # batches[:acked] are acknowledged
        self.sent = 0  # batches[:sent] were handed to a process at least once

    def check(self, index_dir: Path, tally: Tally, when: str) -> None:
        from storycluster import StoryIndex
        from storycluster.store.check import check_index
        from storycluster.store.directory import MANIFEST

        if not (index_dir / MANIFEST).exists():
            if self.acked:
                tally.problems.append(f"{when}: the index is gone after {self.acked} acknowledged batches")
            return
        problems = check_index(index_dir)
        manifest = json.loads((index_dir / MANIFEST).read_text())
        problems += [f"manifest names missing {name}" for name in manifest["files"].values()
                     if not (index_dir / name).is_file()]
        if problems:
            tally.problems.append(f"{when}: {problems}")
            return
        with StoryIndex.open(index_dir) as index:
            ids, _ = index.article_vectors()
            stored = {i: index.get(i).text for i in ids}
        duplicated = len(ids) - len(stored)
        tally.duplicated += duplicated
        # Per id: every version sent (batch number, text); the last acknowledged version must be there or a
        # later version that was sent.
        versions: dict[str, list[tuple[int, str]]] = {}
        for number, texts in enumerate(self.texts[: self.sent]):
            for article_id, text in texts.items():
                versions.setdefault(article_id, []).append((number, text))
        invented = [i for i in stored if i not in versions or stored[i] not in {t for _, t in versions[i]}]
        lost = []
        for article_id, sent in versions.items():
            acked = [n for n, _ in sent if n < self.acked]
            if not acked:
                continue
            allowed = {t for n, t in sent if n >= max(acked)}
            if stored.get(article_id) not in allowed:
                lost.append(article_id)
        tally.lost += len(lost)
        tally.invented += len(invented)
        if lost or invented or duplicated:
            tally.problems.append(f"{when}: lost {lost[:5]}, invented {invented[:5]}, duplicated {duplicated}")


# -- the loop ------------------------------------------------------------------------------------------


def crash_loop(
    kills: int, *, seed: int = 0, batches_per_round: int = 40, batch_size: int = 4, per_trial: int = 3,
    point_share: float = 0.6, fresh: int = 0, seconds: float | None = None, work: Path | None = None,
    log=None,
) -> Tally:
    """Kill `storycluster index` ``kills`` times (or until ``seconds`` pass) and check after every kill."""
    rng = random.Random(seed)
    tally = Tally()
    started = time.perf_counter()
    scratch = None
    if work is None:
        scratch = tempfile.TemporaryDirectory(prefix="storycluster-crash-")
        work = Path(scratch.name)
    zygote = Zygote()
    try:
        round_number = 0
        batch_seconds = None
        while tally.kills < kills and (seconds is None or time.perf_counter() - started < seconds):
            round_dir = work / f"round-{round_number}"
            index_dir = round_dir / "index"
            ledger = Ledger(make_batches(round_dir / "batches", batches_per_round, batch_size, rng, f"r{round_number}"))
            out = round_dir / "out.log"
            if fresh and round_number == 0:
                _fresh_kills(index_dir, ledger, tally, rng, fresh)
            while ledger.acked < len(ledger.batches) and tally.kills < kills:
                if seconds is not None and time.perf_counter() - started > seconds:
                    break
                todo = ledger.batches[ledger.acked: ledger.acked + per_trial]
                ledger.sent = max(ledger.sent, ledger.acked + len(todo))
                point = delay = None
                if batch_seconds is None:
                    pass  # the first trial of the run measures how long a batch takes
                elif rng.random() < point_share:
                    name = rng.choice(list(KILL_POINTS))
                    point = {"name": name, "when": rng.choice(["before", "after"]),
                             "nth": rng.randint(1, KILL_POINTS[name] * len(todo))}
                else:
                    delay = rng.uniform(0, batch_seconds * len(todo))
                t0 = time.perf_counter()
                status = zygote.run(index_dir, todo, out, point, delay)
                elapsed = time.perf_counter() - t0
                done = acknowledged(out)
                for batch in todo:
                    if str(batch) in done and ledger.batches.index(batch) == ledger.acked:
                        ledger.acked += 1
                        tally.batches_acknowledged += 1
                        tally.articles_acknowledged += len(ledger.texts[ledger.batches.index(batch)])
                # Only the batches of this trial count: clear the log for the next one.
                out.unlink(missing_ok=True)
                tally.trials += 1
                if status["signal"] == signal.SIGKILL:
                    tally.kills += 1
                    if point:
                        key = f"{point['name']}-{point['when']}"
                        tally.kills_by_point[key] = tally.kills_by_point.get(key, 0) + 1
                    else:
                        tally.timed_kills += 1
                elif status["code"] != 0:
                    tally.problems.append(f"trial {tally.trials}: storycluster index exited {status}")
                else:  # a trial that ran to its end: a running estimate of the time a batch takes
                    per_batch = elapsed / len(todo)
                    batch_seconds = per_batch if batch_seconds is None else 0.7 * batch_seconds + 0.3 * per_batch
                t0 = time.perf_counter()
                ledger.check(index_dir, tally, f"round {round_number} trial {tally.trials} ({point or delay})")
                tally.check_seconds += time.perf_counter() - t0
                if log and tally.trials % 50 == 0:
                    log(f"{tally.kills} kills, {tally.trials} trials, {len(tally.problems)} problems")
            # The rest of the round without kills: the work completes.
            while ledger.acked < len(ledger.batches):
                todo = ledger.batches[ledger.acked:]
                ledger.sent = len(ledger.batches)
                status = zygote.run(index_dir, todo, out, None, None)
                done = acknowledged(out)
                out.unlink(missing_ok=True)
                if status["code"] != 0 or len(done) != len(todo):
                    tally.problems.append(f"round {round_number}: the rerun did not complete ({status})")
                    break
                ledger.acked = len(ledger.batches)
            ledger.check(index_dir, tally, f"round {round_number} end")
            final = {i: t for texts in ledger.texts for i, t in texts.items()}
            _check_complete(index_dir, final, tally, round_number)
            round_number += 1
    finally:
        zygote.close()
        if scratch is not None:
            scratch.cleanup()
    tally.seconds = time.perf_counter() - started
    return tally


def _check_complete(index_dir: Path, final: dict[str, str], tally: Tally, round_number: int) -> None:
    """After the rerun every article is there with its last text, and no file but those of the last two generations."""
    from storycluster import StoryIndex
    from storycluster.store.directory import IndexDirectory

    with StoryIndex.open(index_dir) as index:
        ids, _ = index.article_vectors()
        stored = {i: index.get(i).text for i in ids}
    if stored != final:
        missing = sorted(set(final) - set(stored))
        tally.lost += len(missing)
        tally.problems.append(f"round {round_number} end: {len(stored)} articles for {len(final)} sent; missing {missing[:5]}")
    live = IndexDirectory(index_dir).live_files()
    stray = [p.name for p in index_dir.iterdir() if p.name.startswith("g") and p.name not in live]
    temporary = [p.name for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    if stray or temporary:
        tally.problems.append(f"round {round_number} end: leftovers {sorted(stray)} {temporary}")


def _fresh_kills(index_dir: Path, ledger: Ledger, tally: Tally, rng: random.Random, count: int) -> None:
    """Kill `python -m storycluster index` processes started from scratch (interpreter, imports, model)."""
    for _ in range(count):
        if ledger.acked >= len(ledger.batches):
            return
        batch = ledger.batches[ledger.acked]
        ledger.sent = max(ledger.sent, ledger.acked + 1)
        process = subprocess.Popen(
            [sys.executable, "-m", "storycluster", "index", str(batch), "--index", str(index_dir), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        )
        # Wait for the process to get going (imports, model), then kill it at a random moment of its append.
        time.sleep(rng.uniform(0.5, 3.5))
        process.send_signal(signal.SIGKILL)
        stdout, _ = process.communicate()
        if process.returncode == -signal.SIGKILL:
            tally.kills += 1
            tally.fresh_kills += 1
        if '"added"' in stdout:
            ledger.acked += 1
            tally.batches_acknowledged += 1
            tally.articles_acknowledged += len(ledger.texts[ledger.acked - 1])
        ledger.check(index_dir, tally, f"fresh process killed ({process.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=1000, help="Kills to survive (default 1000).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", type=int, default=5, help="Also kill this many freshly started processes.")
    parser.add_argument("--round", type=int, default=40, help="Batches per index before starting a new one.")
    args = parser.parse_args()
    tally = crash_loop(
        args.kills, seed=args.seed, fresh=args.fresh, batches_per_round=args.round,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(json.dumps(tally.summary()))
    if tally.problems or tally.lost:
        sys.exit(1)


if __name__ == "__main__":
    main()
