"""Semantic dedup on dense duplicate clusters: the old widening search against the bounded one.

    python bench/dedup_dense.py [--n 200000] [--baseline-n 15000] [--dim 64] [--background 20000]

Two inputs, each a dense cluster plus ``--background`` unrelated unit vectors, shuffled:
``identical`` (n copies of one vector: a boilerplate sentence or banner seen n times) and
``near`` (n vectors within cosine ~0.995 of one direction, all pairwise above the 0.95
threshold). Every run is a fresh child process (``ru_maxrss`` is its peak RSS, and a child that
only builds the input is the floor), with an address-space cap and a timeout so the baseline
cannot take the machine down: the old algorithm enumerates all n^2/2 pairs of a dense cluster,
so it runs at ``--baseline-n`` only (say which in any figure you quote; on 2 busy cores 2,000
copies already take it ~30-60 s and 1.2 GB). The new one runs at ``--baseline-n`` (for the
ratio) and at ``--n`` (identical) / ``--near-n`` (near: above ``EXACT_SEARCH_MAX`` distinct
vectors it is an HNSW build, whose time on random-like clusters grows faster than linearly).

``old`` is a verbatim copy of ``cosine_pairs`` before the bound (re-asks with 2k while every
neighbour is within the threshold); ``new`` is ``realsyn.semantic_dedup.cosine_pairs``; ``new+keys``
is what the asset runs (``incremental_pairs`` with string keys, then the crowded check).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from usearch.index import Index

THRESHOLD = 0.95


def old_cosine_pairs(
    vectors: np.ndarray, threshold: float, k: int = 16, queries: np.ndarray | None = None
) -> np.ndarray:
    """The baseline: realsyn.semantic_dedup.cosine_pairs before the bound (kept verbatim)."""
    n = len(vectors)
    if n < 2:
        return np.zeros((0, 3))
    index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32")
    index.add(np.arange(n), vectors.astype(np.float32))
    exact = n <= 50_000
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


def make_input(case: str, n: int, background: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    centre = unit(rng.normal(size=(1, dim)))
    if case == "identical":
        cluster = np.repeat(centre, n, axis=0)
    else:
        cluster = unit(centre + 0.1 / np.sqrt(dim) * rng.normal(size=(n, dim)))
    x = np.concatenate([cluster, unit(rng.normal(size=(background, dim)))])
    return x[rng.permutation(len(x))]


def child(algorithm: str, case: str, n: int, background: int, dim: int) -> dict:
    import resource

    from realsyn.semantic_dedup import components, cosine_pairs, crowded_pairs, incremental_pairs

    x = make_input(case, n, background, dim)
    t0 = time.perf_counter()
    if algorithm == "input":
        links, groups = 0, 0
    elif algorithm == "new+keys":
        keys = [f"k{i:08d}" for i in range(len(x))]
        pairs, _, _ = incremental_pairs(None, keys, x, "m", THRESHOLD)
        crowded_pairs(keys, pairs)
        links, groups = pairs.height, -1
    else:
        search = old_cosine_pairs if algorithm == "old" else cosine_pairs
        pairs = search(x, THRESHOLD)
        labels = components(len(x), pairs)
        links, groups = len(pairs), int(np.bincount(labels).max())
    return {
        "seconds": time.perf_counter() - t0,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "links": links,
        "largest_group": groups,
    }


def run_child(args, algorithm: str, case: str, n: int) -> dict:
    code = (
        "import json, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({args.cap_mb} << 20, {args.cap_mb} << 20))\n"
        "sys.path.insert(0, 'bench')\n"
        "from dedup_dense import child\n"
        f"print(json.dumps(child({algorithm!r}, {case!r}, {n}, {args.background}, {args.dim})))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {proc.returncode}: {last[:80]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="cluster size for the new search")
    parser.add_argument("--near-n", type=int, default=20_000, help="near cluster size, new")
    parser.add_argument("--baseline-n", type=int, default=2_000, help="cluster size, old vs new")
    parser.add_argument("--background", type=int, default=5_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per child")
    parser.add_argument("--cap-mb", type=int, default=6000, help="address-space cap per child")
    parser.add_argument("--cases", default="identical,near")
    args = parser.parse_args()
    print(f"dim {args.dim}, background {args.background:,}, threshold {THRESHOLD}")
    header = (
        f"{'case':<10} {'n':>8} {'algorithm':<9} {'wall s':>7} {'peak MB':>8} {'over input':>10}"
    )
    print(f"{header} {'links':>11} {'largest':>8}")
    for case in args.cases.split(","):
        big = args.n if case == "identical" else args.near_n
        rows = [("old", args.baseline_n), ("new", args.baseline_n), ("new", big)]
        rows.append(("new+keys", big))
        results = {}
        for algorithm, n in rows:
            floor = run_child(args, "input", case, n)
            out = run_child(args, algorithm, case, n)
            results[algorithm, n] = out
            if "error" in out:
                print(f"{case:<10} {n:>8,} {algorithm:<9} {out['error']}")
                continue
            over = out["peak_mb"] - floor.get("peak_mb", 0.0)
            print(
                f"{case:<10} {n:>8,} {algorithm:<9} {out['seconds']:>7.2f} {out['peak_mb']:>8.0f} "
                f"{over:>10.0f} {out['links']:>11,} {out['largest_group']:>8,}"
            )
        old, new = results["old", args.baseline_n], results["new", args.baseline_n]
        if "error" not in old and "error" not in new:
            print(
                f"{case:<10} at {args.baseline_n:,}: old/new wall {old['seconds'] / new['seconds']:.1f}x, "
                f"peak RSS {old['peak_mb'] / new['peak_mb']:.1f}x, links {old['links'] / max(new['links'], 1):.0f}x"
            )


if __name__ == "__main__":
    main()
