"""Leave-one-corpus-out tables of the story-linking rule, with cost per corpus and a comparison of linkages.

Each embedding model has its own pair model (``stories/pair_models.json``), fitted on the six English corpora
of ../shared/bench embedded with that model. For each of them, this prints the B-cubed F1 of the rule when
the pair model and its threshold are fitted on all six (in-sample) and on the five others only (held-out:
the corpus was never seen; the threshold by the rule of ``fit_pair_model.THRESHOLD_RULES``), the best a single signal reaches with its threshold chosen on the corpus's own
answers (optimistic reference), and the seconds and peak memory of ``StoryClusterer().fit`` with the
shipped model (a fresh process per corpus; embeddings come from the cache of ``bench/story_features.py``).
og2021_dev (8 languages) is never fitted on: it is scored with the multilingual model, the one
``storycluster index`` picks for it, and its pair model fitted on the six English corpora.

    .venv/bin/python bench/generalization.py               # LOCO tables (English and multilingual) + cost
    .venv/bin/python bench/generalization.py --linkages    # + the comparison of linkages (in-sample)
    .venv/bin/python bench/generalization.py --no-loco --ablations  # held-out without each time signal
    .venv/bin/python bench/generalization.py --no-loco --learners   # logistic vs gradient-boosted pair model
    .venv/bin/python bench/generalization.py --no-loco --threshold-rules  # how each model's threshold is chosen
    .venv/bin/python bench/generalization.py --no-loco --online  # appends in date order, batches of 100
                                                                    # (gvc, basil, og2021_dev)

Targets (issue 14): ecbplus 0.93, neus_val 0.91, gvc 0.95, basil 0.98, googlenews_ts 0.88, uci_news_dev
0.85; held-out within 0.03 of in-sample; googlenews_ts clustered in < 15 s and < 2 GB. Issue 15:
og2021_dev F1 >= 0.70 and cross-language pairwise recall >= 0.60; the multilingual model within 0.03 of the
English one on ecbplus, neus_val and gvc.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from common import require_data
from fit_pair_model import (
    FEATURES,
    FIT_CORPORA,
    LEXICAL,
    THRESHOLDS,
    Corpus,
    best_threshold,
    fit,
    threshold_rule,
    training_set,
)
from scipy.sparse import csgraph

from storycluster.stories.clustering import (
    ArticleTable,
    PairModel,
    StoryClusterer,
    StoryConfig,
    StorySimilarity,
    candidate_pairs,
    cut_merges,
    default_pair_model,
    merge_sequence,
    pair_signals,
)
from storycluster.stories.evaluation import bcubed

TARGETS = {"ecbplus": 0.93, "neus_val": 0.91, "gvc": 0.95, "basil": 0.98, "googlenews_ts": 0.88, "uci_news_dev": 0.85}
SIGNALS = ("dense", "lexical")
MULTILINGUAL = "multilingual"


def single_signal(corpus: Corpus) -> tuple[float, str]:
    """Best F1 of graph average-link on one raw signal, threshold chosen on the answers (optimistic)."""
    best = (0.0, "")
    for name in SIGNALS:
        merges = merge_sequence(corpus.n, corpus.left, corpus.right, corpus.signals[name], 0.0)
        for t in np.arange(0.05, 0.96, 0.05):
            best = max(best, (bcubed(corpus.labels, cut_merges(corpus.n, *merges, t))[2], name))
    return best


def cost(name: str, model: str | None = None) -> dict:
    """Seconds and peak RSS of StoryClusterer().fit with the shipped model, in a fresh process."""
    command = [sys.executable, __file__, "--cost", name] + (["--cost-model", model] if model else [])
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def _cost_here(name: str, model: str | None) -> None:
    corpus = Corpus(name, model)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    labels = StoryClusterer(StoryConfig(embedding_model=model)).fit(corpus.articles).labels_
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "before_mb": before,
                      "f1": bcubed(corpus.labels, labels)[2]}))


def language_pairs(corpus: Corpus, labels: np.ndarray) -> dict[tuple[str, str], tuple[int, int]]:
    """Of the pairs of articles in one true story but in different languages, per language pair: how many
    were put in one predicted story, and how many there are."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for story in np.unique(corpus.labels):
        members = np.flatnonzero(corpus.labels == story)
        for i, j in itertools.combinations(members, 2):
            if corpus.lang[i] != corpus.lang[j]:
                entry = counts[tuple(sorted((str(corpus.lang[i]), str(corpus.lang[j]))))]
                entry[0] += int(labels[i] == labels[j])
                entry[1] += 1
    return {pair: (together, total) for pair, (together, total) in counts.items()}


