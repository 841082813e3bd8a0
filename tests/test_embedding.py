"""The embedding backends: torch and onnx-int8 on the real default model, the export cache, dedupe, errors.

The int8 export runs once per session into a temporary cache (``STORYCLUSTER_CACHE``); tests that damage or
edit a cache work on a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from storycluster.embed import onnx as onnx_backend
from storycluster.embed.embedder import Embedder, model_folder
from storycluster.errors import ModelLoadError, StoryclusterError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SEED_TEXT = (Path(__file__).resolve().parents[1] / "seeds" / "000_a9ac1080b439bae5.txt").read_text()
TEXTS = [p.strip() for p in SEED_TEXT.split("\n\n") if p.strip()][:24] + [
    "Rescue teams searched the rubble after the earthquake.",
    "Shares fell 4% in early trading.",
    "Kim",
]
COSINE_FLOOR = 0.98  # measured min 0.982-0.985, mean 0.993 on ecbplus paragraphs and neus_val headlines


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """A session-wide cache directory holding one export of the default model."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORYCLUSTER_CACHE", str(root))
        Embedder(backend="onnx-int8").encode(["warm up"])
    return root


@pytest.fixture
def cache_env(onnx_cache, monkeypatch) -> Path:
    """Point STORYCLUSTER_CACHE at the session cache; yields its one entry directory."""
    monkeypatch.setenv("STORYCLUSTER_CACHE", str(onnx_cache))
    (entry,) = [p for p in (onnx_cache / "onnx").iterdir() if p.name.startswith("all-MiniLM")]
    return entry


@pytest.fixture
def cache_copy(onnx_cache, tmp_path, monkeypatch) -> Path:
    """A private copy of the session cache (STORYCLUSTER_CACHE points at it); yields its entry directory."""
    shutil.copytree(onnx_cache, tmp_path / "cache")
    monkeypatch.setenv("STORYCLUSTER_CACHE", str(tmp_path / "cache"))
    (entry,) = [p for p in (tmp_path / "cache" / "onnx").iterdir() if p.name.startswith("all-MiniLM")]
    return entry


@pytest.fixture
def no_export(monkeypatch):
    """Fail the test if anything tries to export."""
    def refuse(*args, **kwargs):
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(onnx_backend, "_export", refuse)


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_vectors_are_float32_unit_rows(backend, cache_env):
    embedder = Embedder(backend=backend)
    vectors = embedder.encode([*TEXTS, ""])
    assert embedder.backend == backend
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS) + 1, embedder.dimension)
    assert embedder.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_backends_agree(cache_env):
    torch_vectors = Embedder(backend="torch").encode(TEXTS)
    int8_vectors = Embedder(backend="onnx-int8").encode(TEXTS)
    cosines = (torch_vectors * int8_vectors).sum(axis=1)
    assert cosines.min() >= COSINE_FLOOR, cosines.min()


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_identical_texts_embedded_once(backend, cache_env):
    done: list[int] = []
    wire = "Wire copy paragraph."
    texts = [wire, "Another paragraph here.", wire, wire]
    vectors = Embedder(backend=backend, batch_size=2).encode(texts, progress=done.append)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[0], vectors[3])
    assert not np.array_equal(vectors[0], vectors[1])
    assert sum(done) == len(texts)


def test_export_cache_is_reused(cache_env, no_export):
    before = (cache_env / "model.onnx").stat()
    onnx_backend._load_encoder.cache_clear()
    embedder = Embedder(backend="onnx-int8")
    assert embedder.backend == "onnx-int8"
    embedder.encode(["reused"])
    after = (cache_env / "model.onnx").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_entries_of_earlier_export_formats_are_removed(cache_copy, no_export):
    stem = cache_copy.name.removesuffix(f"-f{onnx_backend.FORMAT}")
    earlier, later = (cache_copy.parent / f"{stem}-f{n}" for n in (onnx_backend.FORMAT - 1, onnx_backend.FORMAT + 1))
    other_model = cache_copy.parent / f"another-model-0123456789abcdef-f{onnx_backend.FORMAT - 1}"
    for entry in (earlier, later, other_model):
        entry.mkdir()
        (entry / "model.onnx").write_bytes(b"old")
    onnx_backend._load_encoder.cache_clear()
    assert Embedder(backend="onnx-int8").backend == "onnx-int8"
    assert not earlier.exists() and later.exists() and other_model.exists() and cache_copy.exists()
    assert not [p for p in cache_copy.parent.iterdir() if p.name.startswith(".")]  # no trash left


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_damaged_cache_is_detected(cache_copy, damage):
    model = cache_copy / "model.onnx"
    if damage == "truncate":  # a crash mid-write
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "flip":  # same size, one byte changed
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    else:
        (cache_copy / "manifest.json").write_text("{")
    assert onnx_backend._read_valid_entry(cache_copy) is None
    assert not cache_copy.exists()


