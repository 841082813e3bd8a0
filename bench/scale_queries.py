"""Paragraph-vector queries at up to 5,000,000 vectors through the product's store: latency, recall, reader memory, disk.

Builds a paragraph vector set the way an index grows, with ``storycluster.store.segments.SegmentedVectors``:
``--append`` vectors a generation, each written as the next segment (merged as the store merges), so that
segments of ``COMPRESSED_FROM`` vectors or more are compressed (``storycluster.store.compressed``: 8-bit
codes in memory, the ``RERANK`` best candidates re-scored against the float32 rows read from the segment
file). Then a *fresh reader process* opens the segments as a snapshot does and answers, one query at a
time (as ``StoryIndex.similar`` searches):

- by vector: a paragraph-set search for a query vector (a ``similar`` by text minus the embedding);
- by id, paragraph level: the stored vectors of one article's 5 paragraphs (exact, from the rows on
  disk), then a search with them excluding themselves (what ``similar_to(level="paragraph")`` does in
  the store);
- by id, article level (with ``--articles``, an article set grown the same way): the article's stored
  vector and its 5 paragraph vectors, a search of the article set for ``RERANK_CANDIDATES`` candidates
  excluding itself, and the paragraph vectors of the best 10 as evidence (what ``similar_to`` does in the
  store; its SQLite reads and TF-IDF re-ranking are not counted).

Recall@10 is against exact inner-product search over the same vectors (computed while building). Reader
memory is the peak RSS (VmHWM) of that process. Disk is the size of the segment files per vector, and per
article at 5 paragraph vectors an article (the article and headline sets, one vector each, are stored the
same way: 7 vectors an article; the SQLite text is not counted).

Volume: real paragraph vectors of ``neus_val`` and ``ecbplus`` (embedded once with the default embedder),
mixed two at a time with noise (``normalise(a * x + (1 - a) * y + noise)``), so the set has the clustered
shape of news vectors rather than copies of a few thousand points; queries are fresh mixes. Built sets
are cached under ``--cache`` (5M paragraph vectors are 9.7 GB and took 28 minutes to build under load).

    .venv/bin/python bench/scale_queries.py --cache /tmp/queries-cache                       # 1M paragraphs
    .venv/bin/python bench/scale_queries.py --cache /tmp/queries-cache --paragraphs 5000000 --articles 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import load_jsonl, percentile, require_data

from storycluster.store import segments
from storycluster.store.compressed import RERANK
from storycluster.store.segments import SegmentedVectors
from storycluster.store.vectors import NPROBE

NOISE = 0.02  # per dimension, on top of the two-vector mix
CHUNK = 100_000
PARAGRAPHS_PER_ARTICLE = 5


def real_vectors(cache: Path, limit: int) -> np.ndarray:
    """Paragraph vectors of neus_val and ecbplus from the default embedder (cached in ``cache``)."""
    path = cache / f"real-{limit}.npy"
    if path.is_file():
        return np.load(path)
    from storycluster import Embedder, split_paragraphs

    embedder = Embedder()
    texts = [
        p for name in ("neus_val.jsonl", "ecbplus.jsonl") for row in load_jsonl(require_data(name))
        for p in split_paragraphs(row["text"], max_words=embedder.max_words)
    ][:limit]
    vectors = embedder.encode(texts)
    np.save(path, vectors)
    return vectors


def mixes(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors, each a random mix of two real vectors plus noise."""
    a = rng.uniform(0.5, 1.0, size=(n, 1)).astype(np.float32)
    mixed = a * base[rng.integers(0, len(base), n)] + (1 - a) * base[rng.integers(0, len(base), n)]
    mixed += rng.normal(scale=NOISE, size=mixed.shape).astype(np.float32)
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def merge_top(best: tuple[np.ndarray, np.ndarray], scores: np.ndarray, keys: np.ndarray, k: int):
    """The running exact top-``k`` (scores, keys) of each query merged with a new chunk's scores."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    all_scores = np.concatenate([best[0], np.take_along_axis(scores, top, 1)], axis=1)
    all_keys = np.concatenate([best[1], keys[top]], axis=1)
    keep = np.argsort(-all_scores, axis=1)[:, :k]
    return np.take_along_axis(all_scores, keep, 1), np.take_along_axis(all_keys, keep, 1)


def build(base: np.ndarray, n: int, append: int, queries: np.ndarray, directory: Path) -> dict:
    """Grow a segmented set of ``n`` mixed vectors ``append`` at a time in ``directory``; exact top-10 on the way."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    dimension = base.shape[1]
    vectors = SegmentedVectors(dimension, [], np.zeros(0, np.int64))
    best = (np.full((len(queries), 10), -np.inf, np.float32), np.zeros((len(queries), 10), np.int64))
    started, appends = time.perf_counter(), []
    for generation, start in enumerate(range(0, n, append), 1):
        for low in range(start, min(n, start + append), CHUNK):
            chunk = mixes(base, min(CHUNK, n - low, start + append - low), rng)
            keys = np.arange(low + 1, low + 1 + len(chunk), dtype=np.int64)
            best = merge_top(best, queries @ chunk.T, keys, 10)
            vectors.add(keys, chunk)
        began, merge = time.perf_counter(), vectors.merge_plan()
        record, _ = vectors.next_segment(directory / f"g{generation:06d}.paragraphs.faiss", merge)
        kept = [segment for segment, _ in vectors.segments][:len(vectors.segments) - merge]
        for segment in [segment for segment, _ in vectors.segments][len(kept):]:
            (directory / segment.file).unlink()
        vectors = SegmentedVectors.open(directory, dimension, [*kept, record], np.zeros(0, np.int64))
        appends.append(time.perf_counter() - began)
        print(f"  {min(n, start + append):,} vectors: segment written in {appends[-1]:.0f} s "
              f"({len(vectors.segments)} segments)", file=sys.stderr, flush=True)
    built = {
        "segments": [segment.to_json() for segment, _ in vectors.segments], "truth": best[1].tolist(),
        "build_seconds": time.perf_counter() - started, "append_seconds": appends, "dimension": dimension,
    }
    (directory / "built.json").write_text(json.dumps(built))
    return built


