"""A polite, bounded HTTP client for pages and feeds: robots.txt, one request at a time per host, timeouts,
a size cap, retries with backoff, conditional GET and URL normalisation.

Only the standard library's ``urllib`` is used for HTTP; ``courlan`` normalises URLs (lower-case host,
default port dropped, query parameters sorted, tracking parameters such as ``utm_*`` and ``fbclid``
removed, fragment dropped) so that one article reached by two spellings of its address is fetched once.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urldefrag, urlsplit
from urllib.robotparser import RobotFileParser


def _version() -> str:
    try:
        return importlib.metadata.version("storycluster")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"storycluster/{_version()} (news story clustering; polls feeds, honours robots.txt)"
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 10 * 2**20
DEFAULT_DELAY = 1.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 2.0
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A URL that could not be fetched; the message is one line saying why."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status
        self.transient = transient  # worth retrying: a 5xx or 429 answer, a timeout, a dropped connection


@dataclass(frozen=True)
class Response:
    """A fetched resource, or (``not_modified``) the server's word that it has not changed."""

    url: str
    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """Whether the server answered 304 to a conditional GET."""
        return self.status == 304


def normalize_url(url: str) -> str:
    """The canonical spelling of ``url`` (see the module docs); ``url`` itself if it is not an http(s) URL."""
    from courlan import normalize_url as courlan_normalize

    if not is_url(url.strip()):
        return url.strip()
    try:
        return urldefrag(courlan_normalize(url.strip()))[0]
    except (ValueError, AttributeError):
        return url.strip()


def is_url(value: str) -> bool:
    """Whether ``value`` is an http:// or https:// address."""
    return value.lower().startswith(("http://", "https://"))


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS
    max_repeats = 1


@dataclass
class Fetcher:
    """Fetches URLs one at a time, waiting ``delay`` seconds between two requests to one host.

    Every request carries ``user_agent``; paths that a site's robots.txt disallows for it are refused
    without a request (its ``Crawl-delay`` lengthens ``delay`` for that host). A response over
    ``max_bytes`` is abandoned as soon as it is known to be (it is streamed, never held whole). A 5xx or
    429 answer, a timeout or a dropped connection is retried ``retries`` times, after ``backoff``, then
    twice that, and so on. ``timeout`` bounds the whole response, not just each read.
    """

    user_agent: str = USER_AGENT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    delay: float = DEFAULT_DELAY
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    robots: bool = True
    requests: int = 0
    _last: dict[str, float] = field(default_factory=dict, repr=False)
    _robots: dict[str, RobotFileParser | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(_Redirects())

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Response:
        """Fetch ``url``; with ``etag``/``last_modified`` a 304 comes back as ``not_modified``.

        Raises :class:`FetchError` for robots.txt refusals, 4xx and (after the retries) 5xx answers,
        timeouts, redirect loops, oversized bodies and network errors.
        """
        if not is_url(url):
            raise FetchError(url, "not an http(s) URL")
        if self.robots and not self._allowed(url):
            raise FetchError(url, "disallowed by robots.txt")
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for attempt in range(self.retries + 1):
            try:
                return self._request(url, headers)
            except FetchError as exc:
                if not exc.transient or attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _request(self, url: str, headers: dict[str, str]) -> Response:
        self._wait_turn(url)
        self.requests += 1
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(url, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                body = self._read(answer, url, deadline)
                return _response(answer.geturl(), answer.status, answer.headers, body)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 304:
                return _response(url, 304, exc.headers, b"")
            if exc.code in (301, 302, 303, 307, 308):
                raise FetchError(url, f"redirect loop or too many redirects (HTTP {exc.code})", status=exc.code) from None
            transient = exc.code >= 500 or exc.code == 429  # a server error, or "too many requests"
            raise FetchError(url, f"HTTP {exc.code} {exc.reason}", status=exc.code, transient=transient) from None
        except TimeoutError:
            raise FetchError(url, f"timed out after {self.timeout:g} s", transient=True) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise FetchError(url, f"timed out after {self.timeout:g} s", transient=True) from None
            raise FetchError(url, f"cannot connect: {getattr(reason, 'strerror', None) or reason}", transient=True) from None
        except (OSError, http.client.HTTPException) as exc:  # connection reset, bad status line
            raise FetchError(url, f"network error: {exc}", transient=True) from None
        except ValueError as exc:  # a malformed URL
            raise FetchError(url, f"bad URL: {exc}") from None
        finally:
            self._last[_host(url)] = time.monotonic()

    def _read(self, answer, url: str, deadline: float) -> bytes:
        declared = answer.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(url, f"larger than {self.max_bytes:,} bytes ({int(declared):,} declared)")
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(url, f"timed out after {self.timeout:g} s", transient=True)
            chunk = answer.read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(url, f"larger than {self.max_bytes:,} bytes")
            chunks.append(chunk)

    def _wait_turn(self, url: str) -> None:
        host = _host(url)
        parser = self._robots.get(host)
        delay = max(self.delay, float((parser.crawl_delay(self.user_agent) or 0) if parser else 0))
        wait = self._last.get(host, -1e9) + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _allowed(self, url: str) -> bool:
        host = _host(url)
        if host not in self._robots:
            self._robots[host] = self._load_robots(host)
        parser = self._robots[host]
        return parser is None or parser.can_fetch(self.user_agent, url)

    def _load_robots(self, host: str) -> RobotFileParser | None:
        """The host's robots.txt (None: no rules). Missing (4xx) allows everything; an error (5xx, timeout)
        disallows everything for this run, as RFC 9309 asks."""
        parser = RobotFileParser(f"{host}/robots.txt")
        try:
            answer = self._request(f"{host}/robots.txt", {"User-Agent": self.user_agent})
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None
            parser.disallow_all = True
            return parser
        parser.parse(answer.body.decode("utf-8", errors="replace").splitlines())
        return parser


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _response(url: str, status: int, headers: Message, body: bytes) -> Response:
    return Response(
        url=url, status=status, body=body, content_type=headers.get("Content-Type", "") or "",
        etag=headers.get("ETag"), last_modified=headers.get("Last-Modified"),
    )
