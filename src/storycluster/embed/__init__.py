"""Embedding: models by name, the torch and int8 ONNX backends, and article vectors from paragraphs.

Heavy dependencies (torch, sentence-transformers, onnxruntime) are imported only when a backend starts.
"""

from .embedder import BACKENDS, TORCH, Embedder
from .onnx import ONNX_INT8
from .registry import DEFAULT_MODEL, canonical_model_name, default_model, load_model, model_folder

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "ONNX_INT8",
    "TORCH",
    "Embedder",
    "canonical_model_name",
    "default_model",
    "load_model",
    "model_folder",
]
