"""Near-duplicate links by cosine similarity of unit embeddings, and their groups.

Bounded for any input, dense clusters included. Rows holding exactly the same vector link to
the smallest such row (cosine 1) without a search; only distinct vectors are searched: exactly
(blocked BLAS products, ~50 MB a block) up to ``EXACT_SEARCH_MAX`` of them, with a usearch HNSW
cosine index beyond. Each searched vector links to at most ``k`` nearest neighbours within the
threshold (ties broken by row, i.e. by key), never to all of them, so links and memory grow
linearly with the vectors. Groups are the connected components (scipy) of the links:
transitivity joins a dense cluster through chains of near neighbours without its n^2 pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from usearch.index import Index

EXACT_SEARCH_MAX = 50_000
NEIGHBOURS = 16  # links per vector: the cap that keeps a dense cluster linear
QUERY_BLOCK = 32_768  # queries per search call: bounds the result matrices
DEFAULT_DUP_COSINE = 0.95
# Calibrated duplicate thresholds per architecture and modality (bench/dedup_calibration.py on
# the generated world, with the demo's trained realsyn-tiny: 40 epochs on alt texts, then 40 on
# alt texts + the page sentences round 1 chose). Images (float16 as stored): at 0.998 pair
# precision 0.91, recall 0.77 (0.995: 0.64/0.95; 0.999: 0.97/0.66; the one-round 80-epoch model
# had 0.94/0.90 at 0.995). Sentences: 2.5% of distinct world sentences have a neighbour above
# 0.999, and 57 of its 58 pairs are narrative filler (``A young student sorted the paper last
# weekend.`` / ``... painted the fence ...``) that says nothing visual; descriptions merge only
# below ~0.997.
# realsyn-tiny-cjk / -ja are realsyn-tiny with one token per CJK character / Japanese word
# (realsyn.clip_tokens): the same image tower and recipe, so they take the same thresholds
# (carried over, not re-measured; open_clip's large-CLIP default 0.95 merged 199 of the
# 200-document Japanese world's images).
DUP_COSINE_BY_MODEL: dict[str, dict[str, float | None]] = {
    "realsyn-tiny": {"image": 0.998, "text": 0.999},
    "realsyn-tiny-cjk": {"image": 0.998, "text": 0.999},
    "realsyn-tiny-ja": {"image": 0.998, "text": 0.999},
}


def dup_cosine_for(model_identity: str, modality: str) -> float | None:
    """The duplicate threshold for ``modality`` (``image``/``text``) vectors made by
    ``model_identity`` (``<arch>@<weights>``): the calibrated one for its architecture (None:
    semantic dedup is unreliable with it), else ``DEFAULT_DUP_COSINE`` (a starting point for
    large CLIPs; calibrate it on your data)."""
    calibrated = DUP_COSINE_BY_MODEL.get(model_identity.split("@")[0])
    return calibrated.get(modality) if calibrated else DEFAULT_DUP_COSINE


def identical_first(vectors: np.ndarray) -> np.ndarray:
    """For each row, the smallest row index holding exactly the same float32 vector."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(v) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = v.view(np.dtype((np.void, v.dtype.itemsize * v.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)  # stable: first
    return first[inverse.ravel()].astype(np.int64)