def cached(base: np.ndarray, n: int, append: int, queries: np.ndarray, directory: Path) -> dict:
    """What :func:`build` recorded in ``directory``, building it first if it is not there."""
    if (directory / "built.json").is_file():
        return json.loads((directory / "built.json").read_text())
    return build(base, n, append, queries, directory)


READER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from storycluster.index.story_index import RERANK_CANDIDATES
from storycluster.store.compressed import RERANK, CompressedVectors
from storycluster.store.segments import Segment, SegmentedVectors
from storycluster.store import vectors as vector_sets
directory, queries_path, count, per_article = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
vector_sets.NPROBE = int(sys.argv[5])
def rss(field):
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status[field].split()[0]) / 1024
def open_set(directory):
    built = json.loads((directory / "built.json").read_text())
    segments = [Segment(**s) for s in built["segments"]]
    return SegmentedVectors.open(directory, built["dimension"], segments, np.zeros(0, np.int64))
started = time.perf_counter()
vectors = open_set(directory)
articles = open_set(Path(sys.argv[6])) if len(sys.argv) > 6 else None
opened, open_rss = time.perf_counter() - started, rss("VmRSS")
queries = np.load(queries_path)
found, by_vector, by_id = [], [], []
for query in queries:
    started = time.perf_counter()
    _, keys = vectors.search(query[None], 10)
    by_vector.append((time.perf_counter() - started) * 1000)
    found.append(keys[0].tolist())
for first in np.random.default_rng(1).integers(1, count - per_article, len(queries)):
    started = time.perf_counter()
    own = np.arange(first, first + per_article)
    vectors.search(vectors.vectors(own), 10, deny=own)
    by_id.append((time.perf_counter() - started) * 1000)
by_article = []
for key in np.random.default_rng(2).integers(1, len(articles), len(queries)) if articles is not None else []:
    started = time.perf_counter()
    own = np.arange(key * per_article, key * per_article + per_article) % count + 1
    query, paragraphs = articles.vectors([key])[0], vectors.vectors(own)
    _, keys = articles.search(query, RERANK_CANDIDATES, deny=np.array([key]))
    for match in keys[0][:10]:
        (vectors.vectors(np.arange(match * per_article, match * per_article + per_article) % count + 1) @ paragraphs.T).max()
    by_article.append((time.perf_counter() - started) * 1000)
