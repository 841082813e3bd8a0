"""RSS 0.9x/1.0/2.0 and Atom feeds (read with feedparser): one article per entry.

An entry's link (resolved against the feed's address and normalised) is its URL and, where the entry has
no id (``<guid>``, ``<id>``), its identity; its content, else its summary, is its text (HTML inside is
turned into text like any other field); its publication date, else its update date, its date; the feed's
title, else its site's host name, its source.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .fetch import normalize_url

_FEED_ROOTS = (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf")


class FeedError(ValueError):
    """A feed that cannot be read at all (not XML, no entries found in broken markup)."""


@dataclass(frozen=True)
class Entry:
    """One entry of a feed, its place in the feed (1-based) and any problem that makes it unusable."""

    number: int
    id: str | None
    url: str | None
    title: str | None
    html: str
    published: str | None
    source: str | None
    problem: str | None = None

    def record(self) -> dict[str, str | None]:
        """The entry as an input record (``ArticleReader.read_records`` checks it and makes the article)."""
        return {
            "id": self.id, "title": self.title, "text": self.html, "url": self.url,
            "published": self.published, "source": self.source,
        }


def looks_like_feed(head: bytes) -> bool:
    """Whether the first bytes of a document are those of an RSS, RDF or Atom feed."""
    return any(root in head[:2048].lower() for root in _FEED_ROOTS) and b"<html" not in head[:2048].lower()


def read_feed(
    data: bytes, *, url: str | None = None, content_type: str | None = None
) -> tuple[list[Entry], str | None]:
    """The entries of a feed and a warning about it (e.g. a declared charset that was wrong), or None.

    ``url`` is the feed's address: relative links resolve against it; ``content_type`` the HTTP header
    it came with, if any. Raises :class:`FeedError` when nothing can be read from ``data``.
    """
    import feedparser

    headers = {"content-type": content_type or "application/xml"}
    if url:
        headers["content-location"] = url
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False)
    problem = parsed.get("bozo_exception")
    if not parsed.entries and (problem or not parsed.get("version")):
        raise FeedError(f"not a readable feed ({_first_line(problem) if problem else 'no RSS or Atom root element'})")
    feed = parsed.feed
    source = _text(feed.get("title")) or (urlsplit(feed.get("link") or url or "").hostname or None)
    entries = list(_entries(parsed.entries, source))
    warning = f"feed read despite a problem: {_first_line(problem)}" if problem else None
    return entries, warning


def _entries(raw: list[Any], source: str | None) -> Iterator[Entry]:
    for number, entry in enumerate(raw, start=1):
        link = entry.get("link")
        url = normalize_url(link) if link else None
        content = entry.get("content") or []
        html = content[0].get("value", "") if content else entry.get("summary", "") or ""
        title = _text(entry.get("title"))
        identity = (entry.get("id") or "").strip() or url
        problem = None
        if not identity:
            problem = "entry has neither an id nor a link"
        elif not (html.strip() or title):
            problem = "entry has no title, content or summary"
        yield Entry(
            number=number, id=identity, url=url, title=title, html=html,
            published=_date(entry.get("published_parsed") or entry.get("updated_parsed")),
            source=source, problem=problem,
        )


def _date(parsed: time.struct_time | None) -> str | None:
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc).isoformat(timespec="seconds")


def _text(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else None
    return value or None


def _first_line(problem: object) -> str:
    return (str(problem).strip().splitlines() or [type(problem).__name__])[0]
