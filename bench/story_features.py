"""Feature cache of the story benches: every labelled corpus embedded once by the product, kept on disk.

Each corpus of ``../shared/bench`` is read by the product's reader and indexed with one embedding model (the
default English MiniLM, or ``multilingual``) into ``$STORYCLUSTER_STORY_CACHE/index/<corpus>[.<model>]``
(default /tmp/stories-cache); the article vectors, paragraph vectors (the headline's vector first where
there is a title), texts, dates and labels are then saved as ``<corpus>[.<model>].npz`` so that every
clustering experiment is pure numpy.

    .venv/bin/python bench/story_features.py                         # all corpora, English model
    .venv/bin/python bench/story_features.py --model multilingual    # all corpora, multilingual model
    .venv/bin/python bench/story_features.py gvc basil               # some
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from common import require_data

CACHE = Path(os.environ.get("STORYCLUSTER_STORY_CACHE", "/tmp/stories-cache"))
CORPORA = ["ecbplus", "neus_val", "gvc", "basil", "googlenews_ts", "uci_news_dev", "og2021_dev"]


def _suffix(model: str | None) -> str:
    return f".{model}" if model else ""


def build(name: str, model: str | None = None) -> Path:
    """Index one corpus with ``model`` (None: the default model), once, and save its features; returns the npz."""
    from storycluster import StoryIndex
    from storycluster.ingest.reader import ArticleReader

    target = CACHE / f"{name}{_suffix(model)}.npz"
    if target.exists():
        return target
    articles = list(ArticleReader(input_format="jsonl").read([str(require_data(f"{name}.jsonl"))]))
    with StoryIndex.open(CACHE / "index" / f"{name}{_suffix(model)}", model=model, create=True) as index:
        if len(index) < len(articles):
            index.add(articles)
        stored = [index.get(a.id) for a in articles]
        vectors = np.stack([index._snapshot.articles.vectors([index._key(a.id)])[0] for a in articles])
        paragraphs = []
        for article in stored:
            own = index.paragraph_vectors(article.id)
            title = index.title_vector(article.id)
            paragraphs.append(own if title is None else np.vstack([title[None, :], own]))
    owner = np.repeat(np.arange(len(articles)), [len(p) for p in paragraphs])
    days = np.array(
        [np.datetime64(a.published[:19]).astype("datetime64[s]").astype(np.int64) / 86400 if a.published else np.nan
         for a in stored]
    )
    np.savez(
        target, ids=np.array([a.id for a in articles]), story=np.array([str(a.extra["story"]) for a in articles]),
        text=np.array([a.text for a in stored], dtype=object), title=np.array([a.title or "" for a in stored], dtype=object),
        lang=np.array([a.lang or "" for a in stored]), vector=vectors.astype(np.float32),
        para=np.concatenate(paragraphs).astype(np.float32), owner=owner, days=days,
    )
    return target


def load(name: str, model: str | None = None) -> dict[str, np.ndarray]:
    """The cached features of one corpus embedded with ``model`` (built on first use)."""
    return dict(np.load(build(name, model), allow_pickle=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", default=CORPORA)
    parser.add_argument("--model", help="Embedding model (default: the package's default model).")
    args = parser.parse_args()
    for name in args.corpora:
        print(f"{name}: {build(name, args.model)}", flush=True)


if __name__ == "__main__":
    main()