def _nearest(
    vectors: np.ndarray, rows: np.ndarray, queries: np.ndarray, threshold: float, k: int
) -> np.ndarray:
    """(query, neighbour, cosine) for each query's ``k`` nearest among ``rows`` (distinct
    vectors) with cosine >= threshold; ties in distance go to the smaller row."""
    m = len(rows)
    if m < 2 or not len(queries):
        return np.zeros((0, 3))
    kk = min(2 * k + 1, m)  # room to break ties at the k-th place by row, not by search order
    if m <= EXACT_SEARCH_MAX:
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        block = max(1, (1 << 22) // m)  # 16 MB of similarities (+ 32 MB of ranks) a block
        search = _exact_search(unit, rows, kk, block, threshold)
    else:
        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32")
        index.add(rows, vectors[rows], threads=1)  # threaded HNSW builds differ run to run
        search, block = _index_search(index, vectors, kk), QUERY_BLOCK
    max_distance = 1.0 - threshold + 1e-6
    found = []
    for start in range(0, len(queries), block):
        todo = queries[start : start + block]
        keys, dist = search(todo)
        invalid = keys == todo[:, None]
        dist[invalid] = np.inf
        keys[invalid] = np.iinfo(np.int64).max
        order = np.lexsort((keys, dist), axis=1)[:, :k]
        keys, dist = np.take_along_axis(keys, order, 1), np.take_along_axis(dist, order, 1)
        r, c = np.nonzero(dist <= max_distance)
        found.append(np.stack([todo[r], keys[r, c], 1.0 - dist[r, c]], axis=1))
    return np.concatenate(found)


def _exact_search(unit: np.ndarray, rows: np.ndarray, kk: int, block: int, threshold: float):
    """Brute force (BLAS): per query, up to ``kk`` of ``rows`` with cosine >= ``threshold``
    (the ``kk`` most similar where more are), as (keys, distances) padded with inf."""
    base = unit[rows]

    def search(todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = unit[todo] @ base.T
        within = sims >= threshold - 1e-6
        dense = within.sum(axis=1) > kk
        keys = np.full((len(todo), kk), np.iinfo(np.int64).max, dtype=np.int64)
        dist = np.full((len(todo), kk), np.inf)
        within[dense] = False
        r, c = np.nonzero(within)  # row-major: a row's hits are contiguous
        slot = np.arange(len(r)) - np.searchsorted(r, r)
        keys[r, slot], dist[r, slot] = rows[c], 1.0 - sims[r, c]
        crowded_rows = np.nonzero(dense)[0]
        if len(crowded_rows):  # only rows with more than kk hits need a partial sort
            sub = sims[crowded_rows]
            top = np.argpartition(-sub, kk - 1, axis=1)[:, :kk]
            keys[crowded_rows] = rows[top]
            dist[crowded_rows] = 1.0 - np.take_along_axis(sub, top, 1)
        return keys, dist

    return search


def _index_search(index: Index, vectors: np.ndarray, kk: int):
    """HNSW (usearch): the ``kk`` approximate nearest per query, (keys, distances)."""

    def search(todo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matches = index.search(vectors[todo], kk)
        keys = np.asarray(matches.keys, dtype=np.int64).reshape(len(todo), -1)
        dist = np.asarray(matches.distances, dtype=np.float64).reshape(len(todo), -1)
        missing = np.arange(keys.shape[1])[None, :] >= np.asarray(matches.counts).reshape(-1, 1)
        dist[missing] = np.inf
        return keys, dist

    return search


def cosine_pairs(
    vectors: np.ndarray, threshold: float, k: int = NEIGHBOURS, queries: np.ndarray | None = None
) -> np.ndarray:
    """Links (i, j, cosine), i < j, cosine >= threshold, as a float64 array (m, 3), unique and
    sorted: each row to the smallest row with the same vector (cosine 1), and each distinct
    vector to its ``k`` nearest distinct vectors within the threshold. At most (k + 1) links per
    row, so dense clusters stay linear; their groups (``components``) come by transitivity.

    ``queries`` (row indices) limits the work to the links of those rows (all rows by default):
    how new vectors are searched against everything already seen."""
    n = len(vectors)
    if n < 2:
        return np.zeros((0, 3))
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    first = identical_first(v)
    asked = np.arange(n) if queries is None else np.unique(np.asarray(queries, dtype=np.int64))
    rep_asked = np.zeros(n, dtype=bool)
    rep_asked[first[asked]] = True
    is_asked = np.zeros(n, dtype=bool)
    is_asked[asked] = True
    copy = np.nonzero((first != np.arange(n)) & (is_asked | rep_asked[first]))[0]
    links = [
        np.stack([first[copy], copy, np.ones(len(copy))], axis=1),
        _nearest(v, np.nonzero(first == np.arange(n))[0], np.nonzero(rep_asked)[0], threshold, k),
    ]
    pairs = np.concatenate(links)
    if not len(pairs):
        return pairs
    lo = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    hi = np.maximum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    _, unique = np.unique(lo * n + hi, return_index=True)  # sorted by (lo, hi)
    return np.stack([lo[unique], hi[unique], pairs[unique, 2]], axis=1)


@dataclass
class PairCache:
    """The links (``cosine_pairs``) with cosine >= ``threshold`` among ``keys`` (vectors of
    ``model``): what a later run re-uses, so only new contents are searched."""

    model: str
    threshold: float
    keys: list[str]
    pairs: pl.DataFrame  # a, b (keys, a < b), cosine

    @staticmethod
    def pair_frame(a=(), b=(), cosine=()) -> pl.DataFrame:
        return pl.DataFrame(
            {"a": a, "b": b, "cosine": cosine},
            schema={"a": pl.String, "b": pl.String, "cosine": pl.Float64},
        )


def _rows_to_search(
    cache: PairCache, keys: list[str], position: dict[str, int]
) -> tuple[np.ndarray, pl.DataFrame]:
    """Rows a cached run must search: keys it has not seen, and keys that lost a link to a key
    that is gone (their next nearest may now be needed); and the cached links still valid."""
    seen = set(cache.keys)
    new = [i for i, key in enumerate(keys) if key not in seen]
    current = pl.Series(list(position), dtype=pl.String)
    a_in, b_in = pl.col("a").is_in(current), pl.col("b").is_in(current)
    orphaned = cache.pairs.filter(a_in ^ b_in)
    orphaned = pl.concat([orphaned["a"], orphaned["b"]]).unique().to_list()
    touched = [position[key] for key in orphaned if key in position]
    return np.array(sorted(set(new) | set(touched)), dtype=np.int64), cache.pairs.filter(
        a_in & b_in
    )


def incremental_pairs(
    cache: PairCache | None, keys: list[str], vectors: np.ndarray, model: str, threshold: float
) -> tuple[pl.DataFrame, PairCache, dict]:
    """Links (a, b, cosine) of distinct ``keys`` with cosine >= ``threshold`` (see
    ``cosine_pairs``), re-using ``cache`` when it was made by the same model at a threshold <=
    this one: only keys it has not seen, and keys that lost a link to a key now gone, are
    searched (against all); links of keys that are gone are dropped. Otherwise (first run,
    another model, a lower threshold) everything is searched. ``keys`` must be unique.
    Where more than k vectors crowd within the threshold the links (not the groups, in the
    tests) can differ from a full search's, since cached links are kept. Returns (pairs, the cache to store, stats: searched, reused_pairs,
    full)."""
    order = sorted(range(len(keys)), key=keys.__getitem__)  # row order = key order: ties by id
    keys = [keys[i] for i in order]
    vectors = np.asarray(vectors)[np.asarray(order, dtype=np.int64)] if len(keys) else vectors
    position = {key: i for i, key in enumerate(keys)}
    usable = cache is not None and cache.model == model and cache.threshold <= threshold + 1e-12
    if usable:
        collect = cache.threshold
        rows, old = _rows_to_search(cache, keys, position)
    else:
        collect, rows, old = threshold, None, PairCache.pair_frame()
    if rows is None or len(rows):
        found = cosine_pairs(vectors, collect, queries=rows)
        names = pl.Series(keys, dtype=pl.String)
        fresh = PairCache.pair_frame(
            names.gather(found[:, 0].astype(np.int64)),
            names.gather(found[:, 1].astype(np.int64)),
            found[:, 2],
        )
    else:
        fresh = PairCache.pair_frame()
    everything = pl.concat([old, fresh]).unique(["a", "b"], keep="first").sort(["a", "b"])
    stats = {
        "searched": len(keys) if rows is None else int(len(rows)),
        "reused_pairs": old.height,
        "full": int(rows is None),
    }
    new_cache = PairCache(model, collect, list(keys), everything)
    return everything.filter(pl.col("cosine") >= threshold), new_cache, stats


MAX_GROUP_SHARE = 0.02  # a "duplicate group" holding more than 2% of the items (and > 20) ...
MAX_GROUP_MIN = 20  # ... means the threshold is wrong for these vectors, not a real copy set
IDENTICAL = 0.99995  # cosine of the same content stored twice (float16 round trip included)


def crowded(n: int, pairs: np.ndarray) -> int:
    """The largest transitive group's size when it is implausibly large for near-duplicates
    (> ``MAX_GROUP_SHARE`` of ``n`` and > ``MAX_GROUP_MIN``), else 0. Semantic copies come in
    small groups; a giant one means the model's space is more crowded than the threshold was
    calibrated for (e.g. an under-trained checkpoint), and applying it would merge distinct
    items. Pairs of identical vectors (the same text or image under several keys: exact
    duplicates, handled apart) do not count."""
    pairs = pairs[pairs[:, 2] < IDENTICAL] if len(pairs) else pairs
    if not len(pairs):
        return 0
    biggest = int(np.bincount(components(n, pairs)).max())
    return biggest if biggest > max(MAX_GROUP_MIN, MAX_GROUP_SHARE * n) else 0


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Component label per node for an undirected pair list (i, j, ...)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not len(pairs):
        return np.arange(n)
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def crowded_pairs(keys: list[str], pairs: pl.DataFrame) -> int:
    """``crowded`` for key pairs (``a``, ``b``, ``cosine``) among the distinct ``keys``."""
    if not pairs.height:
        return 0
    position = pl.DataFrame(
        {"key": keys, "i": np.arange(len(keys))}, schema_overrides={"key": pl.String}
    )
    rows = (
        pairs.join(position.rename({"key": "a", "i": "ia"}), on="a")
        .join(position.rename({"key": "b", "i": "ib"}), on="b")
        .select("ia", "ib", "cosine")
    )
    return crowded(len(keys), rows.to_numpy().astype(np.float64))
