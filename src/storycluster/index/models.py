"""Which model a new index gets when none is named: English, unless a fifth of its first articles are not.

The English model (all-MiniLM-L6-v2) groups English stories best; the multilingual one (USE multilingual v3)
is the one whose vectors match across languages. A newcomer who indexes mixed-language news without naming a
model should not get English-only stories without a word: ``storycluster index`` samples the first
``SAMPLE`` articles of a new index and takes the multilingual model where at least ``MIXED_SHARE`` of them
are in another language than English, and then says so on stderr, once, with how to choose the English
model instead (mostly-English input keeps the English model without a word: stderr is for problems).

The threshold sits between the English corpora and the mixed one (``bench/languages.py``, py3langid on
headline + text): 0.0-0.2% of the articles of ecbplus, neus_val, gvc and basil, 1.2% of googlenews_ts and
7.9% of uci_news_dev headlines are identified as not English (mostly English headlines on Nigerian news read
as Nigerian Pidgin), against 62% of og2021_dev's titles.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..embed.registry import DEFAULT_MODEL, ENGLISH, MULTILINGUAL_MODEL
from ..records import Article
from ..text.language import article_language, normalise_language

SAMPLE = 200
MIXED_SHARE = 0.2


def choose_model(articles: Sequence[Article]) -> tuple[str, str | None]:
    """The model for a new index whose first articles are ``articles``, and, where that is the multilingual
    model, a note for stderr saying so and how to choose the English one (None otherwise)."""
    languages = [
        (normalise_language(a.lang) if a.lang else None) or article_language(a.title, a.text) for a in articles
    ]
    known = [lang for lang in languages if lang]
    other = sum(lang != "en" for lang in known)
    if not known or other < MIXED_SHARE * len(known):
        return DEFAULT_MODEL, None
    return MULTILINGUAL_MODEL, (
        f"{other} of the first {len(articles)} articles are not in English: the new index uses the "
        f"multilingual model, so stories cross languages (--model {ENGLISH} for English only)"
    )
