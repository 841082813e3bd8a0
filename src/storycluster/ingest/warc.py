"""WARC and WARC.gz archives (read with FastWARC): the HTML response records, as pages to extract.

Records of other types (requests, metadata), non-HTML responses (images, scripts, JSON) and answers other
than 200 are passed over: they hold no article. Compressed archives (gzip, per record or whole; zstd; lz4)
are detected from their bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_HTML_TYPES = ("text/html", "application/xhtml+xml")


class WarcError(ValueError):
    """An archive that breaks off or cannot be parsed; ``position`` is the offset of the last good record."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class ArchivedPage:
    """One HTML response of an archive: its target URI, capture date, offset in the archive and body."""

    position: int
    url: str | None
    captured: str | None
    body: bytes


def looks_like_warc(head: bytes) -> bool:
    """Whether the first bytes of a file (a few kB: a compressed block needs them) are a WARC archive's."""
    if head.startswith(b"WARC/"):
        return True
    if head.startswith(b"\x1f\x8b"):
        import zlib

        try:
            return zlib.decompressobj(wbits=31).decompress(head[:8192]).startswith(b"WARC/")
        except zlib.error:
            return False
    return False


def read_warc(stream: BinaryIO) -> Iterator[ArchivedPage]:
    """The HTML pages archived in ``stream`` (see the module docs); raises :class:`WarcError` where it breaks."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    position = 0
    records = ArchiveIterator(
        stream, record_types=WarcRecordType.response, parse_http=True, auto_decode="all", fsspec_args=False
    )
    try:
        for record in records:
            position = record.stream_pos
            http = record.http_headers
            content_type = (record.http_content_type or "").lower()
            if http is None or http.status_code != 200 or not content_type.startswith(_HTML_TYPES):
                continue
            captured = record.record_date.isoformat(timespec="seconds") if record.record_date else None
            body = record.reader.read()
            if len(body) < record.content_length and not http.get("Content-Encoding"):
                raise WarcError(
                    f"archive breaks off in the record at offset {position} ({len(body):,} of "
                    f"{record.content_length:,} bytes)", position,
                )
            yield ArchivedPage(position, record.headers.get("WARC-Target-URI"), captured, body)
    except OSError as exc:
        raise WarcError(f"archive breaks off after offset {position}: {exc}", position) from None
