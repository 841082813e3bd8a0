"""The command line, through click's runner and as a real subprocess: output, errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT, SEED_ID, SEEDS

from storycluster.cli.main import main


@pytest.fixture
def runner():
    return CliRunner()


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_index_then_similar_by_text_id_and_file(runner, tmp_path, embedder):
    index_dir = str(tmp_path / "index")
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": "w1", "title": "Wagner to arm Hezbollah, US says", "source": "wire", "published": "2023-11-21",
                    "text": "The White House said the Wagner Group plans to give Hezbollah an air defence system."}) + "\n"
    )
    result = runner.invoke(main, ["index", str(SEEDS), str(feed), "--index", index_dir])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary | {"seconds": 0} == {"index": index_dir, "added": 2, "updated": 0, "unchanged": 0, "skipped": 0,
                                       "paragraphs": 8, "seconds": 0}
    again = runner.invoke(main, ["index", str(SEEDS), str(feed), "--index", index_dir])
    assert json.loads(again.stdout)["unchanged"] == 2 and json.loads(again.stdout)["added"] == 0

    result = runner.invoke(main, ["similar", "Wagner air defence for Hezbollah", "--index", index_dir, "-k", "2"])
    hits = lines(result.stdout)
    assert result.exit_code == 0 and {h["id"] for h in hits} == {SEED_ID, "w1"}
    assert set(hits[0]) >= {"id", "score", "title", "source", "url", "published", "paragraph", "paragraph_score"}

    result = runner.invoke(main, ["similar", "--id", "w1", "--index", index_dir])
    assert [h["id"] for h in lines(result.stdout)] == [SEED_ID]

    query = tmp_path / "query.txt"
    query.write_text("Russia's Wagner mercenaries and Hezbollah")
    result = runner.invoke(main, ["similar", "--file", str(query), "--index", index_dir, "--source", "wire"])
    assert [h["id"] for h in lines(result.stdout)] == ["w1"]

    result = runner.invoke(main, ["similar", "Hezbollah", "--index", index_dir, "--format", "table"])
    assert result.stdout.splitlines()[0].split() == ["SCORE", "ID", "SOURCE", "LANG", "PUBLISHED", "STORY", "TITLE", "PARAGRAPH"]

    result = runner.invoke(main, ["info", "--index", index_dir])
    info = json.loads(result.stdout)
    assert (info["articles"], info["paragraphs"], info["model"]) == (2, 8, "sentence-transformers/all-MiniLM-L6-v2")


def test_bad_records_are_reported_with_file_and_line_and_exit_3(runner, tmp_path, embedder):
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "a", "text": "A good article about floods in Valencia."}\n{"id": "b", "text": \n')
    result = runner.invoke(main, ["index", str(feed), "--index", str(tmp_path / "index")])
    assert result.exit_code == 3
    assert f"storycluster: {feed}:2: skipped: broken JSON line" in result.stderr
    assert json.loads(result.stdout)["added"] == 1 and json.loads(result.stdout)["skipped"] == 1
    strict = runner.invoke(main, ["index", str(feed), "--index", str(tmp_path / "other"), "--strict"])
    assert strict.exit_code == 3 and "Traceback" not in strict.output
    assert strict.stderr.strip() == f"storycluster: error: {feed}:2: broken JSON line (Expecting value: column 21)"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["similar", "x", "--index", "{missing}"], 4, "no index at"),
        (["similar", "--id", "nope", "--index", "{seed}"], 1, "no article with id 'nope'"),
        (["similar", "--index", "{seed}"], 2, "give exactly one of TEXT, --id or --file"),
        (["similar", "x", "--id", "y", "--index", "{seed}"], 2, "give exactly one of TEXT, --id or --file"),
        (["similar", "x", "--since", "someday", "--index", "{seed}"], 1, "unreadable date 'someday'"),
        (["similar", "x", "--model", "other/model", "--index", "{seed}"], 6, "was built with model"),
        (["similar", "--file", "{missing}/q.txt", "--index", "{seed}"], 3, "cannot read the query file"),
        (["info", "--index", "{missing}"], 4, "no index at"),
    ],
)
def test_user_errors_get_one_line_and_an_exit_code(runner, seed_index_dir, tmp_path, args, code, message):
    args = [a.format(seed=seed_index_dir, missing=tmp_path / "missing") for a in args]
    result = runner.invoke(main, args)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 or code == 2


@pytest.mark.parametrize("command", [[], ["index"], ["similar"], ["info"]])
def test_every_help_has_examples(runner, command):
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output


def test_python_dash_m_reads_stdin_and_honours_the_index_environment(seed_index_copy):
    env = {**os.environ, "STORYCLUSTER_INDEX": str(seed_index_copy)}
    feed = json.dumps({"id": "piped", "title": "Floods", "text": "Heavy rain flooded Valencia's old town on Tuesday."})
    added = subprocess.run(
        [sys.executable, "-m", "storycluster", "index", "-", "--quiet"], input=feed, text=True,
        capture_output=True, env=env, cwd=ROOT, check=True,
    )
    assert json.loads(added.stdout)["added"] == 1
    query = subprocess.run(
        [sys.executable, "-m", "storycluster", "similar", "-", "-k", "1"], input="rain and floods in Spain",
        text=True, capture_output=True, env=env, cwd=ROOT, check=True,
    )
    assert json.loads(query.stdout)["id"] == "piped" and query.stderr == ""


def test_remove_reports_missing_ids_with_exit_1(runner, seed_index_copy):
    result = runner.invoke(main, ["remove", SEED_ID, "ghost", "--index", str(seed_index_copy)])
    assert result.exit_code == 1 and json.loads(result.stdout) == {"removed": 1, "missing": ["ghost"]}
    assert "1 id(s) not in the index: ghost" in result.stderr
    info = json.loads(runner.invoke(main, ["info", "--index", str(seed_index_copy)]).stdout)
    assert (info["articles"], info["paragraphs"], info["stories"]) == (0, 0, 0)


def test_a_full_disk_is_one_line_and_exit_9_and_the_index_is_kept(runner, seed_index_copy, tmp_path, monkeypatch):
    from storycluster.store.vectors import VectorSet

    def full(self, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(VectorSet, "save", full)
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "new", "text": "An article that will not fit on the disk today."}) + "\n")
    result = runner.invoke(main, ["index", str(feed), "--index", str(seed_index_copy)])
    assert result.exit_code == 9 and "Traceback" not in result.output
    assert result.stderr.startswith("storycluster: error: No space left on device (")
    assert result.stderr.rstrip().endswith("the index keeps its last committed state")
    info = json.loads(runner.invoke(main, ["info", "--index", str(seed_index_copy)]).stdout)
    assert info["articles"] == 1
