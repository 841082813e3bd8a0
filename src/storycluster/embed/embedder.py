"""Paragraph embeddings: a sentence-transformers model on one of two backends, or the multilingual model.

- ``onnx-int8`` (:mod:`storycluster.embed.onnx`): the model exported to ONNX and quantised to int8 once,
  cached, then run by onnxruntime without importing torch. About 2-3x the speed of torch on CPU; vectors keep
  a cosine of ~0.993 (mean) to the torch ones (``bench/fast_path.py``). Each text runs alone, so its vector
  does not depend on the other texts of a call (nor on the commit size or the engine).
- ``torch``: the model run by sentence-transformers in float32.

The backend is chosen by ``Embedder(backend=...)``, else ``STORYCLUSTER_BACKEND``, else automatically:
``onnx-int8`` where onnxruntime is installed, the model is a transformer + mean pooling model, and its int8
export passed validation against torch (worst cosine >= 0.98 on fixed sentences); ``torch`` otherwise.

The multilingual model (``multilingual``, Universal Sentence Encoder multilingual v3) has one backend of its
own, ``numpy`` (:mod:`storycluster.embed.use`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import StoryclusterError
from .onnx import (
    ONNX_INT8,
    BackendUnavailable,
    OnnxEncoder,
    UnsupportedModel,
    load_encoder,
    max_seq_length,
)
from .registry import canonical_model_name, default_model, is_multilingual, load_model, model_folder
from .use import NUMPY, UseEncoder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

TORCH = "torch"
BACKENDS = (TORCH, ONNX_INT8)
_WORDS_PER_TOKEN = 0.6  # English news: about 1.6 word pieces a word, so 256 tokens hold ~150 words
# The multilingual model has no token window (it averages over every token); its paragraphs are cut at the
# same length as the default model's, so evidence paragraphs have the same grain whichever model is used.
_MULTILINGUAL_MAX_WORDS = 153

log = logging.getLogger(__name__)


class Embedder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model or the multilingual one.

    ``backend`` is ``"torch"`` or ``"onnx-int8"``; None takes ``STORYCLUSTER_BACKEND``, else picks
    ``onnx-int8`` where it is available and validated (see the module docs). A model the ONNX backend cannot
    export (other pooling, extra modules) runs on torch with a warning; asking for ``onnx-int8`` where
    onnxruntime is missing or the int8 model failed validation raises :class:`ModelLoadError`.

    Building an ``Embedder`` is free: the backend starts on first use (the first use of ``onnx-int8`` for a
    model exports it once, ~30 s, into the cache). The packaged default model and local paths load with the
    Hugging Face hub offline; other names go to the hub unless ``HF_HUB_OFFLINE=1`` is set.

    ``model="multilingual"`` runs on its own ``numpy`` backend whatever backend is asked for (a request for
    ``torch`` or ``onnx-int8`` is logged and ignored); asking for ``numpy`` with another model is an error.
    """

    def __init__(self, model: str | None = None, *, backend: str | None = None, batch_size: int = 32) -> None:
        self.model_name = canonical_model_name(model or default_model())
        self.batch_size = batch_size
        self.requested_backend = backend or os.environ.get("STORYCLUSTER_BACKEND") or None
        if self.requested_backend not in (None, *BACKENDS, NUMPY):
            raise StoryclusterError(
                f"unknown embedding backend {self.requested_backend!r}: choose one of {', '.join(BACKENDS)}"
            )
        if self.requested_backend == NUMPY and not is_multilingual(self.model_name):
            raise StoryclusterError(f"the numpy backend runs only the multilingual model, not {self.model_name}")
        self._model: SentenceTransformer | None = None
        self._encoder: OnnxEncoder | UseEncoder | None = None
        self._backend: str | None = None

    @property
    def backend(self) -> str:
        """The backend embedding the texts, ``"onnx-int8"``, ``"torch"`` or ``"numpy"`` (starts it if need be)."""
        if self._backend is None:
            self._backend = self._start_backend()
        return self._backend

    def _start_backend(self) -> str:
        if is_multilingual(self.model_name):
            if self.requested_backend not in (None, NUMPY):
                log.warning("the multilingual model runs on its own numpy backend, not %s", self.requested_backend)
            self._encoder = UseEncoder()
            return NUMPY
        if self.requested_backend == TORCH:
            return TORCH
        try:
            folder = model_folder(self.model_name)
            if folder is None:  # a hub model not downloaded yet: loading it fetches it
                self._model = load_model(self.model_name)
                folder = model_folder(self.model_name)
            if folder is None:
                raise UnsupportedModel(f"the files of {self.model_name} are not on disk")
            self._encoder = load_encoder(folder, self.model_name)
            return ONNX_INT8
        except UnsupportedModel as exc:
            (log.warning if self.requested_backend else log.info)("%s; using torch", exc)
        except BackendUnavailable as exc:
            if self.requested_backend == ONNX_INT8:
                raise
            log.info("%s; using torch", exc)
        return TORCH

    @property
    def export_format(self) -> int:
        """The onnx-int8 export format (:data:`storycluster.embed.onnx.FORMAT`) on that backend, else 0."""
        return int(self._encoder.manifest["format"]) if self.backend == ONNX_INT8 else 0

    @property
    def model(self) -> SentenceTransformer:
        """The torch sentence-transformers model (loaded once per process and model name)."""
        if self._model is None:
            self._model = load_model(self.model_name)
        return self._model

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        if self.backend != TORCH:
            return self._encoder.dimension
        return int(self.model.get_embedding_dimension())

    @functools.cached_property
    def max_words(self) -> int:
        """About how many words fit the model's window; longer paragraphs are split before embedding.

        Read from the model folder's ``sentence_bert_config.json`` where it says, so no backend starts.
        """
        if is_multilingual(self.model_name):
            return _MULTILINGUAL_MAX_WORDS
        folder = model_folder(self.model_name)
        tokens = folder and max_seq_length(folder)
        if not tokens:
            tokens = self._encoder.max_seq_length if self.backend == ONNX_INT8 else self.model.max_seq_length
        return max(16, int(tokens * _WORDS_PER_TOKEN))

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array of unit vectors.

        Identical texts are embedded once (their rows are equal); the rest go in batches of ``batch_size``,
        longest first (torch pads a batch to its longest text; onnx-int8 runs each text alone). ``progress``
        is called after each batch with the number of input texts it covered.
        """
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        first: dict[str, int] = {}
        rows = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
        copies = np.bincount(rows)
        distinct = list(first)
        vectors = np.empty((len(distinct), self.dimension), dtype=np.float32)
        for batch, batch_vectors in self._batches(distinct):
            vectors[batch] = batch_vectors
            if progress is not None:
                progress(int(copies[batch].sum()))
        return vectors[rows]

    def _batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(rows, vectors)`` for batches of ``texts`` (longest first where the backend pads)."""
        if self.backend != TORCH:
            yield from self._encoder.batches(texts, self.batch_size)
            return
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        for start in range(0, len(texts), self.batch_size):
            batch = order[start:start + self.batch_size]
            yield batch, self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
