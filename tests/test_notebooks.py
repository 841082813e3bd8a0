"""The notebooks in notebooks/: committed clean, and run top to bottom without an error, drawing figures.

Slow: this file runs every notebook in a real Jupyter kernel with the real model, 2.5 to 5 minutes in all
on two busy cores. On bench data each notebook takes 15 s to 2 min; the seed runs (no bench data) and
the dated-corpus run take about 10 s each. Run only the quick checks with
``pytest tests/test_notebooks.py -k "clean or kernel"``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]
TIME_LIMIT = 180  # seconds per notebook on bench data (issue 7)

# Six short articles in two stories, three outlets each, with dates, for the story map's timeline.
DATED = [
    {"id": "bridge-1", "title": "Harbour bridge shut after engineers find crack", "source": "Coast Herald",
     "published": "2024-03-04T08:00:00Z",
     "text": ("The harbour bridge was closed to traffic on Monday after engineers found a crack in a steel "
              "girder. The city said ferries would run extra services while the bridge is inspected.")},
    {"id": "bridge-2", "title": "Crack in girder closes harbour bridge", "source": "City Daily",
     "published": "2024-03-04T11:30:00Z",
     "text": ("Engineers closed the harbour bridge after spotting a crack in one of its steel girders during "
              "a routine check. Commuters were told to take the ferry or the ring road.")},
    {"id": "bridge-3", "title": "Harbour bridge to stay closed all week", "source": "Morning Post",
     "published": "2024-03-06T07:15:00Z",
     "text": ("The harbour bridge, closed since Monday over a cracked steel girder, will stay shut for the "
              "rest of the week, the city's engineers said, as repairs to the girder begin.")},
    {"id": "library-1", "title": "Central library reopens after flood repairs", "source": "City Daily",
     "published": "2024-03-10T09:00:00Z",
     "text": ("The central library reopened on Sunday, eight months after a burst water main flooded its "
              "basement archive. Most of the damaged books were freeze-dried and saved.")},
    {"id": "library-2", "title": "Flooded library opens its doors again", "source": "Coast Herald",
     "published": "2024-03-10T14:00:00Z",
     "text": ("Readers queued outside the central library as it opened again after repairs to the flood "
              "damage caused by a burst water main last summer.")},
    {"id": "library-3", "title": "Library archive saved by freeze-drying, staff say",
     "source": "Morning Post", "published": "2024-03-11T10:00:00Z",
     "text": ("Staff at the central library said freeze-drying saved most of the archive soaked when a water "
              "main burst under the building; the library reopened this weekend.")},
]


def execute(path: Path, cwd: Path) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook top to bottom in a ``python3`` kernel started in ``cwd``; raises on any cell error."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    started = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - started


def figures(cell: nbformat.NotebookNode) -> int:
    """How many PNG images a code cell displayed."""
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def text_of(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed."""
    return "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )


def tagged(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    """The one cell carrying ``tag``."""
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return cell


@pytest.fixture
def kernel_env(monkeypatch):
    """An environment for the kernel: offline model, inline figures, no corpus override from outside."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delenv("STORYCLUSTER_DATA", raising=False)
    monkeypatch.delenv("STORYCLUSTER_BENCH", raising=False)
    return monkeypatch


def test_there_are_four_notebooks():
    assert NAMES == ["01_quickstart.ipynb", "02_story_map.ipynb", "03_grouping_quality.ipynb", "04_languages.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebook_is_clean(path):
    """No outputs or execution counts are committed (strip them before committing)."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs: {cell.source[:60]!r}"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
            assert "execution" not in cell.metadata, f"{path.name}: a cell keeps execution timing"
    assert notebook.metadata.kernelspec.name == "python3"


def test_kernel_runs_this_python(kernel_env, tmp_path):
    """The ``python3`` kernel that nbclient starts is this interpreter (the venv), not another Python."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    path = tmp_path / "probe.ipynb"
    nbformat.write(notebook, path)
    ran, _ = execute(path, tmp_path)
    assert text_of(ran).strip() == sys.prefix


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs_on_bench_data_and_draws(path, bench_dir, kernel_env):
    """Slow (15 s to 2 min each): the default run on ../shared/bench, started in notebooks/ like Jupyter."""
    notebook, seconds = execute(path, NOTEBOOK_DIR)
    assert f"corpus: {bench_dir}" in text_of(notebook)
    assert sum(figures(cell) for cell in notebook.cells) >= 1, f"{path.name} drew no figure"
    assert seconds < TIME_LIMIT, f"{path.name} took {seconds:.0f} s (limit {TIME_LIMIT} s)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_falls_back_to_seeds_without_bench_data(path, kernel_env, tmp_path):
    """Slow (~10 s each): without bench data the notebook runs on seeds/, even started outside the repo."""
    kernel_env.setenv("STORYCLUSTER_BENCH", str(tmp_path / "no-bench-here"))
    notebook, _ = execute(path, tmp_path)
    assert f"corpus: {ROOT / 'seeds'}" in text_of(notebook)
    assert sum(figures(cell) for cell in notebook.cells) >= 1, f"{path.name} drew no figure"
    if path.name == "02_story_map.ipynb":  # the seed article has no date: the timeline explains instead
        timeline = tagged(notebook, "timeline")
        assert figures(timeline) == 0
        printed = "".join(output.get("text", "") for output in timeline.outputs)
        assert "has a publication date, so there is no timeline" in printed


def test_story_map_draws_a_timeline_where_dates_exist(kernel_env, tmp_path):
    """Slow (~10 s): a small dated corpus given through STORYCLUSTER_DATA gets a timeline figure."""
    corpus = tmp_path / "dated.jsonl"
    corpus.write_text("".join(json.dumps(record) + "\n" for record in DATED), encoding="utf-8")
    kernel_env.setenv("STORYCLUSTER_DATA", str(corpus))
    notebook, _ = execute(NOTEBOOK_DIR / "02_story_map.ipynb", NOTEBOOK_DIR)
    assert f"corpus: {corpus}" in text_of(notebook)
    assert figures(tagged(notebook, "timeline")) == 1
