"""Indexing throughput: the local engine against the Ray engine with 1 and 2 workers, on one ecbplus subset.

Each run builds a fresh index of the first ``--articles`` articles of ../shared/bench/ecbplus.jsonl and
prints paragraphs/s over the whole ``add`` (embedding, SQLite, FAISS, stories). The local engine embeds in
this process with torch's own threads (its model is loaded before the clock starts, when the index is
created); each Ray run starts its actors inside the clock (one model load per actor, each actor on one
CPU), so the Ray figures include that start-up. Ray itself starts once, with as many CPUs as the largest
worker count, before any run.

    .venv/bin/python bench/ray_engine.py                      # 200 articles, workers 1 and 2
    .venv/bin/python bench/ray_engine.py --articles 982 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from itertools import islice
from pathlib import Path

from common import require_data, temporary_index_dir

from storycluster import ArticleReader, StoryIndex
from storycluster.engines.ray import RayEngine
from storycluster.index.story_index import AddReport


def subset(articles: int) -> Path:
    """The first ``articles`` lines of ecbplus as a JSON-lines file of their own."""
    path = temporary_index_dir().with_name("subset.jsonl")
    with open(require_data("ecbplus.jsonl"), encoding="utf-8") as source:
        path.write_text("".join(islice(source, articles)), encoding="utf-8")
    return path


def row(name: str, workers: int | None, report: AddReport) -> str:
    rate = report.paragraphs / report.seconds
    per_worker = f"{rate / workers:.1f}" if workers else "-"
    return f"| {name} | {workers or '-'} | {report.paragraphs} | {report.seconds:.1f} | {rate:.1f} | {per_worker} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200, help="articles of ecbplus to index")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to run")
    parser.add_argument("--backend", choices=["torch", "onnx-int8"], default="torch", help="embedding backend")
    args = parser.parse_args()
    data = subset(args.articles)
    print(f"{args.articles} ecbplus articles, backend {args.backend}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| engine | workers | paragraphs | seconds | paragraphs/s | per worker |")
    print("|---|---|---|---|---|---|")
    with StoryIndex.open(temporary_index_dir(), create=True, backend=args.backend) as index:
        print(row("local", None, index.add(ArticleReader().read([data]))), flush=True)

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray_start = time.perf_counter() - started
    for workers in args.workers:
        with RayEngine(workers=workers) as engine, StoryIndex.open(
            temporary_index_dir(), create=True, backend=args.backend
        ) as index:
            print(row("ray", workers, engine.add(index, engine.read([str(data)], ArticleReader()))), flush=True)
    ray.shutdown()
    print(f"(Ray start, not in the table: {ray_start:.1f} s)")


if __name__ == "__main__":
    main()