def loco(corpora: list[Corpus], model_name: str | None = None) -> tuple[dict[str, tuple[float, float]], PairModel]:
    """Print the leave-one-corpus-out table of ``corpora`` (embedded with ``model_name``); returns each
    corpus's (in-sample, held-out) F1 and the pair model fitted on all of them."""
    model, _ = fit(corpora)
    shipped = default_pair_model(model_name)
    print(f"\npair model of the {model_name or 'default'} embedding model: threshold {model.threshold} (shipped: "
          f"threshold {shipped.threshold}, fitted on {', '.join(shipped.fitted_on)})\n")
    print("| corpus | in-sample F1 | held-out F1 | held-out threshold | gap | single signal (best threshold on answers) "
          "| target | shipped model F1 | cluster s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    scores = {}
    for corpus in corpora:
        held_model = fit([c for c in corpora if c is not corpus])[0]
        inside, outside = corpus.score(model), corpus.score(held_model)
        scores[corpus.name] = (inside, outside)
        reference, signal = single_signal(corpus)
        measured = cost(corpus.name, model_name)
        print(f"| {corpus.name} | {inside:.3f} | {outside:.3f} | {held_model.threshold} | {outside - inside:+.3f} "
              f"| {reference:.3f} ({signal}) | {TARGETS.get(corpus.name, '-')} | {measured['f1']:.3f} "
              f"| {measured['seconds']:.1f} | {measured['peak_mb']:.0f} |", flush=True)
    held = [outside for _, outside in scores.values()]
    print(f"\nheld-out mean {np.mean(held):.3f}, worst {np.min(held):.3f} (over the {len(corpora)} corpora)")
    return scores, model


def unseen(corpus: Corpus, model: PairModel, model_name: str) -> None:
    """Score a corpus never fitted on with ``model``: B-cubed, cross-language pairwise recall overall and per
    language pair, cost."""
    probability = model.probability(corpus.signals, corpus.cross)
    labels = cut_merges(corpus.n, *merge_sequence(corpus.n, corpus.left, corpus.right, probability, model.threshold),
                        model.threshold)
    precision, recall, f1 = bcubed(corpus.labels, labels)
    pairs = language_pairs(corpus, labels)
    together, total = (sum(values) for values in zip(*pairs.values()))
    measured = cost(corpus.name, model_name)
    print(f"\n{corpus.name} ({model_name} model; pair model fitted on the six English corpora, never on it): "
          f"B-cubed P/R/F1 {precision:.3f}/{recall:.3f}/{f1:.3f}, cross-language pairwise recall "
          f"{together / total:.3f} ({together} of {total} pairs); clustered in {measured['seconds']:.1f} s, "
          f"{measured['peak_mb']:.0f} MB peak")
    print("\n| language pair | pairs in one true story | share put in one story |\n|---|---|---|")
    for pair, (together, total) in sorted(pairs.items(), key=lambda item: -item[1][1]):
        if total >= 100:
            print(f"| {'-'.join(pair)} | {total} | {together / total:.3f} |")


def english_against_multilingual(english: dict[str, tuple[float, float]],
                                 multilingual: dict[str, tuple[float, float]]) -> None:
    """The multilingual model on the English corpora next to the English model (each with its pair model)."""
    print("\n| corpus | English model F1 | multilingual model F1 | difference | multilingual held-out |")
    print("|---|---|---|---|---|")
    for name, (inside, _) in english.items():
        other, held = multilingual[name]
        print(f"| {name} | {inside:.3f} | {other:.3f} | {other - inside:+.3f} | {held:.3f} |")


def ablations(corpora: list[Corpus], unseen_corpus: Corpus | None = None) -> None:
    """Held-out mean / worst F1 (and an unseen corpus's F1) with each time signal left out of the pair model."""
    print("\n| signals | held-out mean | held-out worst | " + (f"{unseen_corpus.name} |" if unseen_corpus else "")
          + "\n|---|---|---|" + ("---|" if unseen_corpus else ""))
    for dropped in ((), ("time_closeness",), ("days_apart",), ("days_apart", "time_closeness")):
        features = tuple(f for f in FEATURES if f not in dropped)
        held = [c.score(fit([o for o in corpora if o is not c], features=features)[0]) for c in corpora]
        row = f"| {'all' if not dropped else 'without ' + ', '.join(dropped)} | {np.mean(held):.3f} | {np.min(held):.3f} |"
        if unseen_corpus:
            row += f" {unseen_corpus.score(fit(corpora, features=features)[0]):.3f} |"
        print(row, flush=True)


def threshold_rules(corpora: list[Corpus], unseen_corpus: Corpus | None = None) -> None:
    """Held-out mean, worst and largest drop from in-sample with each rule for choosing the threshold (and the
    F1 of a corpus never fitted on): what ``fit_pair_model.THRESHOLD_RULES`` was chosen by."""
    model_name = corpora[0].model
    print(f"\n{model_name or 'default'} embedding model (rule in use: {threshold_rule(model_name)})\n")
    print("| threshold rule | threshold fitted on all | held-out mean | worst | largest drop |"
          + (f" {unseen_corpus.name} |" if unseen_corpus else "") + "\n|---|---|---|---|---|" + ("---|" if unseen_corpus else ""))
    for rule in ("in-sample", "held-out"):
        model = fit(corpora, rule=rule)[0]
        inside = np.array([c.score(model) for c in corpora])
        held = np.array([c.score(fit([o for o in corpora if o is not c], rule=rule)[0]) for c in corpora])
        row = (f"| {rule} | {model.threshold} | {held.mean():.3f} | {held.min():.3f} | {(inside - held).max():.3f} |")
        print(row + (f" {unseen_corpus.score(model):.3f} |" if unseen_corpus else ""), flush=True)


class Boosted:
    """A gradient-boosted pair model (scikit-learn's HistGradientBoostingClassifier, trees of depth 3), with
    the same signals, corpus weights and dense-only variant for pairs across languages as the shipped
    logistic one and its threshold chosen in-sample: the nonlinear alternative ``--learners`` holds out."""

    def __init__(self, corpora: list[Corpus], features: tuple[str, ...] = FEATURES) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        def learner(names: tuple[str, ...]):
            x, y, weight = training_set(corpora, names)
            model = HistGradientBoostingClassifier(
                max_depth=3, max_iter=100, min_samples_leaf=200, l2_regularization=1.0, early_stopping=False, random_state=0
            )
            return names, model.fit(x, y, sample_weight=weight)

        self.full, self.dense = learner(features), learner(tuple(f for f in features if f not in LEXICAL))
        self.threshold = best_threshold(self, corpora)[0]

    def probability(self, signals: dict[str, np.ndarray], cross: np.ndarray | None = None) -> np.ndarray:
        def predict(part) -> np.ndarray:
            names, model = part
            return model.predict_proba(np.stack([signals[f] for f in names], axis=1))[:, 1]

        full = predict(self.full)
        return full if cross is None or not cross.any() else np.where(cross, predict(self.dense), full)


def learners(corpora: list[Corpus]) -> None:
    """In-sample and held-out F1 of the logistic pair model against a gradient-boosted one."""
    print("\n| pair model | " + " | ".join(f"{c.name} in / held out" for c in corpora) + " | held-out mean | worst |")
    print("|---" * (len(corpora) + 3) + "|")
    shipped = ("logistic regression (shipped), threshold in-sample", lambda cs: fit(cs, rule="in-sample")[0])
    for name, fitter in (shipped, ("gradient-boosted trees", Boosted)):
        everything = fitter(corpora)
        inside = [c.score(everything) for c in corpora]
        held = [c.score(fitter([o for o in corpora if o is not c])) for c in corpora]
        cells = " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(inside, held))
        print(f"| {name} | {cells} | {np.mean(held):.3f} | {np.min(held):.3f} |", flush=True)


def linkages(corpora: list[Corpus]) -> None:
    """In-sample comparison of linkages on the same pair probabilities (all-corpora model)."""
    import networkx as nx

    model, _ = fit(corpora)
    print("\n| linkage (threshold chosen on mean + worst over corpora) | " + " | ".join(c.name for c in corpora) + " | mean | worst |")
    print("|---" * (len(corpora) + 3) + "|")
    probabilities = [model.probability(c.signals, c.cross) for c in corpora]

    def row(name: str, scorer) -> None:
        grid = np.array([[scorer(c, p, t) for t in THRESHOLDS] for c, p in zip(corpora, probabilities)])
        best = int(np.argmax(grid.mean(axis=0) + grid.min(axis=0)))
        cells = " | ".join(f"{f:.3f}" for f in grid[:, best])
        print(f"| {name} (t={THRESHOLDS[best]}) | {cells} | {grid[:, best].mean():.3f} | {grid[:, best].min():.3f} |", flush=True)

    def graph_average(budget: float):
        def scorer(c, p, t):
            return bcubed(c.labels, cut_merges(c.n, *merge_sequence(c.n, c.left, c.right, p, t, budget), t))[2]
        return scorer

    def single(c, p, t):
        keep = p >= t
        graph = _graph(c.n, c.left[keep], c.right[keep])
        return bcubed(c.labels, csgraph.connected_components(graph, directed=False)[1])[2]

    def louvain(c, p, t):
        g = nx.Graph()
        g.add_nodes_from(range(c.n))
        keep = p >= 0.5
        g.add_weighted_edges_from(zip(c.left[keep].tolist(), c.right[keep].tolist(), p[keep].tolist()))
        parts = nx.community.louvain_communities(g, resolution=t * 2, seed=0)
        labels = np.empty(c.n, dtype=np.int64)
        for k, members in enumerate(parts):
            labels[list(members)] = k
        return bcubed(c.labels, labels)[2]

    row("graph average-link, pair budget 10 (default)", graph_average(10.0))
    for budget in (1.0, 5.0, 15.0):
        row(f"graph average-link, pair budget {budget:g}", graph_average(budget))
    row("average-link over all pairs (off-graph pairs count 0)", graph_average(np.inf))
    row("single-link (connected components of pairs with p >= t)", single)
    row("Louvain modularity on pairs with p >= 0.5 (resolution 2t)", louvain)
    row("HDBSCAN (density-based) on 1 - p over the pairs with p >= t, others at distance 1", hdbscan)
    row(f"two-stage: events by the default at p >= {EVENTS_AT}, then events merged by the pair model on pooled "
        "events", events_then_merge(model))


EVENTS_AT = 0.6  # the two-stage linkage's first stage (0.5 and 0.7 gave means within 0.005 of it)
POOLED = 20  # an event's text and paragraphs in the two-stage linkage: those of its first 20 articles


def hdbscan(c: Corpus, p: np.ndarray, t: float) -> float:
    """B-cubed F1 of scikit-learn's HDBSCAN on the distances 1 - p of the candidate pairs with p >= t (every
    other pair at distance 1; dense, as its sparse input wants every article to have a neighbour)."""
    from sklearn.cluster import HDBSCAN

    keep = p >= t
    distances = np.ones((c.n, c.n))
    distances[c.left[keep], c.right[keep]] = distances[c.right[keep], c.left[keep]] = 1 - p[keep]
    np.fill_diagonal(distances, 0.0)
    labels = HDBSCAN(metric="precomputed", min_cluster_size=2, min_samples=1, copy=False).fit(distances).labels_.copy()
    noise = labels < 0  # articles in no cluster stand alone
    labels[noise] = labels.max() + 1 + np.arange(noise.sum())
    return bcubed(c.labels, labels)[2]


def events_then_merge(model: PairModel):
    """A scorer of the two-stage linkage: events are the default linkage's stories at p >= ``EVENTS_AT``;
    each event becomes one pooled article (mean vector, its articles' paragraphs and text, median date) and
    the same pair model scores pairs of events, which graph average-link merges at threshold t."""
    config = StoryConfig()
    events: dict[str, tuple] = {}

    def pooled(c: Corpus, p: np.ndarray) -> tuple:
        labels = cut_merges(c.n, *merge_sequence(c.n, c.left, c.right, p, EVENTS_AT), EVENTS_AT)
        table = ArticleTable.from_features(c.articles)
        members = [np.flatnonzero(labels == e)[:POOLED] for e in range(labels.max() + 1)]
        vectors = np.stack([table.vectors[m].mean(axis=0) for m in members])
        paragraphs = [np.concatenate([table.paragraphs[table.offsets[i]:table.offsets[i + 1]] for i in m]) for m in members]
        days = [np.nanmedian(table.days[m]) if np.isfinite(table.days[m]).any() else np.nan for m in members]
        pooled_table = ArticleTable(
            [" ".join(table.texts[i] for i in m) for m in members], [table.titles[m[0]] for m in members],
            (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32),
            np.concatenate(paragraphs), np.r_[0, np.cumsum([len(rows) for rows in paragraphs])], np.array(days),
            [table.languages[m[0]] for m in members],
        )
        similarity = StorySimilarity(config, pooled_table.full_texts, pooled_table.languages)
        left, right, rank = candidate_pairs(pooled_table.vectors, config.n_neighbours)
        signals = pair_signals(pooled_table, similarity, left, right, rank, config.local_k)
        return labels, left, right, model.probability(signals, similarity.cross_language(left, right))

    def scorer(c: Corpus, p: np.ndarray, t: float) -> float:
        if c.name not in events:
            events[c.name] = pooled(c, p)
        labels, left, right, probability = events[c.name]
        merged = cut_merges(labels.max() + 1, *merge_sequence(labels.max() + 1, left, right, probability, t), t)
        return bcubed(c.labels, merged[labels])[2]

    return scorer


def online(names: list[str], batch: int = 100) -> None:
    """Appends in date order, ``batch`` articles at a time, through StoryIndex.add (the product's incremental
    path), scored against the labels, then a full rebuild of the same index. Each corpus is appended twice:
    as the product does at this size (re-clustering the touched stories) and with every append extending
    the stored stories (what it does past ``RECLUSTER_UP_TO`` articles); the texts are embedded once.
    og2021_dev is embedded with the multilingual model."""
    from common import temporary_index_dir

    from storycluster import ArticleReader, StoryIndex
    from storycluster.index.scoring import score_index
    from storycluster.stories import stored

    print(f"\n| dated corpus (appended in date order, batches of {batch}) | appends F1: re-cluster touched stories "
          "| appends F1: extend stored stories | full rebuild F1 | differences |")
    print("|---|---|---|---|---|")
    limit = stored.RECLUSTER_UP_TO
    for name in names:
        articles = list(ArticleReader(input_format="jsonl").read([str(require_data(f"{name}.jsonl"))]))
        articles.sort(key=lambda a: (a.published or "", a.id))
        labels = {a.id: str(a.extra["story"]) for a in articles}
        model = MULTILINGUAL if name == "og2021_dev" else None
        vectors: dict[str, np.ndarray] = {}
        scores = []
        try:
            for up_to in (limit, 0):  # as the product does here, then every append extending
                stored.RECLUSTER_UP_TO = up_to
                with StoryIndex.open(temporary_index_dir(), model=model, create=True) as index:

                    def encode(texts, progress=None, index=index, vectors=vectors):  # each text embedded once
                        missing = [t for t in dict.fromkeys(texts) if t not in vectors]
                        if missing:
                            vectors.update(zip(missing, index.embedder.encode(missing)))
                        return np.stack([vectors[t] for t in texts])

                    for start in range(0, len(articles), batch):
                        index.add(articles[start:start + batch], encode=encode)
                    scores.append(score_index(index, labels, recluster=False)["bcubed_f1"])
                    if not up_to:  # the last index, rebuilt from scratch
                        rebuilt = score_index(index, labels)["bcubed_f1"]
        finally:
            stored.RECLUSTER_UP_TO = limit
        print(f"| {name} | {scores[0]:.3f} | {scores[1]:.3f} | {rebuilt:.3f} | {scores[0] - rebuilt:+.3f} / "
              f"{scores[1] - rebuilt:+.3f} |", flush=True)


def _graph(n, left, right):
    return sp.coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--linkages", action="store_true", help="Also compare linkages (in-sample).")
    parser.add_argument("--online", nargs="*", metavar="CORPUS", help="Also append dated corpora in date order "
                        "(default gvc basil og2021_dev; embeds them through the product).")
    parser.add_argument("--no-loco", action="store_true", help="Skip the leave-one-corpus-out tables.")
    parser.add_argument("--ablations", action="store_true", help="Also leave each time signal out (held-out).")
    parser.add_argument("--learners", action="store_true", help="Also hold out a gradient-boosted pair model "
                        "against the logistic one.")
    parser.add_argument("--threshold-rules", action="store_true", help="Also compare the rules for choosing "
                        "the threshold (held-out).")
    parser.add_argument("--cost", help=argparse.SUPPRESS)
    parser.add_argument("--cost-model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cost:
        _cost_here(args.cost, args.cost_model)
        return
    english = [Corpus(name) for name in FIT_CORPORA]
    if not args.no_loco:
        english_scores, _ = loco(english)
        multilingual_scores, multilingual_model = loco([Corpus(name, MULTILINGUAL) for name in FIT_CORPORA], MULTILINGUAL)
        unseen(Corpus("og2021_dev", MULTILINGUAL), multilingual_model, MULTILINGUAL)
        english_against_multilingual(english_scores, multilingual_scores)
    if args.ablations:
        ablations(english)
        ablations([Corpus(name, MULTILINGUAL) for name in FIT_CORPORA], Corpus("og2021_dev", MULTILINGUAL))
    if args.threshold_rules:
        threshold_rules(english)
        threshold_rules([Corpus(name, MULTILINGUAL) for name in FIT_CORPORA], Corpus("og2021_dev", MULTILINGUAL))
    if args.learners:
        learners(english)
    if args.linkages:
        linkages(english)
    if args.online is not None:
        online(args.online or ["gvc", "basil", "og2021_dev"])


if __name__ == "__main__":
    main()
