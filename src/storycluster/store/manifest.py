"""``manifest.json``: what an index records about its model, format and the files of its current generation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from ..errors import IndexCorruptError

FORMAT_VERSION = 1


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records about an index and the files of its current generation."""

    model: str
    dimension: int
    article_vector: str
    backend: str = ""
    generation: int = 0
    files: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    updated: str = field(default_factory=utc_now)
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        """Parse a manifest; raises :class:`IndexCorruptError` if it is not one this version reads."""
        try:
            data = json.loads(text)
            manifest = cls(**data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise IndexCorruptError(f"{where}: unreadable manifest ({exc})") from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{where}: index format {manifest.format_version}, this storycluster reads format {FORMAT_VERSION}"
            )
        return manifest

    def to_json(self) -> str:
        """The manifest as pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def next(self, counts: dict[str, int]) -> Manifest:
        """The manifest of the following generation, with its file names and ``counts``."""
        generation = self.generation + 1
        stem = f"g{generation:06d}"
        files = {
            "database": f"{stem}.sqlite",
            "articles": f"{stem}.articles.faiss",
            "titles": f"{stem}.titles.faiss",
            "paragraphs": f"{stem}.paragraphs.faiss",
            "terms": f"{stem}.df.npy",
        }
        return replace(self, generation=generation, files=files, counts=counts, updated=utc_now())


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
