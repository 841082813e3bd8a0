"""Indexing on Ray: read the inputs as a Ray Dataset, embed on an actor pool, build FAISS shards on workers.

Only the work that scales moves to Ray; the write path stays :meth:`StoryIndex.add` (keys, SQLite rows,
wire copies, stories, the atomic publish), given two hooks:

- ``encode``: texts go through ``Dataset.map_batches`` to a pool of ``workers`` actors, each of which loads
  the index's model once (:class:`storycluster.embedding.Embedder` with the index's backend), so the vectors
  are those of the local engine;
- ``fill``: when a vector set grows past the exact threshold, the driver trains the inverted file's coarse
  quantizer once, Ray tasks each add one shard of the vectors to a copy of the trained empty index, and the
  driver merges the shards (``IndexIVF.merge_from``) before building the key map.

JSON lines are read as text lines and parsed by :meth:`ArticleReader.read_records` (Arrow's JSON reader would
turn ids like ``"007"`` into numbers and fail on a broken line); CSV and Parquet through Arrow, with the
article fields read as strings. Ray is imported here only, so the other commands never load it.

Example::

    with RayEngine(workers=2) as engine, StoryIndex.open("indexes/news", create=True) as index:
        reader = ArticleReader()
        report = engine.add(index, engine.read(["feeds/"], reader))
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..embed.embedder import Embedder
from ..errors import InputError, MissingExtraError
from ..index.story_index import AddReport, Encoder, StoryIndex
from ..ingest.reader import CSV_SUFFIXES, JSONL_SUFFIXES, ArticleReader
from ..records import Article

PARQUET_SUFFIXES = {".parquet"}
SUFFIXES = JSONL_SUFFIXES | CSV_SUFFIXES | PARQUET_SUFFIXES
BATCH_SIZE = 256  # texts per map_batches call: long enough to amortise the call, short enough to balance
ARTICLES_PER_WORKER = 1000  # a commit gives each actor ~10,000 texts: its start and model load stay ~2% of it
MAX_COMMIT = 20_000  # articles: bounds what the driver holds in memory between commits (~350 MB of vectors)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError(
            f"--engine ray needs Ray Data: pip install 'storycluster[ray]' ({exc})"
        ) from None
    return ray


class RayEngine:
    """A Ray session for indexing (a context manager): joins ``address``, else starts a local Ray.

    A local Ray gets ``workers`` CPUs, no dashboard and no worker logs on the terminal; it is shut down on
    exit. Inside a Ray session that is already running (a notebook, a test) the engine uses it as it is.
    Either way it turns off Ray Data's progress bars and keeps its row order (process-wide settings).
    ``workers`` is the number of embedding actors and of FAISS shards.
    """

    def __init__(self, *, workers: int, address: str | None = None, batch_size: int = BATCH_SIZE) -> None:
        self.ray = _import_ray()
        self.workers = workers
        self.address = address
        self.batch_size = batch_size
        self._started = False

    def __enter__(self) -> RayEngine:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(
                address=self.address, num_cpus=None if self.address else self.workers, include_dashboard=False,
                log_to_driver=False, logging_level=logging.ERROR,
            )
            self._started = True
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # storycluster draws its own
        context.print_on_execution_start = False
        context.execution_options.preserve_order = True  # record numbers in problem reports follow the files
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False

    # -- reading -------------------------------------------------------------------------------------

    def read(self, paths: Sequence[str | Path], reader: ArticleReader) -> Iterator[Article]:
        """The articles of JSON-lines, CSV and Parquet files (or directories of them), checked by ``reader``.

        Bad records land in ``reader.problems`` as with :meth:`ArticleReader.read`; a path that does not
        exist or is of another format raises :class:`InputError` here, before anything is read. The files
        are read when the articles are iterated, inside the engine's Ray session.
        """
        by_kind: dict[str, list[str]] = {}
        for file in _input_files(paths):
            by_kind.setdefault(_kind(file), []).append(file)
        return (
            article for kind, group in by_kind.items() for article in reader.read_records(self._records(kind, group, reader))
        )

    def _records(self, kind: str, files: list[str], reader: ArticleReader) -> Iterator[tuple[str, Any]]:
        """``(location, record)`` for every row of ``files``: JSON-lines rows are their text lines."""
        data = self.ray.data
        if kind == "jsonl":
            dataset = data.read_text(files, include_paths=True, drop_empty_lines=False, file_extensions=None)
        elif kind in ("csv", "tsv"):
            dataset = data.read_csv(files, include_paths=True, file_extensions=None, **_csv_options(kind, reader))
        else:
            dataset = data.read_parquet(files, include_paths=True, file_extensions=None)
        numbers: dict[str, int] = {}
        try:
            for row in dataset.iter_rows():
                row = dict(row)
                path = row.pop("path")
                number = numbers[path] = numbers.get(path, 0) + 1
                if kind == "jsonl":
                    yield f"{path}:{number}", row["text"]
                else:
                    yield f"{path}[{number}]", {name: _plain(value) for name, value in row.items()}
        except self.ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            raise InputError(f"Ray could not read {', '.join(files)}: {str(cause).splitlines()[-1]}") from None

    # -- embedding and shards ------------------------------------------------------------------------

    def encoder(self, model: str, backend: str | None, dimension: int) -> Encoder:
        """An :data:`~storycluster.index.Encoder` running :class:`Embedder` ``(model, backend)`` on the actor pool."""

        def encode(texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
            vectors = np.zeros((len(texts), dimension), dtype=np.float32)
            if not len(texts):
                return vectors
            order = np.argsort([len(t) for t in texts], kind="stable")[::-1]  # similar lengths batch together
            items = [{"row": int(row), "text": texts[row]} for row in order]
            blocks = min(len(items), max(self.workers, -(-len(items) // self.batch_size)))  # work for every actor
            dataset = self.ray.data.from_items(items, override_num_blocks=blocks)
            embedded = dataset.map_batches(
                EmbedBatches, fn_constructor_kwargs={"model": model, "backend": backend}, concurrency=self.workers,
                num_cpus=1, batch_size=-(-len(items) // blocks), batch_format="numpy",
            )
            for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                vectors[batch["row"]] = batch["vector"]
                if progress is not None:
                    progress(len(batch["row"]))
            return vectors

        return encode

    def fill(self, index: faiss.IndexIVF, keys: np.ndarray, vectors: np.ndarray) -> None:
        """A :data:`~storycluster.vectors.Filler`: one Ray task a shard adds its vectors, the driver merges."""
        trained = self.ray.put(faiss.serialize_index(index))
        add_shard = self.ray.remote(num_cpus=1)(_add_shard)
        shards = [
            add_shard.remote(trained, shard_keys, shard_vectors)
            for shard_keys, shard_vectors in zip(np.array_split(keys, self.workers), np.array_split(vectors, self.workers))
            if len(shard_keys)
        ]
        for shard in self.ray.get(shards):
            index.merge_from(faiss.deserialize_index(shard), 0)

    def add(self, index: StoryIndex, articles: Iterable[Article], **options: Any) -> AddReport:
        """:meth:`StoryIndex.add` with embedding and inverted-file shards on Ray (``options`` passed on).

        Ray Data starts the actor pool afresh for each commit, so a commit holds ``ARTICLES_PER_WORKER``
        articles per worker (at most ``MAX_COMMIT``) unless ``commit_every`` is given: with 1,000 articles
        a commit, 48 workers would each get ~220 texts, a few seconds of work against their start.
        """
        embedder = index.embedder
        encode = self.encoder(embedder.model_name, embedder.requested_backend, index.info().dimension)
        options.setdefault("commit_every", self.commit_every)
        return index.add(articles, encode=encode, fill=self.fill, **options)

    @property
    def commit_every(self) -> int:
        """Articles per commit of a Ray run: enough work for every actor (see :meth:`add`)."""
        return min(MAX_COMMIT, ARTICLES_PER_WORKER * self.workers)


class EmbedBatches:
    """The ``map_batches`` actor: loads the model once, then embeds the ``text`` column of each batch."""

    def __init__(self, model: str, backend: str | None) -> None:
        self.embedder = Embedder(model, backend=backend)
        self.embedder.encode(["warm up"])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"row": batch["row"], "vector": self.embedder.encode(list(batch["text"]))}


def _add_shard(trained: np.ndarray, keys: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(A Ray task.) The serialised trained empty inverted file with one shard of vectors added."""
    index = faiss.deserialize_index(trained)
    index.add_with_ids(vectors, keys)
    return faiss.serialize_index(index)


