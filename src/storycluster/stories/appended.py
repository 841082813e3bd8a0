"""The articles of one append and their nearest stored articles, searched once for all that reads them.

Marking wire copies and keeping the stories current both start from the new articles' nearest neighbours
in the article set; one search (the longer list of the two) serves both. Light: no clustering code here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..store.base import IndexSnapshot

NEAREST = 31  # the story update's candidate list (StoryConfig.n_neighbours, 30) plus the article itself


@dataclass(frozen=True)
class Appended:
    """New articles' keys and, row by row, their ``k`` nearest articles (themselves included), best first.

    ``neighbours`` holds article keys (-1 where fewer exist), ``scores`` their inner products.
    """

    keys: np.ndarray
    scores: np.ndarray
    neighbours: np.ndarray

    @classmethod
    def search(cls, snapshot: IndexSnapshot, keys: Sequence[int], k: int = NEAREST) -> Appended:
        """Search the vectors of the stored articles ``keys`` (just written) in the article set."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(keys):
            return cls(keys, np.zeros((0, k), np.float32), np.zeros((0, k), np.int64))
        scores, neighbours = snapshot.articles.search(snapshot.articles.vectors(keys), k)
        return cls(keys, scores, neighbours)

    def nearest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``k`` columns of (scores, neighbours), as a search for ``k`` (at most ``k``: fewer when
        the index holds fewer articles). ``k`` must not exceed the ``k`` searched."""
        return self.scores[:, :k], self.neighbours[:, :k]
