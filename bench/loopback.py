"""A real HTTP server on loopback for the ingest tests and benches: routes that can change while it runs.

Each route answers with a status, headers and a body (bytes, or a function yielding chunks, so a 50 MB
response is streamed rather than held); an ``etag`` makes it answer ``If-None-Match`` with 304, a
``delay`` makes it wait before answering. A directory can be served under a prefix (the real pages of
``../shared/web/pages``). Every request is logged with its headers and time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGES = Path(__file__).resolve().parents[2] / "shared" / "web" / "pages"


@dataclass
class Route:
    """How one path answers."""

    body: bytes | Callable[[], Iterator[bytes]] = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """A request the server received."""

    path: str
    headers: dict[str, str]
    time: float


class LoopbackServer:
    """``with LoopbackServer() as server: server.routes["/a"] = Route(b"...")``; ``server.url("/a")``."""

    def __init__(self, directories: dict[str, Path] | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.directories = directories or {}
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.base + path

    def hits(self, path: str) -> list[Request]:
        """The requests made for ``path``."""
        return [request for request in self.requests if request.path == path]

    def route(self, path: str) -> Route | None:
        """The route answering ``path``: a set route, else a file of a served directory."""
        if path in self.routes:
            return self.routes[path]
        for prefix, directory in self.directories.items():
            if path.startswith(prefix):
                file = (directory / path[len(prefix):]).resolve()
                if file.is_file() and file.is_relative_to(directory.resolve()):
                    return Route(file.read_bytes(), content_type="text/html")
        return None


def _handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            server.requests.append(Request(path, dict(self.headers), time.monotonic()))
            route = server.route(path)
            if route is None:
                route = Route(b"not found", status=404, content_type="text/plain")
            if route.delay:
                time.sleep(route.delay)
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.send_header("ETag", route.etag)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", route.etag)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if isinstance(route.body, bytes) and "Content-Length" not in route.headers:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            chunks = [route.body] if isinstance(route.body, bytes) else route.body()
            try:
                for chunk in chunks:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a size cap, a timeout)
                pass

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler
