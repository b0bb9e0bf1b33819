"""The bucketed corpus-wide stages at 1x, 4x, 16x: peak RSS and wall time of every step (each in
a fresh process), recall@3 against exact search, and a makespan projection to the paper's scale.

    python bench/scale.py [--sentences 25000] [--images 2500] [--scales 1,4,16] [--dim 64]

Synthetic clustered unit vectors (``realsyn.clustered``: topics of ~100 sentences grouped in
domains of ~50 topics; ``--flat-topics`` drops the domains) and Zipf word lists, in shards of a
fixed size (5,000 sentences, 500 images) with buckets of a fixed size (5,000 sentences: the
coarse k grows with the corpus), all through ``LocalEngine`` (one task at a time, the per-task
times are what a Ray worker would spend). Steps: sample (+ coarse k-means, the driver), assign
(per shard), fine (per bucket, + the codebook reduce), route / score / merge (retrieval), words
(streaming sum), dedup (sentences: exact by range + semantic per bucket + reduce), image_dedup
(images: exact by pHash range + multi-index pHash search + semantic per bucket of the image
vectors + reduce; 10% exact copies in the shard, 10% re-encodings a few pHash bits off a random
earlier image, 2% dropped). The projection scales
each step's summed task time linearly to 0.84B sentences / 198M images (per-task work is fixed
by the shard and bucket sizes), times 512/dim for the vector steps, divided over the workers,
plus the driver's serial time (the sample step), which does not grow.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

SHARD, IMAGE_SHARD, BUCKET = 5000, 500, 5000
SPREAD = 0.06  # per-dimension noise around a topic centre (norm ~0.5 at d=64)
PROBE = 4  # coarse buckets searched per image for its nearest fine centroids
PAPER_SENTENCES, PAPER_IMAGES, PAPER_DIM = 0.84e9, 198e6, 512
STEPS = ["sample", "assign", "fine", "route", "score", "merge", "words", "dedup", "image_dedup"]
VECTOR_STEPS = {"assign", "fine", "route", "score", "merge"}
IMAGE_STEPS = {"route", "score", "merge", "image_dedup"}
IMAGE_RANGE, PHASH_TASK = 2500, 2000  # images per pHash range; hashes per search task


class TimedEngine:
    """LocalEngine that records each task's seconds."""

    name = "local"

    def __init__(self):
        self.times: list[float] = []

    def map(self, fn, items):
        for item in items:
            t0 = time.perf_counter()
            out = fn(item)
            self.times.append(time.perf_counter() - t0)
            yield out


def word_table(store, shard):
    from realsyn.storage import read_partition_table

    return read_partition_table(store, "words_in", shard, "words")