def _input_files(paths: Sequence[str | Path]) -> list[str]:
    """The files to read: given files, and the supported files under given directories (hidden ones skipped).

    URIs (``s3://...``) pass through for Ray to read, so a cluster can read storage the driver cannot list.
    """
    files = []
    for path in map(str, paths):
        if "://" in path:
            files.append(path)
        elif path == "-":
            raise InputError("--engine ray reads files, not standard input")
        elif Path(path).is_dir():
            root = Path(path)
            found = sorted(
                str(p) for p in root.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
            if not found:
                raise InputError(f"{path}: no {'/'.join(sorted(SUFFIXES))} files in this directory")
            files.extend(found)
        elif Path(path).is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    for file in files:
        _kind(file)  # refuses other formats now
    return files


def _kind(file: str) -> str:
    suffix = Path(file).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "tsv" if suffix == ".tsv" else "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputError(f"{file}: --engine ray reads {', '.join(sorted(SUFFIXES))} files, not {suffix or 'this file'!r}")


def _csv_options(kind: str, reader: ArticleReader) -> dict[str, Any]:
    """Arrow CSV options: the article fields as strings (an id ``007`` stays ``007``), tabs for ``.tsv``."""
    from pyarrow import csv, string

    delimiter = "\t" if kind == "tsv" else ","
    columns = {getattr(reader.fields, f.name): string() for f in fields(reader.fields)}
    return {
        "parse_options": csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        "convert_options": csv.ConvertOptions(column_types=columns),
    }


def _plain(value: Any) -> Any:
    """A cell of an Arrow row as the plain JSON value the readers make: dates as ISO 8601, arrays as lists."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def default_workers() -> int:
    """How many embedding actors a local Ray gets by default: this machine's CPUs."""
    return os.cpu_count() or 1

