"""Compiled loops of the story clustering (numba): pair signals without per-pair copies, and the merge.

Each kernel does in one pass over the candidate pairs what the numpy formulation did with arrays of one
row per pair (``vectors[left] * vectors[right]`` is 1.5 KB a pair: 34 GB for the 22 million pairs of a
million articles), and the graph average-link runs over flat arrays instead of a dict per cluster.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.typed import List

# The dot products may be summed in any order (vectorised); every other kernel keeps its order exactly.
_DOT = {"reassoc", "contract"}


@numba.njit(cache=True, fastmath=_DOT)
def best_row_dots(rows: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each pair e, the highest dot product between a row of ``left[e]`` and a row of ``right[e]``.

    The rows of item i are ``rows[offsets[i]:offsets[i + 1]]`` (float32); products are float32 sums.
    """
    out = np.empty(len(left), np.float64)
    width = rows.shape[1]
    for e in range(len(left)):
        a, b = left[e], right[e]
        best = np.float32(0.0)
        found = False
        for i in range(offsets[a], offsets[a + 1]):
            for j in range(offsets[b], offsets[b + 1]):
                total = np.float32(0.0)
                for t in range(width):
                    total += rows[i, t] * rows[j, t]
                if not found or total > best:
                    best, found = total, True
        out[e] = best
    return out


