"""Nearest-neighbour queries at 10k to 5M paragraph vectors: latency, recall against exact search, reader memory, disk.

Compares, on the same vectors, how a paragraph vector set could be stored and searched:

- ``ivf-flat``: today's inverted file of float32 vectors (``storycluster.store.vectors``: about ``4 * sqrt(n)``
  lists, ``NPROBE`` probed). Exact scores, but 1,536 bytes a vector: 7.7 GB for 5,000,000 paragraphs.
- ``ivf-sq8``: the same lists holding 8-bit scalar-quantised codes (384 bytes a vector, in memory); scores
  and stored vectors are then approximate (decoded codes).
- ``ivf-sq8+rerank``: the same codes, the best ``RERANK`` candidates re-scored exactly against the float32
  vectors, which stay on disk in a file of rows addressed by key; only the candidates' rows are read, with
  ``pread`` (the page cache keeps them; a memory mapping would count every row ever touched in the reader's RSS).
- ``ivf-pq+rerank``: product-quantised codes (``PQ_BYTES`` bytes a vector), re-ranked the same way.

Volume: real paragraph vectors of ``neus_val`` and ``ecbplus`` (embedded once with the default embedder,
cached with ``--cache``), mixed two at a time with noise (``normalise(a * x + (1 - a) * y + noise)``), so the
set is continuous and has the clustered shape of news vectors rather than copies of a few thousand points.
Queries are fresh mixes. Recall@10 is measured against exact inner-product search over the same vectors;
latency is one query at a time on one thread (as ``similar`` searches), codes and re-ranking included.
Reader memory is the peak RSS of a fresh process that opens the set the way a reader would (``ivf-flat``
memory-mapped as today, so the file pages it touches count in its RSS; codes read in) and answers the queries.

    .venv/bin/python bench/scale_queries.py                       # 10k, 100k, 1M; three kinds
    .venv/bin/python bench/scale_queries.py --sizes 200000 --kinds ivf-sq8+rerank ivf-pq+rerank
    .venv/bin/python bench/scale_queries.py --sizes 5000000 --work /big/disk   # ~ 20 GB of scratch space

Building is the slow part (100,000 vectors took 2-3 minutes a kind under a load average of 15-20);
vectors and indexes are written under ``--work`` and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
from common import load_jsonl, percentile, require_data

from storycluster.store.vectors import NPROBE

KINDS = ("ivf-flat", "ivf-sq8", "ivf-sq8+rerank", "ivf-pq+rerank")
RERANK = 64  # candidates re-scored exactly
PQ_BYTES = 96  # product quantiser: 96 sub-vectors of 4 dimensions, 8 bits each
CHUNK = 100_000  # vectors generated, added or searched at a time (bounds the builder's memory)
TRAIN = 50_000
NOISE = 0.02  # per dimension, on top of the two-vector mix


def real_vectors(cache: Path | None, limit: int) -> np.ndarray:
    """Paragraph vectors of neus_val and ecbplus from the default embedder (cached in ``cache`` if given)."""
    if cache and cache.is_file():
        return np.load(cache)
    from storycluster import Embedder, split_paragraphs

    embedder = Embedder()
    texts = [
        p for name in ("neus_val.jsonl", "ecbplus.jsonl") for row in load_jsonl(require_data(name))
        for p in split_paragraphs(row["text"], max_words=embedder.max_words)
    ][:limit]
    vectors = embedder.encode(texts)
    if cache:
        np.save(cache, vectors)
    return vectors


def mixes(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors, each a random mix of two real vectors plus noise."""
    a = rng.uniform(0.5, 1.0, size=(n, 1)).astype(np.float32)
    mixed = a * base[rng.integers(0, len(base), n)] + (1 - a) * base[rng.integers(0, len(base), n)]
    mixed += rng.normal(scale=NOISE, size=mixed.shape).astype(np.float32)
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def write_volume(base: np.ndarray, n: int, path: Path, seed: int) -> np.memmap:
    """``n`` mixed vectors written to a float32 memory-mapped file, one row per key."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, base.shape[1]))
    for start in range(0, n, CHUNK):
        out[start:start + CHUNK] = mixes(base, min(CHUNK, n - start), rng)
    out.flush()
    return np.load(path, mmap_mode="r")


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` keys by inner product, scanning ``vectors`` a chunk at a time."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_keys = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), CHUNK):
        scores = queries @ np.asarray(vectors[start:start + CHUNK]).T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if scores.shape[1] > k else np.tile(
            np.arange(scores.shape[1]), (len(queries), 1))
        all_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        all_keys = np.concatenate([best_keys, top + start], axis=1)
        keep = np.argsort(-all_scores, axis=1)[:, :k]
        best_scores, best_keys = np.take_along_axis(all_scores, keep, 1), np.take_along_axis(all_keys, keep, 1)
    return best_keys


def build(kind: str, vectors: np.ndarray, path: Path) -> float:
    """Train and fill an index of ``kind`` over ``vectors`` (key = row); write it to ``path``; seconds taken."""
    started = time.perf_counter()
    n, dimension = vectors.shape
    lists = int(4 * math.sqrt(n))
    quantiser = faiss.IndexFlatIP(dimension)
    if kind == "ivf-flat":
        index = faiss.IndexIVFFlat(quantiser, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    elif kind.startswith("ivf-sq8"):
        index = faiss.IndexIVFScalarQuantizer(
            quantiser, dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFPQ(quantiser, dimension, lists, PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(0).choice(n, min(n, TRAIN), replace=False))
    index.train(np.asarray(vectors[sample]))
    for start in range(0, n, CHUNK):
        index.add_with_ids(np.asarray(vectors[start:start + CHUNK]), np.arange(start, min(n, start + CHUNK)))
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # as storycluster's sets: remove/reconstruct by key
    faiss.write_index(index, str(path))
    return time.perf_counter() - started


READER = r"""
import json, os, sys, time
import faiss, numpy as np
kind, index_path, vectors_path, queries_path, k, rerank, nprobe = sys.argv[1:8]
k, rerank, nprobe = int(k), int(rerank), int(nprobe)
faiss.omp_set_num_threads(1)
flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if kind == "ivf-flat" else 0  # as readers open sets today
rerank = rerank if kind.endswith("+rerank") else k
index = faiss.read_index(index_path, flags)
layout = np.load(vectors_path, mmap_mode="r")
offset, dimension, count = layout.offset, layout.shape[1], layout.shape[0]
del layout
row_bytes = 4 * dimension
handle = os.open(vectors_path, os.O_RDONLY)  # float32 rows by key, read with pread: the page cache holds
                                             # them, not this process (a mapping would count in its RSS)
