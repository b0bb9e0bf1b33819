"""clean_images: fetch, decode safely, score and filter every image reference of a shard."""

import dagster as dg

from checks.dagster_checks import check_results, check_specs
from checks.image_suites import CLEAN_IMAGES_SUITE
from realsyn.image_decode import DecodeParams
from realsyn.images import ImageFilterParams, curate_images, decide_images, image_stats
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import partition_prefix, read_partition_table, write_partition
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.rescoring import stored_scores, upstream_version
from resources.fetcher import ImageFetcherResource
from resources.storage import StorageResource

ASSET = "clean_images"
FUNNEL = ["total", "fetched", "decoded", "too_small", "bad_aspect", "kept"]


class CleanImagesConfig(dg.Config):
    min_side: int = ImageFilterParams.min_side
    max_aspect: float = ImageFilterParams.max_aspect
    max_pixels: int = DecodeParams.max_pixels
    max_bytes: int = DecodeParams.max_bytes
    decode_workers: int = 2


@dg.asset(
    name=ASSET,
    partitions_def=shard_partitions,
    deps=[raw_documents],
    check_specs=check_specs(ASSET, CLEAN_IMAGES_SUITE),
    code_version="1",
    group_name="images",
    kinds={"parquet", "pillow"},
)
def clean_images(
    context: dg.AssetExecutionContext,
    config: CleanImagesConfig,
    corpus: StorageResource,
    storage: StorageResource,
    fetcher: ImageFetcherResource,
) -> dg.MaterializeResult:
    """Every image of one shard: bytes, format, size, hashes, keep/drop with a reason."""
    shard = context.partition_key
    store = storage.get()
    filters = ImageFilterParams(config.min_side, config.max_aspect)
    scoring_key = {
        "raw_documents": upstream_version(store, "raw_documents", shard),
        "max_pixels": config.max_pixels,
        "max_bytes": config.max_bytes,
        "fetcher": fetcher.enabled,
    }
    stored = stored_scores(store, ASSET, shard, "images", scoring_key)
    if stored is not None:  # only thresholds changed: re-decide, no fetching or decoding
        context.log.info(f"{shard}: scores unchanged, re-deciding with {filters}")
        table = decide_images(stored, filters)
        stats = {**image_stats(table), "blobs_written": 0, "rescored": 0}
    else:
        items = read_partition_table(store, "raw_documents", shard, "items")
        result = curate_images(
            items,
            shard,
            corpus.get(),
            fetcher.get(),
            DecodeParams(max_pixels=config.max_pixels, max_bytes=config.max_bytes),
            filters,
            progress=progress_logger(context.log.info, f"{shard} images decoded"),
            workers=config.decode_workers,
        )
        new_blobs = 0
        for sha, data in sorted(result.blobs.items()):
            key = image_blob_key(sha)
            if not store.exists(key):  # content-addressed: each distinct image stored once
                store.write_bytes(key, data)
                new_blobs += 1
        table = result.table
        stats = {**result.stats, "blobs_written": new_blobs, "rescored": 1}
    manifest = write_partition(
        store, ASSET, shard, {"images": table}, info={"stats": stats, "scoring_key": scoring_key}
    )
    context.log.info(f"{shard}: {stats}")
    kept = table.filter(table["decision"] == "keep").head(5).to_dicts()
    dropped = table.filter(table["decision"] == "drop").head(8).to_dicts()
    total = max(stats["total"], 1)
    return dg.MaterializeResult(
        metadata={
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "kept_ratio": dg.MetadataValue.float(stats["kept"] / total),
            "funnel": dg.MetadataValue.md(funnel_markdown(stats, "total", FUNNEL)),
            "kept_preview": dg.MetadataValue.md(
                preview_markdown(kept, ["image_id", "raw_image_url", "width", "height", "format"])
            ),
            "dropped_preview": dg.MetadataValue.md(
                preview_markdown(dropped, ["image_id", "raw_image_url", "reason", "error_detail"])
            ),
            "location": dg.MetadataValue.path(store.uri(partition_prefix(ASSET, shard))),
            "version": manifest["version"],
        },
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            ASSET,
            CLEAN_IMAGES_SUITE,
            {"images": table},
            {"min_side": config.min_side, "max_aspect": config.max_aspect},
        ),
    )
