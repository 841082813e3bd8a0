"""The layout issue's promises: the public names stay and old index directories open (`make test` runs
`lint-imports` for the one-way imports)."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import SEED_ID

import storycluster
from storycluster import Article, StoryIndex

# Every name `from storycluster import ...` offered before the packages were split; removing one breaks users.
PUBLIC_NAMES = {
    "DEFAULT_MODEL", "AddReport", "Article", "ArticleReader", "Embedder", "FieldMap", "Filters", "IndexCorruptError",
    "IndexInfo", "IndexLockedError", "IndexNotFoundError", "InputError", "Match", "MissingExtraError",
    "ModelLoadError", "ModelMismatchError", "ReadProblem", "StoreUnavailableError", "StoryIndex",
    "StoryclusterError", "parse_date", "split_paragraphs",
}
OLD_INDEX = Path(__file__).parent / "data" / "index-v0.1"  # written by storycluster 0.1.0 before the split


def test_public_names_are_kept():
    assert PUBLIC_NAMES <= set(storycluster.__all__)
    for name in storycluster.__all__:
        assert getattr(storycluster, name) is not None


def test_an_index_written_before_the_split_opens_and_grows(tmp_path, embedder):
    path = tmp_path / "index"
    shutil.copytree(OLD_INDEX, path)
    with StoryIndex.open(path) as index:
        info = index.info()
        assert (info.articles, info.paragraphs, info.stories) == (1, 7, 1)
        [best] = index.similar("Which air defence system was Wagner to send to Hezbollah?", k=1, level="paragraph")
        assert best.id == SEED_ID and "Wagner" in best.paragraph
    with StoryIndex.open(path) as index:
        index.add([Article(id="new", text="An unrelated report about a football match in Lisbon on Sunday.")])
    with StoryIndex.open(path) as index:
        assert len(index) == 2 and index.get(SEED_ID).id == SEED_ID