peak, before = rss("VmHWM"), rss("VmRSS")
# the alternative to pread: the same number of row reads (random rows) through a memory mapping of the rows
reads = len(queries) * 2 * RERANK  # per segment: by vector and by id, RERANK candidates a query (at least)
maps = [np.memmap(v._file.name, np.float32, "r", v._rows_at, (len(v), v.dimension)) for _, v in vectors.segments
        if isinstance(v, CompressedVectors)]
for rows in maps:
    sum(float(rows[i, 0]) for i in np.random.default_rng(3).integers(0, len(rows), reads))
mapped = rss("VmRSS") - before
print(json.dumps({"found": found, "by_vector": by_vector, "by_id": by_id, "by_article": by_article, "open_seconds": opened,
                  "open_rss_mb": open_rss, "peak_rss_mb": peak, "mapped_rows_mb": mapped}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1_000_000, help="vectors a generation (a segment each)")
    parser.add_argument("--articles", type=int, default=0, help="also an article vector set of this size")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--nprobe", type=int, default=NPROBE, help="lists probed a segment (the store's NPROBE)")
    parser.add_argument("--base", type=int, default=5_000, help="real paragraph vectors to mix from")
    parser.add_argument("--cache", type=Path, required=True, help="where built sets are kept between runs")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    base = real_vectors(args.cache, args.base)
    queries = mixes(base, args.queries, np.random.default_rng(7))
    directory = args.cache / f"paragraphs-{args.paragraphs}-{args.append}-{segments.COMPRESSED_FROM}"
    np.save(args.cache / "queries.npy", queries)
    load = os.getloadavg()[0]
    built = cached(base, args.paragraphs, args.append, queries, directory)
    reader = [sys.executable, "-c", READER, str(directory), str(args.cache / "queries.npy"), str(args.paragraphs),
              str(PARAGRAPHS_PER_ARTICLE), str(args.nprobe)]
    if args.articles:
        articles = args.cache / f"articles-{args.articles}-{args.append}-{segments.COMPRESSED_FROM}"
        cached(base, args.articles, args.append, queries, articles)
        reader.append(str(articles))
    result = json.loads(subprocess.run(reader, check=True, stdout=subprocess.PIPE, text=True).stdout)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(result["found"], built["truth"])])
    disk = sum(s["size"] for s in built["segments"]) / args.paragraphs
    kinds = ", ".join(f"{s['count']:,}" for s in built["segments"])
    print(f"{args.paragraphs:,} paragraph vectors from {len(base):,} real ones mixed two at a time, in segments of "
          f"{kinds} (compressed from {segments.COMPRESSED_FROM:,}); nprobe {args.nprobe}, re-rank {RERANK}; "
          f"{args.queries} queries one at a time; load average {load:.1f} at start, {os.getloadavg()[0]:.1f} now")
    print(f"build {built['build_seconds']:.0f} s (segments written in {', '.join(f'{s:.0f}' for s in built['append_seconds'])} s)")
    print("| paragraphs | by vector p50 / p95 ms | by id (5 paragraphs) p50 / p95 ms | recall@10 vs exact "
          "| reader open s | reader RSS after open / peak MB | disk bytes/vector | vector disk bytes/article (7 vectors) |")
    print("|---|---|---|---|---|---|---|---|")
    if args.articles:
        print(f"by id at article level ({args.articles:,} article vectors): p50 / p95 "
              f"{percentile(result['by_article'], 50):.2f} / {percentile(result['by_article'], 95):.2f} ms")
    print(f"| {args.paragraphs:,} | {percentile(result['by_vector'], 50):.2f} / {percentile(result['by_vector'], 95):.2f} "
          f"| {percentile(result['by_id'], 50):.2f} / {percentile(result['by_id'], 95):.2f} | {recall:.3f} "
          f"| {result['open_seconds']:.1f} | {result['open_rss_mb']:.0f} / {result['peak_rss_mb']:.0f} | {disk:.0f} "
          f"| {disk * (PARAGRAPHS_PER_ARTICLE + 2):.0f} |")
    print(f"the same number of row reads through a memory mapping instead of pread: +{result['mapped_rows_mb']:.0f} MB of "
          "reader RSS (file pages it touched; it grows towards the files' size as queries go on)")


if __name__ == "__main__":
    main()
