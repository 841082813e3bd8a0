"""Embedding: models by name, the torch and int8 ONNX backends, the multilingual model's numpy backend, and
article vectors from paragraphs.

Heavy dependencies (torch, sentence-transformers, onnxruntime) are imported only when a backend starts.
"""

from .embedder import BACKENDS, TORCH, Embedder
from .onnx import ONNX_INT8
from .registry import (
    DEFAULT_MODEL,
    ENGLISH,
    MULTILINGUAL,
    MULTILINGUAL_MODEL,
    canonical_model_name,
    default_model,
    is_multilingual,
    load_model,
    model_folder,
)
from .use import NUMPY

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "ENGLISH",
    "MULTILINGUAL",
    "MULTILINGUAL_MODEL",
    "NUMPY",
    "ONNX_INT8",
    "TORCH",
    "Embedder",
    "canonical_model_name",
    "default_model",
    "is_multilingual",
    "load_model",
    "model_folder",
]
