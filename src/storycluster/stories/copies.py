"""Wire copies and near-duplicates: the same text republished by several outlets, or lightly edited.

A new article is a copy of an earlier one when their article vectors are nearly identical *and* they share
most of their word sequences (Jaccard similarity of word 3-shingles), so two different reports that merely
say the same thing are never taken for copies. Copies stay in their story and count once per outlet; queries
show one of them unless asked for all.
"""

from __future__ import annotations

import re

from ..store.database import Database
from .appended import Appended

MIN_COSINE = 0.9
MIN_JACCARD = 0.5
SHINGLE_WORDS = 3
CANDIDATES = 5

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[int]:
    """Hashes of the runs of ``size`` consecutive words of ``text`` (lowercased)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {hash(tuple(words))}
    return {hash(tuple(words[i:i + size])) for i in range(len(words) - size + 1)}


def jaccard(a: set[int], b: set[int]) -> float:
    """Share of shingles two texts have in common."""
    return len(a & b) / len(a | b) if a or b else 0.0


def mark_copies(db: Database, appended: Appended) -> int:
    """Record ``duplicate_of`` for each new article that copies an earlier one; returns how many did.

    The original is the earliest indexed article of a group of copies, so every copy points at the same
    article.
    """
    new_keys = appended.keys
    if not len(new_keys):
        return 0
    scores, neighbours = appended.nearest(CANDIDATES + 1)
    close: dict[int, list[int]] = {}  # earlier articles near enough in vector: only their words are compared
    for key, row_scores, row_keys in zip(new_keys.tolist(), scores, neighbours):
        others = [int(k) for k, score in zip(row_keys, row_scores) if 0 <= k < key and score >= MIN_COSINE]
        if others:
            close[key] = others
    if not close:
        return 0
    candidates = set(close) | {other for others in close.values() for other in others}
    articles = db.articles(candidates)
    originals = db.originals(candidates)
    marked = 0
    for key, others in close.items():
        own = shingles(articles[key].text)
        earlier = [other for other in others if jaccard(own, shingles(articles[other].text)) >= MIN_JACCARD]
        if earlier:
            original = originals.get(earlier[0]) or articles[earlier[0]].id
            db.set_duplicate(key, original)
            originals[key] = original
            marked += 1
    return marked
