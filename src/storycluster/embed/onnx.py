"""The ``onnx-int8`` backend: a sentence-transformers model exported to ONNX, quantised to int8, onnxruntime.

The export runs once per model and weights, offline, from the model folder on disk; the result is cached under
``$STORYCLUSTER_CACHE/onnx`` (default ``~/.cache/storycluster/onnx``) in a directory named after the model and
a hash of its weights. Serving a cached model imports only onnxruntime, tokenizers and numpy: no torch.

The recipe (measured in ``bench/fast_path.py``): ``torch.onnx.export`` of the transformer with eager
attention, mean pooling and normalisation inside the graph; onnxruntime's BERT fusions (attention, GELU,
layer norms); ``quantize_dynamic`` with per-channel int8 weights on the MatMul and Attention nodes, except the feed-forward
down-projections of the first and last layers: their inputs carry one outlier token a text, so they are
quantised per row (token) instead of per tensor. The word-embedding table stays float32: quantising it too
loses quality (worst paragraph cosine 0.978 against 0.985) for no speed.

Serving runs each text alone, one onnxruntime thread per text and as many texts at once as there are CPUs:
dynamic quantisation then scales each text by its own range, so a text's vector is the same bit for bit in any
batch, commit size or engine, and no time goes into padding. (Batches of 32 padded texts on two threads were
slower, and gave the same text vectors up to 0.03 apart depending on its batch neighbours.)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cache import cache_dir, write_atomically
from ..errors import ModelLoadError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ONNX_INT8 = "onnx-int8"
FORMAT = 5  # bump when the export recipe or its serving changes: old cache entries are then ignored
# (3: each text runs alone, so vectors no longer depend on the batch; validated that way. 4: the residual
# layer norms and GELU biases run unfused. 5: the outlier layers are int8 per row, no longer float32)

# Fusions of onnxruntime's BERT optimizer left out of the export, and kept out when a session loads it: the
# CPU kernel of SkipLayerNormalization takes ~75 us on one short text (26 x 384) where Add + LayerNormalization
# take ~18 us, and texts run one at a time. Without them (BiasGelu too) int8 embeds 29-35% more texts a
# second, as close to torch (ecbplus paragraphs, 2026-11-30; README, "Unfused layer norms").
_UNFUSED = {"enable_skip_layer_norm": "SkipLayerNormFusion", "enable_bias_skip_layer_norm": "SkipLayerNormFusion",
            "enable_bias_gelu": "BiasGeluFusion"}

MIN_COSINE = 0.98  # every validation sentence must keep at least this cosine to the torch vector
TOKENIZE_WINDOW = 2048  # texts tokenised at a time (bounds memory on large calls)
VALIDATION_TEXTS = (
    "Rescue teams searched the rubble on Tuesday after a magnitude 6.3 earthquake struck central Italy.",
    "Apple unveiled a new iPhone at its annual event in Cupertino.",
    "Shares fell 4% in early trading.",
    (
        "The court sentenced him to 12 years in prison for fraud, his lawyer told reporters outside the "
        "building, adding that they would appeal the verdict before the end of the month."
    ),
    "Kim",
    "Perennial party girl Tara Reid checked herself into Promises Treatment Center, her rep told People.",
    " ".join(["The central bank kept rates unchanged, citing persistent inflation and weak growth."] * 30),
    "Der Bundestag hat am Donnerstag das neue Gesetz verabschiedet.",
)
_MODULE_TYPES = ("Transformer", "Pooling", "Normalize")
_MODEL_FILE_SUFFIXES = {".safetensors", ".bin", ".json", ".txt", ".model"}
_FFN_OUTPUT = re.compile(r"layer\.(\d+)/output/dense/MatMul$")  # a layer's feed-forward down-projection

log = logging.getLogger(__name__)


class BackendUnavailable(ModelLoadError):
    """The ONNX backend cannot serve this model here (packages missing, or the int8 model lost quality)."""


class UnsupportedModel(BackendUnavailable):
    """The model is not a transformer + mean pooling (+ normalise) sentence-transformers model."""


def cache_root() -> Path:
    """Where exported models live: ``$STORYCLUSTER_CACHE/onnx``, else ``~/.cache/storycluster/onnx``."""
    return cache_dir("onnx")


def unsupported_reason(folder: Path) -> str | None:
    """Why the sentence-transformers model in ``folder`` cannot be exported, or None if it can."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return "it has no readable modules.json"
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (list(_MODULE_TYPES[:2]), list(_MODULE_TYPES)):
        return f"its modules are {kinds}, not Transformer + Pooling (+ Normalize)"
    pooling = _read_json(folder / modules[1].get("path", "") / "config.json")
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode_") and on is True}
    if pooling.get("pooling_mode", "mean") != "mean" or not modes <= {"pooling_mode_mean_tokens"}:
        return "its pooling is not mean pooling"
    if _read_json(folder / "config_sentence_transformers.json").get("default_prompt_name"):
        return "it adds a default prompt"
    return None


