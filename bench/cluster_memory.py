"""Peak memory and time of the clustering step (sentence_clusters' fit_clusters) at scale.

    python bench/cluster_memory.py [--sizes 250000,1000000] [--dim 512]

Each size runs in a fresh process: it loads structured float32 embeddings (the Gaussian
mixture of bench/retrieval.py, made and saved by another process), records the peak RSS with
the data alone (the baseline: what any in-memory clustering of these vectors must hold), fits and assigns with
``realsyn.retrieval.fit_clusters`` (faiss spherical k-means, ~420 sentences per cluster, at
most 256 training points per centroid, 65k-row assignment batches) and records the peak again.
Prints the clustering's own overhead and the ratio of the peak to the data's size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make(n: int, dim: int, path: str) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT / "bench"))
    from retrieval import mixture, unit

    rng = np.random.default_rng(0)
    topics = unit(rng.standard_normal((20_000, dim), dtype=np.float32))
    weights = 1.0 / np.arange(1, len(topics) + 1) ** 1.1
    np.save(path, mixture(n, topics, weights / weights.sum(), 0.025, rng))


def child(path: str) -> dict:
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from realsyn.retrieval import ClusterParams, fit_clusters

    x = np.load(path)  # the float32 matrix the asset holds after reading the float16 vectors
    n, dim = x.shape
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    clusters = fit_clusters(x, ClusterParams())
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": n,
        "dim": dim,
        "clusters": int(len(clusters.offsets) - 1),
        "data_mb": x.nbytes / 2**20,
        "peak_with_data_only_mb": base_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="250000,1000000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--child")
    parser.add_argument("--make", nargs=2)
    args = parser.parse_args()
    if args.make:
        make(int(args.make[0]), args.dim, args.make[1])
        return
    if args.child:
        print(json.dumps(child(args.child)))
        return
    print(
        "| sentences | clusters | data MB | peak, data only MB | peak MB | k-means overhead MB "
        "| peak / data | seconds |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        path = str(Path(tempfile.gettempdir()) / f"realsyn-cluster-bench-{n}-{args.dim}.npy")
        subprocess.run(
            [sys.executable, __file__, "--make", str(n), path, "--dim", str(args.dim)], check=True
        )
        out = subprocess.run(
            [sys.executable, __file__, "--child", path], capture_output=True, text=True, check=True
        )
        Path(path).unlink()
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {r['n']:,} | {r['clusters']:,} | {r['data_mb']:,.0f} | "
            f"{r['peak_with_data_only_mb']:,.0f} | {r['peak_mb']:,.0f} | "
            f"{r['peak_mb'] - r['peak_with_data_only_mb']:,.0f} | "
            f"{r['peak_mb'] / r['data_mb']:.2f}x | {r['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
