"""Reading articles in: files, directories, JSON lines, CSV, web pages, RSS/Atom feeds, WARC archives,
http(s) addresses and stdin, each record checked and reported; and following feeds into an index.

    from storycluster.ingest import ArticleReader, Follower, read_page

    articles = list(ArticleReader().read(["page.html", "feed.xml", "crawl.warc.gz", "https://example.org/rss"]))

The extraction libraries (trafilatura, feedparser, FastWARC, courlan) load on first use.
"""

from .dates import parse_date
from .feeds import Entry, FeedError, read_feed
from .fetch import USER_AGENT, Fetcher, FetchError, Response, normalize_url
from .follow import Follower, PollReport, Sink
from .html import html_to_text
from .reader import (
    CSV_SUFFIXES,
    DEFAULT_MAX_CHARS,
    FEED_SUFFIXES,
    FORMATS,
    HTML_SUFFIXES,
    JSONL_SUFFIXES,
    WARC_SUFFIXES,
    ArticleReader,
    FieldMap,
    ReadProblem,
)
from .warc import ArchivedPage, WarcError, read_warc
from .web import Page, read_page

__all__ = [
    "CSV_SUFFIXES",
    "DEFAULT_MAX_CHARS",
    "FEED_SUFFIXES",
    "FORMATS",
    "HTML_SUFFIXES",
    "JSONL_SUFFIXES",
    "USER_AGENT",
    "WARC_SUFFIXES",
    "ArchivedPage",
    "ArticleReader",
    "Entry",
    "FeedError",
    "FetchError",
    "Fetcher",
    "FieldMap",
    "Follower",
    "Page",
    "PollReport",
    "ReadProblem",
    "Response",
    "Sink",
    "WarcError",
    "html_to_text",
    "normalize_url",
    "parse_date",
    "read_feed",
    "read_page",
    "read_warc",
]
