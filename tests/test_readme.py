"""The README's Python example runs as written (in a scratch directory holding a copy of seeds/)."""

from __future__ import annotations

import re
import shutil

from conftest import ROOT, SEEDS


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys, embedder):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "ArticleReader()" in block]
    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3 and all("000_a9ac1080b439bae5" in line for line in printed)
    assert (tmp_path / "indexes" / "demo" / "manifest.json").is_file()
