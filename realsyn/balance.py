"""Semantic balance sampling at nested scales (RealSyn stage 4).

Cluster the surviving images' embeddings (spherical k-means, ~168 images per cluster: the paper
puts 168.3M images into 1M clusters), then per cluster keep all images if there are at most
``t``, else ``t`` of them. Which ``t``: the ones with the smallest *rank*, a seeded hash
of the image id. Ranks do not depend on ``t``, so the subset at a smaller ``t`` is contained in
the subset at a larger ``t``: the scales are nested (the paper does not say whether its are).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from realsyn.retrieval import ClusterParams, fit_clusters


@dataclass(frozen=True)
class BalanceParams:
    images_per_cluster: int = 168
    n_clusters: int | None = None
    seed: int = 0


def hash_rank(ids: list[str], seed: int) -> np.ndarray:
    """A seeded pseudo-random but reproducible order key per id (uint64)."""
    out = np.empty(len(ids), dtype=np.uint64)
    for i, key in enumerate(ids):
        digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big")
    return out


def cluster_images(vectors: np.ndarray, params: BalanceParams) -> np.ndarray:
    """Cluster label per image (the same k-means as the sentence clusters)."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    cp = ClusterParams(
        sentences_per_cluster=params.images_per_cluster,
        n_clusters=params.n_clusters,
        seed=params.seed,
    )
    return fit_clusters(vectors, cp).labels


def rank_within_cluster(labels: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Position of each image inside its cluster when sorted by rank (0 = first chosen)."""
    order = np.lexsort((ranks, labels))
    position = np.empty(len(labels), dtype=np.int64)
    sorted_labels = labels[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_labels))[0] + 1]
    counts = np.diff(np.r_[starts, len(labels)])
    position[order] = np.arange(len(labels)) - np.repeat(starts, counts)
    return position


def select(position: np.ndarray, t: int) -> np.ndarray:
    """Boolean mask of the images kept at per-cluster cap ``t``."""
    return position < t


def gini(sizes: np.ndarray) -> float:
    """Gini coefficient of cluster sizes (0 = perfectly balanced)."""
    x = np.sort(np.asarray(sizes, dtype=np.float64))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


PAPER_BAND = (0.51, 0.61)  # the paper's cosine band (EVA02-CLIP E/14+: model-specific)


@dataclass
class PoolReport:
    """``balanced_pool``'s table and what its page shows (stats add up: pairs = kept + dropped)."""

    pool: pl.DataFrame
    cosine: np.ndarray  # every pair's cosine(image, pair text), before the band
    sizes: np.ndarray  # images per image cluster
    stats: dict[str, int]
    quantiles: dict[str, float]  # pair_cosine_p5 .. p95 (absent without pairs)
    in_paper_band: float  # share of pairs inside PAPER_BAND, whether or not it was applied


def balance_pool(
    pairs: pl.DataFrame,
    images: np.ndarray,
    texts: np.ndarray,
    has_syn: np.ndarray,
    params: BalanceParams,
    band: tuple[float, float] | None,
) -> PoolReport:
    """Score each pair (cosine of its image and text vectors), keep those inside ``band`` (None:
    all), cluster the kept images and rank them within their cluster by a seeded hash.

    Args:
        pairs: retrieval pairs (with ``image_id``), row i described by ``images[i]``, ``texts[i]``.
        images, texts: unit vectors of each pair's image and of its pair text (syn_text where
            ``has_syn``, else text1).
        params: image clustering and the rank seed.
        band: (low, high) cosine bounds applied, or None.
    """
    cosine = (images * texts).sum(axis=1)
    keep = (
        (cosine >= band[0]) & (cosine <= band[1])
        if band is not None
        else np.ones(len(cosine), dtype=bool)
    )
    # An image with no retrieved text (document scope: its page kept no sentence) has no pair
    # to release: counted, never passed on to a release row without text1.
    has_text = (
        pairs["text1"].is_not_null().to_numpy()
        if "text1" in pairs.columns
        else np.ones(len(cosine), dtype=bool)
    )
    keep = keep & has_text
    pool = pairs.with_columns(
        pl.Series("pair_cosine", cosine.astype(np.float32)),
        pl.Series("pair_text", np.where(has_syn, "syn_text", "text1")),
    ).filter(pl.Series(keep))
    labels = cluster_images(images[keep], params)
    ranks = hash_rank(pool["image_id"].to_list(), params.seed)
    pool = pool.with_columns(
        pl.Series("image_cluster", labels, dtype=pl.Int64),
        pl.Series("cluster_rank", rank_within_cluster(labels, ranks), dtype=pl.Int64),
    )
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    quantiles = (
        {f"pair_cosine_p{q}": float(np.quantile(cosine, q / 100)) for q in (5, 25, 50, 75, 95)}
        if len(cosine)
        else {}
    )
    in_band = (cosine >= PAPER_BAND[0]) & (cosine <= PAPER_BAND[1])
    stats = {
        "pairs": int(len(cosine)),
        "kept": int(keep.sum()),
        "no_text": int((~has_text).sum()),
        "clusters": int(len(sizes)),
        "max_cluster": int(sizes.max()) if len(sizes) else 0,
    }
    in_paper_band = float(in_band.mean()) if len(cosine) else 0.0
    return PoolReport(pool, cosine, sizes, stats, quantiles, in_paper_band)


@dataclass
class SubsetReport:
    """One scale's subset of the pool, in the release's schema, and its stats."""

    subset: pl.DataFrame
    before: np.ndarray  # images per image cluster in the pool
    after: np.ndarray  # ... in the subset
    stats: dict[str, int]


def scaled_subset(pool: pl.DataFrame, t: int, schema: dict[str, pl.DataType]) -> SubsetReport:
    """The pool's images of cluster rank < ``t`` (at most ``t`` per image cluster), with
    ``schema``'s columns (the release's) in order, sorted by image id."""
    subset = (
        pool.filter(pl.Series(select(pool["cluster_rank"].to_numpy(), t)))
        .with_columns(pl.col("cluster_id").alias("sentence_cluster"))
        .select(list(schema))
        .cast(schema)
        .sort("image_id")
    )
    before = np.bincount(pool["image_cluster"].to_numpy()) if pool.height else np.zeros(0)
    after = np.bincount(subset["image_cluster"].to_numpy()) if subset.height else np.zeros(0)
    stats = {
        "rows": subset.height,
        "pool": pool.height,
        "cap": t,
        "max_per_cluster": int(after.max()) if len(after) else 0,
    }
    return SubsetReport(subset, before, after, stats)
