"""Recall lost at bucket boundaries by the bucketed dedups, on a finished run of the generated
world (its sentence and image embeddings): the semantic search forced into 1, 2, 4, ... coarse
buckets, and the pHash search into several multi-index tasks.

    python bench/dedup_buckets.py --data-root <a realsyn run's data root> \\
        --truth demo/_world [--buckets 1,2,4,8,16] [--phash-tasks 1,64] \\
        [--text-threshold 0.99] [--image-threshold 0.99]

Sentences: the semantic duplicates (and pairs) found with B buckets against one bucket (exactly
the single-process search), at the model's calibrated threshold. Images: the world's truth
(``realsyn.pipeline_eval.dedup_quality``: precision and recall of the flagged copies) per
bucket count and pHash task count. Reads the run's partitions; writes only to a temp folder.
"""

import argparse
import json
import tempfile
from functools import partial
from pathlib import Path

import polars as pl


def partitions(store, asset: str) -> list[str]:
    keys = [k for k in store.list_keys(asset) if k.endswith("/_manifest.json")]
    return sorted(json.loads(store.read_bytes(k))["partition_key"] for k in keys)


def model_of(store, asset: str, shards: list[str]) -> str:
    from realsyn.storage import read_manifest

    (model,) = {read_manifest(store, asset, s)["info"]["model"] for s in shards}
    return model


def sentences(data, scratch, buckets: list[int], threshold: float | None) -> None:
    from realsyn.bucket_dedup import (
        BucketDedupParams,
        crowded_edges,
        find_duplicates,
        read_survival,
        write_survival,
    )
    from realsyn.codebook import CodebookParams, assign_all
    from realsyn.engine import LocalEngine
    from realsyn.semantic_dedup import dup_cosine_for
    from realsyn_assets.bucketed import KeptSentences

    shards = partitions(data, "sentence_semantics")
    embedded = partitions(data, "sentence_embeddings")
    model = model_of(data, "sentence_embeddings", embedded)
    threshold = threshold or dup_cosine_for(model, "text")
    print(f"sentences: {len(shards)} shards, model {model}, threshold {threshold}")
    engine, base = LocalEngine(), None
    for b in buckets:
        prefix = f"s{b}"
        book = CodebookParams(coarse_clusters=b, flat_up_to=0, seed=0)
        _c, counts = assign_all(engine, KeptSentences(data, True), embedded, scratch, prefix, book)
        params = BucketDedupParams(ranges=4, threshold=threshold)
        found = find_duplicates(
            engine, KeptSentences(data), shards, scratch, prefix, params, counts, embedded
        )
        giant = crowded_edges(found.edges, found.searched)
        write_survival(engine, scratch, prefix, params, found, found.edges)
        table = read_survival(scratch, prefix, 4)
        sem = set(table.filter(pl.col("reason") == "semantic_dup")["sentence_id"])
        dropped = set(table.filter(~pl.col("survives"))["sentence_id"])
        pairs = set(found.edges.select("key_a", "key_b").iter_rows())
        if base is None:
            base = (sem, dropped, pairs)
        sizes = counts.sum(axis=0)
        print(
            f"  {b:>3} bucket(s) (largest {int(sizes.max())} of {int(sizes.sum())} vectors): "
            f"{len(pairs)} pairs ({len(pairs & base[2])} of one bucket's {len(base[2])}), "
            f"{len(sem)} semantic duplicates ({len(sem & base[0])} of {len(base[0])}: recall "
            f"{len(sem & base[0]) / max(len(base[0]), 1):.3f}), duplicates {len(dropped)} "
            f"({len(dropped & base[1]) / max(len(base[1]), 1):.4f} of one bucket's)"
            + (f", crowded: a group of {giant} (not applied)" if giant else "")
        )


def images(data, scratch, truth: Path, buckets: list[int], tasks: list[int], threshold) -> None:
    from realsyn.bucket_image_dedup import (
        ImageBucketParams,
        find_image_duplicates,
        read_image_survival,
        write_image_survival,
    )
    from realsyn.codebook import CodebookParams, assign_all
    from realsyn.engine import LocalEngine
    from realsyn.pipeline_eval import dedup_quality
    from realsyn.semantic_dedup import dup_cosine_for
    from realsyn_assets.bucketed import KeptImageVectors, shard_clean_images

    shards = partitions(data, "clean_images")
    embedded = partitions(data, "image_embeddings")
    model = model_of(data, "image_embeddings", embedded)
    threshold = threshold or dup_cosine_for(model, "image")
    truth_images = pl.read_parquet(truth / "images.parquet")
    print(f"images: {len(shards)} shards, model {model}, threshold {threshold}")
    engine = LocalEngine()
    for t in tasks:
        for b in buckets:
            prefix = f"i{b}-{t}"
            book = CodebookParams(coarse_clusters=b, flat_up_to=0, seed=0)
            _c, counts = assign_all(engine, KeptImageVectors(data), embedded, scratch, prefix, book)
            params = ImageBucketParams(ranges=4, phash_tasks=t, threshold=threshold)
            load = partial(shard_clean_images, data)
            found = find_image_duplicates(
                engine, load, shards, scratch, prefix, params, counts, embedded
            )
            write_image_survival(engine, scratch, prefix, params, found, found.edges)
            q = dedup_quality(read_image_survival(scratch, prefix, shards, 4), truth_images)
            kinds = found.edges["kind"].value_counts().sort("kind")
            print(
                f"  {t:>3} pHash task(s), {b:>3} bucket(s): recall {q['recall']:.4f} precision "
                f"{q['precision']:.4f} (flagged {q['flagged']}, right {q['flagged_right']} of "
                f"{q['true_duplicates']}; exact {q.get('flagged_exact_dup', 0)}, near "
                f"{q.get('flagged_near_dup', 0)}, semantic {q.get('flagged_semantic_dup', 0)}); "
                f"pairs {dict(kinds.iter_rows())}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--truth", required=True, help="the world's _world folder")
    parser.add_argument("--buckets", default="1,2,4,8,16")
    parser.add_argument("--phash-tasks", default="1,64")
    parser.add_argument("--text-threshold", type=float, help="default: the model's calibrated")
    parser.add_argument("--image-threshold", type=float, help="default: the model's calibrated")
    args = parser.parse_args()
    from realsyn.storage import LocalStorage

    data = LocalStorage(args.data_root)
    buckets = [int(x) for x in args.buckets.split(",")]
    with tempfile.TemporaryDirectory(prefix="realsyn-dedup-buckets-") as tmp:
        scratch = LocalStorage(tmp)
        sentences(data, scratch, buckets, args.text_threshold)
        tasks = [int(x) for x in args.phash_tasks.split(",")]
        images(data, scratch, Path(args.truth), buckets, tasks, args.image_threshold)


if __name__ == "__main__":
    main()
