"""Full story re-clustering at 10k / 100k / 1M articles: seconds and peak memory, next to the old implementation.

Volume comes from a real labelled corpus (``googlenews_ts`` by default: 11,109 snippets of 152 stories, one
paragraph each, cached by ``bench/story_features.py``) scaled up with noise:

- the first copy of every article is the article itself; further copies are drawn at random;
- texts: each word of a copy is dropped with probability 0.15 (so TF-IDF rows differ between copies);
- vectors: each paragraph vector gets Gaussian noise of 0.02 per dimension and is re-normalised (cosine ~0.93
  to the original, ~0.87 between two copies); the article vector is the normalised mean of its paragraphs;
- dates: each story starts on a random day of a span of ``n / 10,000`` days (a 10,000-articles-a-day feed)
  and each copy is published an exponential(2 days) delay after its story's start.

Each size runs in a fresh subprocess: it builds the corpus, resets the process's peak RSS (VmHWM), then times
``StoryClusterer.fit``. Peak RSS is that of the fit, the corpus it reads included (shown apart: the RSS just
before the fit). The old implementation (the pure-Python merge and per-pair loops of commit ``BASELINE``,
loaded from git history) runs at the sizes given to ``--baseline-sizes``. B-cubed F1 is against the stories
the copies inherit; "exact 30-NN among pairs" is the share of 500 sampled articles' exact 30 nearest
neighbours that are candidate pairs (1.0 where the search is exact; below it above 20,000 articles, where an
inverted file finds them); "same labels" compares the two implementations' partitions where both ran, else
the B-cubed F1 of the new labels against the old ones.

    .venv/bin/python bench/scale_stories.py                                  # 10k, 100k, 1M; old at 10k, 100k
    .venv/bin/python bench/scale_stories.py --sizes 10000 --baseline-sizes 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time

import numpy as np
from common import ROOT

BASELINE = "2d4801f"  # main before the scalable clustering: Python heap + dict-of-dicts merge, per-pair loops
DROPOUT = 0.15
NOISE = 0.02
PER_DAY = 10_000
DELAY_DAYS = 2.0


def scaled_corpus(name: str, n: int, seed: int = 0) -> dict[str, np.ndarray | list]:
    """``n`` articles made of ``name``'s real articles and noisy copies of them (see the module docstring)."""
    from story_features import load

    data = load(name)
    base_n = len(data["story"])
    rng = np.random.default_rng(seed)
    picks = np.concatenate([np.arange(min(n, base_n)), rng.integers(0, base_n, max(0, n - base_n))])
    original = np.arange(n) < base_n
    bounds = np.searchsorted(data["owner"], np.arange(base_n + 1))
    counts = np.diff(bounds)[picks]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    rows = np.concatenate([np.arange(bounds[p], bounds[p + 1]) for p in picks]) if n else np.empty(0, np.int64)
    paragraphs = data["para"][rows]
    noisy = np.repeat(~original, counts)
    for start in range(0, len(paragraphs), 100_000):  # in slices: the noise of 1M rows at once is 1.5 GB
        block = slice(start, start + 100_000)
        chunk = paragraphs[block]
        chunk[noisy[block]] += rng.normal(scale=NOISE, size=chunk[noisy[block]].shape).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
    vectors = np.add.reduceat(paragraphs, offsets[:-1], axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    stories, story = np.unique(data["story"], return_inverse=True)
    start_day = rng.uniform(0, max(1.0, n / PER_DAY), len(stories))
    days = 20_000 + start_day[story[picks]] + rng.exponential(DELAY_DAYS, n)
    texts, titles = [], []
    for i, p in enumerate(picks.tolist()):
        text, title = str(data["text"][p]), str(data["title"][p]) or None
        if not original[i]:
            words = text.split()
            text = " ".join(w for w, d in zip(words, rng.random(len(words))) if d >= DROPOUT) or text
        texts.append(text)
        titles.append(title)
    return {
        "text": texts, "title": titles, "vector": vectors, "paragraphs": paragraphs,
        "offsets": offsets, "days": days, "labels": data["story"][picks],
    }


def rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last :func:`reset_peak`) of this process, in MB."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith(field + ":"))


