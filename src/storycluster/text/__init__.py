"""Text: splitting articles into paragraphs, hashed term counts for lexical matching, and languages."""

from .language import article_language, detect_language, normalise_language
from .lexical import N_FEATURES, TermWeights, count_terms, lexical_text
from .paragraphs import split_paragraphs

__all__ = [
    "N_FEATURES",
    "TermWeights",
    "article_language",
    "count_terms",
    "detect_language",
    "lexical_text",
    "normalise_language",
    "split_paragraphs",
]
