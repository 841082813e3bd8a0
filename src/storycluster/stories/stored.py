"""Stories of an index: clustering all its articles, keeping story ids stable, reading stories back."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..errors import StoryclusterError
from ..records import Article, Coverage, Distinct, Story, StoryCoverage
from ..store.base import IndexSnapshot
from ..store.database import Database
from ..text.lexical import lexical_text, unpack
from .appended import Appended
from .clustering import ArticleTable, StoryClusterer, StoryConfig, describe_stories
from .labels import headline
from .online import extend_stories

DISTINCT_PER_ARTICLE = 2


@dataclass(frozen=True)
class StoryGroup:
    """One cluster found by :func:`cluster_snapshot`, before it has a stable id."""

    members: list[int]
    headline: str | None
    keywords: tuple[str, ...]


NEIGHBOURS = 10  # an append touches the stories holding one of each new article's 10 nearest
FULL_RECLUSTER_SHARE = 0.5  # new articles this share of the index or more: re-cluster everything
RECLUSTER_UP_TO = 10_000  # touched stories this big or smaller (with the new articles): re-cluster them
DESCRIBE_MEMBERS = 10  # past that, a story a new article joined is labelled from this many of its articles
DESCRIBE_CHARS = 600  # and from their first characters


def cluster_snapshot(snapshot: IndexSnapshot, keys: np.ndarray | None = None) -> list[StoryGroup]:
    """Cluster the articles with ``keys`` (every article when None) into stories."""
    if keys is None:
        keys = snapshot.articles.keys()
    if not len(keys):
        return []
    keys = [int(k) for k in keys]
    articles = snapshot.db.articles(keys)
    table = _table(snapshot, keys, [articles[k] for k in keys])
    labels = StoryClusterer(StoryConfig(embedding_model=snapshot.manifest.model)).fit(table).labels_
    return _groups(keys, articles, table.full_texts, table.vectors, labels)


def _groups(
    keys: list[int], articles: dict[int, Article], texts: list[str], vectors: np.ndarray, labels: np.ndarray
) -> list[StoryGroup]:
    """The groups of ``keys`` by ``labels``, each with its headline and keywords."""
    summaries = describe_stories(texts, vectors, labels)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    groups = []
    for summary in summaries:
        members = sorted(keys[i] for i in order[bounds[summary.label]:bounds[summary.label + 1]].tolist())
        groups.append(StoryGroup(members, headline(articles[keys[summary.representative]]), summary.keywords))
    return groups


def _describe(snapshot: IndexSnapshot, whole: dict[int, list[int]]) -> list[StoryGroup]:
    """Each of the groups of article keys in ``whole``, with a headline and keywords drawn from at most
    ``DESCRIBE_MEMBERS`` of its articles (the new ones first) and their first ``DESCRIBE_CHARS`` characters:
    an append into a big index must not read whole big stories to label them."""
    shown = {label: members[:DESCRIBE_MEMBERS] for label, members in whole.items()}
    keys = [k for members in shown.values() for k in members]
    labels = np.repeat(np.arange(len(shown)), [len(members) for members in shown.values()])
    articles = snapshot.db.articles(keys)
    texts = [lexical_text(articles[k].title, articles[k].text)[:DESCRIBE_CHARS] for k in keys]
    label_of = {k: label for label, members in shown.items() for k in members}
    return [
        StoryGroup(sorted(whole[label_of[group.members[0]]]), group.headline, group.keywords)
        for group in _groups(keys, articles, texts, snapshot.articles.vectors(keys), labels)
    ]


def _table(snapshot: IndexSnapshot, keys: list[int], articles: list[Article]) -> ArticleTable:
    """The clustering's view of ``articles``: vectors read in bulk, the headline's vector first of each
    article's paragraph vectors (matching headlines count)."""
    paragraphs = snapshot.db.paragraph_keys_of(keys)
    titled = np.array([bool(a.title) for a in articles])
    counts = np.array([len(paragraphs.get(k, ())) for k in keys])
    offsets = np.r_[0, np.cumsum(titled + counts)]
    rows = np.empty((offsets[-1], snapshot.articles.dimension), dtype=np.float32)
    rows[offsets[:-1][titled]] = snapshot.titles.vectors(k for k, t in zip(keys, titled) if t)
    starts = np.repeat(offsets[:-1] + titled - np.r_[0, np.cumsum(counts)[:-1]], counts)
    rows[starts + np.arange(counts.sum())] = snapshot.paragraphs.vectors(p for k in keys for p in paragraphs.get(k, ()))
    days = [datetime.fromisoformat(a.published).timestamp() / 86400 if a.published else np.nan for a in articles]
    return ArticleTable(
        [a.text for a in articles], [a.title for a in articles], snapshot.articles.vectors(keys), rows, offsets,
        np.array(days, dtype=np.float64), [a.lang for a in articles],
    )


