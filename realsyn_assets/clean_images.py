"""clean_images: fetch, decode safely, score and filter every image reference of a shard."""

import dagster as dg
import polars as pl
from pydantic import Field

from checks.clean_images_suites import CLEAN_IMAGES_SUITE
from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from realsyn.drift import images_profile
from realsyn.image_decode import DecodeParams
from realsyn.images import ImageFilterParams, curate_images, decide_images, image_stats
from realsyn.plots import histogram_markdown_svg, thumbnail_data_uri
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import partition_prefix, read_partition_table, write_partition
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.rescoring import stored_scores, upstream_version
from resources.drift import DriftResource
from resources.fetcher import ImageFetcherResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource

ASSET = "clean_images"
FUNNEL = ["total", "fetched", "decoded", "too_small", "bad_aspect", "kept"]


class CleanImagesConfig(dg.Config):
    min_side: int = Field(
        default=ImageFilterParams.min_side,
        description="Shorter side in pixels below which an image is dropped (too_small); the "
        "paper: 100.",
    )
    max_aspect: float = Field(
        default=ImageFilterParams.max_aspect,
        description="Largest aspect ratio (long side / short side) kept (bad_aspect); the "
        "paper: 3.",
    )
    max_pixels: int = Field(
        default=DecodeParams.max_pixels,
        description="Canvases above this many pixels are refused before decoding (a bomb guard).",
    )
    max_bytes: int = Field(
        default=DecodeParams.max_bytes,
        description="Encoded images above this many bytes are refused before decoding.",
    )
    decode_workers: int = Field(
        default=2,
        ge=1,
        description="Decoder worker processes per shard (a crash costs one image, recorded).",
    )


def _with_thumbnails(store, rows: list[dict]) -> list[dict]:
    """Each row with a ``thumbnail`` Markdown image (48 px JPEG data URI) when its bytes exist."""
    for row in rows:
        sha, uri = row.get("sha256"), None
        if sha and store.exists(image_blob_key(sha)):
            uri = thumbnail_data_uri(store.read_bytes(image_blob_key(sha)))
        row["thumbnail"] = f"![{row['image_id']}]({uri})" if uri else "-"
    return rows


def _score_shard(context, store, shard, config, filters, corpus, fetcher):
    """Fetch, decode and score every image of the shard; store new blobs: (table, stats)."""
    items = read_partition_table(store, "raw_documents", shard, "items")
    result = curate_images(
        items,
        shard,
        corpus.get(),
        fetcher.get(),
        params_from_config(config, DecodeParams),
        filters,
        progress=progress_logger(context.log.info, f"{shard} images decoded"),
        fetch_progress=progress_logger(context.log.info, f"{shard} images fetched"),
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
    return table, stats


def _metadata(store, shard, config, fetcher, stats, table, drift_md, manifest):
    """The asset page: the funnel, size histogram, kept and dropped previews with thumbnails."""
    kept = _with_thumbnails(store, table.filter(table["decision"] == "keep").head(5).to_dicts())
    dropped = _with_thumbnails(store, table.filter(table["decision"] == "drop").head(8).to_dicts())
    total = max(stats["total"], 1)
    decoded = table.filter(table["width"].is_not_null())
    short_side = decoded.select(pl.min_horizontal("width", "height"))[:, 0].to_list()
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "kept_ratio": dg.MetadataValue.float(stats["kept"] / total),
            **share_values(stats, "total", FUNNEL[1:-1]),
            "params": dg.MetadataValue.json(
                {**config.model_dump(), "fetch_enabled": fetcher.enabled}
            ),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    stats,
                    "total",
                    FUNNEL
                    + sorted(k for k in stats if k.startswith("dropped_") and k[8:] not in FUNNEL),
                )
            ),
            "short_side_histogram": dg.MetadataValue.md(
                histogram_markdown_svg(short_side, "shorter side (px), decoded")
            ),
            "kept_preview": dg.MetadataValue.md(
                preview_markdown(
                    kept,
                    ["thumbnail", "image_id", "raw_image_url", "width", "height", "format"],
                    raw=["thumbnail"],
                )
            ),
            "dropped_preview": dg.MetadataValue.md(
                preview_markdown(
                    dropped,
                    ["thumbnail", "image_id", "raw_image_url", "reason", "error_detail"],
                    raw=["thumbnail"],
                )
            ),
            "location": dg.MetadataValue.path(store.uri(partition_prefix(ASSET, shard))),
            "version": manifest["version"],
        }
    )


@dg.asset(
    name=ASSET,
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[raw_documents],
    check_specs=[*check_specs(ASSET, CLEAN_IMAGES_SUITE), drift_spec(ASSET)],
    code_version="1",
    group_name="images",
    kinds={"parquet", "pillow"},
)
@retry_transient_io
def clean_images(
    context: dg.AssetExecutionContext,
    config: CleanImagesConfig,
    stage_params: StageParamsResource,
    corpus: StorageResource,
    storage: StorageResource,
    fetcher: ImageFetcherResource,
    drift: DriftResource,
) -> dg.MaterializeResult:
    """Every image of one shard: bytes, format, size, hashes, keep/drop with a reason."""
    config = stage_params.apply("clean_images", config)
    shard = context.partition_key
    store = storage.get()
    filters = params_from_config(config, ImageFilterParams)
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
        table, stats = _score_shard(context, store, shard, config, filters, corpus, fetcher)
    manifest = write_partition(
        store, ASSET, shard, {"images": table}, info={"stats": stats, "scoring_key": scoring_key}
    )
    context.log.info(f"{shard}: {stats}")
    drift_md, drift_checks = drift_outputs(
        context, ASSET, images_profile(table, vars(filters)), drift.params()
    )
    return dg.MaterializeResult(
        metadata=_metadata(store, shard, config, fetcher, stats, table, drift_md, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            ASSET,
            CLEAN_IMAGES_SUITE,
            {"images": table},
            {"min_side": config.min_side, "max_aspect": config.max_aspect},
        )
        + drift_checks,
    )