def generate(root: Path, state: dict) -> None:
    import numpy as np
    import polars as pl

    from realsyn.clustered import clustered_vectors, topic_centers, unit_centers, write_shards
    from realsyn.storage import LocalStorage, write_partition

    store = LocalStorage(root / "store")
    n, m, d = state["sentences"], state["images"], state["dim"]
    make = unit_centers if state.get("flat_topics") else topic_centers
    centers = make(max(1, n // 100), d, seed=1)
    shards, images = [], []
    for lo in range(0, n, SHARD):
        x, _ = clustered_vectors(min(SHARD, n - lo), centers, SPREAD, seed=10 + lo)
        shards += write_shards(store, "sentences_in", "s", x, SHARD, "sentence_id", start=lo)
        rng = np.random.default_rng(lo)
        words = pl.DataFrame({"word": [f"w{z}" for z in rng.zipf(1.3, SHARD * 8) % 50_000]})
        write_partition(
            store, "words_in", shards[-1], {"words": words.group_by("word").len("count")}
        )
    for lo in range(0, m, IMAGE_SHARD):
        y, _ = clustered_vectors(min(IMAGE_SHARD, m - lo), centers, SPREAD, seed=10**7 + lo)
        images += write_shards(store, "images_in", "i", y, IMAGE_SHARD, "image_id", start=lo)
        write_image_meta(store, images[-1], lo, y)
    state.update(shards=shards, image_shards=images)


def write_image_meta(store, shard: str, lo: int, vectors) -> None:
    """clean_images-like rows of one image shard (``images_meta``: images; members and vectors
    of the kept contents for the semantic step), with exact copies and near pHashes."""
    import numpy as np
    import polars as pl

    from realsyn.bucket_image_dedup import _mix
    from realsyn.bucket_io import npy_bytes
    from realsyn.storage import write_partition

    rng = np.random.default_rng(lo + 7)
    n = len(vectors)
    src = np.arange(lo, lo + n)
    kind = rng.random(n)
    copy = kind < 0.1  # the same bytes as an earlier image of the shard
    src[copy] = lo + (rng.random(copy.sum()) * np.arange(n)[copy]).astype(np.int64)
    phash = _mix(src.astype(np.uint64))
    near = (kind >= 0.1) & (kind < 0.2)  # a re-encoding of any earlier image
    far = (rng.random(near.sum()) * np.maximum(src[near], 1)).astype(np.uint64)
    bits = rng.integers(0, 64, (near.sum(), 3)).astype(np.uint64)
    flips = (np.uint64(1) << bits).sum(axis=1, dtype=np.uint64)
    phash[near] = _mix(far) ^ flips
    sha = [f"{int(x):064x}" for x in np.where(near, src + (1 << 40), src)]
    vectors = vectors[src - lo] if n else vectors
    frame = pl.DataFrame(
        {
            "image_id": [f"i{lo + i:09d}" for i in range(n)],
            "shard": shard,
            "sha256": sha,
            "phash": pl.Series(phash, dtype=pl.UInt64),
            "width": rng.integers(100, 800, n),
            "height": rng.integers(100, 800, n),
            "n_bytes": rng.integers(10_000, 90_000, n),
            "decision": np.where(kind > 0.98, "drop", "keep"),
        }
    ).with_columns(pl.when(pl.col("decision") == "drop").then(pl.lit("too_small")).alias("reason"))
    kept = (frame["decision"] == "keep").to_numpy()
    members = frame.filter(pl.Series(kept)).select("sha256", "phash")
    write_partition(
        store,
        "images_meta",
        shard,
        {"images": frame, "members": members},
        files={"vectors.npy": npy_bytes(vectors[kept])},
    )


def image_rows(store, shard):
    from realsyn.storage import read_partition_table

    return read_partition_table(store, "images_meta", shard, "images")


def run_step(step: str, root: Path, state: dict) -> dict:
    import numpy as np

    from realsyn import buckets, codebook
    from realsyn.bucket_dedup import BucketDedupParams, dedup_bucketed
    from realsyn.storage import LocalStorage

    store, engine = LocalStorage(root / "store"), TimedEngine()
    src = codebook.StoredShards(store, "sentences_in")
    imgs = codebook.StoredShards(store, "images_in", id_column="image_id")
    n, shards, ishards = state["sentences"], state["shards"], state["image_shards"]
    params = codebook.CodebookParams(
        coarse_clusters=max(1, n // BUCKET), sample_size=20_000, iterations=10
    )
    counts_file, top_k, c = root / "counts.npy", 3, 3
    if step == "sample":
        sample = codebook.draw_sample(engine, src, shards, params.sample_size, params.seed)
        coarse = codebook.train_coarse(sample.vectors, params.coarse_for(n), params)
        np.save(root / "coarse.npy", coarse)
    elif step == "assign":
        coarse = np.load(root / "coarse.npy")
        fn = partial(codebook.assign_shard, src, store, "b_assign", coarse)
        np.save(counts_file, np.stack(list(engine.map(fn, shards))))
    elif step == "fine":
        counts = np.load(counts_file)
        rows = counts.sum(axis=0)
        k = np.array([params.fine_params().k_for(int(r)) if r else 0 for r in rows])
        base = np.concatenate([[0], np.cumsum(k)])
        tasks = [
            codebook.FineTask(
                b, tuple(s for s, x in zip(shards, counts[:, b], strict=True) if x), int(base[b])
            )
            for b in np.nonzero(rows)[0]
        ]
        fine = [f for _, f in engine.map(partial(codebook.fine_bucket, store, "b", params), tasks)]
        book = codebook.Codebook(
            np.load(root / "coarse.npy"), np.concatenate(fine), rows, base,
            np.concatenate([[0], np.cumsum(rows)]),
        )  # fmt: skip
        codebook.write_codebook(store, "b", book)
    elif step == "route":
        fn = partial(buckets.route_shard, imgs, store, "b", "b", c, PROBE)
        np.save(root / "routes.npy", np.stack(list(engine.map(fn, ishards))))
    elif step == "score":
        routes, book = np.load(root / "routes.npy"), codebook.read_codebook(store, "b")
        tasks = [
            buckets.ScoreTask(b, tuple((i, ishards[i]) for i in np.nonzero(routes[:, b])[0]), int(book.row_base[b]))
            for b in np.nonzero(routes.sum(axis=0))[0]
        ]  # fmt: skip
        list(
            engine.map(
                partial(buckets.score_bucket, store, "b", "b", top_k, ("sentence_id",)), tasks
            )
        )
    elif step == "merge":
        routes = np.load(root / "routes.npy")
        tasks = [
            buckets.MergeTask(i, s, tuple(np.nonzero(routes[i])[0])) for i, s in enumerate(ishards)
        ]
        fn = partial(buckets.merge_shard, store, "b", top_k, ("sentence_id",))
        np.save(
            root / "found.npy", np.concatenate([r.result.indices for r in engine.map(fn, tasks)])
        )
    elif step == "words":
        buckets.sum_word_counts(engine, partial(word_table, store), shards)
    elif step == "dedup":
        dp = BucketDedupParams(ranges=max(1, n // 25_000), threshold=0.995)
        dedup_bucketed(engine, src, shards, store, "b", dp, np.load(counts_file))
    elif step == "image_dedup":
        from realsyn.bucket_image_dedup import (
            ImageBucketParams,
            dedup_images_bucketed,
            tasks_for,
        )

        m, meta = state["images"], codebook.StoredShards(store, "images_meta", id_column="sha256")
        book = codebook.CodebookParams(
            coarse_clusters=max(1, m // BUCKET), sample_size=20_000, iterations=10
        )
        _coarse, assigned = codebook.assign_all(engine, meta, ishards, store, "d", book)
        ip = ImageBucketParams(
            ranges=max(1, m // IMAGE_RANGE),
            phash_tasks=tasks_for(m, 10, PHASH_TASK),
            threshold=0.995,
        )
        dedup_images_bucketed(engine, partial(image_rows, store), ishards, store, "d", ip, assigned)
    elif step == "recall":
        return {"recall_at_3": recall(store, root, ishards, imgs)}
    return {"tasks": len(engine.times), "task_seconds": sum(engine.times),
            "max_task": max(engine.times, default=0.0)}  # fmt: skip


def recall(store, root, ishards, imgs, sample=400) -> float:
    """recall@3 of the bucketed result against exact search over the whole pool (evaluation
    only: this loads every sentence)."""
    import numpy as np

    from realsyn.codebook import flat_pool, read_codebook
    from realsyn.retrieval import brute_force

    _clusters, pool, _members = flat_pool(store, "b", read_codebook(store, "b"))
    images = np.concatenate([imgs.load(s)[1] for s in ishards])
    found = np.load(root / "found.npy")
    pick = np.random.default_rng(0).choice(len(images), min(sample, len(images)), replace=False)
    exact, _ = brute_force(images[pick], pool, 3)
    return float(
        np.mean([len(set(a) & set(b)) / 3 for a, b in zip(found[pick], exact, strict=True)])
    )


def child(step: str, root: str) -> None:
    import resource

    root_p = Path(root)
    state = json.loads((root_p / "state.json").read_text())
    import realsyn.bucket_dedup  # noqa: F401  (imports are not the step's work)
    import realsyn.bucket_image_dedup  # noqa: F401
    import realsyn.buckets  # noqa: F401

    if step in {"route", "score", "merge", "recall"}:
        import torch  # noqa: F401  (top-k; a worker pays it once, not per task)
    t0 = time.perf_counter()
    if step == "generate":
        generate(root_p, state)
        (root_p / "state.json").write_text(json.dumps(state))
        out = {}
    else:
        out = run_step(step, root_p, state)
    out.update(seconds=time.perf_counter() - t0,  # after imports
               peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # fmt: skip
    print(json.dumps(out))


def spawn(step: str, root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--root", str(root)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def project(results: dict, scale: int, dim: int) -> dict[int, float]:
    """Makespan (hours) at the paper's scale for 8 / 64 / 512 workers, from one scale's steps."""
    r = results[scale]
    serial = r["sample"]["seconds"]
    work = 0.0
    for step in STEPS[1:]:
        grow = (
            PAPER_IMAGES / r["images"] if step in IMAGE_STEPS else PAPER_SENTENCES / r["sentences"]
        )
        work += r[step]["task_seconds"] * grow * (PAPER_DIM / dim if step in VECTOR_STEPS else 1)
    return {w: (serial + work / w) / 3600 for w in (8, 64, 512)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child")
    parser.add_argument("--root")
    parser.add_argument("--sentences", type=int, default=25_000)
    parser.add_argument("--images", type=int, default=2_500)
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument(
        "--flat-topics",
        action="store_true",
        help="topic centres without domains (no coarse structure)",
    )
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.root)
    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="realsyn-scale-") as tmp:
        for scale in map(int, args.scales.split(",")):
            root = Path(tmp, f"x{scale}")
            root.mkdir()
            n, m = args.sentences * scale, args.images * scale
            (root / "state.json").write_text(
                json.dumps(
                    {"sentences": n, "images": m, "dim": args.dim, "flat_topics": args.flat_topics}
                )
            )
            spawn("generate", root)
            res = {"sentences": n, "images": m}
            for step in [*STEPS, "recall"]:
                res[step] = spawn(step, root)
                print(f"{scale:>3}x {step:<7} {json.dumps(res[step])}", flush=True)
            results[scale] = res
    scales = sorted(results)
    lo, hi = scales[0], scales[-1]
    doublings = max(1.0, math.log2(hi / lo))
    print(
        f"\nstep        peak MB ({' / '.join(f'{s}x' for s in scales)})   RSS {hi}x/{lo}x   wall per doubling"
    )
    for step in STEPS:
        rss = [results[s][step]["peak_mb"] for s in scales]
        wall = [results[s][step]["seconds"] for s in scales]
        per = (wall[-1] / wall[0]) ** (1 / doublings)
        print(
            f"{step:<11} {' / '.join(f'{x:7.0f}' for x in rss)}   {rss[-1] / rss[0]:5.2f}x   {per:5.2f}x"
        )
    total = [sum(results[s][st]["seconds"] for st in STEPS) for s in scales]
    print(f"all steps wall: {' / '.join(f'{t:.1f}s' for t in total)} "
          f"({(total[-1] / total[0]) ** (1 / doublings):.2f}x per doubling)")  # fmt: skip
    print(
        "recall@3 vs exact: "
        + " / ".join(f"{results[s]['recall']['recall_at_3']:.3f}" for s in scales)
    )
    hours = project(results, hi, args.dim)
    print(f"paper scale (0.84B sentences, 198M images, d=512), from {hi}x: makespan "
          + ", ".join(f"{w} workers {h:.1f} h" for w, h in hours.items()))  # fmt: skip


if __name__ == "__main__":
    main()
