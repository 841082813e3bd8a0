"""``storycluster serve``: an HTTP API over one index, built on FastAPI and uvicorn.

Endpoints (OpenAPI document at ``/openapi.json``, docs at ``/docs`` and ``/redoc``, offline)::

    GET  /health                        status and size of the served generation
    GET  /similar?q=TEXT&k=&level=&source=&exclude_source=&lang=&exclude_lang=&since=&until=
    GET  /articles/{id}                 one stored article
    GET  /articles/{id}/similar         related reporting for a stored article (same filters as /similar)
    GET  /stories?since=&until=&min_size=
    GET  /stories/{id}                  one story's coverage
    POST /articles                      a JSON list of articles to add (needs the token)

Responses are the records of the Python API (``Match``, ``Article``, ``Story``, ``StoryCoverage``,
``AddReport``) serialised by pydantic straight from their dataclasses, so the HTTP and Python shapes
cannot drift apart. Every error is ``{"error": "..."}``: 401/403 auth, 404 unknown id, 409 index locked
by another writer, 413 body too large, 422 bad parameter or body, 503 index missing or damaged on disk.

Concurrency: each worker process holds one :class:`StoryIndex` for reading. Endpoints are plain
functions run in uvicorn's thread pool, and every use of that index goes through one lock, so the
shared SQLite connection and the snapshot swap of :meth:`StoryIndex.refresh` are never used by two
threads at once; a query holds it for milliseconds (by id) to tens of milliseconds (by text, embedding
included). Scale out with ``workers``: processes, each loading the model once. A POST builds the new
generation with a short-lived ``StoryIndex`` of its own, outside the read lock, so reads go on while it
embeds; POSTs in one worker queue on a second lock, and a writer in another process (the CLI, another
worker) makes a POST fail at once with 409.

Freshness: every request first calls :meth:`StoryIndex.refresh`, which reads the generation number (one
row of the index database's ``meta`` table, SQLite or PostgreSQL) and switches to a newer generation
when a writer published one, so a POST, the CLI or another worker's write is served by the next request
without a restart.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    StoreUnavailableError,
    StoryclusterError,
)
from ..index.story_index import AddReport, Level, StoryIndex
from ..ingest.reader import ArticleReader, parse_date
from ..records import Article, Match, Story, StoryCoverage
from ..store.base import resolve_location

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_QUERY_CHARS = 20_000
MAX_K = 100
LANGUAGE_TAG = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"  # pt, pt-BR, zh_Hant
CONFIG_ENV = "STORYCLUSTER_SERVE_CONFIG"

_STATUS = {  # other errors: 422
    IndexLockedError: 409, IndexNotFoundError: 503, IndexCorruptError: 503, StoreUnavailableError: 503,
}


# -- request and response models --------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """The served generation: answered without a token even when reads need one."""

    status: str
    model: str
    generation: int
    articles: int
    stories: int


class ErrorBody(BaseModel):
    """Every error response: one message naming the problem."""

    error: str


def _date(value: str | None) -> str | None:
    """Accept what :func:`storycluster.parse_date` reads (ISO 8601, RFC 2822); keep the text as given."""
    if value is not None:
        try:
            parse_date(value)
        except (ValueError, OverflowError):
            raise ValueError(f"unreadable date {value!r} (use ISO 8601, e.g. 2024-05-31)") from None
    return value


DateParam = Annotated[str | None, AfterValidator(_date)]


class ArticleIn(BaseModel):
    """One article to add: the input fields of ``storycluster index``; other fields are kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=1000, pattern=r"\S", description="Unique; the same id replaces.")
    text: str = Field(min_length=1, description="The article text; blank lines separate paragraphs.")
    title: str | None = None
    source: str | None = Field(None, description="The outlet, for source filters.")
    url: str | None = None
    published: DateParam = Field(None, description="Publication date, ISO 8601 (UTC if no zone is given).")
    lang: str | None = Field(
        None, pattern=LANGUAGE_TAG, description="Language, ISO 639-1 (e.g. pt); identified from the text when absent."
    )


def query_options(
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of results.")] = 10,
    level: Annotated[Level, Query(description="Return articles or single paragraphs.")] = "article",
    source: Annotated[list[str] | None, Query(description="Only this outlet (repeatable).")] = None,
    exclude_source: Annotated[list[str] | None, Query(description="Not this outlet (repeatable).")] = None,
    lang: Annotated[
        list[Annotated[str, StringConstraints(pattern=LANGUAGE_TAG)]] | None,
        Query(description="Only articles in this language, ISO 639-1 such as pt (repeatable)."),
    ] = None,
    exclude_lang: Annotated[
        list[Annotated[str, StringConstraints(pattern=LANGUAGE_TAG)]] | None,
        Query(description="Not articles in this language (repeatable)."),
    ] = None,
    since: Annotated[DateParam, Query(description="Published on or after this date (ISO 8601).")] = None,
    until: Annotated[DateParam, Query(description="Published on or before this date (ISO 8601).")] = None,
) -> dict[str, Any]:
    """The query parameters shared by ``/similar`` and ``/articles/{id}/similar``, as keyword arguments."""
    return {
        "k": k, "level": level, "sources": source or (), "exclude_sources": exclude_source or (),
        "languages": lang or (), "exclude_languages": exclude_lang or (), "since": since, "until": until,
    }


