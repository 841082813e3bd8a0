"""Plain data records passed between storycluster's parts and returned by its API."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Article:
    """One news article as read from input.

    ``published`` is an ISO 8601 string in UTC (or ``None`` when unknown); ``lang`` is the language code
    given with the article (ISO 639-1, e.g. ``"pt"``), else the one identified when it is indexed (None where
    the text has no letters, or in indexes written before languages were kept); ``extra`` keeps any other
    fields of the input record, so nothing a user supplied is dropped.
    """

    id: str
    text: str
    title: str | None = None
    source: str | None = None
    url: str | None = None
    published: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    lang: str | None = None

    @property
    def content_hash(self) -> str:
        """Hash of everything that changes what is embedded or shown, used to skip unchanged articles.

        The language is left out (it may be identified rather than given): an index compares a given
        language with the stored one on its own.
        """
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
    lang: str | None = None
    story: str | None = None
    same_story: bool | None = None
    duplicate_of: str | None = None
    copies: list[str] = field(default_factory=list)

    def with_story(self, story: str | None, *, same_story: bool | None) -> Match:
        """This match with its story and whether it shares the query article's story."""
        return replace(self, story=story, same_story=same_story)

    def to_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Story:
    """One story: the articles that report the same event, from however many outlets.

    ``sources`` are its outlets; ``languages`` the languages of its articles, the most used first.
    """

    story: str
    size: int
    sources: list[str]
    languages: list[str]
    headline: str | None
    keywords: list[str]
    first_published: str | None
    last_published: str | None
    articles: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The story as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Distinct:
    """A paragraph of one article and how little the other outlets' coverage matches it (0 to 2)."""

    paragraph: str
    novelty: float


@dataclass(frozen=True)
class Coverage:
    """One article of a story, with the paragraphs that set it apart from the other outlets' reports."""

    id: str
    title: str | None
    source: str | None
    url: str | None
    published: str | None
    distinct: list[Distinct]
    lang: str | None = None


@dataclass(frozen=True)
class StoryCoverage:
    """A story and the coverage each of its articles gives it."""

    story: Story
    coverage: list[Coverage]

    def to_dict(self) -> dict[str, Any]:
        """The story and its coverage as a JSON-ready dict."""
        return {**self.story.to_dict(), "coverage": [asdict(c) for c in self.coverage]}


@dataclass(frozen=True)
class IndexInfo:
    """What ``storycluster info`` prints: the manifest plus live counts."""

    path: str
    format_version: int
    model: str
    dimension: int
    article_vector: str
    backend: str
    generation: int
    articles: int
    paragraphs: int
    stories: int
    created: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        """The info as a JSON-ready dict."""
        return asdict(self)
