"""image_dedup: exact and perceptual duplicates across all shards; who survives."""

import math
from dataclasses import replace
from functools import partial

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_specs, merged_check_results
from checks.image_dedup_suites import IMAGE_DEDUP_SUITE, check_image_range
from realsyn.bucket_image_dedup import (
    ImageBucketParams,
    crowded_semantic,
    delete_scratch,
    find_image_duplicates,
    range_key,
    tasks_for,
    write_image_survival,
)
from realsyn.codebook import CodebookParams, assign_all
from realsyn.dedup import DedupParams
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.storage import (
    PartitionNotFound,
    partition_prefix,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import retry_transient_io
from realsyn_assets.bucketed import (
    KeptImageVectors,
    embedded_images,
    materialized_shards,
    shard_clean_images,
)
from realsyn_assets.clean_images import clean_images
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.vectors import dedup_threshold
from resources.engine import EngineResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource

ASSET = "image_dedup"  # <ASSET>_survival per pHash range, <ASSET>_dropped per shard
FUNNEL = [
    "total",
    "fetched",
    "decoded",
    "too_small",
    "bad_aspect",
    "exact_dup",
    "near_dup",
    "semantic_dup",
    "kept",
]


class ImageDedupConfig(dg.Config):
    hamming_radius: int = Field(
        default=DedupParams.radius,
        description="pHash Hamming distance (of 64 bits) at or below which two images are near "
        "duplicates (bench/phash_radius.py).",
    )
    neighbours: int = Field(
        default=DedupParams.neighbours,
        description="Nearest hashes within the radius linked per distinct hash (ties by label): "
        "the cap that keeps dense clusters linear; groups join by transitivity.",
    )
    semantic_threshold: float | None = Field(
        default=None,
        description="Cosine of image embeddings at or above which two images are duplicates; "
        "unset: calibrated for the model that made them; above 1: semantic dedup off.",
    )
    use_embeddings: bool = Field(
        default=True,
        description="Also de-duplicate by image embeddings (image_embeddings), not only pHash.",
    )
    rows_per_range: int = Field(
        default=1_000_000,
        description="Images per pHash range of the exact step and the survival rows (one task "
        "each; ranges = ceil(clean_images rows / this)).",
    )
    phash_task_rows: int = Field(
        default=1_000_000,
        description="Images per pHash search task: a corpus up to this many is one search, "
        "exactly the single-process one; above, each hash goes to the task of each of its "
        "radius + 1 chunks (multi-index: every pair within the radius meets in a task), with "
        "enough tasks that each expects at most this many.",
    )
    bucket_rows: int = Field(
        default=1_000_000,
        description="Image vectors per coarse bucket of the semantic search (one task each); "
        "up to this many, one bucket. Pairs split across buckets are not found.",
    )


def _plan(store, config: ImageDedupConfig, shards: list[str], threshold):
    """(ImageBucketParams, the shards with image embeddings, coarse CodebookParams), sized from
    the manifests (clean_images and image_embeddings rows), never from the rows."""
    rows = sum(read_manifest(store, "clean_images", s)["tables"]["images"]["rows"] for s in shards)
    tasks = tasks_for(rows, config.hamming_radius, config.phash_task_rows)
    params = ImageBucketParams(
        ranges=max(1, math.ceil(rows / config.rows_per_range)),
        radius=config.hamming_radius,
        neighbours=config.neighbours,
        phash_tasks=tasks,
        threshold=threshold,
    )
    embedded = [] if threshold is None else embedded_images(store, shards)
    vectors = sum(
        read_manifest(store, "image_embeddings", s)["tables"]["keys"]["rows"] for s in embedded
    )
    if not vectors:  # no vector to search: exact and pHash duplicates only
        params, embedded = replace(params, threshold=None), []
    buckets = 1 if vectors <= config.bucket_rows else math.ceil(vectors / config.bucket_rows)
    return params, embedded, CodebookParams(coarse_clusters=buckets, flat_up_to=0)


def _accepted(context, found, threshold, model):
    """The edges, less the semantic ones (warned) when they would form an implausibly large
    group; and whether semantic dedup was applied."""
    giant = crowded_semantic(found.edges, found.contents)
    if giant:
        context.log.warning(
            f"image_embeddings: at cosine >= {threshold} one group would hold {giant} of "
            f"{found.contents} items: {model}'s space is too crowded for this threshold "
            "(under-trained weights?); semantic dedup not applied. Calibrate with "
            "bench/dedup_calibration.py"
        )
        return found.edges.filter(pl.col("kind") == "phash"), False
    return found.edges, threshold is not None


def _preview_rows(store, preview: pl.DataFrame) -> list[dict]:
    """The preview's duplicates with their URL (from their shards' clean_images only)."""
    urls = {}
    for shard in sorted(set(preview["shard"])):
        table = read_partition_table(store, "clean_images", shard, "images")
        urls.update(zip(table["image_id"].to_list(), table["raw_image_url"].to_list(), strict=True))
    return [{**row, "raw_image_url": urls.get(row["image_id"])} for row in preview.to_dicts()]


def _metadata(store, config, stats, summary, edges, params, applied, threshold, manifest):
    """The asset page: counts, shares, the pHash distance histogram, duplicates, the funnel."""
    distances = edges.filter(pl.col("kind") == "phash")["distance"].to_list()
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(stats, "total", ["exact_dup", "near_dup", "semantic_dup"]),
            "params": dg.MetadataValue.json(config.model_dump()),
            "phash_distances": dg.MetadataValue.md(
                histogram_markdown_svg(
                    distances,
                    "pHash Hamming distance of pairs",
                    [x - 0.5 for x in range(params.radius + 2)],
                )
            ),
            "duplicates_preview": dg.MetadataValue.md(
                preview_markdown(
                    _preview_rows(store, summary.preview),
                    ["image_id", "duplicate_of", "reason", "raw_image_url"],
                )
            ),
            "survival_ratio": dg.MetadataValue.float(stats["survivors"] / max(stats["total"], 1)),
            "hamming_radius": params.radius,
            "semantic_threshold": dg.MetadataValue.float(
                threshold if threshold is not None else float("nan")
            ),
            "semantic_applied": applied,
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    stats,
                    "total",
                    FUNNEL + sorted(k for k in stats if k.startswith("dropped_")),
                )
            ),
            "location": dg.MetadataValue.path(store.uri(partition_prefix(ASSET, None))),
            "version": manifest["version"],
        }
    )