def reset_peak() -> None:
    """Start measuring the peak RSS from now (Linux: writing 5 to clear_refs resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def load_baseline(revision: str):
    """The clustering module as it was at ``revision`` (git history), importable beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/storycluster/stories/clustering.py"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("storycluster.stories.baseline_clustering", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "storycluster.stories"
    sys.modules[spec.name] = module
    exec(compile(source, f"{revision}:clustering.py", "exec"), module.__dict__)  # noqa: S102  (our own history)
    model = json.loads(subprocess.run(
        ["git", "show", f"{revision}:src/storycluster/stories/pair_model.json"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout)
    module.default_pair_model = lambda: module.PairModel.from_dict(model)  # that revision's own pair model
    return module


def run(corpus: str, n: int, implementation: str) -> dict:
    """Build the corpus and cluster it once in this process; the figures as a dict."""
    from datetime import datetime, timezone

    from storycluster.stories import clustering
    from storycluster.stories.clustering import StoryConfig
    from storycluster.stories.evaluation import bcubed

    data = scaled_corpus(corpus, n)
    module = load_baseline(BASELINE) if implementation == "old" else clustering
    offsets = data["offsets"]
    if implementation == "old":
        dates = [datetime.fromtimestamp(d * 86400, tz=timezone.utc) for d in data["days"].tolist()]
        articles = [
            module.ArticleFeatures(data["text"][i], data["title"][i], data["vector"][i],
                                   data["paragraphs"][offsets[i]:offsets[i + 1]], dates[i])
            for i in range(n)
        ]
    else:
        articles = clustering.ArticleTable(
            data["text"], data["title"], data["vector"], data["paragraphs"], offsets, data["days"]
        )
    before = rss_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    clusterer = module.StoryClusterer().fit(articles)
    seconds = time.perf_counter() - started
    peak = rss_mb("VmHWM")
    labels = clusterer.labels_
    return {
        "n": n, "implementation": implementation, "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak), "corpus_rss_mb": round(before),
        "pair_recall": round(pair_recall(data["vector"], *clusterer.pairs_, StoryConfig().n_neighbours), 4),
        "stories": int(labels.max()) + 1, "bcubed_f1": round(bcubed(data["labels"], labels)[2], 4),
        "labels": labels.tolist() if n <= 100_000 else None,
    }


def pair_recall(vectors: np.ndarray, left: np.ndarray, right: np.ndarray, k: int, queries: int = 500) -> float:
    """Share of the exact ``k`` nearest neighbours of sampled articles that are among the candidate pairs."""
    picks = np.sort(np.random.default_rng(1).choice(len(vectors), min(queries, len(vectors)), replace=False))
    sims = vectors[picks] @ vectors.T
    sims[np.arange(len(picks)), picks] = -np.inf
    exact = np.argsort(-sims, axis=1)[:, :k]
    found = [set() for _ in picks]
    row = {int(p): i for i, p in enumerate(picks)}
    for a, b in ((left, right), (right, left)):
        for i in np.flatnonzero(np.isin(a, picks)).tolist():
            found[row[int(a[i])]].add(int(b[i]))
    return float(np.mean([len(found[i] & set(exact[i].tolist())) / k for i in range(len(picks))]))


def subprocess_run(corpus: str, n: int, implementation: str) -> dict:
    """:func:`run` in a fresh interpreter, so that its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", implementation, "--corpus", corpus, "--sizes", str(n)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def same_partition(a: list[int], b: list[int]) -> bool:
    """True when two labelings group the articles identically (label numbers aside)."""
    pairs = set(zip(a, b))
    return len(pairs) == len(set(a)) == len(set(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000],
                        help="Sizes at which the old implementation runs too (it needs ~8 GB at 100k).")
    parser.add_argument("--corpus", default="googlenews_ts")
    parser.add_argument("--worker", choices=["old", "new"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run(args.corpus, args.sizes[0], args.worker)))
        return
    from storycluster.stories.evaluation import bcubed

    run(args.corpus, 2_000, "new")  # the kernels compiled once into numba's cache: the runs below load them
    print(f"corpus: {args.corpus} scaled with noise; each run in a fresh process; peak RSS includes the corpus")
    print("| articles | implementation | seconds | peak RSS MB (corpus alone) | stories | B-cubed F1 |"
          " exact 30-NN among pairs | vs old |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        new = subprocess_run(args.corpus, n, "new")
        old = subprocess_run(args.corpus, n, "old") if n in args.baseline_sizes else None
        for row in [r for r in (old, new) if r]:
            versus = ""
            if row is new and old:
                same = "same labels" if same_partition(old["labels"], new["labels"]) else (
                    f"labels differ: B-cubed F1 {bcubed(old['labels'], new['labels'])[2]:.4f} against old's")
                versus = f"{old['seconds'] / new['seconds']:.1f}x faster, {same}"
            print(
                f"| {n:,} | {row['implementation']} | {row['seconds']:.1f} | {row['peak_rss_mb']:,}"
                f" ({row['corpus_rss_mb']:,}) | {row['stories']:,} | {row['bcubed_f1']:.3f} | {row['pair_recall']:.4f}"
                f" | {versus} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
