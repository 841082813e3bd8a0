"""Latency and throughput of the HTTP service over an index of ecbplus, on loopback.

Starts the server (``storycluster.service.serve``) in a subprocess, then measures from this process with
httpx: latency p50/p95/p99 of fetching an article, of related reporting by id and by text (300
characters, embedding included), one request at a time; then requests/s with 4 concurrent clients.
Every phase has a fixed number of requests, so the run stops by itself.

    .venv/bin/python bench/service.py                          # a temporary index of ecbplus
    .venv/bin/python bench/service.py --index indexes/ecbplus  # built there once, reused after
    .venv/bin/python bench/service.py --requests 400 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import Timer, load_jsonl, percentile, require_data, temporary_index_dir

from storycluster import Article, StoryIndex

CLIENTS = 4
SERVER = (
    "import sys; from storycluster.service.app import serve; "
    "serve(sys.argv[1], port=int(sys.argv[2]), workers=int(sys.argv[3]))"
)


def build_index(path: Path, rows: list[dict]) -> None:
    """Index the bench articles at ``path`` unless an index is already there."""
    with StoryIndex.open(path, create=True) as index:
        if len(index):
            print(f"index: {path} ({len(index)} articles, reused)")
            return
        articles = [
            Article(id=row["id"], text=row["text"], title=row.get("title"), source=row.get("source"))
            for row in rows
        ]
        with Timer() as build:
            report = index.add(articles)
    print(f"index: {path} ({report.added} articles, {report.paragraphs} paragraphs, {build.seconds:.0f} s)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """The server process and its base URL, once ``/health`` answers."""
    port = free_port()
    command = [sys.executable, "-c", SERVER, str(index), str(port), str(workers)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # no access log; errors still on stderr
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    sys.exit("the server did not answer /health within 180 s")


def latencies(client: httpx.Client, requests: list[tuple[str, dict]]) -> list[float]:
    """Milliseconds of each request, sent one after another."""
    times = []
    for path, params in requests:
        started = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def throughput(base: str, requests: list[tuple[str, dict]]) -> float:
    """Requests per second with ``CLIENTS`` clients sending ``requests`` between them."""
    local = threading.local()

    def send(request: tuple[str, dict]) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, timeout=60)
        local.client.get(request[0], params=request[1]).raise_for_status()

    with Timer() as timer, ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, requests))
    return len(requests) / timer.seconds


def report(name: str, times: list[float]) -> None:
    print(
        f"{name:<28} p50 {percentile(times, 50):6.1f} ms   p95 {percentile(times, 95):6.1f} ms   "
        f"p99 {percentile(times, 99):6.1f} ms   ({len(times)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, help="Index directory (built there from ecbplus if absent).")
    parser.add_argument("--requests", type=int, default=300, help="Requests per measurement (default 300).")
    parser.add_argument("--workers", type=int, default=1, help="Server worker processes (default 1).")
    args = parser.parse_args()

    rows = load_jsonl(require_data("ecbplus.jsonl"))
    index = args.index or temporary_index_dir()
    build_index(index, rows)
    process, base = start_server(index, args.workers)
    picked = [rows[i * len(rows) // args.requests] for i in range(args.requests)]
    fetch = [(f"/articles/{row['id']}", {}) for row in picked]
    by_id = [(f"/articles/{row['id']}/similar", {"k": 5}) for row in picked]
    by_text = [("/similar", {"q": row["text"][:300], "k": 5}) for row in picked]
    try:
        print(f"server: {base}, {args.workers} worker(s); {CLIENTS} concurrent clients for requests/s\n")
        with httpx.Client(base_url=base, timeout=60) as client:
            latencies(client, by_text[:20])  # warm up
            report("GET /articles/{id}", latencies(client, fetch))
            report("GET /articles/{id}/similar", latencies(client, by_id))
            report("GET /similar?q= (300 chars)", latencies(client, by_text))
        print()
        for name, requests in (("GET /articles/{id}/similar", by_id), ("GET /similar?q=", by_text)):
            print(f"{name:<28} {throughput(base, requests):6.1f} requests/s with {CLIENTS} clients")
    finally:
        process.terminate()
        process.wait(30)
        if args.index is None:
            shutil.rmtree(index.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
