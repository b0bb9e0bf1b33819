"""Near-duplicate pairs by cosine similarity of unit embeddings (usearch), and their groups.

Pairs with cosine >= ``threshold`` are found with a usearch cosine index: exact (brute force,
SIMD) up to ``EXACT_SEARCH_MAX`` vectors, HNSW beyond. Each query asks for ``k`` neighbours and
is re-asked with 2k while all of them are above the threshold, so dense groups are not cut.
Groups are connected components (scipy) of the pair graph: transitive, like the pHash groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from usearch.index import Index

EXACT_SEARCH_MAX = 50_000
DEFAULT_DUP_COSINE = 0.95
# Calibrated duplicate thresholds per architecture and modality (bench/dedup_calibration.py on
# the generated world, with the demo's trained realsyn-tiny: 40 epochs on alt texts, then 40 on
# alt texts + the page sentences round 1 chose). Images (float16 as stored): at 0.998 pair
# precision 0.91, recall 0.77 (0.995: 0.64/0.95; 0.999: 0.97/0.66; the one-round 80-epoch model
# had 0.94/0.90 at 0.995). Sentences: 2.5% of distinct world sentences have a neighbour above
# 0.999, and 57 of its 58 pairs are narrative filler (``A young student sorted the paper last
# weekend.`` / ``... painted the fence ...``) that says nothing visual; descriptions merge only
# below ~0.997.
DUP_COSINE_BY_MODEL: dict[str, dict[str, float | None]] = {
    "realsyn-tiny": {"image": 0.998, "text": 0.999}
}


def dup_cosine_for(model_identity: str, modality: str) -> float | None:
    """The duplicate threshold for ``modality`` (``image``/``text``) vectors made by
    ``model_identity`` (``<arch>@<weights>``): the calibrated one for its architecture (None:
    semantic dedup is unreliable with it), else ``DEFAULT_DUP_COSINE`` (a starting point for
    large CLIPs; calibrate it on your data)."""
    calibrated = DUP_COSINE_BY_MODEL.get(model_identity.split("@")[0])
    return calibrated.get(modality) if calibrated else DEFAULT_DUP_COSINE


def cosine_pairs(
    vectors: np.ndarray, threshold: float, k: int = 16, queries: np.ndarray | None = None
) -> np.ndarray:
    """(i, j, cosine) rows with i < j and cosine >= threshold, as a float64 array (m, 3).

    ``queries`` (row indices) limits the search to the pairs that involve those rows (all rows
    by default): how new vectors are searched against everything already seen."""
    n = len(vectors)
    if n < 2:
        return np.zeros((0, 3))
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32")
    index.add(np.arange(n), vectors.astype(np.float32))
    exact = n <= EXACT_SEARCH_MAX
    todo = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    kk, found = min(k, n), []
    max_distance = 1.0 - threshold
    while len(todo):
        matches = index.search(vectors[todo].astype(np.float32), kk, exact=exact)
        keys = np.asarray(matches.keys).reshape(len(todo), -1)
        dist = np.asarray(matches.distances).reshape(len(todo), -1)
        within = dist <= max_distance + 1e-6
        rows, cols = np.nonzero(within & (keys != todo[:, None]))
        a, b = todo[rows], keys[rows, cols].astype(np.int64)
        found.append(np.stack([np.minimum(a, b), np.maximum(a, b), 1.0 - dist[rows, cols]], axis=1))
        saturated = within.all(axis=1) & (kk < n)
        todo, kk = todo[saturated], min(kk * 2, n)
    pairs = np.concatenate(found) if found else np.zeros((0, 3))
    if not len(pairs):
        return pairs
    _, unique = np.unique(pairs[:, :2].astype(np.int64), axis=0, return_index=True)
    return pairs[np.sort(unique)]


@dataclass
class PairCache:
    """Every pair with cosine >= ``threshold`` among ``keys`` (vectors of ``model``): what a
    later run re-uses, so only new contents are searched."""

    model: str
    threshold: float
    keys: list[str]
    pairs: pl.DataFrame  # a, b (keys, a < b), cosine

    @staticmethod
    def pair_frame(a=(), b=(), cosine=()) -> pl.DataFrame:
        return pl.DataFrame(
            {"a": list(a), "b": list(b), "cosine": list(cosine)},
            schema={"a": pl.String, "b": pl.String, "cosine": pl.Float64},
        )


def incremental_pairs(
    cache: PairCache | None, keys: list[str], vectors: np.ndarray, model: str, threshold: float
) -> tuple[pl.DataFrame, PairCache, dict]:
    """Pairs (a, b, cosine) of distinct ``keys`` with cosine >= ``threshold``, re-using ``cache``
    when it was made by the same model at a threshold <= this one: only keys it has not seen
    are searched (against all), and pairs of keys that are gone are dropped. Otherwise (first
    run, another model, a lower threshold) everything is searched. ``keys`` must be unique.
    Returns (pairs, the cache to store, stats: searched, reused_pairs, full)."""
    position = {k: i for i, k in enumerate(keys)}
    usable = cache is not None and cache.model == model and cache.threshold <= threshold + 1e-12
    if usable:
        collect = cache.threshold
        seen = set(cache.keys)
        new_rows = np.array([i for i, k in enumerate(keys) if k not in seen], dtype=np.int64)
        old = cache.pairs.filter(
            pl.col("a").is_in(list(position)) & pl.col("b").is_in(list(position))
        )
    else:
        collect, new_rows, old = threshold, None, PairCache.pair_frame()
    if new_rows is None or len(new_rows):
        found = cosine_pairs(vectors, collect, queries=new_rows)
        names = [keys[int(i)] for i in found[:, 0]], [keys[int(j)] for j in found[:, 1]]
        a = [min(x, y) for x, y in zip(*names, strict=True)]
        b = [max(x, y) for x, y in zip(*names, strict=True)]
        fresh = PairCache.pair_frame(a, b, found[:, 2].tolist())
    else:
        fresh = PairCache.pair_frame()
    everything = pl.concat([old, fresh]).unique(["a", "b"], keep="first").sort(["a", "b"])
    stats = {
        "searched": len(keys) if new_rows is None else int(len(new_rows)),
        "reused_pairs": old.height,
        "full": int(new_rows is None),
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
