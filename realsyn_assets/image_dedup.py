"""image_dedup: exact and perceptual duplicates across all shards; who survives."""

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.image_dedup_suites import IMAGE_DEDUP_SUITE
from realsyn.dedup import DedupParams, PhashIndex, dedup_stats, group_images, update_index
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.storage import (
    PartitionNotFound,
    partition_prefix,
    read_manifest,
    read_partition_file,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import retry_transient_io
from realsyn_assets.clean_images import clean_images
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.vectors import semantic_pairs
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource

ASSET = "image_dedup"
STATE = "image_dedup_state"  # the persistent pHash index, edges and contents
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


def _load_state(store) -> PhashIndex:
    try:
        manifest = read_manifest(store, STATE, None)
    except PartitionNotFound:
        return PhashIndex.empty()
    return PhashIndex(
        read_partition_table(store, STATE, None, "contents"),
        read_partition_table(store, STATE, None, "edges"),
        int(manifest["info"]["search_radius"]),
        PhashIndex.load_index(read_partition_file(store, STATE, None, "phash.usearch")),
    )


def _load_images(context, store):
    """Every shard's clean_images table, concatenated: (images, frames, missing shards)."""
    shards = sorted(context.instance.get_dynamic_partitions(shard_partitions.name))
    frames, missing = [], []
    for shard in shards:
        try:
            frames.append(read_partition_table(store, "clean_images", shard, "images"))
        except PartitionNotFound:
            missing.append(shard)
    if missing:
        context.log.warning(f"{len(missing)} shard(s) have no clean_images yet: {missing[:10]}")
    images = pl.concat(frames) if frames else None
    if images is None or images.height == 0:
        raise dg.Failure(description="no clean_images partition is materialized yet")
    return images, frames, missing


def _metadata(store, config, stats, table, state, params, semantic, threshold, manifest):
    """The asset page: counts, shares, the pHash distance histogram, duplicates, the funnel."""
    distances = state.edges["distance"].to_list()
    radius_edges = [x - 0.5 for x in range(max(state.search_radius, params.radius) + 2)]
    dups = table.filter(pl.col("duplicate_of").is_not_null()).head(8).to_dicts()
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(stats, "total", ["exact_dup", "near_dup", "semantic_dup"]),
            "params": dg.MetadataValue.json(config.model_dump()),
            "phash_distances": dg.MetadataValue.md(
                histogram_markdown_svg(distances, "pHash Hamming distance of pairs", radius_edges)
            ),
            "duplicates_preview": dg.MetadataValue.md(
                preview_markdown(dups, ["image_id", "duplicate_of", "reason", "raw_image_url"])
            ),
            "survival_ratio": dg.MetadataValue.float(stats["survivors"] / max(table.height, 1)),
            "hamming_radius": params.radius,
            "semantic_threshold": dg.MetadataValue.float(
                threshold if threshold is not None else float("nan")
            ),
            "semantic_applied": semantic is not None,
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


@dg.asset(
    name=ASSET,
    deps=[clean_images, "image_embeddings"],
    check_specs=check_specs(ASSET, IMAGE_DEDUP_SUITE),
    code_version="1",
    group_name="images",
    kinds={"parquet", "usearch"},
)
@retry_transient_io
def image_dedup(
    context: dg.AssetExecutionContext,
    config: ImageDedupConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
) -> dg.MaterializeResult:
    """For every image of every shard: survives, or why not (quality, exact or near duplicate)."""
    config = stage_params.apply("image_dedup", config)
    store = storage.get()
    images, frames, missing = _load_images(context, store)
    params = DedupParams(radius=config.hamming_radius, neighbours=config.neighbours)
    kept = images.filter(pl.col("decision") == "keep").select("sha256", "phash")
    state, index_stats = update_index(_load_state(store), kept, params)
    write_partition(
        store,
        STATE,
        None,
        {"contents": state.contents, "edges": state.edges},
        info={"search_radius": state.search_radius},
        files={"phash.usearch": state.index_bytes()},
    )
    semantic, threshold = None, config.semantic_threshold
    if config.use_embeddings:
        pairs, threshold = semantic_pairs(
            context,
            store,
            "image_embeddings",
            "key",
            config.semantic_threshold,
            keep=set(kept["sha256"].to_list()),
        )
        semantic = pairs.rename({"a": "sha_a", "b": "sha_b"}) if pairs is not None else None
    table = group_images(images, state, params, semantic)
    stats = {
        **dedup_stats(table),
        "semantic_pairs": semantic.height if semantic is not None else 0,
        **index_stats,
        "shards": len(frames),
        "shards_missing": len(missing),
    }
    manifest = write_partition(store, ASSET, None, {"survival": table}, info={"stats": stats})
    context.log.info(f"image_dedup: {stats}")
    return dg.MaterializeResult(
        metadata=_metadata(
            store, config, stats, table, state, params, semantic, threshold, manifest
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(ASSET, IMAGE_DEDUP_SUITE, {"survival": table}),
    )