def test_damaged_cache_is_rebuilt(cache_copy):
    model = cache_copy / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    onnx_backend._load_encoder.cache_clear()
    embedder = Embedder(backend="onnx-int8")
    vectors = embedder.encode(TEXTS[:4])
    assert embedder.backend == "onnx-int8"
    assert model.stat().st_size > 1_000_000
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not [p for p in cache_copy.parent.iterdir() if p.name.startswith(".")]  # no temp or trash left


def test_failed_validation_refuses_onnx(cache_copy, no_export, monkeypatch):
    monkeypatch.delenv("STORYCLUSTER_BACKEND", raising=False)
    manifest = json.loads((cache_copy / "manifest.json").read_text())
    manifest["validation"]["min_cosine"] = 0.5
    (cache_copy / "manifest.json").write_text(json.dumps(manifest))
    onnx_backend._load_encoder.cache_clear()
    with pytest.raises(ModelLoadError, match="strays too far"):
        Embedder(backend="onnx-int8").encode(["refused"])
    assert Embedder().backend == "torch"  # the automatic choice falls back


def test_unsupported_model_falls_back_to_torch(tmp_path, cache_env, no_export):
    source = model_folder("all-MiniLM-L6-v2")
    folder = tmp_path / "cls-model"
    shutil.copytree(source, folder, ignore=lambda d, names: [n for n in names if n.endswith(".safetensors")])
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert "mean pooling" in onnx_backend.unsupported_reason(folder)
    assert onnx_backend.unsupported_reason(source) is None
    assert Embedder(str(folder), backend="onnx-int8").backend == "torch"


def test_unknown_backend_is_a_clear_error(monkeypatch):
    with pytest.raises(StoryclusterError, match="unknown embedding backend 'tensorrt'.*torch, onnx-int8"):
        Embedder(backend="tensorrt")
    monkeypatch.setenv("STORYCLUSTER_BACKEND", "gpu")
    with pytest.raises(StoryclusterError, match="'gpu'"):
        Embedder()
    monkeypatch.setenv("STORYCLUSTER_BACKEND", "torch")
    assert Embedder().backend == "torch"


def test_text_query_imports_neither_torch_nor_sklearn(cache_env, seed_index_dir):
    """A text query from the command line runs on onnxruntime and our own term hashing: a quick start."""
    code = (
        "import sys\n"
        "from storycluster.cli.main import main\n"
        f"main(['similar', 'Wagner air defence for Hezbollah', '--index', {str(seed_index_dir)!r}, '-k', '1'],"
        " standalone_mode=False)\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'sklearn')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "STORYCLUSTER_CACHE": str(cache_env.parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and '"id"' in result.stdout


def test_an_append_with_its_story_update_imports_no_sklearn(cache_env, seed_index_dir, tmp_path):
    """``storycluster index`` into an index keeps its stories current without scikit-learn (2.7 s to import):
    term and name counts are our own."""
    shutil.copytree(seed_index_dir, tmp_path / "index")
    articles = tmp_path / "more.jsonl"
    articles.write_text(json.dumps({"id": "later", "text": "Wagner sent air defence systems to Hezbollah."}) + "\n")
    code = (
        "import sys\n"
        "from storycluster.cli.main import main\n"
        f"main(['index', {str(articles)!r}, '--index', {str(tmp_path / 'index')!r}], standalone_mode=False)\n"
        f"main(['stories', '--index', {str(tmp_path / 'index')!r}], standalone_mode=False)\n"
        "assert 'sklearn' not in sys.modules\n"
    )
    env = {**os.environ, "STORYCLUSTER_CACHE": str(cache_env.parent.parent)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    indexed, story = result.stdout.splitlines()
    assert json.loads(indexed)["added"] == 1 and "later" in json.loads(story)["articles"]  # joined the seed's story


def test_the_first_and_last_feed_forward_outputs_are_the_outlier_layers():
    names = [f"/transformer/encoder/layer.{i}/{part}/MatMul" for i in range(6) for part in ("intermediate/dense", "output/dense")]
    assert onnx_backend._outlier_layers([*names, "Attention_0"]) == [
        "/transformer/encoder/layer.0/output/dense/MatMul", "/transformer/encoder/layer.5/output/dense/MatMul"
    ]
    assert onnx_backend._outlier_layers(["Attention_0", "MatMul_1"]) == []  # another architecture: all per tensor


def test_exported_model_is_all_int8_with_the_outlier_layers_per_row(cache_env):
    import onnx

    graph = onnx.load(str(cache_env / "model.onnx")).graph
    assert not [node.name for node in graph.node if node.op_type == "MatMul"]  # no float weights left
    assert sum(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for node in graph.node) >= 18
    per_row = sorted(node.name for node in graph.node if node.op_type == "QuantizeLinear")
    assert per_row == [
        "/transformer/encoder/layer.0/output/dense/MatMul/QuantizeLinear",
        "/transformer/encoder/layer.5/output/dense/MatMul/QuantizeLinear",
    ]


def test_rows_are_quantised_each_by_its_own_range():
    # a tiny graph through _quantize_rows: one row with an outlier must not coarsen the others
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(16, 8)).astype(np.float32)
    x = rng.normal(size=(1, 5, 16)).astype(np.float32)
    x[0, 2, 3] = 40.0  # an outlier token
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="layer.0/output/dense/MatMul")], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, None, 16])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, None, 8])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_backend._quantize_rows(model, ["layer.0/output/dense/MatMul"])
    assert [n.op_type for n in model.graph.node].count("MatMulInteger") == 1 and "w" not in {
        t.name for t in model.graph.initializer}
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (quantised,) = session.run(None, {"x": x})
    exact = x @ weight
    error = np.abs(quantised - exact).max(axis=-1)[0] / np.abs(exact).max(axis=-1)[0]
    assert error[2] < 0.05 and np.delete(error, 2).max() < 0.03  # per tensor, the others would share 40 / 127
    (alone,) = session.run(None, {"x": x[:, :2]})
    assert np.array_equal(alone, quantised[:, :2])  # a row's result does not depend on the other rows

    unknown = helper.make_model(helper.make_graph(  # a weight that is not a constant: left as it is
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="m")], "g",
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in ("x", "w")],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    ))
    onnx_backend._quantize_rows(unknown, ["m"])
    assert [n.op_type for n in unknown.graph.node] == ["MatMul"] and not unknown.graph.initializer


