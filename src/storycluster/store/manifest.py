"""``manifest.json``: what an index records about its model, format and the files of its current generation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import IndexCorruptError

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # format 1: one set of files per generation, the manifest switched by rename


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
    export_format: int = 0  # onnx-int8 export format it was built with (0: another backend, or not recorded)
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
        if manifest.format_version not in READABLE_FORMATS:
            raise IndexCorruptError(
                f"{where}: index format {manifest.format_version}, this storycluster reads formats "
                f"{', '.join(map(str, READABLE_FORMATS))}"
            )
        return manifest

    def to_json(self) -> str:
        """The manifest as pretty JSON (format 2: what never changes; the generation lives in the database)."""
        data = asdict(self)
        if self.format_version > 1:
            data = {name: value for name, value in data.items() if name not in _PER_GENERATION}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


_PER_GENERATION = ("generation", "counts", "sizes", "checksums", "updated")


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