def _commit(store, summary, shards: list[str], stats: dict) -> dict:
    """The asset's partition: the ranges written (with versions) and the shard list their rows
    are sorted by; ranges left from a run with more of them are deleted."""
    try:
        before = read_partition_table(store, ASSET, None, "ranges")["range"].to_list()
    except PartitionNotFound:
        before = []
    manifest = write_partition(
        store,
        ASSET,
        None,
        {"ranges": summary.ranges, "shards": pl.DataFrame({"shard": shards})},
        info={"stats": stats},
    )
    for r in set(before) - set(summary.ranges["range"].to_list()):
        store.delete_prefix(partition_prefix(f"{ASSET}_survival", range_key(r)))
    return manifest


@dg.asset(
    name=ASSET,
    deps=[clean_images, "image_embeddings"],
    check_specs=check_specs(ASSET, IMAGE_DEDUP_SUITE),
    code_version="2",
    group_name="images",
    kinds={"parquet", "usearch"},
)
@retry_transient_io
def image_dedup(
    context: dg.AssetExecutionContext,
    config: ImageDedupConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    engine: EngineResource,
) -> dg.MaterializeResult:
    """For every image of every shard: survives, or why not (quality, exact or near duplicate)."""
    config = stage_params.apply("image_dedup", config)
    store, run = storage.get(), engine.get()
    shards, missing = materialized_shards(context, store, "clean_images")
    threshold, model = (
        dedup_threshold(context, store, "image_embeddings", config.semantic_threshold, shards)
        if config.use_embeddings
        else (None, None)
    )
    # exact and pHash by range of the pHash, near pairs by a multi-index search, semantic within
    # image-vector buckets, one union-find reduce (map tasks on the engine)
    params, embedded, coarse = _plan(store, config, shards, threshold)
    counts = None
    if params.threshold is not None:
        counts = assign_all(run, KeptImageVectors(store), embedded, store, ASSET, coarse)[1]
    load = partial(shard_clean_images, store)
    found = find_image_duplicates(run, load, shards, store, ASSET, params, counts, embedded)
    edges, applied = _accepted(context, found, params.threshold, model)
    summary = write_image_survival(run, store, ASSET, params, found, edges, check_image_range)
    delete_scratch(store, ASSET)
    stats = {
        **summary.stats,
        "semantic_searched": found.contents,
        "shards": len(shards),
        "shards_missing": len(missing),
    }
    manifest = _commit(store, summary, found.shards, stats)
    context.log.info(f"image_dedup: {stats}")
    return dg.MaterializeResult(
        metadata=_metadata(
            store, config, stats, summary, edges, params, applied, threshold, manifest
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=merged_check_results(ASSET, summary.checked),
    )
