"""Web pages: the main article text, title, date, site, canonical URL and language of an HTML page.

Extraction is trafilatura's (boilerplate such as menus, cookie banners, "related articles" and comments
is dropped; its fallbacks, readability and jusText, are on), the date htmldate's (through trafilatura:
the original publication date, not the last change) and the language identified from the headline and
text (``text.language``), stored as the article's ``lang``.
The libraries load on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..text.language import article_language
from .dates import parse_date
from .fetch import normalize_url
from .html import body_text, extractor_config

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclass(frozen=True)
class Page:
    """What a web page holds: its article text (paragraphs separated by blank lines) and metadata."""

    text: str
    title: str | None
    published: str | None
    source: str | None
    url: str | None
    language: str | None

    def record(self, article_id: str) -> dict[str, str | None]:
        """The page as an input record with id ``article_id`` (see ``ArticleReader.read_records``)."""
        return {
            "id": article_id, "title": self.title, "text": self.text, "url": self.url,
            "published": self.published, "source": self.source, "lang": self.language,
        }


def read_page(markup: bytes | str, *, url: str | None = None) -> Page | None:
    """The article of an HTML page (bytes are decoded by their declared or detected charset).

    ``url`` is where the page was found (it is used where the page names no canonical URL). A page whose
    article body cannot be found gives its title and description as text; a page with none of these
    gives None.
    """
    import trafilatura

    document = trafilatura.bare_extraction(
        markup, url=url, with_metadata=True, include_comments=False, config=extractor_config(),
        date_extraction_params={"original_date": True, "extensive_search": True, "outputformat": _DATE_FORMAT},
    )
    if document is None:  # no body found: fall back on the page's own summary of itself
        document = _metadata(markup, url)
        if document is None:
            return None
        text = "\n\n".join(part for part in (document.title, document.description) if part)
    else:
        text = body_text(document.body)
        if document.title and text.startswith(document.title):  # the headline repeated as the first paragraph
            text = text[len(document.title):].lstrip()
    if not text.strip():
        return None
    return Page(
        text=text,
        title=_clean(document.title),
        published=_utc(document.date),
        source=_clean(document.sitename) or _clean(document.hostname) or (urlsplit(url).hostname if url else None),
        url=normalize_url(document.url or url) if document.url or url else None,
        language=article_language(document.title, text),
    )


def _metadata(markup: bytes | str, url: str | None) -> Any:
    """The page's metadata (title, description, site...) where it has a title or description, else None."""
    from trafilatura import extract_metadata
    from trafilatura.utils import load_html

    tree = load_html(markup)
    if tree is None:
        return None
    document = extract_metadata(tree, default_url=url, date_config={"original_date": True, "outputformat": _DATE_FORMAT})
    return document if document.title or document.description else None


def _utc(date: str | None) -> str | None:
    """htmldate's date as ISO 8601 in UTC (a date without a time zone is taken as UTC)."""
    try:
        return parse_date(date) if date else None
    except ValueError:
        return None


def _clean(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else None
    return value or None
