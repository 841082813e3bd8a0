"""Story grouping quality on the labelled bench corpora, through the product's own path.

Each corpus is indexed into a temporary index with the defaults, clustered (``StoryIndex.cluster``) and
scored against its labels (``storycluster.index.scoring.score_index``), with wall times and peak memory:

    .venv/bin/python bench/stories.py                      # the six English corpora
    .venv/bin/python bench/stories.py neus_val.jsonl       # one corpus

Targets (issue 14), one default for all: the TARGETS below. The leave-one-corpus-out choice of that
default and the comparison of linkages are ``bench/generalization.py`` (on cached embeddings); the
earlier single-corpus research is ``bench/stories_research.py``.
"""

from __future__ import annotations

import argparse

from common import Timer, load_jsonl, peak_rss_mb, require_data, temporary_index_dir

from storycluster import Article, StoryIndex
from storycluster.index.scoring import score_index

CORPORA = ["ecbplus.jsonl", "neus_val.jsonl", "gvc.jsonl", "basil.jsonl", "googlenews_ts.jsonl", "uci_news_dev.jsonl"]
TARGETS = {"ecbplus.jsonl": 0.93, "neus_val.jsonl": 0.91, "gvc.jsonl": 0.95, "basil.jsonl": 0.98,
           "googlenews_ts.jsonl": 0.88, "uci_news_dev.jsonl": 0.85}
COLUMNS = ["bcubed_precision", "bcubed_recall", "bcubed_f1", "pairwise_f1", "ami", "ari", "precision_at_5", "recall_at_2"]


def run(name: str) -> dict:
    rows = load_jsonl(require_data(name))
    labels = {row["id"]: row["story"] for row in rows}
    articles = [
        Article(id=row["id"], text=row["text"] or row.get("title") or "", title=row.get("title"), source=row.get("source"),
                published=row.get("published"))
        for row in rows
    ]
    with StoryIndex.open(temporary_index_dir(), create=True) as index:
        with Timer() as indexing:
            index.add(articles)
        with Timer() as clustering:
            index.cluster()
        report = score_index(index, labels, recluster=False)
    return {**report, "index_s": indexing.seconds, "cluster_s": clustering.seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", default=CORPORA)
    args = parser.parse_args()
    print("| corpus | docs | stories | predicted | " + " | ".join(COLUMNS) + " | index s | cluster s | peak RSS MB | target |")
    print("|---" * (len(COLUMNS) + 8) + "|")
    for name in args.corpora:
        r = run(name)
        figures = " | ".join(f"{r[c]:.3f}" if c in r else "-" for c in COLUMNS)
        target = TARGETS.get(name)
        verdict = "-" if target is None else f">= {target}: {'met' if r['bcubed_f1'] >= target else 'MISSED'}"
        print(
            f"| {name} | {r['n_docs']} | {r['n_stories']} | {r['n_predicted']} | {figures} | {r['index_s']:.0f}"
            f" | {r['cluster_s']:.1f} | {r['peak_rss_mb']:.0f} | {verdict} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
