"""Keep an index current from feeds: poll, fetch what is new, append it, remember where each feed stood.

Each poll reads every feed (a conditional GET: an unchanged feed costs a 304), takes the entries whose
URL the index does not hold yet (or, without ``fetch_pages``, whose text changed), optionally fetches their
pages for the full text, and hands the new articles and the feeds' new validators (ETag, Last-Modified)
to the sink in one call, which commits them together (``StoryIndex.add(..., state=...)`` publishes one
generation). So a crash at any moment leaves either the poll's articles and the feed validators that
announced them, or neither; a restart polls again from the last committed state, and ids and URLs
already in the index are not added twice.

A feed whose entries could not all be read this time (a page fetch failed for now, the run was stopped)
keeps its old validators, so the next poll sees those entries again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import IndexLockedError
from ..records import Article
from .feeds import Entry, FeedError, read_feed
from .fetch import Fetcher, FetchError, is_url
from .reader import ArticleReader
from .web import read_page

STATE = "follow"
log = logging.getLogger("storycluster.follow")


class Sink(Protocol):
    """Where a follower's articles go; :class:`storycluster.StoryIndex` is one."""

    def ids_by_url(self, urls: Iterable[str]) -> dict[str, str]:
        """The stored article id of each of ``urls`` that is in the index."""

    def state(self, name: str) -> str | None:
        """The value last committed under ``name`` (None if never)."""

    def add(self, articles: Iterable[Article], *, state: Mapping[str, str] | None = None) -> Any:
        """Add ``articles`` and commit ``state`` with them, atomically; returns a report with
        ``added`` and ``updated`` counts."""


