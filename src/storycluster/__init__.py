"""storycluster: find the same news story told by many outlets.

The public API::

    from storycluster import StoryIndex, ArticleReader

    index = StoryIndex.open("indexes/default", create=True)
    index.add(ArticleReader().read(["seeds/"]))
    matches = index.similar("Wagner group air defence for Hezbollah", k=5)
"""

from .embed import DEFAULT_MODEL, Embedder
from .errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    InputError,
    MissingExtraError,
    ModelLoadError,
    ModelMismatchError,
    StoreUnavailableError,
    StoryclusterError,
)
from .index import AddReport, StoryIndex
from .ingest import ArticleReader, FieldMap, ReadProblem, parse_date
from .records import Article, IndexInfo, Match
from .store import Filters
from .text import split_paragraphs

__all__ = [
    "DEFAULT_MODEL",
    "AddReport",
    "Article",
    "ArticleReader",
    "Embedder",
    "FieldMap",
    "Filters",
    "IndexCorruptError",
    "IndexInfo",
    "IndexLockedError",
    "IndexNotFoundError",
    "InputError",
    "Match",
    "MissingExtraError",
    "ModelLoadError",
    "ModelMismatchError",
    "ReadProblem",
    "StoreUnavailableError",
    "StoryIndex",
    "StoryclusterError",
    "parse_date",
    "split_paragraphs",
]
__version__ = "0.1.0"
