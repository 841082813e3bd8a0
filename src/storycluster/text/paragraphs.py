"""Split article text into paragraphs that fit the embedding model's window.

Paragraphs are separated by blank lines, or by single newlines where the text has no blank line.
Fragments too short to carry meaning on their own (a dateline, a byline) are merged into a neighbour;
paragraphs longer than the model's window are split at sentence ends rather than silently truncated.
"""

from __future__ import annotations

import re

MIN_WORDS = 25
DEFAULT_MAX_WORDS = 150

_BLANK_LINE = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-Ý])")


def split_paragraphs(text: str, *, min_words: int = MIN_WORDS, max_words: int = DEFAULT_MAX_WORDS) -> list[str]:
    """Return the paragraphs of ``text``, each between ``min_words`` and ``max_words`` words where possible.

    A text shorter than ``min_words`` comes back as one paragraph; an empty text as none.
    """
    text = text.strip()
    if not text:
        return []
    separator = _BLANK_LINE if _BLANK_LINE.search(text) else re.compile(r"\n")
    blocks = [" ".join(block.split()) for block in separator.split(text)]
    pieces = [piece for block in blocks if block for piece in _fit(block, max_words)]
    return _merge_short(pieces, min_words, max_words)


def _fit(paragraph: str, max_words: int) -> list[str]:
    """Split a paragraph over ``max_words`` into runs of whole sentences (words, if a sentence is longer)."""
    if len(paragraph.split()) <= max_words:
        return [paragraph]
    chunks: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        if len(words) > max_words:
            if current:  # flush what came before, so no word changes place
                chunks.append(" ".join(current))
                current = []
            chunks.extend(" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words))
            continue
        if current and len(current) + len(words) > max_words:
            chunks.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        chunks.append(" ".join(current))
    return chunks


def _merge_short(pieces: list[str], min_words: int, max_words: int) -> list[str]:
    """Merge each piece under ``min_words`` into the following piece (the last one into the previous),
    unless the merged piece would exceed ``max_words``."""
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        if carry and len(carry.split()) + len(piece.split()) > max_words:
            merged.append(carry)
        elif carry:
            piece = f"{carry} {piece}"
        carry = ""
        if len(piece.split()) < min_words:
            carry = piece
        else:
            merged.append(piece)
    if carry:
        if merged and len(merged[-1].split()) + len(carry.split()) <= max_words:
            merged[-1] = f"{merged[-1]} {carry}"
        else:
            merged.append(carry)
    return merged
