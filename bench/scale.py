"""Vector sets at 1k, 10k and 100k articles: build time, query latency, recall against exact search, memory.

Volume comes from real embeddings of ``neus_val`` (921 articles) repeated with noise (each copy keeps a
cosine of about 0.7 to its original), so the data has the clustered shape of news vectors. Above
``storycluster.store.vectors.EXACT_UP_TO`` vectors the set is an inverted file; recall@10 is measured against
exact search over the same vectors.

    .venv/bin/python bench/scale.py [--sizes 1000 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import resource
import time

import faiss
import numpy as np
from common import load_jsonl, percentile, require_data

from storycluster import Embedder
from storycluster.store.vectors import EXACT_UP_TO, NPROBE, VectorSet

NOISE = 0.05  # per dimension: |noise| ~ 0.98, cosine to the original ~ 0.7


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def volume(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    picks = base[rng.integers(0, len(base), n)]
    noisy = picks + rng.normal(scale=NOISE, size=picks.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rows = load_jsonl(require_data("neus_val.jsonl"))
    base = Embedder().encode([f"{r.get('title') or ''}\n{r['text']}" for r in rows])
    rng = np.random.default_rng(0)
    print(f"exact up to {EXACT_UP_TO:,} vectors, then IVF probing {NPROBE} lists")
    print("| vectors | kind | build s (appends of 1,000) | query p50 ms | p95 ms | recall@10 vs exact | memory held by the set MB |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        vectors = volume(base, n, rng)
        queries = volume(base, args.queries, rng)
        before = rss_mb()
        started = time.perf_counter()
        vector_set = VectorSet.empty(vectors.shape[1])
        for start in range(0, n, 1_000):
            vector_set.add(np.arange(start, min(n, start + 1_000)), vectors[start:start + 1_000])
        build = time.perf_counter() - started
        latencies = []
        found = np.empty((len(queries), 10), dtype=np.int64)
        for row, query in enumerate(queries):
            started = time.perf_counter()
            found[row] = vector_set.search(query, 10)[1][0]
            latencies.append((time.perf_counter() - started) * 1000)
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        truth = exact.search(queries, 10)[1]
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
        grown = rss_mb() - before
        print(
            f"| {n:,} | {'exact' if vector_set.exact else 'IVF'} | {build:.2f} | {percentile(latencies, 50):.2f}"
            f" | {percentile(latencies, 95):.2f} | {recall:.3f} | {grown:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
