"""Incremental stories: quality of online assignment against a batch rebuild, and the cost of an append.

1. ecbplus fed in 10 batches (in file order, then shuffled): B-cubed F1 of the stories kept current by
   ``add`` against ``cluster()`` (a full rebuild) on the same index; the gap must stay within 0.02.
2. googlenews_ts: time to append 100 articles to an index of 1,000, 5,000 and 10,000 articles.

    .venv/bin/python bench/incremental.py [--skip-quality] [--skip-append]
"""

from __future__ import annotations

import argparse
import random

from common import Timer, load_jsonl, require_data, temporary_index_dir

from storycluster import Article, StoryIndex
from storycluster.stories.evaluation import bcubed


def articles_of(rows: list[dict]) -> list[Article]:
    return [
        Article(id=r["id"], text=r["text"] or r.get("title") or "", title=r.get("title"), source=r.get("source"))
        for r in rows
    ]


def f1_of(index: StoryIndex, labels: dict[str, str]) -> float:
    predicted = {a: s.story for s in index.stories() for a in s.articles}
    ids = list(labels)
    return bcubed([labels[i] for i in ids], [predicted[i] for i in ids])[2]


def quality(batches: int) -> None:
    rows = load_jsonl(require_data("ecbplus.jsonl"))
    labels = {r["id"]: r["story"] for r in rows}
    print("| order | batches | online B-cubed F1 | rebuild B-cubed F1 | gap | indexing s |")
    print("|---|---|---|---|---|---|")
    for order in ("file order", "shuffled"):
        if order == "shuffled":
            rows = random.Random(7).sample(rows, len(rows))
        with StoryIndex.open(temporary_index_dir(), create=True) as index, Timer() as timer:
            size = -(-len(rows) // batches)
            for start in range(0, len(rows), size):
                index.add(articles_of(rows[start:start + size]))
            online = f1_of(index, labels)
            index.cluster()
            rebuilt = f1_of(index, labels)
        print(f"| {order} | {batches} | {online:.3f} | {rebuilt:.3f} | {rebuilt - online:+.3f} | {timer.seconds:.0f} |", flush=True)


def append_cost(sizes: list[int], batch: int) -> None:
    rows = load_jsonl(require_data("googlenews_ts.jsonl"))
    extra = articles_of(rows[-batch:])
    print("| existing articles | append of 100: seconds | of which embedding-free work (s) |")
    print("|---|---|---|")
    with StoryIndex.open(temporary_index_dir(), create=True) as index:
        done = 0
        for size in sizes:
            index.add(articles_of(rows[done:size]))
            done = size
            with Timer() as timer:
                index.add(extra)
            embed = index.embedder
            with Timer() as embedding:
                embed.encode([a.text for a in extra])
            index.remove([a.id for a in extra])
            print(f"| {size:,} | {timer.seconds:.2f} | {timer.seconds - embedding.seconds:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-append", action="store_true")
    args = parser.parse_args()
    if not args.skip_quality:
        quality(args.batches)
    if not args.skip_append:
        append_cost([1_000, 5_000, 10_000], 100)


if __name__ == "__main__":
    main()
