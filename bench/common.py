"""Shared helpers of the bench scripts: where the labelled data lives, loading it, building an index."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATA = ROOT.parent / "shared" / "bench"


def require_data(name: str) -> Path:
    """Path of a bench corpus; exits with a clear reason when ../shared/bench is absent."""
    path = BENCH_DATA / name
    if not path.is_file():
        sys.exit(f"bench data {path} not found (the bench needs ../shared/bench beside the repository)")
    return path


def load_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The records of a JSON-lines file."""
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return rows[:limit] if limit else rows


_SCRATCH: list[tempfile.TemporaryDirectory] = []


def temporary_index_dir() -> Path:
    """A fresh directory for a throw-away index, removed when the script ends."""
    _SCRATCH.append(tempfile.TemporaryDirectory(prefix="storycluster-bench-"))
    return Path(_SCRATCH[-1].name) / "index"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values``."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


class Timer:
    """Context manager measuring wall time in seconds."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