def update_stories(snapshot: IndexSnapshot, db: Database, appended: Appended | None = None) -> None:
    """Bring the stored stories up to date inside a generation being written.

    Without ``appended`` (the new or changed articles and their nearest neighbours), or when they are a
    large share of the index, everything is re-clustered. Otherwise the cost follows the new articles, not the index:

    - when the stories holding one of their nearest neighbours hold at most ``RECLUSTER_UP_TO`` articles
      in all, those stories and the new articles are re-clustered together (stories can split and merge);
    - past that (a big index, where news has look-alikes everywhere), the stored stories stay as they are
      and the new articles join them or open new ones (:func:`.online.extend_stories`).

    Only the rows and stories of the new articles' neighbourhood are read. Ids carry over wherever
    membership overlaps.
    """
    db.drop_empty_stories()
    if appended is None or len(appended.keys) >= FULL_RECLUSTER_SHARE * len(snapshot.articles) or not db.has_stories():
        db.replace_stories(assign_ids(cluster_snapshot(snapshot), db.memberships(), db))
        return
    new_keys = appended.keys
    config = StoryConfig(embedding_model=snapshot.manifest.model)
    _, neighbours = appended.nearest(config.n_neighbours + 1)
    fresh = set(new_keys.tolist())
    stored = {k: s for k, s in db.stories_of(int(k) for k in np.unique(neighbours) if k >= 0).items() if k not in fresh}
    touched = {stored[int(k)] for k in np.unique(neighbours[:, : NEIGHBOURS + 1]) if int(k) in stored}
    if sum(db.story_sizes(touched).values()) + len(new_keys) <= RECLUSTER_UP_TO:
        affected = np.unique(np.concatenate([new_keys, np.array(db.members(touched), dtype=np.int64)]))
        groups = cluster_snapshot(snapshot, affected)
        db.replace_stories(assign_ids(groups, db.stories_of(affected.tolist()), db), touched)
        return
    groups, replaced = _extend(snapshot, new_keys, neighbours, stored, db, config)
    members = [k for group in groups for k in group.members]
    db.replace_stories(assign_ids(groups, db.stories_of(members), db), replaced)


def _extend(
    snapshot: IndexSnapshot, new_keys: np.ndarray, neighbours: np.ndarray, stored: dict[int, str], db: Database,
    config: StoryConfig,
) -> tuple[list[StoryGroup], set[str]]:
    """The stories new articles join or open, whole, and the ids of the stored stories they take in."""
    found = neighbours[neighbours >= 0]
    keys = np.unique(np.concatenate([new_keys, found[np.isin(found, list(stored))]])).tolist()
    row = {key: i for i, key in enumerate(keys)}
    story_ids = sorted({stored[k] for k in keys if k in stored})
    number = {story: i for i, story in enumerate(story_ids)}
    stories = np.array([number[stored[k]] if k in stored else -1 for k in keys], dtype=np.int64)
    sizes = db.story_sizes(story_ids)
    by_row = {key: line for key, line in zip(new_keys.tolist(), neighbours.tolist())}
    lists = [[row.get(k, -1) for k in by_row[key]] for key, s in zip(keys, stories) if s < 0]
    articles = db.articles(keys)
    table = _table(snapshot, keys, [articles[k] for k in keys])
    terms, names = db.term_and_name_counts(keys)
    words, names = snapshot.term_weights.weigh(unpack(terms)), unpack(names)
    labels = extend_stories(
        table, stories, np.array([sizes[s] for s in story_ids]), np.array(lists), config, words, names
    )
    # every group holding a new article, whole: the members of its stored stories and its new articles
    joined: dict[int, list[int]] = defaultdict(list)
    taken: dict[int, set[str]] = defaultdict(set)
    for key, label, story in zip(keys, labels.tolist(), stories.tolist()):
        if story < 0:
            joined[label].append(key)
    for key, label, story in zip(keys, labels.tolist(), stories.tolist()):
        if story >= 0 and label in joined:
            taken[label].add(story_ids[story])
    replaced = set().union(*taken.values()) if taken else set()
    whole = {label: list(dict.fromkeys(joined[label] + db.members(taken[label]))) for label in joined}  # new first
    return _describe(snapshot, whole), replaced