def max_seq_length(folder: Path) -> int | None:
    """The token window in the model folder's ``sentence_bert_config.json`` (None when it does not say)."""
    value = _read_json(folder / "sentence_bert_config.json").get("max_seq_length")
    return int(value) if value else None


class OnnxEncoder:
    """An exported int8 model with its tokenizer: turns texts into unit vectors without torch.

    Each text runs alone, at its own token count: int8 dynamic quantisation scales activations by the range of
    the tensor it is given, so a text batched with others (or padded) would get a vector that depends on its
    neighbours. Alone, a text's vector depends on nothing else: the same in any call, commit size or engine.
    ``threads`` texts run at once, one onnxruntime thread each: ``OMP_NUM_THREADS`` where set (e.g. a Ray
    actor's CPU share, which torch honours too), else the CPUs this process may use.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.directory = directory
        self.manifest = manifest
        self.dimension = int(manifest["dimension"])
        self.max_seq_length = int(manifest["max_seq_length"])
        self.threads = _thread_count()
        self._lowercase = bool(manifest["lowercase"])
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_seq_length)
        self._tokenizer.no_padding()
        self._session = _session(directory / "model.onnx")

    def batches(self, texts: Sequence[str], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(rows, vectors)``: the positions in ``texts`` of each ``batch_size`` texts, their vectors.

        Texts are tokenised a window at a time and run longest first (so the threads finish together). A
        window's texts all go to the threads at once, so no thread waits for a batch's slowest text (3% more
        texts a second than a batch at a time). Tokenising the next window meanwhile was slower: the
        tokeniser's own threads then compete with the model's.
        """
        by_length = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        workers = min(self.threads, len(texts))
        with ThreadPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
            run = pool.map if pool else map
            for start in range(0, len(texts), TOKENIZE_WINDOW):
                window = by_length[start:start + TOKENIZE_WINDOW]
                yield from _in_batches(window, run(self._run, self._tokenize([texts[i] for i in window])), batch_size)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        """The token ids of each text, truncated to the model's length."""
        return [e.ids for e in self._tokenizer.encode_batch([t.lower() for t in texts] if self._lowercase else texts)]

    def _run(self, ids: list[int]) -> np.ndarray:
        """The unit vector of one tokenised text."""
        input_ids = np.array([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        (vectors,) = self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        return vectors[0].astype(np.float32, copy=False)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array of unit vectors."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows, batch in self.batches(texts, batch_size):
            vectors[rows] = batch
        return vectors


def _in_batches(
    rows: np.ndarray, vectors: Iterator[np.ndarray], batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``rows`` and the ``vectors`` computed for them, ``batch_size`` at a time, as each batch is ready."""
    for first in range(0, len(rows), batch_size):
        group = rows[first:first + batch_size]
        yield group, np.stack([next(vectors) for _ in group])


def _session(model: Path, optimized_copy: Path | None = None) -> Any:
    """An onnxruntime session of ``model`` on one thread, with the ``_UNFUSED`` fusions kept off.

    ``optimized_copy``: where onnxruntime saves the graph it runs (to look at it).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    if optimized_copy is not None:
        options.optimized_model_filepath = str(optimized_copy)
    return onnxruntime.InferenceSession(
        str(model), options, providers=["CPUExecutionProvider"], disabled_optimizers=sorted(set(_UNFUSED.values()))
    )


def _thread_count() -> int:
    """Texts embedded at once: ``OMP_NUM_THREADS`` where set, else the CPUs this process may run on."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        return int(threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_encoder(folder: Path, model_name: str) -> OnnxEncoder:
    """The int8 encoder of the model in ``folder``: from the cache, else exported now (once per process).

    The torch model (``model_name``) is only loaded when the cache entry has to be built. Raises
    :class:`UnsupportedModel` for models of another shape and :class:`BackendUnavailable` when onnxruntime
    is missing or the int8 model failed validation against torch.
    """
    return _load_encoder(folder, model_name, cache_root())


@functools.lru_cache(maxsize=4)
def _load_encoder(folder: Path, model_name: str, root: Path) -> OnnxEncoder:
    reason = unsupported_reason(folder)
    if reason:
        raise UnsupportedModel(f"the model in {folder} cannot run on {ONNX_INT8}: {reason}")
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            f"{ONNX_INT8} needs onnxruntime and onnx (pip install onnx onnxruntime)"
        ) from None
    target = root / _entry_name(model_name, folder, root)
    manifest = _read_valid_entry(target)
    if manifest is None:
        manifest = _export(model_name, folder, target)
    _remove_earlier_formats(target)
    if manifest["validation"]["min_cosine"] < MIN_COSINE:
        raise BackendUnavailable(
            f"the int8 model of {model_name} strays too far from torch (worst cosine "
            f"{manifest['validation']['min_cosine']:.4f} < {MIN_COSINE}); use the torch backend"
        )
    return OnnxEncoder(target, manifest)


def _entry_name(model_name: str, folder: Path, root: Path) -> str:
    """``<model name>-<hash of its weights and configs>-f<format>``."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model_name).name)
    return f"{slug}-{_weights_digest(folder, root)[:16]}-f{FORMAT}"


def _weights_digest(folder: Path, root: Path) -> str:
    """SHA-256 over the model's weights and configuration files.

    Hashing ~90 MB takes ~0.1 s, so the digest is remembered under ``root/digests`` keyed by the
    files' paths, sizes and modification times; a changed file changes the key and is hashed again.
    """
    files = sorted(
        p for p in [*folder.iterdir(), *folder.glob("*_Pooling/*")]
        if p.is_file() and p.suffix in _MODEL_FILE_SUFFIXES
    )
    stats = "\n".join(f"{p.resolve()}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}" for p in files)
    memo = root / "digests" / hashlib.sha256(stats.encode()).hexdigest()
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{_file_sha256(path)}\n".encode())
    write_atomically(memo, digest.hexdigest().encode())
    return digest.hexdigest()


def _remove_earlier_formats(target: Path) -> None:
    """Delete the cache entries of earlier export formats of the same model and weights: nothing reads them
    again (each ~60 MB). Later formats, written by a newer storycluster sharing the cache, are left alone."""
    stem = target.name.removesuffix(f"-f{FORMAT}")
    for entry in target.parent.glob(f"{stem}-f*"):
        number = entry.name.removeprefix(f"{stem}-f")
        if number.isdigit() and int(number) < FORMAT:
            log.info("removing %s, an earlier export format", entry)
            _remove(entry)


def _read_valid_entry(target: Path) -> dict[str, Any] | None:
    """The manifest of a complete, intact cache entry; a damaged entry is removed (and None returned)."""
    if not target.exists():
        return None
    try:
        manifest = json.loads((target / "manifest.json").read_text())
        files = manifest["files"].items()
        damaged = [name for name, digest in files if _file_sha256(target / name) != digest]
    except (OSError, ValueError, KeyError, TypeError):
        damaged = ["manifest.json"]
    if not damaged:
        return manifest
    log.warning("ONNX cache entry %s is damaged (%s); rebuilding it", target, ", ".join(damaged))
    _remove(target)
    return None


def _export(model_name: str, folder: Path, target: Path) -> dict[str, Any]:
    """Export, quantise and validate the model into the cache entry ``target`` (published by one rename)."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
    except ImportError:
        raise BackendUnavailable(f"{ONNX_INT8} export needs the onnx package (pip install onnx)") from None
    from .registry import load_model

    model = load_model(model_name)
    log.warning("exporting %s to int8 ONNX, once (cached in %s)", model_name, target.parent)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with _quiet():
            _export_graph(model, work / "fp32.onnx")
            _fuse_and_quantize(model, work / "fp32.onnx", work / "model.onnx")
        for scratch in work.glob("*.onnx*"):
            if scratch.name != "model.onnx":
                scratch.unlink()
        model.tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
        manifest = {
            "format": FORMAT,
            "model": model_name,
            "source": str(folder),
            "dimension": int(model.get_embedding_dimension()),
            "max_seq_length": int(model.max_seq_length),
            "lowercase": bool(getattr(model[0], "do_lower_case", False)),
            "files": {name: _file_sha256(work / name) for name in ("model.onnx", "tokenizer.json")},
        }
        manifest["validation"] = _validate(OnnxEncoder(work, manifest), model)
        manifest["export_seconds"] = round(time.perf_counter() - started, 1)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        try:
            work.rename(target)
        except OSError:  # another process published the same entry first: use theirs
            _remove(work)
            return json.loads((target / "manifest.json").read_text())
    except BaseException:
        _remove(work)
        raise
    log.warning(
        "exported %s in %.0f s (worst cosine to torch %.4f)",
        model_name, manifest["export_seconds"], manifest["validation"]["min_cosine"],
    )
    return manifest


def _export_graph(model: SentenceTransformer, path: Path) -> None:
    """Trace transformer + mean pooling + normalisation into one ONNX graph (eager attention fuses best)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    transformer = model[0].auto_model
    attention = transformer.config._attn_implementation
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    transformer.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            torch.onnx.export(
                Pooled(transformer).eval(), (ids, (ids != 0).long()), str(path),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17, dynamo=False,
            )
    finally:
        transformer.set_attn_implementation(attention)


def _fuse_and_quantize(model: SentenceTransformer, source: Path, path: Path) -> None:
    """Fuse attention, GELU and the embedding layer norm, then quantise MatMul and Attention weights to int8
    per channel. The residual layer norms and GELU biases stay unfused (see ``_UNFUSED``).

    The feed-forward down-projections of the first and last layers are quantised per row (see
    :func:`_outlier_layers`, :func:`_quantize_rows`).
    """
    import onnx
    from onnxruntime.quantization import quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model[0].auto_model.config
    fused = source.with_name("fused.onnx")
    fusions = FusionOptions("bert")
    for option in _UNFUSED:
        setattr(fusions, option, False)
    optimize_model(
        str(source), model_type="bert", num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
        hidden_size=int(getattr(config, "hidden_size", 0) or 0), optimization_options=fusions,
    ).save_model_to_file(str(fused))
    outliers = _outlier_layers([node.name for node in onnx.load(str(fused)).graph.node])
    quantize_dynamic(
        fused, path, per_channel=True, op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=outliers,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    graph = onnx.load(str(path))
    _quantize_rows(graph, outliers)
    onnx.save(graph, str(path))


def _outlier_layers(node_names: Sequence[str]) -> list[str]:
    """The feed-forward down-projections of the first and last transformer layers.

    Their inputs carry the largest activation outliers: in all-MiniLM-L6-v2's first layer one token a text
    reaches 24.6 where a token's largest value is typically 3.4 (100 ecbplus paragraphs). One scale for the
    whole text, as ``quantize_dynamic`` uses, rounds every other token coarsely; a scale per token does not.
    """
    layers = {name: int(match.group(1)) for name in node_names if (match := _FFN_OUTPUT.search(name))}
    if not layers:
        return []
    ends = {min(layers.values()), max(layers.values())}
    return [name for name, layer in layers.items() if layer in ends]


def _quantize_rows(model: Any, names: Sequence[str]) -> None:
    """Replace the float MatMuls ``names`` of ``model`` (an ``onnx.ModelProto``) by int8 ones that scale
    each row (token) of their input by its own largest absolute value, weights int8 per column.

    Every row is rounded on its own. The scales run along axis 1, the tokens of one text: the graph takes
    one text a run, as :class:`OnnxEncoder` runs it. onnxruntime's fast int8 kernel wants unsigned inputs
    (its signed one ran 80 times slower here), so rows are stored as ``round(x / scale) + 128``.
    A float32 MatMul of a short text's 45 x 1536 rows takes ~550 us here, this ~150 us.
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    replaced = {  # a MatMul without a constant 2-D weight stays as it is
        node.name: weights[node.input[1]] for node in graph.node
        if node.op_type == "MatMul" and node.name in names and node.input[1] in weights
        and len(weights[node.input[1]].dims) == 2
    }
    if not replaced:
        return
    graph.initializer.extend([
        numpy_helper.from_array(np.array(127.0, np.float32), "rows/127"),
        numpy_helper.from_array(np.array(1e-12, np.float32), "rows/tiny"),
        numpy_helper.from_array(np.array(128, np.uint8), "rows/128"),
        numpy_helper.from_array(np.array([-1], np.int64), "rows/flat"),
    ])
    nodes = []
    for node in graph.node:
        if node.name not in replaced:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(replaced[node.name]).astype(np.float32)
        column_scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / 127
        p = node.name  # every new name starts with the replaced node's
        graph.initializer.extend([
            numpy_helper.from_array(np.round(weight / column_scale).astype(np.int8), f"{p}/weight_int8"),
            numpy_helper.from_array(column_scale.astype(np.float32), f"{p}/weight_scale"),
        ])
        graph.initializer.remove(replaced[node.name])
        x, y = node.input[0], node.output[0]
        nodes += [
            helper.make_node("Abs", [x], [f"{p}/abs"], name=f"{p}/Abs"),
            helper.make_node("ReduceMax", [f"{p}/abs"], [f"{p}/max"], name=f"{p}/ReduceMax", axes=[-1],
                             keepdims=1),
            helper.make_node("Max", [f"{p}/max", "rows/tiny"], [f"{p}/range"], name=f"{p}/Max"),
            helper.make_node("Div", [f"{p}/range", "rows/127"], [f"{p}/scale"], name=f"{p}/Div"),
            helper.make_node("Reshape", [f"{p}/scale", "rows/flat"], [f"{p}/scales"], name=f"{p}/Reshape"),
            helper.make_node("Shape", [f"{p}/scales"], [f"{p}/rows"], name=f"{p}/Shape"),
            helper.make_node("Expand", ["rows/128", f"{p}/rows"], [f"{p}/zero"], name=f"{p}/Expand"),
            helper.make_node("QuantizeLinear", [x, f"{p}/scales", f"{p}/zero"], [f"{p}/x_uint8"],
                             name=f"{p}/QuantizeLinear", axis=1),
            helper.make_node("MatMulInteger", [f"{p}/x_uint8", f"{p}/weight_int8", "rows/128"], [f"{p}/int32"],
                             name=f"{p}/MatMulInteger"),
            helper.make_node("Cast", [f"{p}/int32"], [f"{p}/float"], name=f"{p}/Cast", to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], [f"{p}/row_scaled"], name=f"{p}/MulRows"),
            helper.make_node("Mul", [f"{p}/row_scaled", f"{p}/weight_scale"], [y], name=f"{p}/MulColumns"),
        ]
    del graph.node[:]
    graph.node.extend(nodes)


def _validate(encoder: OnnxEncoder, model: SentenceTransformer) -> dict[str, float]:
    """Cosines between int8 and torch vectors of :data:`VALIDATION_TEXTS`."""
    reference = model.encode(list(VALIDATION_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    cosines = (encoder.encode(VALIDATION_TEXTS) * reference).sum(axis=1)
    return {"min_cosine": round(float(cosines.min()), 5), "mean_cosine": round(float(cosines.mean()), 5)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the tracer warnings of the export and the INFO/WARNING chatter of onnxruntime's tools."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _remove(path: Path) -> None:
    """Delete a cache directory: renamed aside first, so no reader ever sees it half deleted."""
    aside = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        path.rename(aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)
