"""What every indexing engine offers, so the CLI and other callers never branch on the kind of engine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the engine package itself stays light: the CLI imports it at start-up
    from ..index import AddReport, StoryIndex
    from ..ingest import ArticleReader
    from ..records import Article


class Engine(Protocol):
    """Reads inputs into articles and adds them to an index; a context manager around its session."""

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...

    def read(self, paths: Sequence[str | Path], reader: ArticleReader) -> Iterable[Article]:
        """The articles of ``paths``; bad records land in ``reader.problems`` (``strict`` raises)."""
        ...

    def add(self, index: StoryIndex, articles: Iterable[Article], **options: Any) -> AddReport:
        """:meth:`StoryIndex.add` of ``articles``, with the engine doing the embedding."""
        ...
