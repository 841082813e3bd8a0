"""Plain data records passed between storycluster's parts and returned by its API."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One news article as read from input.

    ``published`` is an ISO 8601 string in UTC (or ``None`` when unknown); ``extra`` keeps any other
    fields of the input record, so nothing a user supplied is dropped.
    """

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes what is embedded or shown, used to skip unchanged articles."""
        payload = "\x1f".join(
            part or "" for part in (self.title, self.text, self.source, self.url, self.published)
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Match:
    """One hit of a similarity query: an article and the paragraph that best supports the match."""

    id: str
    score: float
    title: str | None
    source: str | None
    url: str | None
    published: str | None
    paragraph: str
    paragraph_score: float
    paragraph_index: int
    story: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class IndexInfo:
    """What ``storycluster info`` prints: the manifest plus live counts."""

    path: str
    format_version: int
    model: str
    dimension: int
    article_vector: str
    generation: int
    articles: int
    paragraphs: int
    stories: int
    created: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        """The info as a JSON-ready dict."""
        return asdict(self)