@numba.njit(cache=True)
def sparse_row_dots(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Dot products of the CSR rows ``left[e]`` and ``right[e]`` (sorted column indices), in float32."""
    out = np.zeros(len(left), np.float32)
    for e in range(len(left)):
        i, i_end = indptr[left[e]], indptr[left[e] + 1]
        j, j_end = indptr[right[e]], indptr[right[e] + 1]
        total = np.float32(0.0)
        while i < i_end and j < j_end:
            if indices[i] == indices[j]:
                total += data[i] * data[j]
                i += 1
                j += 1
            elif indices[i] < indices[j]:
                i += 1
            else:
                j += 1
        out[e] = total
    return out


@numba.njit(cache=True)
def top_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``values`` (rows, m), the columns of its ``k`` highest values, best first (ties: lower column)."""
    rows, width = values.shape
    k = min(k, width)
    out = np.empty((rows, k), np.int64)
    best = np.empty(k, values.dtype)
    for r in range(rows):
        filled = 0
        for c in range(width):
            value = values[r, c]
            if filled == k:
                if value <= best[k - 1]:
                    continue
                slot = k - 1
            else:
                slot = filled
                filled += 1
            while slot > 0 and best[slot - 1] < value:
                best[slot] = best[slot - 1]
                out[r, slot] = out[r, slot - 1]
                slot -= 1
            best[slot] = value
            out[r, slot] = c
    return out


@numba.njit(cache=True)
def top_mean(n: int, left: np.ndarray, right: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Mean of each node's ``k`` highest pair values, summed from the highest (0 for a node without pairs)."""
    top = np.zeros((n, k), np.float64)
    count = np.zeros(n, np.int64)
    for e in range(len(left)):
        value = values[e]
        for node in (left[e], right[e]):
            slot = count[node]
            if slot == k:
                if value <= top[node, k - 1]:
                    continue
                slot = k - 1
            else:
                count[node] += 1
            while slot > 0 and top[node, slot - 1] < value:
                top[node, slot] = top[node, slot - 1]
                slot -= 1
            top[node, slot] = value
    out = np.zeros(n, np.float64)
    for node in range(n):
        total = 0.0
        for slot in range(count[node]):
            total += top[node, slot]
        if count[node]:
            out[node] = total / count[node]
    return out


@numba.njit(cache=True)
def _first(key, a, b, va, vb, i, j):
    """True when heap entry i pops before entry j: the order of the tuples (key, a, b, va, vb)."""
    if key[i] != key[j]:
        return key[i] < key[j]
    if a[i] != a[j]:
        return a[i] < a[j]
    if b[i] != b[j]:
        return b[i] < b[j]
    if va[i] != va[j]:
        return va[i] < va[j]
    return vb[i] < vb[j]


@numba.njit(cache=True)
def _swap(key, a, b, va, vb, i, j):
    key[i], key[j] = key[j], key[i]
    a[i], a[j] = a[j], a[i]
    b[i], b[j] = b[j], b[i]
    va[i], va[j] = va[j], va[i]
    vb[i], vb[j] = vb[j], vb[i]


@numba.njit(cache=True)
def _sift_down(key, a, b, va, vb, j, count):
    while True:
        child = 2 * j + 1
        if child >= count:
            return
        if child + 1 < count and _first(key, a, b, va, vb, child + 1, child):
            child += 1
        if not _first(key, a, b, va, vb, child, j):
            return
        _swap(key, a, b, va, vb, child, j)
        j = child


@numba.njit(cache=True)
def _sift_up(key, a, b, va, vb, j):
    while j > 0:
        parent = (j - 1) // 2
        if not _first(key, a, b, va, vb, j, parent):
            return
        _swap(key, a, b, va, vb, j, parent)
        j = parent


@numba.njit(cache=True)
def _link(total: float, pairs: float, size_a: float, size_b: float, budget: float) -> float:
    smaller = min(size_a, size_b)
    return total / max(pairs, min(size_a * size_b, budget * smaller))


@numba.njit(cache=True)
def average_link(
    n: int, left: np.ndarray, right: np.ndarray, probability: np.ndarray, pairs: np.ndarray, sizes: np.ndarray,
    threshold: float, budget: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merges of graph average-link (see ``clustering.merge_sequence``): first, second, link.

    Clusters are merged best link first; ties go to the lower (cluster, cluster, version, version), and the
    cluster with more neighbours survives a merge (the other's on a tie): the order of the reference heap
    of Python tuples, so the merges are the same. Only links at least ``threshold`` enter the heap.
    Edges are unique, i != j; edge e sums ``probability[e]`` over ``pairs[e]`` article pairs, and node i
    starts as a cluster of ``sizes[i]`` articles (all ones: plain articles).
    """
    edges = len(left)
    ends = np.empty((edges, 2), np.int32)
    total = probability.astype(np.float64)
    pairs = pairs.astype(np.float64)
    live = np.ones(edges, np.bool_)
    degree = np.zeros(n, np.int64)
    for e in range(edges):
        ends[e, 0], ends[e, 1] = left[e], right[e]
        degree[left[e]] += 1
        degree[right[e]] += 1
    adjacency = List()  # edge ids of each cluster (the first ``filled``); dead ones dropped at its next merge
    filled = np.zeros(n, np.int64)
    for node in range(n):
        adjacency.append(np.empty(degree[node], np.int32))
    for e in range(edges):
        for side in range(2):
            node = ends[e, side]
            adjacency[node][filled[node]] = e
            filled[node] += 1
    size = sizes.astype(np.float64)
    version = np.zeros(n, np.int64)
    alive = np.ones(n, np.bool_)
    mark = np.full(n, -1, np.int64)

    # the heap: entries (-link, a, b, version of a, version of b), smallest first
    capacity = 1024
    for e in range(edges):
        if total[e] >= threshold:
            capacity += 1
    key = np.empty(capacity, np.float64)
    ha = np.empty(capacity, np.int32)
    hb = np.empty(capacity, np.int32)
    hva = np.zeros(capacity, np.int32)
    hvb = np.zeros(capacity, np.int32)
    count = 0
    for e in range(edges):
        link = _link(total[e], pairs[e], size[left[e]], size[right[e]], budget)
        if link >= threshold:
            key[count] = -link
            ha[count], hb[count] = min(left[e], right[e]), max(left[e], right[e])
            count += 1
    for i in range(count // 2 - 1, -1, -1):  # heapify
        _sift_down(key, ha, hb, hva, hvb, i, count)

    first = np.empty(max(n - 1, 0), np.int64)
    second = np.empty(max(n - 1, 0), np.int64)
    links = np.empty(max(n - 1, 0), np.float64)
    merged = 0
    while count:
        link, a, b, va, vb = -key[0], ha[0], hb[0], hva[0], hvb[0]
        count -= 1
        if count:  # the last entry to the root, sifted down
            key[0], ha[0], hb[0], hva[0], hvb[0] = key[count], ha[count], hb[count], hva[count], hvb[count]
            _sift_down(key, ha, hb, hva, hvb, 0, count)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        first[merged], second[merged], links[merged] = a, b, link
        merged += 1
        if degree[a] < degree[b]:
            a, b = b, a
        degree[a] -= 1
        degree[b] -= 1
        # the survivor's live edges, marked by neighbour; the edge to b dies
        own = adjacency[a]
        kept = 0
        for e in own[: filled[a]]:
            if not live[e]:
                continue
            x = ends[e, 1] if ends[e, 0] == a else ends[e, 0]
            if x == b:
                live[e] = False
                continue
            mark[x] = e
            own[kept] = e
            kept += 1
        # b's edges join a's: added to an edge a already has to the same neighbour, else moved over
        for e in adjacency[b][: filled[b]]:
            if not live[e]:
                continue
            side = 0 if ends[e, 0] == b else 1
            x = ends[e, 1 - side]
            f = mark[x]
            if f >= 0:
                total[f] += total[e]
                pairs[f] += pairs[e]
                live[e] = False
                degree[x] -= 1
            else:
                ends[e, side] = a
                if kept == len(own):
                    grown = np.empty(max(4, 2 * len(own)), np.int32)
                    grown[:kept] = own[:kept]
                    own = grown
                own[kept] = e
                kept += 1
                mark[x] = e
                degree[a] += 1
        adjacency[a] = own[:kept].copy() if kept < len(own) // 4 else own
        adjacency[b] = np.empty(0, np.int32)
        filled[a], filled[b] = kept, 0
        alive[b] = False
        size[a] += size[b]
        version[a] += 1
        for i in range(kept):
            e = own[i]
            x = ends[e, 1] if ends[e, 0] == a else ends[e, 0]
            mark[x] = -1
            link = _link(total[e], pairs[e], size[a], size[x], budget)
            if link < threshold:
                continue
            if count == len(key):
                key = np.concatenate((key, np.empty(count, np.float64)))
                ha = np.concatenate((ha, np.empty(count, np.int32)))
                hb = np.concatenate((hb, np.empty(count, np.int32)))
                hva = np.concatenate((hva, np.empty(count, np.int32)))
                hvb = np.concatenate((hvb, np.empty(count, np.int32)))
            key[count], ha[count], hb[count], hva[count], hvb[count] = -link, a, x, version[a], version[x]
            count += 1
            _sift_up(key, ha, hb, hva, hvb, count - 1)
    return first[:merged].copy(), second[:merged].copy(), links[:merged].copy()
