"""Research lab (prototype): edge features, pair model, linkages, on cached features."""

from __future__ import annotations

import re
import sys
import time

import faiss
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from story_features import load  # noqa: E402

from storycluster.stories.evaluation import bcubed  # noqa: E402

TOKEN_PATTERN = r"(?u)\b\w[\w'-]*\w\b|\b\w\b"
NAMES = re.compile(r"\b(?:[A-Z][\w'-]*[a-z0-9][\w'-]*|[A-Z]{2,}|\d[\d,.:/-]*\d|\d)\b")
CORPORA = ["ecbplus", "neus_val", "gvc", "basil", "googlenews_ts", "uci_news_dev", "og2021_dev"]


def knn(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(vectors)
    k = min(k, n - 1)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    sims, nb = index.search(vectors, k + 1)
    left = np.repeat(np.arange(n), k + 1)
    right = nb.ravel().astype(np.int64)
    rank = np.tile(np.arange(k + 1), n)
    keep = (right >= 0) & (right != left)
    a, b, r = np.minimum(left, right)[keep], np.maximum(left, right)[keep], rank[keep]
    key = a * n + b
    order = np.lexsort((r, key))
    key, r = key[order], r[order]
    first = np.r_[True, key[1:] != key[:-1]]
    # rank in both directions: min rank, and whether mutual
    count = np.bincount(np.cumsum(first) - 1)
    return key[first] // n, key[first] % n, np.stack([r[first], count == 2], axis=1)


class Corpus:
    def __init__(self, name: str, k: int = 30, multilingual: bool | None = None) -> None:
        if multilingual is None:
            multilingual = name == "og2021_dev"
        d = load(name, multilingual)
        self.name = name
        self.labels = d["story"]
        self.n = len(self.labels)
        self.vec = np.ascontiguousarray(d["vector"], dtype=np.float32)
        self.para, self.owner = d["para"], d["owner"]
        self.days = d["days"]
        self.lang = d["lang"]
        titles, texts = d["title"], d["text"]
        self.full = [f"{t}. {x}" if t and x and x != t else (t or x) for t, x in zip(titles, texts)]
        self.words = np.array([len(t.split()) for t in self.full], dtype=float)
        self.headline = [t or "" for t in titles]
        self.left, self.right, self.rank = knn(self.vec, k)
        self.truth = self.labels[self.left] == self.labels[self.right]
        self._features()

    def _features(self) -> None:
        L, R = self.left, self.right
        bounds = np.searchsorted(self.owner, np.arange(self.n + 1))
        best = np.empty(len(L), np.float32)
        if len(self.para) == self.n:
            best = np.einsum("ij,ij->i", self.para[L], self.para[R])
        else:
            for e, (i, j) in enumerate(zip(L.tolist(), R.tolist())):
                best[e] = (self.para[bounds[i]:bounds[i + 1]] @ self.para[bounds[j]:bounds[j + 1]].T).max()
        art = np.einsum("ij,ij->i", self.vec[L], self.vec[R])
        tf = TfidfVectorizer(sublinear_tf=True, token_pattern=TOKEN_PATTERN, stop_words="english",
                             ngram_range=(1, 2), min_df=2, max_df=0.5, dtype=np.float32)
        m = tf.fit_transform(self.full).tocsr()
        tfidf = np.asarray(m[L].multiply(m[R]).sum(axis=1)).ravel()
        nv = TfidfVectorizer(analyzer=lambda t: [w.lower() for w in NAMES.findall(t)], sublinear_tf=True,
                             min_df=1, dtype=np.float32)
        try:
            nm = nv.fit_transform(self.full).tocsr()
            names = np.asarray(nm[L].multiply(nm[R]).sum(axis=1)).ravel()
        except ValueError:
            names = np.zeros(len(L))
        gap = np.abs(self.days[L] - self.days[R])
        self.f = dict(best=best, art=art, tfidf=tfidf, names=names, gap=gap,
                      minwords=np.minimum(self.words[L], self.words[R]), rank=self.rank[:, 0], mutual=self.rank[:, 1])
        self.cross = (self.lang[L] != self.lang[R]) & (self.lang[L] != "") & (self.lang[R] != "")


def density(n, left, right, sims, k):
    nodes = np.concatenate([left, right])
    values = np.concatenate([sims, sims])
    order = np.lexsort((-values, nodes))
    nodes, values = nodes[order], values[order]
    starts = np.searchsorted(nodes, np.arange(n))
    rank = np.arange(len(nodes)) - starts[nodes]
    top = rank < k
    total = np.bincount(nodes[top], weights=values[top], minlength=n)
    count = np.bincount(nodes[top], minlength=n)
    return np.divide(total, count, out=np.zeros(n), where=count > 0)


VARIANTS = {
    "full": list(range(12)),
    "nolen": [0, 1, 2, 3, 4, 8, 9, 10, 11],
    "norank": list(range(10)),
    "small": [0, 2, 3, 4, 8, 9],
}


def corpus(name: str) -> Corpus:
    import pickle
    from story_features import CACHE
    path = CACHE / f"{name}.corpus.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    c = Corpus(name)
    path.write_bytes(pickle.dumps(c))
    return c


def design(c: Corpus, variant: str = "full") -> np.ndarray:
    f = c.f
    loglen = np.log1p(f["minwords"])
    dense = f["best"]
    lex = f["tfidf"]
    names = f["names"]
    if variant.endswith("xs"):  # cross-script: lexical does not veto
        lex = np.where(c.cross, np.maximum(lex, dense - 0.4), lex)
    mix = 0.5 * dense + 0.5 * lex
    r = density(c.n, c.left, c.right, mix, 3)
    hub = (r[c.left] + r[c.right]) / 2
    dated = np.isfinite(f["gap"])
    gap = np.where(dated, np.log1p(np.nan_to_num(f["gap"])), 0.0)
    cols = [dense, f["art"], lex, names, hub, loglen, dense * loglen, lex * loglen, gap, dated.astype(float),
            np.log1p(f["rank"]), f["mutual"].astype(float)]
    return np.stack(cols, axis=1)[:, VARIANTS[variant]]


def fit(corpora: list[Corpus], C: float = 1.0, variant: str = "full") -> LogisticRegression:
    X = np.concatenate([design(c, variant) for c in corpora])
    y = np.concatenate([c.truth for c in corpora])
    w = np.concatenate([np.full(len(c.truth), 1.0 / len(c.truth)) for c in corpora])
    w *= len(w) / w.sum()
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(X, y, sample_weight=w)
    return model


def score(c: Corpus, labels: np.ndarray) -> float:
    return bcubed(c.labels, labels)[2]


def agglomerate(n: int, left, right, weight, threshold: float, beta: float = 1.0, mode: str = "edges",
                days=None, ) -> np.ndarray:
    """Average-link over graph edges: link = W / max(E, beta*min(|A|,|B|)) (mode edges) or W/(|A||B|)."""
    import heapq

    size = np.ones(n)
    adj: list[dict[int, list[float]]] = [{} for _ in range(n)]
    for i, j, w in zip(left.tolist(), right.tolist(), weight.tolist()):
        e = [w, 1.0]
        adj[i][j] = e
        adj[j][i] = e
    version = np.zeros(n, np.int64)
    parent = np.arange(n)

    def link(a, b):
        w, e = adj[a][b]
        if mode == "pairs":
            return w / (size[a] * size[b])
        return w / max(e, beta * min(size[a], size[b]))

    heap = [(-link(a, b), a, b, 0, 0) for a in range(n) for b in adj[a] if a < b]
    heapq.heapify(heap)
    while heap:
        neg, a, b, va, vb = heapq.heappop(heap)
        if -neg < threshold:
            break
        if parent[a] != a or parent[b] != b or version[a] != va or version[b] != vb:
            continue
        if len(adj[a]) < len(adj[b]):
            a, b = b, a
        del adj[a][b], adj[b][a]
        for x, (w, e) in adj[b].items():
            del adj[x][b]
            if x in adj[a]:
                entry = adj[a][x]
                entry[0] += w
                entry[1] += e
            else:
                entry = [w, e]
                adj[a][x] = entry
                adj[x][a] = entry
        adj[b] = {}
        parent[b] = a
        size[a] += size[b]
        version[a] += 1
        for x in adj[a]:
            heapq.heappush(heap, (-link(a, x), a, x, int(version[a]), int(version[x])))
    while True:
        g = parent[parent]
        if np.array_equal(g, parent):
            return parent
        parent = g
