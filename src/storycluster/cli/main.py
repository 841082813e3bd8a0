"""The ``storycluster`` command line: a thin layer over :class:`storycluster.StoryIndex`.

Data goes to stdout (JSON lines, or a table with ``--format table``); progress and logs go to stderr.
Exit codes: 0 success, 1 other user error, 2 bad usage, 3 unreadable input, 4 no index, 5 damaged
index, 6 model mismatch, 7 index locked by another writer, 8 model cannot load, 9 disk or I/O error,
10 index database unreachable.

``--index`` takes a directory or a ``postgresql://user@host:port/db`` URL (the ``[postgres]`` extra).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice
from pathlib import Path
from typing import Any

import click

from ..engines import ENGINES
from ..errors import IndexNotFoundError, InputError, StoryclusterError
from ..ingest.reader import DEFAULT_MAX_CHARS, FORMATS, ArticleReader, FieldMap
from ..records import Article, StoryCoverage
from .output import print_records

DEFAULT_INDEX = "indexes/default"

log = logging.getLogger("storycluster")

class _Group(click.Group):
    """Turns library errors into a one-line message on stderr and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoryclusterError as exc:
            click.echo(f"storycluster: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyError as exc:
            click.echo(f"storycluster: error: no article with id {exc.args[0]!r} in the index", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("storycluster: interrupted; the index keeps its last committed state", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(0)
        except OSError as exc:  # disk full, I/O error, permissions: the published generation is untouched
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(
                f"storycluster: error: {exc.strerror or exc}{where}; the index keeps its last committed state",
                err=True,
            )
            ctx.exit(9)

def index_option(function: Callable) -> Callable:
    return click.option(
        "--index", "-i", "index_dir", envvar="STORYCLUSTER_INDEX", default=DEFAULT_INDEX, show_default=True,
        type=click.Path(file_okay=False),
        help="Index directory or postgresql://user@host:port/db URL (env STORYCLUSTER_INDEX).",
    )(function)

def model_option(function: Callable) -> Callable:
    return click.option(
        "--model", "-m", envvar="STORYCLUSTER_MODEL", default=None,
        help="'english' (all-MiniLM-L6-v2), 'multilingual' (USE multilingual v3, 16 languages in one space) "
        "or a sentence-transformers model name or path (env STORYCLUSTER_MODEL); default: the index's own "
        "model; for a new index, by the language of its first articles.",
    )(function)

def backend_option(function: Callable) -> Callable:
    return click.option(
        "--backend", type=click.Choice(["torch", "onnx-int8"]), envvar="STORYCLUSTER_BACKEND", default=None,
        help="Embedding backend (env STORYCLUSTER_BACKEND); default: onnx-int8 where it is available.",
    )(function)


def format_option(function: Callable) -> Callable:
    return click.option(
        "--format", "-f", "output_format", type=click.Choice(["jsonl", "table"]), default="jsonl",
        show_default=True, help="JSON lines for programs, a table for people.",
    )(function)

_READER_OPTIONS = (
    click.option("--strict", is_flag=True, help="Stop at the first unreadable record instead of skipping it."),
    click.option("--input-format", type=click.Choice(FORMATS), help="Read every input as this format (default: by suffix; stdin is sniffed)."),
    click.option("--encoding", help="Text encoding of the inputs when not UTF-8 (e.g. latin-1)."),
    click.option("--max-chars", type=int, default=DEFAULT_MAX_CHARS, show_default=True, help="Skip articles longer than this."),
    *(
        click.option(f"--{name}-field", default=name, show_default=True, help=f"Input field holding the {name}.")
        for name in ("id", "title", "text", "source", "url", "published", "lang")
    ),
)


def reader_options(function: Callable) -> Callable:
    """The options of :class:`ArticleReader`, handed to the command as one ``reader`` argument."""

    @functools.wraps(function)
    def with_reader(*args: Any, strict: bool, input_format: str | None, encoding: str | None, max_chars: int, **kwargs: Any) -> Any:
        fields = FieldMap(**{name: kwargs.pop(f"{name}_field") for name in FieldMap.__dataclass_fields__})
        reader = ArticleReader(fields, strict=strict, encoding=encoding, input_format=input_format, max_chars=max_chars)
        return function(*args, reader=reader, **kwargs)

    for option in reversed(_READER_OPTIONS):
        with_reader = option(with_reader)
    return with_reader


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", count=True, help="More logging on stderr (-vv for debug).")
@click.version_option(package_name="storycluster")
def main(verbose: int) -> None:
    """Find the same news story told by many outlets.

    \b
    Examples:
      storycluster index seeds/
      storycluster similar "Wagner group weapons for Hezbollah" -k 3 --format table
      storycluster similar --id 000_a9ac1080b439bae5 --level paragraph
      storycluster stories --min-size 2 --format table
      storycluster eval ../shared/bench/neus_val.jsonl
      storycluster follow feeds.txt --every 10m --fetch-pages
      storycluster info
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="storycluster: %(message)s", stream=sys.stderr,
    )

@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@index_option
@model_option
@backend_option
@reader_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="local", show_default=True, help="Embed in this process, or on a Ray cluster (needs the [ray] extra; JSON lines, CSV, Parquet).")
@click.option("--address", help="With --engine ray: join the Ray cluster at this address (default: start a local Ray).")
@click.option("--workers", type=click.IntRange(min=1), help="With --engine ray: embedding actors and FAISS shards (default: this machine's CPUs).")
@format_option
def index(
    paths: Sequence[str], index_dir: str, model: str | None, backend: str | None, reader: ArticleReader,
    quiet: bool, engine_name: str, address: str | None, workers: int | None, output_format: str,
) -> None:
    """Add articles from files, directories or stdin ("-") to an index.

    Reads .txt/.md files (one article each; a first line standing alone is the title), JSON lines and
    CSV with the fields id, title, text, source, url, published, lang; web pages (.html: the article without
    its boilerplate), RSS/Atom feeds (.xml/.rss/.atom: one article per entry), WARC archives
    (.warc/.warc.gz: one per HTML response) and http(s) addresses of a page or feed. Without a known
    suffix the format is told from the content. Only new or changed articles are
    embedded, so running the same command again adds nothing. Unreadable records are reported on stderr
    with their file and line and skipped (exit code 3), unless --strict stops at the first one.

    Each article's language is its lang field (an ISO 639-1 code such as pt), else identified from its
    text. A new index without --model takes the multilingual model when at least a fifth of its first 200
    articles are not in English (and says so on stderr, with how to choose the English one), else the
    English one.

    --engine ray reads JSON lines, CSV and Parquet files as a Ray Dataset and embeds them on a pool of
    --workers actors (each loads the model once); the index is the same as with the local engine.

    \b
    Examples:
      storycluster index seeds/
      storycluster index articles.jsonl --index indexes/news
      storycluster index mundo.jsonl --index indexes/world --model multilingual
      cat feed.jsonl | storycluster index - --text-field body --published-field date
      storycluster index page.html feed.xml crawl.warc.gz https://example.org/rss.xml
      storycluster index feeds/ --engine ray --workers 4
      storycluster index s3://bucket/feeds/ --engine ray --address ray://head:10001 --workers 32
    """
    from tqdm import tqdm

    from ..engines import open_engine
    from ..index import StoryIndex
    from ..index.models import SAMPLE, choose_model

    if engine_name == "ray" and (reader.encoding or reader.input_format):
        raise click.UsageError("--engine ray reads UTF-8 files by suffix: drop --encoding and --input-format")
    try:  # before opening the index: a missing extra fails first
        engine = open_engine(engine_name, workers=workers, address=address)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (--address and --workers go with --engine ray)") from None
    articles = _reported(engine.read(paths, reader), reader)  # checks the paths; reads when iterated
    # Inside the engine's session, whatever a library prints goes to stderr: Ray prints its workers'
    # failures on stdout, which carries only the summary.
    with engine, contextlib.redirect_stdout(sys.stderr):
        if model is None and not _exists(index_dir):
            sample, articles = _peek(articles, SAMPLE)
            model, note = choose_model(sample)
            if note:
                click.echo(f"storycluster: {note}", err=True)
        with (
            StoryIndex.open(index_dir, model=model, backend=backend, create=True) as story_index,
            tqdm(desc="embedding", unit=" paragraphs", disable=True if quiet else None, file=sys.stderr) as bar,
        ):
            report = engine.add(story_index, articles, progress=bar.update)
    summary = {
        "index": index_dir, "added": report.added, "updated": report.updated, "unchanged": report.unchanged,
        "skipped": reader.skipped, "paragraphs": report.paragraphs, "seconds": round(report.seconds, 2),
    }
    print_records([summary], output_format)
    if reader.skipped:
        raise click.exceptions.Exit(InputError.exit_code)

def _exists(index_dir: str) -> bool:
    """Whether there is an index at ``index_dir`` already."""
    from ..index import StoryIndex

    try:
        StoryIndex.open(index_dir).close()
    except IndexNotFoundError:
        return False
    return True


def _peek(articles: Iterable[Article], n: int) -> tuple[list[Article], Iterator[Article]]:
    """The first ``n`` articles, and an iterator over all of them (those first again)."""
    iterator = iter(articles)
    first = list(islice(iterator, n))
    return first, chain(first, iterator)


def _reported(articles: Iterable, reader: ArticleReader) -> Iterable:
    """Pass articles through, logging each read problem on stderr as soon as it happens."""
    seen = 0
    for article in articles:
        for problem in reader.problems[seen:]:
            click.echo(f"storycluster: {problem}", err=True)
        seen = len(reader.problems)
        yield article
    for problem in reader.problems[seen:]:
        click.echo(f"storycluster: {problem}", err=True)

@main.command()
@click.argument("text", required=False)
@click.option("--id", "article_id", help="Find reporting related to this stored article (never returned itself).")
@click.option("--file", "file_path", type=click.Path(dir_okay=False, allow_dash=True), help="Use this file's text as the query ('-' for stdin).")
@index_option
@model_option
@backend_option
@click.option("-k", default=10, show_default=True, type=click.IntRange(min=1), help="Number of results.")
@click.option("--level", type=click.Choice(["article", "paragraph"]), default="article", show_default=True, help="Return articles or single paragraphs.")
@click.option("--source", multiple=True, help="Only this outlet (repeatable).")
@click.option("--exclude-source", multiple=True, help="Not this outlet (repeatable).")
@click.option("--lang", multiple=True, help="Only articles in this language, an ISO 639-1 code such as pt (repeatable).")
@click.option("--exclude-lang", multiple=True, help="Not articles in this language (repeatable).")
@click.option("--since", help="Only articles published on or after this date (ISO 8601).")
@click.option("--until", help="Only articles published on or before this date (ISO 8601).")
@click.option("--all", "all_copies", is_flag=True, help="Show every wire copy instead of one per group of copies.")
@format_option
def similar(
    text: str | None, article_id: str | None, file_path: str | None, index_dir: str, model: str | None,
    backend: str | None, k: int,
    level: str, source: tuple[str, ...], exclude_source: tuple[str, ...], lang: tuple[str, ...],
    exclude_lang: tuple[str, ...], since: str | None, until: str | None, all_copies: bool, output_format: str,
) -> None:
    """Related reporting for a text, a stored article (--id) or a file (--file).

    Prints one JSON object per hit: id, score, title, source, url, published, the best-matching
    paragraph as evidence (paragraph, paragraph_score), lang, its story, and for a wire copy the article
    it copies (duplicate_of); copies of one text show once (the others in "copies") unless --all.
    TEXT "-" reads the query from stdin. On an index built with --model multilingual the query may be in
    any of its 16 languages and finds reports in the others.

    \b
    Examples:
      storycluster similar "Who is sending air defence systems to Hezbollah?" -k 5
      storycluster similar --id 000_a9ac1080b439bae5 --exclude-source example.com
      storycluster similar --file draft.txt --level paragraph --format table
      storycluster similar "O Irã vai enviar mísseis à Rússia" --index indexes/world --exclude-lang pt
    """
    from ..index.story_index import StoryIndex

    given = [name for name, value in (("TEXT", text), ("--id", article_id), ("--file", file_path)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of TEXT, --id or --file")
    story_index = StoryIndex.open(index_dir, model=model, backend=backend)
    options: dict[str, Any] = dict(
        k=k, level=level, sources=source, exclude_sources=exclude_source, languages=lang,
        exclude_languages=exclude_lang, since=since, until=until, all_copies=all_copies,
    )
    if article_id:
        matches = story_index.similar_to(article_id, **options)
    else:
        query = _read_query(text, file_path)
        matches = story_index.similar(query, **options)
    print_records(
        [m.to_dict() for m in matches], output_format,
        columns=("score", "id", "source", "lang", "published", "story", "title", "paragraph"),
    )

def _read_query(text: str | None, file_path: str | None) -> str:
    if text is not None and text != "-":
        return text
    if file_path is None or file_path == "-":
        return sys.stdin.read()
    try:
        return Path(file_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file_path}: cannot read the query file ({exc})") from None

@main.command()
@click.argument("article_ids", nargs=-1, required=True)
@index_option
@format_option
def remove(article_ids: Sequence[str], index_dir: str, output_format: str) -> None:
    """Delete articles (their vectors, paragraphs and story membership) by id.

    Prints {"removed": N, "missing": [...]}; exits 1 when an id was not in the index (the others are
    still removed). "-" reads the ids from stdin, one a line.

    \b
    Examples:
      storycluster remove 000_a9ac1080b439bae5
      jq -r .id retracted.jsonl | storycluster remove - --index indexes/news
    """
    from ..index.story_index import StoryIndex

    ids = [line.strip() for line in sys.stdin if line.strip()] if list(article_ids) == ["-"] else list(article_ids)
    with StoryIndex.open(index_dir) as story_index:
        removed = story_index.remove(ids)
    missing = [i for i in dict.fromkeys(ids) if i not in set(removed)]
    print_records([{"removed": len(removed), "missing": missing}], output_format)
    if missing:
        click.echo(f"storycluster: error: {len(missing)} id(s) not in the index: {', '.join(missing[:5])}", err=True)
        raise click.exceptions.Exit(1)


@main.command()
@index_option
@click.option("--story", "story_id", help="Show one story's coverage: each article and what it reports that others do not.")
@click.option("--stored", is_flag=True, help="Print the stored grouping without re-clustering.")
@click.option("--min-size", type=click.IntRange(min=1), default=1, show_default=True, help="Only stories with at least N articles.")
@click.option("--since", help="Only stories with an article published on or after this date.")
@click.option("--until", help="Only stories with an article published on or before this date.")
@format_option
def stories(
    index_dir: str, story_id: str | None, stored: bool, min_size: int, since: str | None, until: str | None,
    output_format: str,
) -> None:
    """Group the index into stories (the same event told by many outlets) and print them.

    Re-clusters the whole index and stores the grouping (story ids stay where membership carries over),
    then prints one object per story: story, size, sources, languages (most used first), headline,
    keywords, first_published, last_published and articles. --story S prints one story's coverage instead.

    \b
    Examples:
      storycluster stories --min-size 2 --format table
      storycluster stories --stored --since 2024-05-01
      storycluster stories --story s12
    """
    from ..index.story_index import StoryIndex

    with StoryIndex.open(index_dir) as story_index:
        if story_id:
            _print_coverage(story_index.story(story_id), output_format)
            return
        if not stored:
            story_index.cluster()
        found = story_index.stories(min_size=min_size, since=since, until=until)
        print_records(
            [s.to_dict() for s in found], output_format,
            columns=("story", "size", "sources", "languages", "first_published", "keywords", "headline"),
        )


def _print_coverage(detail: StoryCoverage, output_format: str) -> None:
    if output_format == "jsonl":
        print_records([detail.to_dict()], output_format)
        return
    print_records([detail.story.to_dict()], output_format, vertical=True)
    click.echo()
    rows = [
        {"id": c.id, "source": c.source, "lang": c.lang, "published": c.published, "novelty": d.novelty,
         "distinct": d.paragraph}
        for c in detail.coverage for d in c.distinct
    ]
    print_records(rows, output_format, columns=("id", "source", "lang", "published", "novelty", "distinct"))


@main.command(name="eval")
@click.argument("data", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--index", "-i", "index_dir", type=click.Path(file_okay=False), help="Use (and add to) this index (directory or postgresql:// URL) instead of a temporary one; one DATA file only.")
@click.option("--label-field", default="story", show_default=True, help="Input field holding the true story label.")
@model_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@format_option
def evaluate(
    data: Sequence[str], index_dir: str | None, label_field: str, model: str | None, quiet: bool, output_format: str,
) -> None:
    """Score the story grouping and retrieval on labelled JSON-lines files, one row per file.

    Indexes each DATA file on its own (a temporary index unless --index is given), clusters it with the
    defaults and prints one record per file: corpus (the file name without suffix), n_docs, n_stories,
    n_predicted, bcubed_precision, bcubed_recall, bcubed_f1, pairwise_f1, ami, ari, precision_at_5, where
    every story has three articles recall_at_2, and cluster_s (seconds to cluster, embedding excluded).

    \b
    Examples:
      storycluster eval ../shared/bench/ecbplus.jsonl
      storycluster eval ../shared/bench/*.jsonl --format table
      storycluster eval labelled.jsonl --index indexes/labelled --label-field event
      storycluster eval ../shared/bench/og2021_dev.jsonl --model multilingual
    """
    import tempfile

    from tqdm import tqdm

    from ..index.scoring import score_index
    from ..index.story_index import StoryIndex

    if index_dir and len(data) > 1:
        raise click.UsageError("--index goes with one DATA file")
    rows = []
    for path in data:
        reader = ArticleReader(input_format="jsonl")
        articles = list(_reported(reader.read([path]), reader))
        labels = {a.id: str(a.extra[label_field]) for a in articles if a.extra.get(label_field) is not None}
        if not labels:
            raise InputError(f"{path}: no record has a {label_field!r} label")
        with tempfile.TemporaryDirectory(prefix="storycluster-eval-") as scratch, \
                StoryIndex.open(index_dir or Path(scratch) / "index", model=model, create=True) as story_index:
            with tqdm(desc=f"embedding {Path(path).name}", unit=" paragraphs", disable=True if quiet else None, file=sys.stderr) as bar:
                story_index.add(articles, progress=bar.update)
            report = score_index(story_index, labels)
        corpus = "-" if path == "-" else Path(path).name.removesuffix(".jsonl")
        rows.append({"corpus": corpus, **{k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}})
        if output_format == "jsonl":
            print_records(rows[-1:], output_format)
    if output_format == "table":
        print_records(rows, output_format, columns=EVAL_COLUMNS)


EVAL_COLUMNS = ("corpus", "n_docs", "n_stories", "n_predicted", "bcubed_precision", "bcubed_recall", "bcubed_f1",
                "pairwise_f1", "ami", "ari", "precision_at_5", "cluster_s")


@main.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes (each loads the model once).")
@click.option("--token", envvar="STORYCLUSTER_TOKEN", help="Bearer token that enables POST /articles (env STORYCLUSTER_TOKEN).")
@click.option("--token-reads", is_flag=True, help="Require the token for reads too (all but /health).")
def serve(index_dir: str, host: str, port: int, workers: int, token: str | None, token_reads: bool) -> None:
    """Serve the index over HTTP (FastAPI): similar, articles, stories, and POST /articles.

    OpenAPI at /openapi.json, docs at /docs. Writes are off unless a token is given; the server picks up
    new generations written by other processes without a restart. Needs the [serve] extra.

    \b
    Examples:
      storycluster serve --index indexes/neus --port 8000
      STORYCLUSTER_TOKEN=s3cret storycluster serve --workers 2
      curl 'http://127.0.0.1:8000/similar?q=floods+in+Houston&k=3'
    """
    try:
        from ..service.app import serve as run_server
    except ImportError as exc:
        raise StoryclusterError(f"serve needs the [serve] extra: pip install 'storycluster[serve]' ({exc})") from None
    if token_reads and not token:
        raise click.UsageError("--token-reads needs --token (or STORYCLUSTER_TOKEN)")
    run_server(index_dir, host=host, port=port, workers=workers, token=token, token_reads=token_reads)


@main.command()
@index_option
def check(index_dir: str) -> None:
    """Verify that an index's manifest, files, FAISS sets and SQLite agree.

    Prints {"index": DIR, "ok": true|false, "problems": [...]} and exits 5 when anything is wrong.

    \b
    Examples:
      storycluster check
      storycluster check --index indexes/news || restore-from-backup
    """
    from ..store.check import check_index

    problems = check_index(index_dir)
    print_records([{"index": index_dir, "ok": not problems, "problems": problems}], "jsonl")
    for problem in problems:
        click.echo(f"storycluster: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(5)


@main.command()
@index_option
@format_option
def info(index_dir: str, output_format: str) -> None:
    """Show an index's manifest and counts.

    \b
    Examples:
      storycluster info
      storycluster info --index indexes/news --format table
    """
    from ..index.story_index import StoryIndex

    with StoryIndex.open(index_dir) as story_index:
        print_records([story_index.info().to_dict()], output_format, vertical=True)



_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: str) -> float:
    """Seconds in ``30s``, ``10m``, ``1h``, ``1d`` or a bare number of seconds."""
    text = value.strip().lower()
    try:
        seconds = float(text[:-1]) * _DURATION[text[-1]] if text[-1:] in _DURATION else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration like 30s, 10m, 1h") from None
    if seconds <= 0:
        raise click.BadParameter("must be more than zero")
    return seconds


@main.command()
@click.argument("feeds", nargs=-1, required=True)
@index_option
@model_option
@backend_option
@click.option("--every", default="10m", show_default=True, help="Poll interval: 30s, 10m, 1h...")
@click.option("--once", is_flag=True, help="Poll once and exit (for cron).")
@click.option("--fetch-pages", is_flag=True, help="Fetch each new entry's page for its full text.")
@click.option("--delay", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Seconds between two requests to one host.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True, help="Seconds allowed for one response.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=10 * 2**20, show_default=True, help="Largest response accepted.")
def follow(
    feeds: Sequence[str], index_dir: str, model: str | None, backend: str | None, every: str, once: bool,
    fetch_pages: bool, delay: float, timeout: float, max_bytes: int,
) -> None:
    """Keep an index current from RSS/Atom feeds: poll them, add what is new, repeat.

    FEEDS are feed URLs, feed files, or text files listing feed URLs one a line. Each poll makes a
    conditional GET per feed, fetches the pages of new entries with --fetch-pages (robots.txt honoured,
    one request at a time per host, a URL already indexed is never fetched again), and adds the new
    articles and the feeds' positions in one atomic commit. One line per poll goes to stderr. SIGTERM or
    Ctrl-C stops after the current commit; after a crash a restart neither loses nor repeats anything.

    \b
    Examples:
      storycluster follow https://example.org/rss.xml --index indexes/news --every 10m
      storycluster follow feeds.txt --fetch-pages --once        # from cron
    """
    import signal
    import threading

    from ..index import StoryIndex
    from ..ingest import Fetcher, Follower

    interval = _duration(every)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if not stopping.is_set():
            log.warning("stopping after the current poll's commit (signal %s)", signal.Signals(signum).name)
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with StoryIndex.open(index_dir, model=model, backend=backend, create=True) as story_index:
            fetcher = Fetcher(delay=delay, timeout=timeout, max_bytes=max_bytes)
            follower = Follower(feeds, story_index, fetcher=fetcher, fetch_pages=fetch_pages)

            def log_poll(report: Any) -> None:
                for problem in report.problems:  # details with -v; the poll line always
                    log.info("%s", problem)
                click.echo(f"storycluster: {report.line()}", err=True)

            if once:
                log_poll(follower.poll(stopping.is_set))
            else:
                follower.run(interval, stopping.is_set, stopping.wait, log_poll)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
