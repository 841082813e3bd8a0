"""Article vectors: short articles embedded whole, long ones derived from their paragraph and headline vectors."""

from __future__ import annotations

import json

import numpy as np

from storycluster import Article, StoryIndex
from storycluster.embed.article_vectors import LEAD, WHOLE_OR_PARAGRAPHS, article_text, derived, embeds_whole

LONG_TEXT = "\n\n".join(
    f"Paragraph {i} of the report: rescue teams searched collapsed buildings in the town of Amatrice after the "
    f"earthquake of magnitude 6.2, and officials said the number of dead had risen to {100 + i} by the evening."
    for i in range(8)
)


def test_short_articles_are_embedded_whole_long_ones_are_not():
    assert embeds_whole(WHOLE_OR_PARAGRAPHS, "A headline", "ten words " * 70, max_words=153)
    assert not embeds_whole(WHOLE_OR_PARAGRAPHS, "A headline", "ten words " * 76, max_words=153)
    assert embeds_whole(LEAD, None, LONG_TEXT, max_words=153)  # indexes built before: always the lead


def test_derived_vector_leans_on_the_lead_and_the_headline():
    paragraphs = np.eye(4, dtype=np.float32)[:3]
    body = derived(paragraphs, None)
    assert np.isclose(np.linalg.norm(body), 1.0)
    assert body[0] > body[1] > body[2] > 0 and body[3] == 0
    titled = derived(paragraphs, np.eye(4, dtype=np.float32)[3])
    assert np.isclose(np.linalg.norm(titled), 1.0) and titled[3] > titled[0]


def test_index_stores_whole_and_derived_article_vectors(embedder, tmp_path):
    short = Article(id="short", title="Quake hits Amatrice", text="An earthquake of magnitude 6.2 struck Amatrice.")
    long = Article(id="long", title="Amatrice toll rises", text=LONG_TEXT)
    with StoryIndex.open(tmp_path / "index", create=True) as index:
        index.add([short, long])
        assert index.info().article_vector == WHOLE_OR_PARAGRAPHS
        ids, vectors = index.article_vectors()
        stored = dict(zip(ids, vectors))
        expected_short = index.embedder.encode([article_text(short.title, short.text, index.embedder.max_words)])[0]
        assert float(stored["short"] @ expected_short) > 0.98  # int8: batch composition moves vectors a little
        expected_long = derived(index.paragraph_vectors("long"), index.title_vector("long"))
        assert np.allclose(stored["long"], expected_long, atol=1e-5)
        assert index.similar(LONG_TEXT, k=1)[0].id == "long"  # a long query text is derived the same way


def test_indexes_built_with_the_lead_keep_it(embedder, tmp_path):
    path = tmp_path / "index"
    with StoryIndex.open(path, create=True) as index:
        index.add([Article(id="a", title="Quake", text="A short text about an earthquake in Amatrice.")])
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "article_vector": LEAD}))
    with StoryIndex.open(path) as index:
        index.add([Article(id="long", title="Amatrice toll rises", text=LONG_TEXT)])
        ids, vectors = index.article_vectors()
        stored = dict(zip(ids, vectors))["long"]
        lead = index.embedder.encode([article_text("Amatrice toll rises", LONG_TEXT, index.embedder.max_words)])[0]
        assert float(stored @ lead) > 0.98
        assert not np.allclose(stored, derived(index.paragraph_vectors("long"), index.title_vector("long")), atol=1e-3)
