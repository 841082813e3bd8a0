"""Reading articles in: files, directories, JSON lines, CSV and stdin, each record checked and reported."""

from .dates import parse_date
from .reader import (
    CSV_SUFFIXES,
    DEFAULT_MAX_CHARS,
    FORMATS,
    JSONL_SUFFIXES,
    ArticleReader,
    FieldMap,
    ReadProblem,
)

__all__ = [
    "CSV_SUFFIXES",
    "DEFAULT_MAX_CHARS",
    "FORMATS",
    "JSONL_SUFFIXES",
    "ArticleReader",
    "FieldMap",
    "ReadProblem",
    "parse_date",
]
