"""Text: splitting articles into paragraphs, and hashed term counts for lexical matching."""

from .lexical import N_FEATURES, TermWeights, count_terms, lexical_text
from .paragraphs import split_paragraphs

__all__ = ["N_FEATURES", "TermWeights", "count_terms", "lexical_text", "split_paragraphs"]