@dataclass
class PollReport:
    """What one poll did; :meth:`line` is the line ``storycluster follow`` logs."""

    number: int
    feeds: int = 0
    not_modified: int = 0
    entries: int = 0
    new: int = 0
    fetched: int = 0
    failures: int = 0
    added: int = 0
    updated: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the log: feeds polled, new entries, pages fetched, failures, articles added."""
        return (
            f"poll {self.number}: {self.feeds} feeds ({self.not_modified} not modified), {self.new} new entries, "
            f"{self.fetched} pages fetched, {self.failures} failures, {self.added} articles added, "
            f"{self.updated} updated in {self.seconds:.1f} s"
        )


class Follower:
    """Polls ``sources`` (feed URLs, feed files, or files listing feed URLs one a line) into ``sink``.

    Example::

        from storycluster import StoryIndex
        from storycluster.ingest import Follower

        with StoryIndex.open("indexes/news", create=True) as index:
            report = Follower(["https://example.org/rss.xml"], index).poll()
            print(report.line())
    """

    def __init__(
        self,
        sources: Sequence[str | Path],
        sink: Sink,
        *,
        fetcher: Fetcher | None = None,
        fetch_pages: bool = False,
        reader: ArticleReader | None = None,
    ) -> None:
        self.sources = [str(source) for source in sources]
        self.sink = sink
        self.fetcher = fetcher or Fetcher()
        self.fetch_pages = fetch_pages
        self.reader = reader or ArticleReader()
        self.polls = 0
        self._next: dict[str, dict[str, str]] = {}  # validators of the feeds read in the current poll
        self._known: dict[str, dict[str, dict]] = {}  # per feed, its entries as last committed: not read again
        self._pending: dict[str, dict[str, dict]] = {}  # the same for the feeds of the current poll

    def poll(self, stop: Callable[[], bool] = lambda: False) -> PollReport:
        """Poll every feed once and commit what is new; ``stop`` returning True ends fetching early
        (what was fetched is still committed; the rest waits for the next poll)."""
        started = time.perf_counter()
        self.polls += 1
        report = PollReport(self.polls)
        self.reader.problems.clear()
        self._next.clear()
        stored = self.sink.state(STATE)
        validators: dict[str, dict[str, str]] = json.loads(stored or "{}").get("feeds", {})
        entries: dict[str, list[Entry]] = {}
        for feed in self._feeds(report):
            if stop():
                break
            found = self._poll_feed(feed, validators, report)
            if found is not None:
                entries[feed] = found
        articles, complete = self._articles(entries, report, stop)
        for feed, new_validators in complete.items():
            validators[feed] = new_validators
        state = json.dumps({"feeds": validators}, sort_keys=True)
        if articles or state != stored:  # an idle poll (every feed unchanged) commits nothing
            try:
                result = self.sink.add(articles, state={STATE: state})
            except IndexLockedError as exc:  # another writer for now: this poll's news wait for the next
                report.failures += 1
                report.problems.append(f"not committed: {exc}")
                report.seconds = time.perf_counter() - started
                return report
            report.added, report.updated = result.added, result.updated
        self._known.update(self._pending)
        report.problems += [str(problem) for problem in self.reader.problems]
        report.seconds = time.perf_counter() - started
        return report

    def run(
        self, every: float, stop: Callable[[], bool], wait: Callable[[float], Any], on_poll: Callable[[PollReport], Any]
    ) -> int:
        """Poll every ``every`` seconds until ``stop()``, handing each report to ``on_poll``; ``wait(seconds)``
        sleeps between polls (and may wake early on a stop). Returns the number of polls made."""
        while not stop():
            started = time.monotonic()
            on_poll(self.poll(stop))
            if not stop():
                wait(max(0.0, every - (time.monotonic() - started)))
        return self.polls

    # -- feeds ----------------------------------------------------------------------------------------

    def _feeds(self, report: PollReport) -> list[str]:
        """Feed URLs and feed files: a file that is not a feed lists feed URLs, one a line."""
        feeds: list[str] = []
        for source in self.sources:
            if is_url(source):
                feeds.append(source)
                continue
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                report.failures += 1
                report.problems.append(f"{source}: cannot read: {exc.strerror or exc}")
                continue
            if data.lstrip()[:1] == b"<":
                feeds.append(source)
            else:
                lines = data.decode("utf-8", errors="replace").splitlines()
                feeds += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        report.feeds = len(dict.fromkeys(feeds))
        return list(dict.fromkeys(feeds))

    def _poll_feed(self, feed: str, validators: dict[str, dict[str, str]], report: PollReport) -> list[Entry] | None:
        """The feed's entries (None: unchanged or unreadable); keeps its new validators in ``self._next``."""
        try:
            if is_url(feed):
                known = validators.get(feed, {})
                response = self.fetcher.get(feed, etag=known.get("etag"), last_modified=known.get("last_modified"))
                if response.not_modified:
                    report.not_modified += 1
                    return None
                data, url, content_type = response.body, response.url, response.content_type
                self._next[feed] = {k: v for k, v in (("etag", response.etag), ("last_modified", response.last_modified)) if v}
            else:
                data, url, content_type = Path(feed).read_bytes(), None, None
                self._next[feed] = {}
            entries, warning = read_feed(data, url=url, content_type=content_type)
        except (FetchError, FeedError, OSError) as exc:
            report.failures += 1
            report.problems.append(f"{feed}: {exc}" if not isinstance(exc, FetchError) else str(exc))
            return None
        if warning:
            report.problems.append(f"{feed}: warning: {warning}")
        return entries

    # -- entries --------------------------------------------------------------------------------------

    def _articles(
        self, entries: dict[str, list[Entry]], report: PollReport, stop: Callable[[], bool]
    ) -> tuple[list[Article], dict[str, dict[str, str]]]:
        """The articles of the new (or changed) entries, and the validators of the feeds read completely."""
        unique: dict[str, tuple[str, Entry]] = {}
        seen_urls: set[str] = set()
        for feed, found in entries.items():
            for entry in found:
                report.entries += 1
                if entry.problem:
                    report.problems.append(f"{feed}[{entry.number}]: skipped: {entry.problem}")
                elif entry.id not in unique and (entry.url is None or entry.url not in seen_urls):
                    unique[entry.id] = (feed, entry)
                    seen_urls.add(entry.url or "")
        stored = self.sink.ids_by_url([entry.url for _, entry in unique.values() if entry.url])
        complete = {feed: self._next.pop(feed) for feed in entries}
        articles: list[Article] = []
        self._pending = {feed: {} for feed in entries}
        for feed, entry in unique.values():
            owner = stored.get(entry.url) if entry.url else None
            unchanged = owner == entry.id and self._known.get(feed, {}).get(entry.id) == entry.record()
            if unchanged:
                self._pending[feed][entry.id] = entry.record()
            if owner is not None and (owner != entry.id or self.fetch_pages or unchanged):
                continue  # indexed already: under another id, (pages) never fetched twice, or unchanged
            report.new += owner is None
            location = f"{feed}[{entry.number}]"
            if self.fetch_pages:
                if stop():
                    complete.pop(feed, None)
                    continue
                record = self._page_record(entry, location, report)
                if record is None:
                    complete.pop(feed, None)
                    continue
            else:
                record = entry.record()
            articles += self.reader.read_records([(location, record)])
            self._pending[feed][entry.id] = entry.record()
        return articles, complete

    def _page_record(self, entry: Entry, location: str, report: PollReport) -> dict[str, Any] | None:
        """The record of an entry with its page's text; None when the fetch failed for now (a 5xx, a
        timeout: retried next poll). A page that is refused for good (robots.txt, 4xx, too large, not
        HTML, no article in it) leaves the entry with the feed's own text."""
        if entry.url is None:
            return entry.record()
        try:
            response = self.fetcher.get(entry.url)
        except FetchError as exc:
            report.failures += 1
            report.problems.append(f"{location}: {exc}")
            return None if exc.transient else entry.record()
        report.fetched += 1
        page = read_page(response.body, url=entry.url) if "html" in response.content_type.lower() else None
        if page is None:
            report.problems.append(f"{location}: warning: no article found at {entry.url}; the feed's text is used")
            return entry.record()
        record = page.record(entry.id or entry.url)
        record.update(url=entry.url, source=entry.source, title=page.title or entry.title)
        record["published"] = entry.published or page.published
        return record