def assign_ids(
    groups: list[StoryGroup], stored: dict[int, str], db: Database
) -> list[tuple[str, str | None, tuple[str, ...], list[int]]]:
    """Give each group the id of the stored story it overlaps most (each old id used once), else a new id.

    ``stored`` maps article keys to their current story ids. New ids are numbered after the highest id
    ever handed out, so an id never comes back with another meaning.
    """
    overlaps = sorted(
        (-count, story, index)
        for index, group in enumerate(groups)
        for story, count in Counter(stored[k] for k in group.members if k in stored).items()
    )
    ids: dict[int, str] = {}
    taken: set[str] = set()
    for _, story, index in overlaps:
        if index not in ids and story not in taken:
            ids[index] = story
            taken.add(story)
    fresh = sorted((min(g.members), i) for i, g in enumerate(groups) if i not in ids)
    first = db.next_story_number(len(fresh)) if fresh else 0
    for offset, (_, index) in enumerate(fresh):
        ids[index] = f"s{first + offset}"
    return [(ids[i], g.headline, g.keywords, g.members) for i, g in enumerate(groups)]


def load_stories(
    snapshot: IndexSnapshot, *, min_size: int = 1, since: str | None = None, until: str | None = None
) -> list[Story]:
    """The stored stories, largest first, with at least ``min_size`` articles and active in the window."""
    members: dict[str, list[Article]] = defaultdict(list)
    memberships = snapshot.db.memberships()
    articles = snapshot.db.articles(memberships)
    for key, story in memberships.items():
        members[story].append(articles[key])
    stories = []
    for row in snapshot.db.story_rows():
        story = _story(row["id"], row["headline"], row["keywords"], members.get(row["id"], []))
        if story.size < min_size:
            continue
        if since and (story.last_published is None or story.last_published < since):
            continue
        if until and (story.first_published is None or story.first_published > until):
            continue
        stories.append(story)
    return sorted(stories, key=lambda s: (-s.size, _story_number(s.story)))


def story_coverage(snapshot: IndexSnapshot, story_id: str) -> StoryCoverage:
    """A story with, for each article, the paragraphs least matched by the other outlets' articles."""
    keys = [key for key, story in snapshot.db.memberships().items() if story == story_id]
    if not keys:
        raise StoryclusterError(f"no story with id {story_id!r} (run: storycluster stories)")
    row = next(r for r in snapshot.db.story_rows() if r["id"] == story_id)
    articles = snapshot.db.articles(keys)
    paragraphs = snapshot.db.paragraphs_of(keys)
    vectors = {key: snapshot.paragraphs.vectors(p.key for p in paragraphs[key]) for key in keys}
    coverage = []
    for key in sorted(keys, key=lambda k: (articles[k].published or "", articles[k].id)):
        article = articles[key]
        others = [k for k in keys if k != key and (article.source is None or articles[k].source != article.source)]
        distinct: list[Distinct] = []
        if others:
            best = (vectors[key] @ np.concatenate([vectors[k] for k in others]).T).max(axis=1)
            for i in np.argsort(best)[:DISTINCT_PER_ARTICLE]:
                distinct.append(Distinct(paragraphs[key][i].text, round(float(1 - best[i]), 4)))
        coverage.append(
            Coverage(article.id, article.title, article.source, article.url, article.published, distinct, article.lang)
        )
    story = _story(story_id, row["headline"], row["keywords"], list(articles.values()))
    return StoryCoverage(story, coverage)


def _story(story_id: str, headline_text: str | None, keywords: str, members: list[Article]) -> Story:
    dates = sorted(a.published for a in members if a.published)
    ordered = sorted(members, key=lambda a: (a.published or "", a.id))
    return Story(
        story=story_id, size=len(members), sources=sorted({a.source for a in members if a.source}),
        languages=[lang for lang, _ in Counter(a.lang for a in ordered if a.lang).most_common()],
        headline=headline_text, keywords=json.loads(keywords), first_published=dates[0] if dates else None,
        last_published=dates[-1] if dates else None, articles=[a.id for a in ordered],
    )


def _story_number(story_id: str) -> int:
    return int(story_id[1:]) if story_id[1:].isdigit() else 0
