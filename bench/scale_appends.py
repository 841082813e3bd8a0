"""Appends at scale: one 1,000-article append into an index of 10k (or more) articles, this code next to main's.

Volume: the 982 ``ecbplus`` articles (real multi-paragraph news) are repeated; copy ``c`` of an article
gets the suffix ``Zq<c>`` on every capitalised word and number (so names, places and figures differ
between copies, as between events, and TF-IDF tells them apart), a date ``c`` days later, and vectors
made from the real vectors of the original texts plus noise (cosine about 0.7 to the original, like
``bench/scale.py``). The vectors reach the index through ``StoryIndex.add(encode=...)``, the hook the Ray
engine uses for texts embedded elsewhere: everything after embedding (rows, paragraphs, vectors, wire
copies, stories kept current, the publish) is the product's write path. The real vectors of the originals
are embedded once and cached in ``/tmp/appends-cache``, and so are the built indexes.

Up to 100,000 articles, an index is built by main's code (``--main``, format 1: every generation a full
copy) in one commit (stories clustered), then for this code the same directory is converted to format 2
once (not timed), and both codes are measured. Past 100,000 (the million), only this code runs: main's
format would copy gigabytes per append, and the base is built in at most 7 commits of at least 60,000 (an
eighth segment would merge all seven: a build of 100,000-article commits was killed for lack of memory in that
merge; and a segment of up to 50,000 vectors is exact, scanned whole by every query) with its stories
*given* (copy c of an ecbplus story is one story; re-clustering a million articles is what
``bench/scale_stories.py`` measures) and each copy cut to its first 10 lines of text, so that a million
articles make about five million paragraphs. Each measurement runs in a fresh process on a copy of the
index: the seconds of one ``add`` of 1,000 new articles (embedding excluded, stories kept current, and
how: re-clustering the touched stories or extending the stored ones), that process's peak RSS, the
index's disk size per article (the current generation's files, and in brackets the whole directory
after the append: format 1 keeps the previous generation's full copy for readers), and the p50/p95 of
``similar_to`` (by id), of ``similar`` (by the text of a paragraph: embedding included) and of a search of the
article vectors by a vector.

    .venv/bin/python bench/scale_appends.py [--sizes 10000 100000 1000000] [--main /path/to/main/src]

"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import ROOT, load_jsonl, peak_rss_mb, percentile, require_data

CACHE = Path("/tmp/appends-cache")
NOISE = 0.05  # per dimension: cosine to the original about 0.7 (bench/scale.py)
APPEND = 1_000
GIVEN_PAST = 100_000  # bigger base indexes: stories given, built in BASE_COMMITS commits, texts cut to LINES lines
BASE_COMMITS = 7  # seven segments: an eighth would merge them all (base-8 counter), which the append does not measure
BASE_COMMIT_AT_LEAST = 60_000  # and each past the 50,000 vectors up to which a segment is exact (a scan)
LINES = 10
QUERIES = 100
_MARK = re.compile(r"Zq\d+\b")
_NAME_OR_NUMBER = re.compile(r"\b([A-Z]\w*|\d+)\b")
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def originals() -> list[dict]:
    return load_jsonl(require_data("ecbplus.jsonl"))


def copy_of(row: dict, copy: int, lines: int | None = None):
    """Article ``copy`` of an original: names and numbers marked with the copy number, dated ``copy`` days on
    (only its first ``lines`` lines of text when given)."""
    from storycluster import Article

    def mark(text):
        return _NAME_OR_NUMBER.sub(lambda m: f"{m.group(1)}Zq{copy}", text) if copy else text

    text = row["text"] if lines is None else "\n\n".join(row["text"].split("\n\n")[:lines])
    return Article(
        id=f"{row['id']}~{copy}", text=mark(text), title=mark(row["title"]) if row.get("title") else None,
        source=row.get("source") or f"outlet-{zlib.crc32(row['id'].encode()) % 50}",
        published=(START + timedelta(days=copy % 3650, hours=copy // 3650)).isoformat(),
    )


def articles(start: int, count: int, rows: list[dict], size: int = 0) -> list:
    """Articles ``start`` to ``start + count`` of the endless sequence of copies (for an index of ``size``
    articles past ``GIVEN_PAST``: only their first ``LINES`` lines, so a million articles make about five
    million paragraphs)."""
    lines = LINES if size > GIVEN_PAST else None
    return [copy_of(rows[n % len(rows)], n // len(rows), lines) for n in range(start, start + count)]


def real_vectors(rows: list[dict]) -> dict[str, np.ndarray]:
    """The real vector of every text the index embeds for the originals (cached): paragraphs, titles, whole texts."""
    cache = CACHE / "ecbplus-vectors.npz"
    if cache.is_file():
        stored = np.load(cache, allow_pickle=False)
        texts = json.loads((CACHE / "ecbplus-texts.json").read_text())
        return dict(zip(texts, stored["vectors"]))
    from storycluster import StoryIndex

    texts: list[str] = []

    def collect(batch, progress=None):
        texts.extend(batch)
        return np.zeros((len(batch), 384), np.float32)

    with StoryIndex.open(CACHE / "collect", create=True) as index:  # the texts add() embeds, in its own way
        index.add(articles(0, len(rows), rows), encode=collect)
        vectors = index.embedder.encode(texts)
    shutil.rmtree(CACHE / "collect")
    np.savez(cache, vectors=vectors)
    (CACHE / "ecbplus-texts.json").write_text(json.dumps(texts))
    return dict(zip(texts, vectors))


def encoder(known: dict[str, np.ndarray]):
    """An ``encode`` hook: the real vector of the original text, plus noise seeded by the copy's text. A text
    cut short (the million's copies keep 10 lines) takes the vector of the original text it begins like."""
    by_start = {}
    for text, vector in known.items():
        by_start.setdefault(text[:60], vector)

    def encode(texts, progress=None):
        out = np.empty((len(texts), 384), np.float32)
        for row, text in enumerate(texts):
            original = _MARK.sub("", text)
            base = known[original] if original in known else by_start[original[:60]]
            if text in known:
                out[row] = base
                continue
            noise = np.random.default_rng(zlib.crc32(text.encode())).normal(scale=NOISE, size=base.shape)
            vector = base + noise.astype(np.float32)
            out[row] = vector / np.linalg.norm(vector)
        if progress:
            progress(len(texts))
        return out

    return encode


# -- child processes (run with either code base on PYTHONPATH) ---------------------------------------


def child_build(index: Path, size: int) -> None:
    from storycluster import StoryIndex

    rows = originals()
    if size > GIVEN_PAST:
        _give_stories()
    with StoryIndex.open(index, create=True) as story_index:
        story_index.add(
            articles(0, size, rows, size), encode=encoder(real_vectors(rows)),
            commit_every=size if size <= GIVEN_PAST else max(-(-size // BASE_COMMITS), BASE_COMMIT_AT_LEAST),
        )


def _give_stories() -> None:
    """Past ``GIVEN_PAST`` articles the base index's stories are given, not clustered (re-clustering a million
    articles is what ``bench/scale_stories.py`` measures): copy c of an ecbplus story's articles is one story,
    as the marked names say; and wire copies are not looked for (the copies differ in every name). Only the
    base's build is changed; the append measured is the product's."""
    from storycluster.index import story_index
    from storycluster.stories import stored

    story_index.mark_copies = lambda db, appended: 0

    def given(snapshot, db, appended=None):
        ids = {key: article_id for key, (article_id, _) in db.copy_groups(appended.keys.tolist()).items()}
        story = {row["id"]: row["story"] for row in originals()}
        groups: dict[str, list[int]] = {}
        for key, article_id in ids.items():
            original, copy = article_id.rsplit("~", 1)
            groups.setdefault(f"{story[original]}~{copy}", []).append(key)
        db.replace_stories(  # a copy cut by a commit: its story is stored again whole
            [(f"g{name}", None, (), members) for name, members in groups.items()], [f"g{name}" for name in groups]
        )

    stored.update_stories = given


def child_append(index: Path, size: int) -> dict:
    from storycluster import StoryIndex
    from storycluster.stories import stored

    rows = originals()
    encode = encoder(real_vectors(rows))
    batch = articles(size, APPEND, rows, size)
    spent = {"story_seconds": 0.0, "reclustered": 0}
    update, cluster = stored.update_stories, stored.cluster_snapshot

    def timed_update(*args, **kwargs):  # watched, not changed: how much of the append the story update is
        started = time.perf_counter()
        try:
            return update(*args, **kwargs)
        finally:
            spent["story_seconds"] += time.perf_counter() - started

    def counted_cluster(snapshot, keys=None):
        spent["reclustered"] += len(snapshot.articles) if keys is None else len(keys)
        return cluster(snapshot, keys)

    stored.update_stories, stored.cluster_snapshot = timed_update, counted_cluster
    if hasattr(stored, "_extend"):  # code that extends stored stories past a neighbourhood size
        extend = stored._extend

        def counted_extend(snapshot, new_keys, *args):
            spent["extended"] = spent.get("extended", 0) + len(new_keys)
            return extend(snapshot, new_keys, *args)

        stored._extend = counted_extend
    with StoryIndex.open(index) as story_index:
        started = time.perf_counter()
        report = story_index.add(batch, encode=encode, commit_every=APPEND)
        seconds = time.perf_counter() - started
        assert report.added == APPEND and len(story_index) == size + APPEND
        stories = story_index.info().stories
    directory = sum(p.stat().st_size for p in index.iterdir() if p.is_file())
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "stories": stories, "directory_bytes": directory, **spent}


def child_query(index: Path, size: int) -> dict:
    from storycluster import StoryIndex

    rng = np.random.default_rng(1)
    rows = originals()
    picked = [copy_of(rows[n % len(rows)], n // len(rows)) for n in rng.integers(0, size, QUERIES).tolist()]
    ids = [article.id for article in picked]
    texts = [article.text.split("\n\n")[0][:600] for article in picked]  # a paragraph-long query text
    with StoryIndex.open(index) as story_index:
        by_id, by_vector, by_text = [], [], []
        snapshot = story_index._snapshot
        story_index.similar(texts[0], k=10)  # the embedding model loads once
        for text in texts:
            started = time.perf_counter()
            story_index.similar(text, k=10)
            by_text.append((time.perf_counter() - started) * 1000)
        for article_id in ids:
            started = time.perf_counter()
            story_index.similar_to(article_id, k=10)
            by_id.append((time.perf_counter() - started) * 1000)
            vector = snapshot.articles.vectors([snapshot.db.article_key(article_id)])
            started = time.perf_counter()
            snapshot.articles.search(vector, 10)
            by_vector.append((time.perf_counter() - started) * 1000)
    return {
        "disk_bytes": generation_bytes(index),
        "by_id_p50": percentile(by_id, 50), "by_id_p95": percentile(by_id, 95),
        "by_vector_p50": percentile(by_vector, 50), "by_vector_p95": percentile(by_vector, 95),
        "by_text_p50": percentile(by_text, 50), "by_text_p95": percentile(by_text, 95),
        "reader_peak_rss_mb": peak_rss_mb(),
    }


def generation_bytes(index: Path) -> int:
    """Bytes of the files the current generation uses (older generations' files kept for readers left out)."""
    manifest = json.loads((index / "manifest.json").read_text())
    if manifest["format_version"] == 1:
        return sum(manifest["sizes"].values())
    from storycluster.store.directory import IndexDirectory

    directory = IndexDirectory(index)
    state = directory.read_state(directory.read_manifest(state=False))
    files = [*state.files(), "index.sqlite", "index.sqlite-wal"]
    return sum((index / name).stat().st_size for name in files if (index / name).is_file())


def child_convert(index: Path) -> None:
    from storycluster.store.directory import IndexDirectory

    directory = IndexDirectory(index)
    with directory.writing():
        directory.open_snapshot(writable=True).close()


# -- the driver --------------------------------------------------------------------------------------


def _story_work(append: dict) -> str:
    if append.get("extended"):
        return f"{append['extended']:,} new articles joined to the stored stories"
    return f"{append['reclustered']:,} articles re-clustered"


def run(code: Path, role: str, index: Path, size: int) -> dict:
    """Run one child role with ``code`` (a ``src`` directory) first on the path; returns its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", role, "--index", str(index), "--size", str(size)],
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode:
        sys.exit(f"{role} with {code} failed:\n{result.stderr[-3000:]}")
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _built(code: Path, name: str, size: int) -> Path:
    """The base index of ``size`` articles built by ``code`` (once; cached)."""
    built = CACHE / f"{name}-{size}"
    if not (CACHE / f"{name}-{size}.built").is_file():
        started = time.perf_counter()
        shutil.rmtree(built, ignore_errors=True)
        run(code, "build", built, size)
        (CACHE / f"{name}-{size}.built").write_text(f"{time.perf_counter() - started:.0f} s\n")
        print(f"(built {size:,} articles with {name}'s code in {time.perf_counter() - started:.0f} s)", flush=True)
    return built


def _measure(code: Path, name: str, source: Path, size: int) -> dict:
    """Queries, then one append, on a copy of ``source``; prints the table row."""
    work = CACHE / f"work-{name}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    query = run(code, "query", work, size)
    append = run(code, "append", work, size)
    print(
        f"| {size:,} | {name} | {append['seconds']:.2f} | {append['story_seconds']:.2f} ({_story_work(append)}) "
        f"| {append['peak_rss_mb']:.0f} "
        f"| {query['disk_bytes'] / 2**20 / size * 1000:.1f} ({append['directory_bytes'] / 2**20 / (size + APPEND) * 1000:.1f}) "
        f"| {query['by_id_p50']:.1f} / {query['by_id_p95']:.1f} | {query['by_text_p50']:.1f} / {query['by_text_p95']:.1f} "
        f"| {query['by_vector_p50']:.2f} / {query['by_vector_p95']:.2f} | {query['reader_peak_rss_mb']:.0f} |",
        flush=True,
    )
    shutil.rmtree(work)
    return append


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--main", type=Path, default=Path("/work/main/src"),
                        help="the baseline's src directory: format 1, e.g. a worktree of commit c362b77")
    parser.add_argument("--no-main", action="store_true", help="measure this code only (its base still comes "
                        "from the baseline's build up to 100,000 articles)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        roles = {"build": child_build, "append": child_append, "query": child_query, "convert": child_convert}
        answer = roles[args.child](args.index, args.size) if args.child != "convert" else child_convert(args.index)
        print(json.dumps(answer))
        return
    branch = ROOT / "src"
    CACHE.mkdir(parents=True, exist_ok=True)
    real_vectors(originals())  # embed the originals once (cached)
    print(f"{APPEND:,}-article append (embedding excluded, stories kept current), {QUERIES} queries; "
          f"measured under load (other agents share the 2 cores)")
    print("| articles | code | append s | of which story update s (how) | append peak RSS MB "
          "| disk MB / 1k articles: generation (directory) | similar_to p50 / p95 ms | similar (a paragraph's text) "
          "p50 / p95 ms | vector search p50 / p95 ms "
          "| reader peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        if size > GIVEN_PAST:
            _measure(branch, "branch", _built(branch, "branch", size), size)
            continue
        built = _built(args.main, "main", size)
        converted = CACHE / f"branch-{size}"
        if not (CACHE / f"branch-{size}.built").is_file():
            shutil.rmtree(converted, ignore_errors=True)
            shutil.copytree(built, converted)
            run(branch, "convert", converted, size)
            (CACHE / f"branch-{size}.built").write_text("converted\n")
        if args.no_main:
            _measure(branch, "branch", converted, size)
            continue
        results = {}
        for name, code, source in (("main", args.main, built), ("branch", branch, converted)):
            results[name] = _measure(code, name, source, size)
        rest = {name: r["seconds"] - r["story_seconds"] for name, r in results.items()}
        print(f"(at {size:,}: branch append {results['main']['seconds'] / results['branch']['seconds']:.1f}x faster "
              f"than main's, {rest['main'] / rest['branch']:.1f}x without the story update ({rest['main']:.1f} s against "
              f"{rest['branch']:.1f} s); stories after: main {results['main']['stories']:,}, branch "
              f"{results['branch']['stories']:,})", flush=True)


if __name__ == "__main__":
    main()
