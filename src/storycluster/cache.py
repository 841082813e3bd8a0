"""Where storycluster keeps what it derives once and reuses: exported models, the language identifier."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(part: str) -> Path:
    """``$STORYCLUSTER_CACHE/<part>``, else ``$XDG_CACHE_HOME/storycluster/<part>`` (``~/.cache`` by default)."""
    base = os.environ.get("STORYCLUSTER_CACHE")
    if base:
        return Path(base) / part
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storycluster" / part