Options = Annotated[dict[str, Any], Depends(query_options)]
QueryText = Annotated[
    str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S", description="The query text.")
]


def _posted_articles(items: list[ArticleIn]) -> list[Article]:
    """The posted records read by the same rules as ``storycluster index`` (:class:`ArticleReader`).

    Raises a 422 naming every record the CLI would skip (blank text, text over the length limit).
    """
    articles: list[Article] = []
    problems: list[str] = []
    for number, item in enumerate(items):
        reader = ArticleReader(input_format="jsonl")
        record = json.dumps(item.model_dump(exclude_none=True)).encode("utf-8")
        articles.extend(reader.read(["-"], stdin=io.BytesIO(record)))
        problems.extend(f"articles[{number}]: {p.message}" for p in reader.problems if p.skipped)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    return articles


# -- the index behind the service -------------------------------------------------------------------


class IndexService:
    """One worker's access to an index: serialised reads of a refreshed snapshot, queued writes."""

    def __init__(self, index_path: str | Path) -> None:
        self.path = index_path  # a directory or a postgresql:// URL
        self.index = StoryIndex.open(self.path)
        self._read_lock = threading.Lock()
        self._write_lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[StoryIndex]:
        """The index at its newest published generation, for this thread alone until the block ends."""
        with self._read_lock:
            self.index.refresh()
            yield self.index

    def add(self, articles: list[Article]) -> AddReport:
        """Add articles with the CLI's rules; raises :class:`IndexLockedError` if another process writes."""
        with self._write_lock, StoryIndex.open(self.path) as writer:
            report = writer.add(articles)
        with self._read_lock:  # so the next read in this worker serves the new generation
            self.index.refresh()
        return report

    def close(self) -> None:
        """Release the open files."""
        with self._read_lock:
            self.index.close()


# -- app ----------------------------------------------------------------------------------------------


class _BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over the limit of {self.max_bytes:,} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _error(413, message)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:  # a body sent without Content-Length (chunked) is counted
            nonlocal received
            chunk = await receive()
            received += len(chunk.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, message)
            return chunk

        await self.app(scope, limited, send)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


_BEARER = HTTPBearer(auto_error=False, description="The token the server was started with.")


def _auth(token: str | None, action: str) -> Callable[..., None]:
    """A dependency that lets a request through only with ``Authorization: Bearer <token>``."""
    expected = (token or "").encode("utf-8")

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if not token:
            raise HTTPException(
                403, f"{action} are disabled: start the server with a token (--token or STORYCLUSTER_TOKEN)"
            )
        given = credentials.credentials.encode("utf-8") if credentials else b""
        if not hmac.compare_digest(given, expected):
            problem = "wrong bearer token" if credentials else "missing Authorization: Bearer token"
            raise HTTPException(401, problem, headers={"WWW-Authenticate": "Bearer"})

    return check


