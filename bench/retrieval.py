"""Retrieval quality, indexing throughput and query latency of storycluster on labelled news.

For each article of a corpus, its top-k related articles (``StoryIndex.similar_to``) are checked against
the story labels: precision@5 (share of the top 5 from the same story) and, where every story has three
articles (neus_val), recall@2 (share of articles whose two sibling reports are the top 2). A TF-IDF
cosine baseline is computed on the same data in the same run, and several ways of building the article
vector from the stored paragraph vectors are compared.

    .venv/bin/python bench/retrieval.py            # ecbplus and neus_val
    .venv/bin/python bench/retrieval.py --limit 200
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
from common import Timer, load_jsonl, peak_rss_mb, percentile, require_data, temporary_index_dir
from sklearn.feature_extraction.text import TfidfVectorizer

from storycluster import Article, StoryIndex
from storycluster.stories.evaluation import precision_at_k, recall_at_k


def neighbours(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest other rows by cosine (rows are unit vectors)."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1)[:, :k]


def normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def retrieval_figures(top: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    figures = {"precision_at_5": precision_at_k(labels[top[:, :5]], labels)}
    if set(Counter(labels).values()) == {3}:
        figures["recall_at_2"] = recall_at_k(top[:, :2], labels)
    return figures


def run(name: str, limit: int | None) -> None:
    rows = load_jsonl(require_data(name), limit)
    labels = np.array([row["story"] for row in rows])
    articles = [
        Article(id=row["id"], text=row["text"], title=row.get("title"), source=row.get("source")) for row in rows
    ]
    index = StoryIndex.open(temporary_index_dir(), create=True)
    index.embedder.encode(["warm up"])
    with Timer() as build:
        report = index.add(articles)
    position = {article_id: i for i, article_id in enumerate(index.article_vectors()[0])}
    order = [position[row["id"]] for row in rows]

    latencies, top_ids = [], []
    for row in rows:
        with Timer() as query:
            matches = index.similar_to(row["id"], k=5)
        latencies.append(query.seconds * 1000)
        top_ids.append([m.id for m in matches])
    row_of = {row["id"]: i for i, row in enumerate(rows)}
    product_top = np.array([[row_of[i] for i in ids] for ids in top_ids])

    text_latencies = []
    for row in rows[:100]:
        with Timer() as query:
            index.similar(row["text"][:300], k=5)
        text_latencies.append(query.seconds * 1000)

    print(f"\n## {name}: {len(rows)} articles, {len(set(labels))} stories")
    print(
        f"indexing: {report.paragraphs} paragraphs in {build.seconds:.1f} s = {len(rows) / build.seconds:.1f} articles/s,"
        f" {report.paragraphs / build.seconds:.1f} paragraphs/s; peak RSS {peak_rss_mb():.0f} MB"
    )
    print(
        f"query by id: p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms;"
        f" by text (300 chars, embedding included): p50 {percentile(text_latencies, 50):.1f} ms,"
        f" p95 {percentile(text_latencies, 95):.1f} ms"
    )

    paragraph_sets = [index.paragraph_vectors(row["id"]) for row in rows]
    texts = [(row.get("title") or "") + "\n" + row["text"] for row in rows]
    candidates = {
        "storycluster similar_to (dense top 100, re-ranked with TF-IDF)": product_top,
        "TF-IDF cosine baseline": neighbours(
            normalise(TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts).toarray()), 5
        ),
        "dense only: stored article vector (whole if it fits, else derived)": neighbours(index.article_vectors()[1][order], 5),
        "dense only: mean of paragraph vectors": neighbours(normalise(np.stack([p.mean(0) for p in paragraph_sets])), 5),
        "dense only: lead-weighted mean (1/sqrt(pos+1))": neighbours(
            normalise(np.stack([(p / np.sqrt(np.arange(1, len(p) + 1))[:, None]).sum(0) for p in paragraph_sets])), 5
        ),
    }
    print(f"| method | {' | '.join(retrieval_figures(product_top, labels))} |")
    print("|---|---|" + ("---|" if "recall_at_2" in retrieval_figures(product_top, labels) else ""))
    for method, top in candidates.items():
        figures = retrieval_figures(top, labels)
        print(f"| {method} | " + " | ".join(f"{v:.3f}" for v in figures.values()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="Use only the first N articles of each corpus.")
    parser.add_argument("corpora", nargs="*", default=["ecbplus.jsonl", "neus_val.jsonl"])
    args = parser.parse_args()
    for name in args.corpora:
        run(name, args.limit)


if __name__ == "__main__":
    main()
