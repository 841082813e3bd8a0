"""Feed, page and WARC fixtures for the ingest tests, written by the tests themselves."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from email.utils import format_datetime

PARAGRAPH = (
    "Dock workers at the port of {place} walked out on {day} over pay, halting container traffic, "
    "while the harbour authority said talks with the union would resume within the week."
)


def story(place: str, day: str = "Monday") -> str:
    """Two paragraphs of a made-up news report about ``place``."""
    return PARAGRAPH.format(place=place, day=day) + "\n\n" + (
        f"Shipping lines diverted vessels away from {place}, and exporters warned of spoiled cargo if the strike "
        "lasted beyond the weekend, according to a statement issued late in the evening."
    )


def rss(items: list[dict], *, title: str = "Harbour News", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 feed; each item is a dict of ``guid``, ``link``, ``title``, ``text``, ``date`` (any may be absent)."""
    parts = [f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>',
             f"<title>{title}</title><link>http://harbour.example/</link><description>News</description>"]
    for item in items:
        parts.append("<item>")
        if "guid" in item:
            parts.append(f'<guid isPermaLink="false">{item["guid"]}</guid>')
        if "link" in item:
            parts.append(f"<link>{item['link']}</link>")
        if "title" in item:
            parts.append(f"<title>{item['title']}</title>")
        if "text" in item:
            html = "".join(f"<p>{p}</p>" for p in item["text"].split("\n\n"))
            parts.append(f"<description><![CDATA[{html}]]></description>")
        if "date" in item:
            parts.append(f"<pubDate>{format_datetime(item['date'])}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode(encoding)


def atom(entries: list[dict], *, title: str = "Port Wire") -> bytes:
    """An Atom feed; each entry a dict of ``id``, ``link``, ``title``, ``text``, ``date``."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
             f"<title>{title}</title><id>urn:port-wire</id><updated>2024-05-01T00:00:00Z</updated>"]
    for entry in entries:
        parts.append("<entry>")
        parts.append(f"<id>{entry['id']}</id><title>{entry['title']}</title>")
        parts.append(f'<link rel="alternate" href="{entry["link"]}"/>')
        parts.append(f"<updated>{entry['date'].isoformat()}</updated>")
        html = "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in entry["text"].split("\n\n"))
        parts.append(f'<content type="html">{html}</content></entry>')
    parts.append("</feed>\n")
    return "".join(parts).encode()


def page(title: str, text: str, *, date: str = "2024-05-02", site: str = "Harbour Times") -> bytes:
    """An HTML article page with navigation, a cookie banner, related links and comments around the body."""
    body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{site}">
<meta property="article:published_time" content="{date}T08:30:00+00:00"></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<article><h1>{title}</h1>{body}</article>
<aside class="related"><h3>Related articles</h3><ul><li><a href="/x">Celebrity chef opens bistro</a></li>
<li><a href="/y">Ten gadgets for summer</a></li></ul></aside>
<section id="comments"><h3>Comments</h3><p class="comment">First! Totally agree with this.</p></section>
<footer>Copyright Harbour Times. All rights reserved.</footer></body></html>""".encode()


def warc(records: list[tuple[str, bytes, str]], *, compress: bool = False) -> bytes:
    """A WARC file of response records ``(target URI, HTTP body, content type)``, gzip per record if asked."""
    out = []
    for number, (uri, body, content_type) in enumerate(records):
        http = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        head = (
            f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-03T10:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{number:012d}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
        ).encode()
        record = head + http + b"\r\n\r\n"
        out.append(gzip.compress(record) if compress else record)
    return b"".join(out)


def when(day: int, hour: int = 9) -> datetime:
    """A date in May 2024, UTC."""
    return datetime(2024, 5, day, hour, tzinfo=timezone.utc)
