"""Ingest speed on real pages: extraction alone, `follow` end to end, and the JSON-lines path, side by side.

1. extraction alone: every page of ``../shared/web/pages`` through :func:`storycluster.ingest.read_page`
   (trafilatura + htmldate + py3langid): pages/s, and how many pages gave an article;
2. ``follow`` end to end: a loopback HTTP server serves the pages and an RSS feed announcing them; one
   :class:`Follower` poll with ``fetch_pages`` fetches every page (robots.txt, conditional GET, size cap;
   the per-host delay set to 0 on loopback), extracts it and adds it to a fresh index, embedding included;
3. the JSON-lines path: the same articles written to a JSON-lines file and added with
   ``StoryIndex.add(ArticleReader().read([file]))`` to another fresh index.

    python bench/ingest.py                  # all 200 pages
    python bench/ingest.py --pages 40       # a quicker look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import Timer, temporary_index_dir
from loopback import PAGES, LoopbackServer, Route


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=None, help="Use only the first N pages (default: all).")
    args = parser.parse_args()
    if not PAGES.is_dir():
        sys.exit(f"pages not found at {PAGES} (the bench needs ../shared/web/pages beside the repository)")
    from storycluster import ArticleReader, StoryIndex
    from storycluster.ingest import Fetcher, Follower, read_page

    files = sorted(p for p in PAGES.iterdir() if p.is_file())[: args.pages]
    read_page(files[-1].read_bytes())  # load the libraries before the clock starts
    with Timer() as extraction:
        pages = [read_page(f.read_bytes()) for f in files]
    empty = [f.name for f, p in zip(files, pages) if p is None]
    with LoopbackServer({"/pages/": PAGES}) as server:
        server.routes["/feed.xml"] = Route(_feed(server, files), content_type="application/rss+xml")
        with StoryIndex.open(temporary_index_dir(), create=True) as index:
            index.embedder.encode(["warm up"])
            follower = Follower([server.url("/feed.xml")], index, fetcher=Fetcher(delay=0.0), fetch_pages=True)
            with Timer() as follow:
                report = follower.poll()
            articles = [index.get(i) for i in index.article_vectors()[0]]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "articles.jsonl"
        path.write_text("".join(json.dumps(_record(a), ensure_ascii=False) + "\n" for a in articles))
        with StoryIndex.open(temporary_index_dir(), create=True) as index:
            index.embedder.encode(["warm up"])
            with Timer() as jsonl:
                added = index.add(ArticleReader().read([path])).added
    print(f"pages: {len(files)} ({len(files) - len(empty)} gave an article; none: {', '.join(empty) or '-'})")
    print(f"follow poll: {report.line()}")
    print(f"{'path':<34}{'articles':>9}{'seconds':>9}{'pages/s':>9}")
    for name, count, seconds in (
        ("extraction alone (read_page)", len(files), extraction.seconds),
        ("follow end to end (fetch+embed)", report.added, follow.seconds),
        ("JSON lines of the same articles", added, jsonl.seconds),
    ):
        print(f"{name:<34}{count:>9}{seconds:>9.1f}{count / seconds:>9.2f}")
    print(f"follow / JSON lines: {follow.seconds / jsonl.seconds:.1f}x the time")
    if report.fetched != len(files):
        sys.exit(f"follow fetched {report.fetched} of {len(files)} pages: {report.problems[:3]}")


def _feed(server: LoopbackServer, files: list[Path]) -> bytes:
    items = "".join(
        f"<item><title>{f.stem}</title><link>{server.url('/pages/' + f.name)}</link><description>.</description></item>"
        for f in files
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Pages</title>{items}</channel></rss>'.encode()


def _record(article) -> dict:
    return {"id": article.id, "title": article.title, "text": article.text, "source": article.source,
            "url": article.url, "published": article.published}


if __name__ == "__main__":
    main()
