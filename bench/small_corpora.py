"""Stories in small collections: the shipped rule on small samples of the six English corpora.

A new index, a niche feed or one day of a few outlets holds tens of articles, not thousands. Two kinds of
sample are drawn from each corpus of ../shared/bench (features from the cache of ``bench/story_features.py``),
ten draws each, and clustered with the shipped defaults (``StoryClusterer(StoryConfig())``):

- *unrelated*: k articles of k different stories. Every article should stay alone; the table shows B-cubed
  precision (1.0 = nothing merged);
- *whole stories*: every article of k stories (at most 400 articles). The table shows B-cubed F1.

``--norms-keep-rare`` counts the terms found in one article only in the TF-IDF norms (they still cannot
link two articles). Today they are left out of the weights altogether (``TermWeights``, ``min_df=2``): in a
small sample most terms are in one article only, so two texts are compared on the few terms they share,
and two headlines sharing one word ("central") have a lexical cosine of 1.0.

    .venv/bin/python bench/small_corpora.py
    .venv/bin/python bench/small_corpora.py --norms-keep-rare
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from fit_pair_model import FIT_CORPORA, Corpus

from storycluster.stories import clustering
from storycluster.stories.clustering import StoryClusterer, StoryConfig
from storycluster.stories.evaluation import bcubed
from storycluster.text.lexical import TermWeights

UNRELATED = (5, 10, 30, 100)
WHOLE = (3, 10, 30)
DRAWS = 10
MAX_ARTICLES = 400


class NormsKeepRare(TermWeights):
    """TF-IDF weights whose L2 norms count the terms left out for being in fewer than ``min_df`` articles."""

    def __init__(self, df: np.ndarray, n_docs: int, *, min_df: int = 2, max_df: float = 0.5) -> None:
        super().__init__(df, n_docs, min_df=min_df, max_df=max_df)
        self.every_term = TermWeights(df, n_docs, min_df=1, max_df=max_df)

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Rows normalised over every term, then the terms these weights leave out set to zero."""
        weights = self.every_term.weigh(counts)
        weights.data[self.idf[weights.indices] == 0] = 0
        weights.eliminate_zeros()
        return weights


def unrelated(corpus: Corpus, k: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of one article from each of k random stories."""
    stories = np.unique(corpus.labels)
    chosen = rng.choice(stories, size=min(k, len(stories)), replace=False)
    return np.array([rng.choice(np.flatnonzero(corpus.labels == story)) for story in chosen])


def whole(corpus: Corpus, k: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of every article of k random stories (a random ``MAX_ARTICLES`` of them where more)."""
    chosen = rng.choice(np.unique(corpus.labels), size=k, replace=False)
    rows = np.flatnonzero(np.isin(corpus.labels, chosen))
    return rng.choice(rows, size=MAX_ARTICLES, replace=False) if len(rows) > MAX_ARTICLES else rows


def score(corpus: Corpus, rows: np.ndarray) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1) of the shipped rule on the articles ``rows`` alone."""
    labels = StoryClusterer(StoryConfig()).fit([corpus.articles[i] for i in rows]).labels_
    return bcubed(np.asarray(corpus.labels)[rows], labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--norms-keep-rare", action="store_true", help="count rare terms in the TF-IDF norms")
    args = parser.parse_args()
    if args.norms_keep_rare:
        clustering.TermWeights = NormsKeepRare  # the name StorySimilarity weighs with
    columns = [f"{k} unrelated, P" for k in UNRELATED] + [f"{k} whole stories, F1" for k in WHOLE]
    print("| corpus | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    table = []
    for name in FIT_CORPORA:
        corpus = Corpus(name)
        rng = np.random.default_rng(0)
        row = [np.mean([score(corpus, unrelated(corpus, k, rng))[0] for _ in range(DRAWS)]) for k in UNRELATED]
        row += [np.mean([score(corpus, whole(corpus, k, rng))[2] for _ in range(DRAWS)]) for k in WHOLE]
        table.append(row)
        print(f"| {name} | " + " | ".join(f"{value:.3f}" for value in row) + " |", flush=True)
    print("| **mean** | " + " | ".join(f"**{value:.3f}**" for value in np.mean(table, axis=0)) + " |")


if __name__ == "__main__":
    main()
