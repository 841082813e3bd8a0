"""Where storycluster keeps what it derives once and reuses: exported models, the language identifier."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def cache_dir(part: str) -> Path:
    """``$STORYCLUSTER_CACHE/<part>``, else ``$XDG_CACHE_HOME/storycluster/<part>`` (``~/.cache`` by default)."""
    base = os.environ.get("STORYCLUSTER_CACHE")
    if base:
        return Path(base) / part
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storycluster" / part


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the whole file or none: a temporary file beside it,
    then ``os.replace``. Raises ``OSError`` where it cannot be written, leaving no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
