"""The default engine: read and embed in this process."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine package itself stays light: the CLI imports it at start-up
    from ..index import AddReport, StoryIndex
    from ..ingest import ArticleReader
    from ..records import Article


class LocalEngine:
    """Reads with :class:`ArticleReader` and embeds with the index's own embedder."""

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, paths: Sequence[str | Path], reader: ArticleReader) -> Iterable[Article]:
        """The articles of files, directories or ``-`` (stdin)."""
        return reader.read(paths)

    def add(self, index: StoryIndex, articles: Iterable[Article], **options: Any) -> AddReport:
        """:meth:`StoryIndex.add` as it is."""
        return index.add(articles, **options)
