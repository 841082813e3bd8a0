"""Damaged indexes are detected (`storycluster check`, and refusal on open), never answered from."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import part_file

from storycluster import IndexCorruptError, StoryIndex
from storycluster.cli.main import main
from storycluster.store.check import check_index


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
    path = part_file(seed_index_copy, part)
    if path is None:
        pytest.skip(f"the seed index has no {part} vectors")
    if damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    elif part == "database":  # changed in place, it has no checksum: damage its structure (page 2's type byte)
        connection = sqlite3.connect(path)  # the last connection to close moves the WAL's pages into the file
        connection.execute("SELECT COUNT(*) FROM articles").fetchone()
        connection.close()
        flip_byte(path, int.from_bytes(path.read_bytes()[16:18], "big"))
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
