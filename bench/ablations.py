"""The paper's claims at toy scale: train the tiny CLIP on different subsets, same budget.

    python bench/ablations.py --data-root data --corpus demo [--scale t35] [--seeds 0 1 2]

Needs a finished main job (``balanced_pool`` and ``scaled_subsets``) on a corpus with a
generated world (held-out split in ``<corpus>/_world/eval.parquet``). Every arm trains the
same number of steps from the same init recipe; each seed changes the init, the draw of texts
and (for the random arm) the sample.

(a) balanced vs random at equal size: ``scaled_subsets[scale]`` against as many images drawn
    uniformly from ``balanced_pool`` (both with their 3 retrieved texts);
(b) texts: text1 only vs 3 retrieved texts vs 3 + syn_text (the last only when syn_text
    exists), all on ``balanced_pool``.

Prints mean and standard deviation over seeds of held-out image->text R@1/R@5, zero-shot shape
accuracy (all, head, tail) and colour accuracy.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import polars as pl

from realsyn.clip import load_clip
from realsyn.evaluation import evaluate_clip
from realsyn.schemas import image_blob_key
from realsyn.storage import open_storage, read_partition_table
from realsyn.train import TrainParams, train_clip

METRICS = (
    "image_to_text_r1",
    "image_to_text_r5",
    "shape_accuracy",
    "head_shape_accuracy",
    "tail_shape_accuracy",
    "colour_accuracy",
)


def run_arm(
    store,
    rows: pl.DataFrame,
    cols: list[str],
    seed: int,
    steps: int,
    batch: int,
    held_out: pl.DataFrame,
    tmp: Path,
) -> dict:
    texts = rows.select(pl.concat_list(cols).list.drop_nulls().alias("t"))["t"].to_list()
    keep = [i for i, t in enumerate(texts) if t]
    images = [store.read_bytes(image_blob_key(rows["sha256"][i])) for i in keep]
    texts = [texts[i] for i in keep]
    batch = min(batch, len(images))
    epochs = max(1, math.ceil(steps / max(1, len(images) // batch)))
    ckpt, stats = train_clip(
        "realsyn-tiny", images, texts, TrainParams(epochs=epochs, batch_size=batch, seed=seed)
    )
    path = tmp / f"ablation-{seed}.pt"
    path.write_bytes(ckpt)
    metrics = evaluate_clip(load_clip("realsyn-tiny", checkpoint_path=str(path)), held_out)
    return {**{m: metrics[m] for m in METRICS}, "images": len(images), "steps": stats["steps"]}


def summarize(name: str, results: list[dict]) -> str:
    cells = []
    for m in METRICS:
        vals = [r[m] for r in results]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        cells.append(f"{statistics.mean(vals):.3f} ± {sd:.3f}")
    return (
        f"| {name} | {results[0]['images']} | {results[0]['steps']} | " + " | ".join(cells) + " |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--corpus", default="demo")
    ap.add_argument("--scale", default="t35")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--only", choices=["a", "b"], help="run one ablation")
    args = ap.parse_args()
    store = open_storage(args.data_root)
    held_out = pl.read_parquet(Path(args.corpus) / "_world" / "eval.parquet")
    pool = read_partition_table(store, "balanced_pool", None, "pool")
    world = pool.filter(pl.col("shard").str.starts_with("world/"))
    subset = read_partition_table(store, "scaled_subsets", args.scale, "subset")
    subset = subset.filter(pl.col("shard").str.starts_with("world/"))
    tmp = Path(args.data_root) / "_ablations"
    tmp.mkdir(parents=True, exist_ok=True)
    three = ["text1", "text2", "text3"]
    arms: list[tuple[str, object, list[str]]] = []
    if args.only in (None, "a"):
        arms += [
            (f"(a) balanced {args.scale}", lambda s: subset, three),
            ("(a) random, same size", lambda s: world.sample(subset.height, seed=s), three),
        ]
    if args.only in (None, "b"):
        arms += [
            ("(b) text1 only", lambda s: world, ["text1"]),
            ("(b) 3 retrieved texts", lambda s: world, three),
        ]
        if "syn_text" in world.columns and world["syn_text"].null_count() < world.height:
            arms.append(("(b) 3 retrieved + syn_text", lambda s: world, [*three, "syn_text"]))
        else:
            print("no syn_text in balanced_pool (no captioner configured): arm 3 of (b) skipped")
    header = "| arm | images | steps | " + " | ".join(METRICS) + " |"
    lines = [header, "|" + "---|" * (3 + len(METRICS))]
    started = time.perf_counter()
    for name, rows_for, cols in arms:
        results = [
            run_arm(store, rows_for(seed), cols, seed, args.steps, args.batch_size, held_out, tmp)
            for seed in args.seeds
        ]
        lines.append(summarize(name, results))
        print(lines[-1], flush=True)
    print(f"\nseeds {args.seeds}, {time.perf_counter() - started:.0f} s\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
