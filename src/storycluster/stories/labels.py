"""Readable story labels: a headline that is a real headline (never a dateline), keywords that are not dates."""

from __future__ import annotations

import re

from ..records import Article

HEADLINE_WORDS = 20
HEADLINE_MIN_WORDS = 6

MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
DAYS = "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun"
DATE_WORDS = frozenset(
    f"{MONTHS} {DAYS} today yesterday updated update posted published originally last modified created on at "
    "by am pm a p m et est edt gmt utc ist bst cet cest pst pdt cst cdt mst mdt hrs h".split()
)
_WHEN = frozenset(f"{MONTHS} {DAYS} today yesterday".split())
_WORD = re.compile(r"[^\W\d_]+|\d+")


def is_date_term(term: str) -> bool:
    """True for a term made only of numbers and date words ("2008", "december 11", "11 2008")."""
    words = _WORD.findall(term.lower())
    return bool(words) and all(word.isdigit() or word in DATE_WORDS for word in words)


def is_dateline(line: str) -> bool:
    """True for a line that only says when (or is empty), such as "Updated : November 11 , 2011 20 : 09 IST".

    A line is a dateline when at most one of its words is neither a number nor a date word (month, weekday,
    "Updated", "Posted", a time zone...) and it holds a number, a month or a weekday.
    """
    words = _WORD.findall(line.lower())
    other = [word for word in words if not word.isdigit() and word not in DATE_WORDS]
    return not words or (len(other) <= 1 and any(word.isdigit() or word in _WHEN for word in words))


def headline(article: Article) -> str:
    """An article's title or, where it has none (or only a dateline), the first sentence of its text.

    Lines that are datelines are skipped. Sentence ends closer than ``HEADLINE_MIN_WORDS`` words to the
    start are skipped, so abbreviations such as "Gov." or "U.S." do not cut the headline short.
    """
    if article.title and not is_dateline(article.title):
        return article.title
    lines = [line for line in article.text.splitlines() if not is_dateline(line)]
    words = " ".join(lines).split() or (article.title or article.text).split()
    first_line = len(lines[0].split()) if lines else 0
    if 0 < first_line <= HEADLINE_WORDS and len(lines) > 1:  # a short first line is the headline
        return " ".join(words[:first_line])
    for position, word in enumerate(words[:HEADLINE_WORDS]):
        if position + 1 >= HEADLINE_MIN_WORDS and word.endswith((".", "!", "?")):
            return " ".join(words[: position + 1])
    return " ".join(words[:HEADLINE_WORDS]) + ("…" if len(words) > HEADLINE_WORDS else "")
