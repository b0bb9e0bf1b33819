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
