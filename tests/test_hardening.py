"""Damaged indexes are detected (`storycluster check`, and refusal on open), never answered from."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from storycluster import IndexCorruptError, StoryIndex
from storycluster.cli.main import main
from storycluster.store.check import check_index


def current_file(index_dir, part: str):
    manifest = json.loads((index_dir / "manifest.json").read_text())
    return index_dir / manifest["files"][part]


def flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_sound_index_checks_clean(seed_index_copy):
    assert check_index(seed_index_copy) == []
    result = CliRunner().invoke(main, ["check", "--index", str(seed_index_copy)])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


@pytest.mark.parametrize("part", ["database", "articles", "titles", "paragraphs", "terms"])
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_files_are_reported_and_refused(seed_index_copy, part, damage):
    path = current_file(seed_index_copy, part)
    if damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    else:
        flip_byte(path, path.stat().st_size // 2)
    problems = check_index(seed_index_copy)
    assert problems and path.name in problems[0]
    with pytest.raises(IndexCorruptError, match="run storycluster check"):
        StoryIndex.open(seed_index_copy)
    result = CliRunner().invoke(main, ["check", "--index", str(seed_index_copy)])
    assert result.exit_code == 5 and json.loads(result.stdout)["ok"] is False


def test_a_damaged_manifest_is_reported(seed_index_copy):
    (seed_index_copy / "manifest.json").write_text('{"model": "x"')
    assert "unreadable manifest" in check_index(seed_index_copy)[0]
    (seed_index_copy / "manifest.json").unlink()
    assert "no index at" in check_index(seed_index_copy)[0]