def create_app(
    index_path: str | Path,
    *,
    token: str | None = None,
    token_reads: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The HTTP API over the index at ``index_path``; opens it and loads its model at once.

    Writes (``POST /articles``) answer 403 unless ``token`` is set, then need ``Authorization: Bearer
    <token>``; ``token_reads`` puts every read but ``/health`` behind the token too. Request bodies over
    ``max_body_bytes`` get 413 before they are parsed. Raises :class:`StoryclusterError` subclasses
    (no index, damaged index, model not loadable) before any request is served.
    """
    service = IndexService(index_path)
    service.index.embedder.encode(["warm up"])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPIOffline(  # /docs and /redoc serve their scripts and styles from this server: no CDN
        title="storycluster",
        summary="Find the same news story told by many outlets.",
        version=__version__,
        lifespan=lifespan,
    )
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes)
    _add_error_handlers(app)
    reads = [Depends(_auth(token, "reads"))] if token_reads else []
    writes = [Depends(_auth(token, "writes"))]
    read_errors = _errors(401, 422, 503) if token_reads else _errors(422, 503)

    @app.get("/health", responses=_errors(503))
    def health() -> Health:
        """Liveness, and which generation of the index is served."""
        with service.reading() as index:
            info = index.info()
        return Health("ok", info.model, info.generation, info.articles, info.stories)

    @app.get("/similar", dependencies=reads, responses=read_errors)
    def similar(
        q: QueryText,
        options: Options,
    ) -> list[Match]:
        """Articles (or paragraphs) that report what the text reports, best first."""
        with service.reading() as index:
            return index.similar(q, **options)

    # ids may hold "/" (files indexed from directories), hence the ``path`` converter; /similar goes first
    @app.get("/articles/{article_id:path}/similar", dependencies=reads, responses=read_errors | _errors(404))
    def similar_to(article_id: str, options: Options) -> list[Match]:
        """Other articles (or their paragraphs) that report what the stored article reports."""
        with service.reading() as index:
            try:
                return index.similar_to(article_id, **options)
            except KeyError:
                raise HTTPException(404, f"no article with id {article_id!r}") from None

    @app.get("/articles/{article_id:path}", dependencies=reads, responses=read_errors | _errors(404))
    def article(article_id: str) -> Article:
        """One stored article."""
        with service.reading() as index:
            try:
                return index.get(article_id)
            except KeyError:
                raise HTTPException(404, f"no article with id {article_id!r}") from None

    @app.get("/stories", dependencies=reads, responses=read_errors)
    def stories(
        since: Annotated[DateParam, Query(description="With an article on or after (ISO 8601).")] = None,
        until: Annotated[DateParam, Query(description="With an article on or before (ISO 8601).")] = None,
        min_size: Annotated[int, Query(ge=1, description="At least this many articles.")] = 1,
    ) -> list[Story]:
        """The stored stories, largest first; ``since``/``until`` keep stories active in that window."""
        with service.reading() as index:
            return index.stories(min_size=min_size, since=since, until=until)

    @app.get("/stories/{story_id}", dependencies=reads, responses=read_errors | _errors(404))
    def story(story_id: str) -> StoryCoverage:
        """One story and, for each of its articles, the paragraphs other outlets do not report."""
        with service.reading() as index:
            try:
                return index.story(story_id)
            except StoryclusterError:
                raise HTTPException(404, f"no story with id {story_id!r}") from None

    @app.post("/articles", dependencies=writes, responses=_errors(401, 403, 409, 413, 422, 503))
    def add(articles: list[ArticleIn]) -> AddReport:
        """Add articles, replacing stored ones with the same id and new content; unchanged ones are skipped.

        Read by the rules of ``storycluster index``: text is cleaned, titles and sources trimmed, other
        fields kept in ``extra``. Unlike the CLI, which drops an unreadable date with a warning, an
        unreadable ``published`` is refused with 422.
        """
        return service.add(_posted_articles(articles))

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``{"error": "..."}`` with a status naming its kind."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""  # e.g. a body that is not UTF-8
        return _error(exc.status_code, f"{exc.detail}{cause}", exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "json_invalid":
                message += f" ({error['ctx']['error']})"
            problems.append(f"{'.'.join(str(part) for part in error['loc'])}: {message}")
        return _error(422, "; ".join(problems))

    @app.exception_handler(StoryclusterError)
    async def index_error(_: Request, exc: StoryclusterError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 422)
        return _error(status, str(exc), {"Retry-After": "1"} if status == 409 else None)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:  # uvicorn logs the traceback
        return _error(500, "internal error (see the server log)")


# -- running ------------------------------------------------------------------------------------------


def app_from_env() -> FastAPI:
    """The app described by ``STORYCLUSTER_SERVE_CONFIG`` (set by :func:`serve` for worker processes)."""
    config = json.loads(os.environ[CONFIG_ENV])
    return create_app(config["index_path"], token=config["token"], token_reads=config["token_reads"])


def serve(
    index_path: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token: str | None = None,
    token_reads: bool = False,
) -> None:
    """Serve the index at ``index_path`` over HTTP until interrupted (Ctrl-C or SIGTERM).

    With ``workers`` > 1 uvicorn starts that many processes, each opening the index and loading the
    model once. Raises :class:`StoryclusterError` subclasses before listening if the index cannot be
    opened; :class:`ValueError` for ``token_reads`` without a token.
    """
    import uvicorn

    if token_reads and not token:
        raise ValueError("token_reads needs a token")
    if workers <= 1:
        uvicorn.run(create_app(index_path, token=token, token_reads=token_reads), host=host, port=port)
        return
    StoryIndex.open(index_path).close()  # fail here, with one message, rather than in every worker
    os.environ[CONFIG_ENV] = json.dumps(
        {"index_path": resolve_location(index_path), "token": token, "token_reads": token_reads}
    )
    uvicorn.run(f"{__name__}:app_from_env", factory=True, host=host, port=port, workers=workers)