def test_the_residual_layer_norms_run_unfused(cache_env, tmp_path):
    # onnxruntime's SkipLayerNormalization kernel is slow on one short text: neither the export nor the
    # session's own optimisations may fuse Add + LayerNormalization into it (nor the GELU bias)
    import onnx

    onnx_backend._session(cache_env / "model.onnx", optimized_copy=tmp_path / "running.onnx")
    for path in (cache_env / "model.onnx", tmp_path / "running.onnx"):
        ops = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
        assert (ops["SkipLayerNormalization"], ops["BiasGelu"], ops["LayerNormalization"]) == (0, 0, 12), path
        assert ops["Attention"] + ops["QAttention"] == 6  # the attention is still fused, one a layer


def test_onnx_runs_as_many_texts_at_once_as_omp_num_threads_says(cache_env, monkeypatch):
    manifest = json.loads((cache_env / "manifest.json").read_text())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray sets for an actor with one CPU
    single = onnx_backend.OnnxEncoder(cache_env, manifest)
    monkeypatch.delenv("OMP_NUM_THREADS")
    default = onnx_backend.OnnxEncoder(cache_env, manifest)
    assert (single.threads, default.threads) == (1, len(os.sched_getaffinity(0)))
    assert single._session.get_session_options().intra_op_num_threads == 1  # one thread per text, always
    assert np.array_equal(single.encode(TEXTS), default.encode(TEXTS))


@pytest.mark.parametrize("backend", ["onnx-int8", "torch"])
def test_a_text_gets_the_same_vector_alone_or_in_any_batch(backend, cache_env):
    words = SEED_TEXT.split()
    texts = [" ".join(words[i:i + n]) for i, n in enumerate([1, 3, 7, 12, 20, 35, 60, 90, 140, 220] * 7)][:64]
    assert len(set(map(len, texts))) > 30  # mixed lengths: 1 word to more than the model's window
    embedder = Embedder(backend=backend)
    alone = np.stack([embedder.encode([text])[0] for text in texts])
    in_batches = [Embedder(backend=backend, batch_size=size).encode(texts) for size in (64, 5)]
    shuffled = embedder.encode([*TEXTS, *texts[::-1]])[len(TEXTS):][::-1]
    for vectors in (*in_batches, shuffled):
        assert np.abs(vectors - alone).max() <= 1e-5


def test_a_caller_that_stops_early_does_not_wait_for_the_rest_of_the_window(cache_env, monkeypatch):
    """The threads take a whole window of texts at once; when the caller stops after its first batch (an
    error, Ctrl-C), the texts not yet started are dropped rather than embedded."""
    manifest = json.loads((cache_env / "manifest.json").read_text())
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    encoder = onnx_backend.OnnxEncoder(cache_env, manifest)
    run, calls = encoder._run, []
    monkeypatch.setattr(encoder, "_run", lambda ids: calls.append(1) or run(ids))
    texts = [f"{SEED_TEXT[:200]} {i}" for i in range(1000)]
    batches = encoder.batches(texts, 8)
    rows, vectors = next(batches)
    assert vectors.shape == (8, encoder.dimension) and len(set(rows.tolist())) == 8
    batches.close()
    embedded = len(calls)
    assert embedded < 100  # the first batch, and the few texts the two threads had started
    time.sleep(0.2)
    assert len(calls) == embedded  # nothing runs after the caller has gone
