"""Hierarchical retrieval against exact brute force, on structured embeddings.

    python bench/retrieval.py [--sentences 1000000] [--queries 100000] [--dim 512]
                              [--exact-queries 2000] [--searched 1,2,4,8]

Data: a Gaussian mixture on the unit sphere (the ENV notes show HNSW and clustering behave
very differently on i.i.d. noise, which no real embedding resembles): 20k topic directions with
a long-tailed (Zipf) popularity; sentences and images are noisy copies of topic directions.
Steps measured (2 threads unless OMP_NUM_THREADS says otherwise):
  * k-means (faiss, spherical, ~420 sentences per cluster as the paper) on --sentences x --dim;
  * brute force: exact top-3 by a blocked matrix product for --exact-queries queries,
    extrapolated linearly to --queries (exactly what brute force would cost);
  * hierarchical: nearest c centroids, then one product per cluster, for every query;
  * recall@3 of hierarchical against the exact top-3 on the --exact-queries subset;
  * the fine step's GFLOP/s (its time without the coarse centroid search) against this
    machine's measured float32 matmul peak;
  * the same fine step as before wave 2 (``retrieve_baseline``: a scan of every image per
    cluster and a running merge), side by side: its time, the ratio and the share of images
    with the same top-3.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.retrieval import (  # noqa: E402
    ClusterParams,
    RetrievalParams,
    brute_force,
    fit_clusters,
    nearest_centroids,
    retrieve,
)


def retrieve_baseline(images, sorted_sentences, clusters, params):
    """The fine step before wave 2 (the baseline): per cluster, a scan of every image's nearest
    clusters to find who searches it, and a running top-k merge per cluster."""
    m, k = len(images), params.top_k
    best_i = np.full((m, k), -1, dtype=np.int64)
    best_s = np.full((m, k), -np.inf, dtype=np.float32)
    near = nearest_centroids(images, clusters.centroids, params.clusters_searched)
    for c in np.unique(near):
        rows = np.nonzero((near == c).any(axis=1))[0]
        lo, hi = clusters.offsets[c], clusters.offsets[c + 1]
        if hi > lo:
            sims = images[rows] @ sorted_sentences[lo:hi].T
            kk = min(k, hi - lo)
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            cat_i = np.concatenate([best_i[rows], part + lo], axis=1)
            cat_s = np.concatenate([best_s[rows], np.take_along_axis(sims, part, 1)], axis=1)
            top = np.argsort(-cat_s, axis=1, kind="stable")[:, :k]
            best_i[rows] = np.take_along_axis(cat_i, top, 1)
            best_s[rows] = np.take_along_axis(cat_s, top, 1)
    return best_i


def unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def mixture(n: int, topics: np.ndarray, weights: np.ndarray, noise: float, rng) -> np.ndarray:
    out = np.empty((n, topics.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        pick = rng.choice(len(topics), m, p=weights)
        block = topics[pick] + noise * rng.standard_normal((m, topics.shape[1]), dtype=np.float32)
        out[start : start + m] = unit(block)
    return out


def matmul_peak(dim: int) -> float:
    a = np.random.default_rng(0).standard_normal((2048, dim), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((dim, 8192), dtype=np.float32)
    a @ b
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 2048 * dim * 8192 / (time.perf_counter() - t0) / 1e9


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sentences", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--topics", type=int, default=20_000)
    p.add_argument("--exact-queries", type=int, default=2_000)
    p.add_argument("--searched", default="1,2,4,8")
    p.add_argument("--noise", type=float, default=0.045)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    topics = unit(rng.standard_normal((args.topics, args.dim), dtype=np.float32))
    weights = 1.0 / np.arange(1, args.topics + 1) ** 0.8
    weights /= weights.sum()
    t0 = time.perf_counter()
    sentences = mixture(args.sentences, topics, weights, args.noise, rng)
    queries = mixture(args.queries, topics, weights, args.noise, rng)
    print(
        f"data: {args.sentences:,} sentences, {args.queries:,} queries, d={args.dim} "
        f"({time.perf_counter() - t0:.0f} s to generate)"
    )
    peak = matmul_peak(args.dim)
    print(f"float32 matmul peak on this machine: {peak:.0f} GFLOP/s")

    t0 = time.perf_counter()
    clusters = fit_clusters(sentences, ClusterParams(seed=0))
    t_kmeans = time.perf_counter() - t0
    sizes = np.diff(clusters.offsets)
    print(
        f"k-means: {len(clusters.centroids):,} clusters in {t_kmeans:.0f} s "
        f"(sizes min {sizes.min()}, median {int(np.median(sizes))}, max {sizes.max()})"
    )
    ordered = sentences[clusters.order]
    del sentences

    sub = queries[: args.exact_queries]
    t0 = time.perf_counter()
    exact_i, _ = brute_force(sub, ordered)
    t_exact = (time.perf_counter() - t0) * args.queries / len(sub)
    print(
        f"brute force: {t_exact:.0f} s for {args.queries:,} queries (extrapolated from {len(sub):,})"
    )
    print(
        f"\n{'clusters searched':>17} {'time s':>8} {'speedup':>8} {'recall@3':>9} "
        f"{'fine GFLOP/s':>12} {'of peak':>8} {'baseline s':>10} {'vs baseline':>11} "
        f"{'same top-3':>10}"
    )
    baseline = {}
    for c in [int(x) for x in args.searched.split(",")]:
        t0 = time.perf_counter()
        base_i = retrieve_baseline(queries, ordered, clusters, RetrievalParams(clusters_searched=c))
        baseline[c] = (time.perf_counter() - t0, base_i)
    for c in [int(x) for x in args.searched.split(",")]:
        t0 = time.perf_counter()
        result = retrieve(queries, ordered, clusters, RetrievalParams(clusters_searched=c))
        t = time.perf_counter() - t0
        t0 = time.perf_counter()
        nearest_centroids(queries, clusters.centroids, c)
        t_fine = max(1e-9, t - (time.perf_counter() - t0))  # the fine step alone
        t_base, base_i = baseline[c]
        same = np.mean([set(a) == set(b) for a, b in zip(result.indices, base_i, strict=True)])
        hits = [
            len(set(a) & set(b)) / 3
            for a, b in zip(result.indices[: len(sub)], exact_i, strict=True)
        ]
        flops = 2.0 * result.candidates.sum() * args.dim
        print(
            f"{c:>17} {t:>8.1f} {t_exact / t:>8.1f} {np.mean(hits):>9.3f} "
            f"{flops / t_fine / 1e9:>12.1f} {flops / t_fine / 1e9 / peak:>8.1%} {t_base:>10.1f} "
            f"{t_base / t:>10.1f}x {same:>10.1%}"
        )


if __name__ == "__main__":
    main()