def rows(keys):
    data = b"".join(os.pread(handle, row_bytes, offset + int(key) * row_bytes) for key in keys)
    return np.frombuffer(data, dtype=np.float32).reshape(len(keys), dimension)
queries = np.load(queries_path)
params = faiss.SearchParametersIVF(nprobe=nprobe)
found, latencies = [], []
for query in queries:
    started = time.perf_counter()
    scores, keys = index.search(query[None], rerank, params=params)
    keys = keys[0][keys[0] >= 0]
    if kind.endswith("+rerank"):
        keys = np.sort(keys)  # ascending keys: the reads go forward through the file
        keys = keys[np.argsort(-(rows(keys) @ query))[:k]]
    latencies.append((time.perf_counter() - started) * 1000)
    found.append(keys[:k].tolist())
by_id = []
for key in np.random.default_rng(1).integers(0, count, len(queries)):
    started = time.perf_counter()
    query = rows([key])[0]  # by id: the stored vector, then the same search
    index.search(query[None], rerank + 1, params=params)
    by_id.append((time.perf_counter() - started) * 1000)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
peak = int(status["VmHWM"].split()[0]) / 1024  # not ru_maxrss, which keeps the forking parent's peak
print(json.dumps({"found": found, "latencies": latencies, "by_id": by_id, "peak_rss_mb": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS[:3]),
                        help="ivf-pq+rerank is left out by default: training its quantiser is slow (minutes)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--base", type=int, default=5_000, help="real paragraph vectors to mix from")
    parser.add_argument("--cache", type=Path, help="a .npy file caching the real vectors between runs")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()), help="scratch directory")
    args = parser.parse_args()
    base = real_vectors(args.cache, args.base)
    print(f"{len(base):,} real paragraph vectors mixed two at a time; {args.queries} queries, k=10, nprobe "
          f"{NPROBE}, re-rank {RERANK}, PQ {PQ_BYTES} bytes; load average {os.getloadavg()[0]:.1f}")
    print("| vectors | kind | build s | disk bytes/vector | by text p50 / p95 ms | by id p50 ms "
          "| recall@10 vs exact | reader peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="scale-queries-", dir=args.work))
    try:
        for n in args.sizes:
            vectors = write_volume(base, n, work / "vectors.npy", seed=n)
            queries = mixes(base, args.queries, np.random.default_rng(7))
            np.save(work / "queries.npy", queries)
            truth = exact_top(vectors, queries, 10)
            for kind in args.kinds:
                index_path = work / f"{kind}.faiss"
                seconds = build(kind, vectors, index_path)
                disk = index_path.stat().st_size + (vectors.nbytes if kind.endswith("+rerank") else 0)
                result = json.loads(subprocess.run(
                    [sys.executable, "-c", READER, kind, str(index_path), str(work / "vectors.npy"),
                     str(work / "queries.npy"), "10", str(RERANK), str(NPROBE)],
                    check=True, capture_output=True, text=True,
                ).stdout)
                recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(result["found"], truth.tolist())])
                print(f"| {n:,} | {kind} | {seconds:.0f} | {disk / n:.0f} | {percentile(result['latencies'], 50):.2f}"
                      f" / {percentile(result['latencies'], 95):.2f} | {percentile(result['by_id'], 50):.2f} "
                      f"| {recall:.3f} | {result['peak_rss_mb']:.0f} |", flush=True)
                index_path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
