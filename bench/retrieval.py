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
  * the fine step's GFLOP/s against this machine's measured float32 matmul peak.
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
    retrieve,
)


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
        f"{'fine GFLOP/s':>12} {'of peak':>8}"
    )
    for c in [int(x) for x in args.searched.split(",")]:
        t0 = time.perf_counter()
        result = retrieve(queries, ordered, clusters, RetrievalParams(clusters_searched=c))
        t = time.perf_counter() - t0
        hits = [
            len(set(a) & set(b)) / 3
            for a, b in zip(result.indices[: len(sub)], exact_i, strict=True)
        ]
        flops = 2.0 * result.candidates.sum() * args.dim
        print(
            f"{c:>17} {t:>8.1f} {t_exact / t:>8.1f} {np.mean(hits):>9.3f} "
            f"{flops / t / 1e9:>12.1f} {flops / t / 1e9 / peak:>8.1%}"
        )


if __name__ == "__main__":
    main()
