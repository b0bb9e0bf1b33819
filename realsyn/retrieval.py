"""Sentence clustering and RealSyn's hierarchical retrieval.

Clustering: spherical k-means (faiss) on the unit sentence embeddings. The number of clusters
follows the paper's ratio (0.84B sentences / 2M clusters = ~420 per cluster) unless set. It is
fitted on at most ``max_points_per_centroid`` x k sampled points (faiss samples them with the
seed), then every sentence is assigned to its nearest centroid in fixed-size batches, so memory
stays bounded by one batch of similarities. Same seed, same input: same clusters.

Retrieval: for each image, the ``clusters_searched`` nearest centroids (cosine, usearch), then
exact cosine against those clusters' sentences. Work is done cluster by cluster: all images
that search cluster c are scored against c's sentences in one matrix product, and per-image
running top-k lists are merged. ``brute_force`` scores every sentence, for evaluation.
:func:`pair_rows` turns a result into ``retrieval_pairs``' rows (:func:`realsyn.schemas.retrieval_schema`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from usearch.index import Index

from realsyn.schemas import MAX_TOP_K, retrieval_schema


@dataclass(frozen=True)
class ClusterParams:
    sentences_per_cluster: int = 420
    n_clusters: int | None = None
    iterations: int = 20
    max_points_per_centroid: int = 256
    seed: int = 0
    assign_batch: int = 65_536

    def k_for(self, n: int) -> int:
        k = self.n_clusters or math.ceil(n / self.sentences_per_cluster)
        return max(1, min(k, n))


@dataclass
class SentenceClusters:
    centroids: np.ndarray  # (k, d) unit rows
    labels: np.ndarray  # (n,) cluster of each input row
    order: np.ndarray  # input rows sorted by cluster (stable)
    offsets: np.ndarray  # (k + 1,): cluster c is order[offsets[c]:offsets[c + 1]]


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_clusters(
    vectors: np.ndarray,
    params: ClusterParams,
    progress: Callable[[int, int], None] | None = None,
) -> SentenceClusters:
    """Spherical k-means (faiss) on ``vectors``, then every vector assigned in batches.

    ``progress(done, total)`` is called once the centroids are fitted (0 assigned) and after
    each assignment batch.
    """
    import faiss

    n, d = vectors.shape
    k = params.k_for(n)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if k == 1:
        centroids = _normalize(x.mean(axis=0, keepdims=True))
    else:
        kmeans = faiss.Kmeans(
            d,
            k,
            niter=params.iterations,
            seed=params.seed,
            spherical=True,
            verbose=False,
            max_points_per_centroid=params.max_points_per_centroid,
        )
        kmeans.train(x)
        centroids = _normalize(kmeans.centroids.astype(np.float32))
    if progress is not None:
        progress(0, n)
    labels = assign_clusters(x, centroids, params.assign_batch, progress)
    order = np.argsort(labels, kind="stable")
    offsets = np.searchsorted(labels[order], np.arange(k + 1))
    return SentenceClusters(centroids, labels, order, offsets)


def assign_clusters(
    vectors: np.ndarray,
    centroids: np.ndarray,
    batch: int = 65_536,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    labels = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), batch):
        labels[start : start + batch] = np.argmax(
            vectors[start : start + batch] @ centroids.T, axis=1
        )
        if progress is not None:
            progress(min(start + batch, len(vectors)), len(vectors))
    return labels


@dataclass(frozen=True)
class RetrievalParams:
    """``top_k`` sentences per image (1..``MAX_TOP_K``) from its ``clusters_searched`` nearest
    sentence clusters. The paper searches one cluster; each further one costs one more small
    matrix product per image and recovers the true sentence of images that sit between two
    clusters (the measured precision per value is in the README, ``retrieval_pairs``)."""

    top_k: int = 3
    clusters_searched: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be in 1..{MAX_TOP_K}, got {self.top_k}")
        if self.clusters_searched < 1:
            raise ValueError(f"clusters_searched must be >= 1, got {self.clusters_searched}")


@dataclass
class RetrievalResult:
    indices: np.ndarray  # (m, top_k) rows of the cluster-sorted sentence matrix, -1 = none
    scores: np.ndarray  # (m, top_k) cosine, -inf where none
    cluster: np.ndarray  # (m,) the nearest cluster
    candidates: np.ndarray  # (m,) sentences scored for each image


def nearest_centroids(
    images: np.ndarray, centroids: np.ndarray, c: int, exact_limit: int = 100_000
) -> np.ndarray:
    """(m, c) nearest centroid ids by cosine, nearest first (ties: lower id first).

    Up to ``exact_limit`` centroids: exact, by blocked matrix products (one BLAS call per block
    of images, memory bounded by ~16M similarities). Beyond it (paper scale: ~2M clusters):
    usearch's HNSW index, approximate."""
    c = min(c, len(centroids))
    m = len(images)
    if len(centroids) > exact_limit:
        index = Index(ndim=centroids.shape[1], metric="cos", dtype="f32")
        index.add(np.arange(len(centroids)), centroids.astype(np.float32))
        matches = index.search(images.astype(np.float32), c)
        return np.asarray(matches.keys, dtype=np.int64).reshape(m, c)
    out = np.empty((m, c), dtype=np.int64)
    rows = max(1, (1 << 24) // max(1, len(centroids)))
    for start in range(0, m, rows):
        sims = images[start : start + rows] @ centroids.T
        part = _top_k_columns(sims, c)
        out[start : start + rows] = _top_k_rows(part, np.take_along_axis(sims, part, 1), c)[0]
    return out


def _top_k_columns(sims: np.ndarray, k: int) -> np.ndarray:
    """(n, k) column indices of each row's ``k`` largest values, in no particular order
    (:func:`_top_k_rows` orders them). torch's CPU top-k: ~7x numpy's argpartition here."""
    import torch

    if k >= sims.shape[1]:
        return np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
    scores = torch.from_numpy(np.ascontiguousarray(sims, dtype=np.float32))
    return torch.topk(scores, k, dim=1, sorted=False).indices.numpy()


def _top_k_rows(cand_i: np.ndarray, cand_s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` best candidates, best first; equal scores: lower sentence row first
    (so a result never depends on the order candidates were gathered in); ``-1`` / ``-inf``
    (none) sort last."""
    rank = np.lexsort((np.where(cand_i < 0, np.iinfo(np.int64).max, cand_i), -cand_s), axis=1)
    rank = rank[:, :k]
    return np.take_along_axis(cand_i, rank, 1), np.take_along_axis(cand_s, rank, 1)


def _merge_topk(best_i, best_s, new_i, new_s, k):
    return _top_k_rows(
        np.concatenate([best_i, new_i], axis=1), np.concatenate([best_s, new_s], axis=1), k
    )


def retrieve(
    images: np.ndarray,
    sorted_sentences: np.ndarray,
    clusters: SentenceClusters,
    params: RetrievalParams,
    progress: Callable[[int, int], None] | None = None,
) -> RetrievalResult:
    """Hierarchical top-k sentences for each image (indices into ``sorted_sentences``).

    Each (image, searched cluster) pair is one row of work. The pairs are sorted by cluster
    once, so every cluster's images are one contiguous slice: one matrix product per cluster
    (its images x its sentences, a cluster-contiguous block of ``sorted_sentences``) with no
    scan over all images per cluster. Each pair keeps its cluster's top-k; an image's
    ``clusters_searched`` lists are merged in one vectorized sort at the end (ties broken by the
    lower sentence row, so the result does not depend on the order clusters are visited in).
    """
    m, k = len(images), params.top_k
    if m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RetrievalResult(
            np.full((0, k), -1, dtype=np.int64), np.full((0, k), -np.inf, np.float32), empty, empty
        )
    near = nearest_centroids(images, clusters.centroids, params.clusters_searched)
    c = near.shape[1]
    pair_cluster = near.ravel()  # pair p is image p // c and its (p % c)-th nearest cluster
    order = np.argsort(pair_cluster, kind="stable")
    todo, starts = np.unique(pair_cluster[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    pair_i = np.full((m * c, k), -1, dtype=np.int64)
    pair_s = np.full((m * c, k), -np.inf, dtype=np.float32)
    pair_n = np.zeros(m * c, dtype=np.int64)
    for done, (cl, a, b) in enumerate(zip(todo, starts, ends, strict=True), 1):
        lo, hi = int(clusters.offsets[cl]), int(clusters.offsets[cl + 1])
        if hi > lo:
            pairs = order[a:b]
            sims = images[pairs // c] @ sorted_sentences[lo:hi].T  # one product per cluster
            kk = min(k, hi - lo)
            part = _top_k_columns(sims, kk)
            pair_s[pairs, :kk] = np.take_along_axis(sims, part, 1)
            pair_i[pairs, :kk] = part + lo
            pair_n[pairs] = hi - lo
        if progress:
            progress(done, len(todo))
    best_i, best_s = _top_k_rows(pair_i.reshape(m, c * k), pair_s.reshape(m, c * k), k)
    candidates = pair_n.reshape(m, c).sum(axis=1)
    return RetrievalResult(best_i, best_s, near[:, 0], candidates)


def brute_force(
    images: np.ndarray,
    sentences: np.ndarray,
    top_k: int = 3,
    batch: int = 1024,
    block: int = 65_536,
):
    """Exact top-k over every sentence: (indices, scores), best first. Memory is bounded by one
    ``batch`` x ``block`` similarity matrix."""
    kk = min(top_k, len(sentences))
    out_i = np.zeros((len(images), kk), dtype=np.int64)
    out_s = np.zeros((len(images), kk), dtype=np.float32)
    for start in range(0, len(images), batch):
        q = images[start : start + batch]
        best_i = np.full((len(q), kk), -1, dtype=np.int64)
        best_s = np.full((len(q), kk), -np.inf, dtype=np.float32)
        for lo in range(0, len(sentences), block):
            sims = q @ sentences[lo : lo + block].T
            part = _top_k_columns(sims, min(kk, sims.shape[1]))
            best_i, best_s = _merge_topk(
                best_i, best_s, part + lo, np.take_along_axis(sims, part, 1), kk
            )
        out_i[start : start + batch], out_s[start : start + batch] = best_i, best_s
    return out_i, out_s


IMAGE_COLUMNS = ("image_id", "shard", "sha256", "raw_image_url", "doc_id", "position")


@dataclass
class PairsReport:
    """``retrieval_pairs``' table of one shard and its stats (they add up across shards)."""

    table: pl.DataFrame
    stats: dict[str, int]
    quantiles: dict[str, float]  # score1_p10 / p50 / p90 (absent for an empty shard)


def pair_rows(
    images: pl.DataFrame,
    result: RetrievalResult,
    sentence_ids: list[str],
    texts: list[str],
    model: str,
    scope: str = "corpus",
    short_reason: str = "cluster_too_small",
) -> pl.DataFrame:
    """One row per image (``images``' order) with its ``top_k`` texts, best first.

    Args:
        images: the shard's surviving images (``IMAGE_COLUMNS``), in ``result``'s row order.
        result: :func:`retrieve`'s output; its width is the run's ``top_k``.
        sentence_ids, texts: the cluster-sorted sentence pool (``result.indices`` index them).
        model: the embedding model's identity, recorded per row.
        scope: the retrieval scope the result comes from (:mod:`realsyn.scope`), per row.
        short_reason: what a row with fewer than ``top_k`` texts records.

    Returns:
        A frame of :func:`realsyn.schemas.retrieval_schema` (``top_k``): text/sentence_id/score
        ``j`` for j <= ``top_k`` (null where the searched clusters held fewer sentences, and then
        ``short_reason``); text1..text3 always exist, null beyond ``top_k``. A negative
        ``result.cluster`` (no cluster searched) is a null ``cluster_id``.
    """
    top_k = result.indices.shape[1]
    schema = retrieval_schema(top_k)
    if len(images) != len(result.indices):
        raise ValueError(f"{len(images)} images but {len(result.indices)} retrieval rows")
    ids = np.asarray(sentence_ids, dtype=object)
    txt = np.asarray(texts, dtype=object)
    columns: dict[str, object] = {c: images[c] for c in IMAGE_COLUMNS}
    found = result.indices >= 0
    for j in range(top_k):
        idx, ok = result.indices[:, j], found[:, j]
        safe = np.where(ok, idx, 0)
        columns[f"text{j + 1}"] = np.where(ok, txt[safe] if len(txt) else None, None)
        columns[f"sentence_id{j + 1}"] = np.where(ok, ids[safe] if len(ids) else None, None)
        columns[f"score{j + 1}"] = np.where(ok, result.scores[:, j], np.nan)
    short = ~found.all(axis=1)
    columns["short_reason"] = np.where(short, short_reason, None)
    columns["cluster_id"] = np.where(result.cluster >= 0, result.cluster, None)
    columns["n_candidates"] = result.candidates
    columns["model"] = [model] * len(images)
    columns["scope"] = [scope] * len(images)
    frame = pl.DataFrame(
        {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in columns.items()},
        strict=False,
    )
    frame = frame.with_columns(pl.col(f"score{j + 1}").fill_nan(None) for j in range(top_k))
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns]
    return frame.with_columns(missing).select(list(schema)).cast(schema)


def pairs_report(
    images: pl.DataFrame,
    result: RetrievalResult,
    sentence_ids: list[str],
    texts: list[str],
    model: str,
    scope: str = "corpus",
    short_reason: str = "cluster_too_small",
) -> PairsReport:
    """:func:`pair_rows` plus the shard's stats: images, short rows, mean candidates scored,
    and score1 quantiles."""
    table = pair_rows(images, result, sentence_ids, texts, model, scope, short_reason)
    best = table["score1"].drop_nulls().to_numpy()
    quantiles = (
        {f"score1_p{q}": float(np.quantile(best, q / 100)) for q in (10, 50, 90)}
        if len(best)
        else {}
    )
    stats = {
        "images": table.height,
        "short": int(table["short_reason"].is_not_null().sum()),
        "mean_candidates": int(table["n_candidates"].mean() or 0),
    }
    return PairsReport(table, stats, quantiles)


@dataclass
class ClustersReport:
    """``sentence_clusters``' member table (cluster-sorted, with text) and its stats."""

    members: pl.DataFrame  # sentence_id, shard, cluster, text: in the clusters' order
    sizes: np.ndarray  # sentences per cluster
    stats: dict[str, int]


def clusters_report(
    members: pl.DataFrame, clusters: SentenceClusters, texts: pl.DataFrame
) -> ClustersReport:
    """The clustered sentences (``members``: sentence_id, shard; one row per clustered vector)
    in cluster order with their cluster and text (``texts``: sentence_id, text)."""
    ordered = (
        members[clusters.order]
        .with_columns(pl.Series("cluster", clusters.labels[clusters.order]))
        .join(texts, on="sentence_id", how="left", maintain_order="left")
    )
    sizes = np.diff(clusters.offsets)
    stats = {
        "sentences": len(members),
        "clusters": len(clusters.centroids),
        "min_size": int(sizes.min()),
        "median_size": int(np.median(sizes)),
        "max_size": int(sizes.max()),
    }
    return ClustersReport(ordered, sizes, stats)
