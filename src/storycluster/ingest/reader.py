"""Read articles from text files, directories, JSON lines, CSV, web pages, RSS/Atom feeds, WARC archives,
http(s) addresses and stdin.

A file's format comes from its suffix (``.html``, ``.xml``/``.rss``/``.atom``, ``.warc``/``.warc.gz``...)
or, without a known one, from its first bytes; an address's from its content type and first bytes.
A web page gives one article (see ``web.py``), a feed one per entry (``feeds.py``), an archive one per
HTML response (``warc.py``); ids are the file's name, the entry's id or link, the page's URL.

Every problem with an input (unknown format, undecodable bytes, broken JSON, missing or mistyped fields,
empty text, a broken feed or archive, an address that cannot be fetched) becomes a :class:`ReadProblem`
naming the file and line (``feed.xml[3]`` for a feed's third entry, ``crawl.warc.gz@1234`` for an
archive's record at that offset); the other records are still read. With ``strict=True`` the first
problem raises :class:`~storycluster.errors.InputError` instead.

Scraped text often arrives as HTML: a text that holds HTML markup (paragraph, break, heading, list, link or
script tags) is turned into its main text by trafilatura (boilerplate dropped, block elements become
paragraphs, see ``html.py``); text without such tags is left exactly as given. An id met twice in one input
with different content is reported with both places; the last one wins. Dates in the future are kept and
reported; numeric timestamps past the year 5000 are read as milliseconds.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError
from ..records import Article
from .dates import parse_date
from .feeds import FeedError, looks_like_feed, read_feed
from .fetch import Fetcher, FetchError, is_url, normalize_url
from .html import html_to_text, is_html_document
from .warc import WarcError, looks_like_warc, read_warc
from .web import read_page

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv", ".tsv"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}
WARC_SUFFIXES = {".warc", ".warc.gz"}
FORMATS = ("text", "jsonl", "csv", "html", "feed", "warc")
_SNIFF_BYTES = 8192
DEFAULT_MAX_CHARS = 1_000_000
_COMPRESSED = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_TITLE_MAX_WORDS = 25


@dataclass(frozen=True)
class FieldMap:
    """Names of the input fields that hold each article attribute (for JSON lines and CSV)."""

    id: str = "id"
    title: str = "title"
    text: str = "text"
    source: str = "source"
    url: str = "url"
    published: str = "published"
    lang: str = "lang"


@dataclass(frozen=True)
class ReadProblem:
    """A record or file that could not be read (``skipped``) or was read with a caveat, and why."""

    location: str
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.location}: {'skipped: ' if self.skipped else 'warning: '}{self.message}"


class _Problem(Exception):
    """Internal: a problem with one record or file, turned into a ReadProblem by the reader."""


class ArticleReader:
    """Reads articles from paths; collects problems in :attr:`problems` (or raises when ``strict``).

    Example::

        reader = ArticleReader()
        articles = list(reader.read(["seeds/"]))
        for problem in reader.problems:
            print(problem)
    """

    def __init__(
        self,
        fields: FieldMap = FieldMap(),
        *,
        strict: bool = False,
        encoding: str | None = None,
        input_format: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        fetcher: Fetcher | None = None,
    ) -> None:
        """``fetcher`` fetches http(s) arguments (default: a :class:`Fetcher` with its polite defaults)."""
        if input_format is not None and input_format not in FORMATS:
            raise InputError(f"unknown input format {input_format!r}; choose one of {', '.join(FORMATS)}")
        self.fields = fields
        self.strict = strict
        self.encoding = encoding
        self.input_format = input_format
        self.max_chars = max_chars
        self.fetcher = fetcher
        self.problems: list[ReadProblem] = []
        self._seen: dict[str, tuple[str, str]] = {}  # id -> (content hash, where first read)
        self._titles_only: int | None = None  # records of the file being read indexed on their titles

    @property
    def skipped(self) -> int:
        """How many records or files were skipped so far."""
        return sum(problem.skipped for problem in self.problems)

    # -- entry point -------------------------------------------------------------------------------

    def read(self, paths: Iterable[str | Path], stdin: BinaryIO | None = None) -> Iterator[Article]:
        """Yield the articles of every path or http(s) address; ``"-"`` reads standard input (format sniffed)."""
        self._seen = {}
        for path in paths:
            if str(path) == "-":
                data = (stdin or sys.stdin.buffer).read()
                yield from self._read_bytes(data, "<stdin>", "stdin", self.input_format or _sniff(data))
                continue
            if is_url(str(path)):
                yield from self._read_url(str(path))
                continue
            path = Path(path)
            if path.is_dir():
                yield from self._read_directory(path)
            elif path.exists():
                yield from self._read_file(path, path.stem)
            else:
                self._report(str(path), "no such file or directory")

    def read_records(self, records: Iterable[tuple[str, dict[str, Any] | str]]) -> Iterator[Article]:
        """Yield the articles of records that another reader has read (rows of a Ray Dataset, say).

        Each record is a dict of fields, or a line of a JSON-lines file (a blank line is no record), given
        with its location for problem reports (e.g. ``"feed.jsonl:12"``). It gets the checks of
        :meth:`read`: broken JSON, field names and types, empty text, HTML, dates, length, duplicate ids.
        """
        for location, record in records:
            if isinstance(record, str):
                yield from self._guard(location, lambda: self._record_from_json_line(record, location))
            else:
                yield from self._guard(location, lambda: self._record(record, location))

    # -- files ---------------------------------------------------------------------------------------

    def _read_directory(self, root: Path) -> Iterator[Article]:
        files = sorted(
            p for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        if not files:
            self._report(str(root), "directory holds no files")
        for path in files:
            yield from self._read_file(path, path.relative_to(root).with_suffix("").as_posix())

    def _read_file(self, path: Path, text_id: str) -> Iterator[Article]:
        try:
            with open(path, "rb") as handle:
                head = handle.read(_SNIFF_BYTES)
                fmt = self.input_format or _format_of(path) or _sniff_markup(head)
                if fmt is None and head.strip():
                    self._report(
                        str(path),
                        f"unknown format {path.suffix or '(no suffix)'!r}: expected .txt/.md, .jsonl/.json, .csv, "
                        ".html, .xml/.rss/.atom or .warc(.gz)",
                    )
                    return
                if fmt == "warc":  # archives can be large: streamed, never read whole
                    handle.seek(0)
                    yield from self._read_warc(handle, str(path))
                    return
                data = head + handle.read()
        except OSError as exc:
            self._report(str(path), f"cannot read: {exc.strerror or exc}")
            return
        delimiter = "\t" if path.suffix == ".tsv" else ","
        yield from self._read_bytes(data, str(path), text_id, fmt or "text", delimiter=delimiter)

    def _read_url(self, url: str) -> Iterator[Article]:
        if self.fetcher is None:
            self.fetcher = Fetcher()
        try:
            response = self.fetcher.get(url)
        except FetchError as exc:
            self._report(url, exc.reason)
            return
        fmt = self.input_format or _format_of_response(response.content_type, response.body)
        yield from self._read_bytes(
            response.body, url, normalize_url(response.url), fmt, url=response.url, content_type=response.content_type
        )

    def _read_bytes(
        self, data: bytes, name: str, text_id: str, fmt: str, delimiter: str = ",", *,
        url: str | None = None, content_type: str | None = None,
    ) -> Iterator[Article]:
        """The articles of one input's bytes; ``url`` (and ``content_type``) where it was fetched from."""
        if not data.strip():
            self._report(name, "empty file")
            return
        if fmt == "text" and is_html_document(data):  # a whole web page saved as text is a web page
            fmt = "html"
        if fmt == "jsonl":
            with self._titles_only_said_once(name):
                yield from self._read_jsonl(data, name)
        elif fmt == "html":
            yield from self._guard(name, lambda: self._page(data, name, text_id, url))
        elif fmt == "feed":
            yield from self._read_feed(data, name, url, content_type)
        elif fmt == "warc":
            yield from self._read_warc(io.BytesIO(data), name)
        else:
            try:
                text = self._decode(data)
            except _Problem as exc:
                self._report(name, str(exc))
                return
            if fmt == "csv":
                with self._titles_only_said_once(name):
                    yield from self._read_csv(text, name, delimiter)
            else:
                yield from self._guard(name, lambda: _article_from_text(text, text_id, self.max_chars))

    # -- pages, feeds, archives ----------------------------------------------------------------------

    def _page(self, data: bytes, location: str, article_id: str, url: str | None, captured: str | None = None) -> Article:
        """The article of a web page (``captured``: when an archive took it, the date if the page has none)."""
        page = read_page(data, url=url)
        if page is None:
            raise _Problem("no article text found in the page")
        record = page.record(article_id)
        record["published"] = record["published"] or captured
        return self._record(record, location, FieldMap())

    def _read_feed(self, data: bytes, name: str, url: str | None, content_type: str | None) -> Iterator[Article]:
        try:
            entries, warning = read_feed(data, url=url, content_type=content_type)
        except FeedError as exc:
            self._report(name, str(exc))
            return
        if warning:
            self._report(name, warning, warn=True)
        with self._titles_only_said_once(name):
            for entry in entries:
                location = f"{name}[{entry.number}]"
                if entry.problem:
                    self._report(location, entry.problem)
                else:
                    yield from self._guard(location, lambda: self._record(entry.record(), location, FieldMap()))

    def _read_warc(self, stream: BinaryIO, name: str) -> Iterator[Article]:
        try:
            for archived in read_warc(stream):
                location = f"{name}@{archived.position}"
                article_id = normalize_url(archived.url) if archived.url else location
                yield from self._guard(
                    location, lambda: self._page(archived.body, location, article_id, archived.url, archived.captured)
                )
        except WarcError as exc:
            self._report(f"{name}@{exc.position}", str(exc))

    def _read_jsonl(self, data: bytes, name: str) -> Iterator[Article]:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
            try:
                lines: list[bytes | str] = list(self._decode(data).split("\n"))
            except _Problem as exc:
                self._report(name, str(exc))
                return
        elif not self.encoding and _not_text(data, lines=True):
            self._report(name, str(_not_text(data, lines=True)))
            return
        else:
            lines = list(data.split(b"\n"))
        if lines and _strip(lines[0]).startswith("["):
            yield from self._read_json_array(data, name)
            return
        for number, raw in enumerate(lines, start=1):
            location = f"{name}:{number}"
            yield from self._guard(location, lambda: self._record_from_json_line(raw, location))

    def _read_json_array(self, data: bytes, name: str) -> Iterator[Article]:
        try:
            text = self._decode(data)
            records = _scrub(json.loads(text)) if _SURROGATE_ESCAPE.search(text) else json.loads(text)
        except (json.JSONDecodeError, _Problem) as exc:
            self._report(name, f"broken JSON: {exc}")
            return
        if not isinstance(records, list):
            self._report(name, "expected a JSON array of objects or JSON lines")
            return
        for number, record in enumerate(records, start=1):
            location = f"{name}[{number}]"
            yield from self._guard(location, lambda: self._record(record, location))

    def _record_from_json_line(self, raw: bytes | str, location: str) -> Article | None:
        line = raw if isinstance(raw, str) else self._decode(raw, line=True)
        if not line.strip():
            return None
        try:
            record = _scrub(json.loads(line)) if _SURROGATE_ESCAPE.search(line) else json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Problem(f"broken JSON line ({exc.msg}: column {exc.colno})") from None
        return self._record(record, location)

    def _read_csv(self, text: str, name: str, delimiter: str) -> Iterator[Article]:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        if not reader.fieldnames or self.fields.text not in reader.fieldnames:
            self._report(name, f"CSV header has no {self.fields.text!r} column (use --text-field to map one)")
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._report(f"{name}:{reader.line_num}", f"broken CSV: {exc}")
                return
            location = f"{name}:{reader.line_num}"
            extra_cells = row.pop(None, None)  # type: ignore[call-overload]
            yield from self._guard(location, lambda: self._record(row, location))
            if extra_cells:
                self._report(location, f"{len(extra_cells)} cell(s) beyond the header were ignored", warn=True)

    # -- records -------------------------------------------------------------------------------------

    def _record(self, record: Any, location: str, names: FieldMap | None = None) -> Article:
        """The article of one record whose fields are named by ``names`` (default: the reader's field map)."""
        if not isinstance(record, dict):
            raise _Problem(f"expected a JSON object, got {type(record).__name__}")
        names = names or self.fields
        text = _string_field(record, names.text, location, required=True)
        assert text is not None
        text = _clean(html_to_text(text))
        title = _optional(_string_field(record, names.title, location))
        title = _optional(" ".join(html_to_text(title).split())) if title else None
        if not text.strip():
            if not title:
                raise _Problem("empty text")
            self._note_title_only(location)
            text = title
        _check_length(text, self.max_chars)
        raw_id = record.get(names.id)
        if isinstance(raw_id, str):
            raw_id = raw_id.strip()
        if raw_id is None or raw_id == "":
            article_id = "sha-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        elif isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool):
            article_id = str(raw_id).strip()
        else:
            raise _Problem(f"field {names.id!r} must be a string or an integer, got {type(raw_id).__name__}")
        published = record.get(names.published)
        used = {getattr(names, f.name) for f in fields(names)}
        return Article(
            id=article_id,
            text=text,
            title=title,
            source=_optional(_string_field(record, names.source, location)),
            url=_optional(_string_field(record, names.url, location)),
            published=self._date(published, location),
            extra={k: v for k, v in record.items() if k not in used and v not in (None, "")},
            lang=_optional(_string_field(record, names.lang, location)),
        )

    def _date(self, value: Any, location: str) -> str | None:
        if value is None or value == "":
            return None
        try:
            date = parse_date(value)
        except ValueError:
            self._report(location, f"unreadable date {value!r}; article kept without a date", warn=True)
            return None
        if datetime.fromisoformat(date) > datetime.now(timezone.utc) + timedelta(days=1):
            self._report(location, f"date {value!r} is in the future; kept as given", warn=True)
        return date

    # -- helpers -------------------------------------------------------------------------------------

    def _decode(self, data: bytes, *, line: bool = False) -> str:
        if data.startswith(codecs.BOM_UTF8):
            return _clean(data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"))
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return _clean(data.decode("utf-16", errors="replace"))
        if self.encoding:
            try:
                return _clean(data.decode(self.encoding))
            except (UnicodeDecodeError, LookupError) as exc:
                raise _Problem(f"cannot decode as {self.encoding}: {exc}") from None
        reason = None if line else _not_text(data)  # a line of JSON lines: only its own bytes count
        if reason:
            raise _Problem(reason)
        try:
            return _clean(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise _Problem(
                f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "give --encoding (e.g. latin-1) if that is its encoding"
            ) from None

    def _guard(self, location: str, make: Any) -> Iterator[Article]:
        try:
            article = make()
        except _Problem as exc:
            self._report(location, str(exc))
            return
        if article is not None:
            self._note_duplicate(article, location)
            yield article

    def _note_duplicate(self, article: Article, location: str) -> None:
        digest = article.content_hash
        first = self._seen.setdefault(article.id, (digest, location))
        if first[0] != digest:
            self._report(
                location,
                f"duplicate id {article.id!r} with different content (first at {first[1]}); the last one wins",
                warn=True,
            )
            self._seen[article.id] = (digest, first[1])

    @contextlib.contextmanager
    def _titles_only_said_once(self, name: str) -> Iterator[None]:
        """Within one file of records or one feed, say of the first record with empty text only that it was indexed
        on its title, and at the end how many more were: headlines alone are read without a warning a line."""
        self._titles_only = 0
        try:
            yield
        finally:
            more = (self._titles_only or 1) - 1
            if more:
                self._report(name, f"{more} more record{'s' * (more > 1)} with empty text indexed on "
                             f"{'their titles' if more > 1 else 'its title'}", warn=True)
            self._titles_only = None

    def _note_title_only(self, location: str) -> None:
        """A record with empty text is indexed on its title: said for the first of a file (for every record
        read one by one, outside a file), counted for the others."""
        if not self._titles_only:
            self._report(location, "empty text; indexed on its title", warn=True)
        if self._titles_only is not None:
            self._titles_only += 1

    def _report(self, location: str, message: str, *, warn: bool = False) -> None:
        problem = ReadProblem(location, message, skipped=not warn)
        if self.strict and not warn:
            raise InputError(f"{location}: {message}")
        self.problems.append(problem)


def _article_from_text(text: str, article_id: str, max_chars: int) -> Article:
    """One plain-text or Markdown article; the first line is its title where it stands alone."""
    if not text.strip():
        raise _Problem("empty text")
    _check_length(text, max_chars)
    text = html_to_text(text)
    if not text.strip():
        raise _Problem("empty text (markup only)")
    lines = text.strip().split("\n")
    first = lines[0].strip().lstrip("#").strip()
    title = None
    if len(lines) > 2 and not lines[1].strip() and 0 < len(first.split()) <= _TITLE_MAX_WORDS:
        title = first
        text = "\n".join(lines[2:]).strip()
    return Article(id=article_id, text=text.strip(), title=title)


def _string_field(record: dict[str, Any], name: str, location: str, required: bool = False) -> str | None:
    if name not in record or record[name] is None:
        if required:
            raise _Problem(f"missing field {name!r}")
        return None
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Problem(f"field {name!r} must be a string, got {type(value).__name__}")
    return str(value)


def _optional(value: str | None) -> str | None:
    value = _clean(value).strip() if value is not None else None
    return value or None


def _clean(text: str) -> str:
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _check_length(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise _Problem(f"text of {len(text):,} characters is over the limit of {max_chars:,} (--max-chars)")


def _scrub(value: Any) -> Any:
    """``value`` with lone UTF-16 surrogates (JSON escapes like ``\\ud800``) replaced by U+FFFD.

    Python strings can hold them, but they cannot be encoded as UTF-8: hashing or storing them would fail.
    """
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {_scrub(key): _scrub(item) for key, item in value.items()}
    return value


def _not_text(data: bytes, *, lines: bool = False) -> str | None:
    """Why ``data`` cannot be text (compressed, or binary with NUL bytes), or None.

    A stray NUL byte in otherwise valid UTF-8 text is not enough: it is dropped when the text is read.
    With ``lines`` (JSON lines, whose lines are decoded one by one) only a compressed file or one with
    many NUL bytes is refused as a whole.
    """
    for magic, name in _COMPRESSED.items():
        if data.startswith(magic):
            return f"{name}-compressed data, not text (decompress it first)"
    head = data[:8192]
    nuls = head.count(0)
    if nuls:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        if nuls * 100 >= len(head) or not (utf8 or lines):
            return "binary data (NUL bytes), not text"
    return None


def _strip(line: bytes | str) -> str:
    return (line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line).strip()


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if path.name.lower().endswith(".warc.gz") or suffix in WARC_SUFFIXES:
        return "warc"
    for fmt, suffixes in (("text", TEXT_SUFFIXES), ("jsonl", JSONL_SUFFIXES), ("csv", CSV_SUFFIXES),
                          ("html", HTML_SUFFIXES), ("feed", FEED_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    return None


def _sniff_markup(head: bytes) -> str | None:
    """``warc``, ``feed`` or ``html`` where the first bytes of an input are those of one, else None."""
    if looks_like_warc(head):
        return "warc"
    if looks_like_feed(head):
        return "feed"
    if is_html_document(head):
        return "html"
    return None


def _format_of_response(content_type: str, body: bytes) -> str:
    """The format of a fetched body: its first bytes first (servers mislabel), then its content type."""
    sniffed = _sniff_markup(body[:_SNIFF_BYTES])
    if sniffed:
        return sniffed
    kind = content_type.split(";")[0].strip().lower()
    if "html" in kind:
        return "html"
    if kind.endswith(("xml", "rss", "atom")):
        return "feed"
    return _sniff(body)


def _sniff(data: bytes) -> str:
    markup = _sniff_markup(data[:_SNIFF_BYTES])
    if markup:
        return markup
    head = data.removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    return "jsonl" if head in (b"{", b"[") else "text"
