"""raw_documents: each input shard parsed into documents, items and rejected records."""

import dagster as dg
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from checks.raw_documents_suites import RAW_DOCUMENTS_SUITE
from realsyn.drift import documents_profile
from realsyn.plots import histogram_markdown_svg
from realsyn.readers import ShardError, read_shard
from realsyn.readers.dispatch import RawDocumentsParams
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.storage import partition_prefix, write_partition
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource

ASSET = "raw_documents"


class RawDocumentsConfig(dg.Config):
    max_embedded_image_bytes: int = Field(
        RawDocumentsParams.max_embedded_image_bytes,
        description="WARC shards: image payload bytes kept per shard (beyond: referenced, not "
        "embedded)",
    )
    parquet_batch_rows: int = Field(
        RawDocumentsParams.parquet_batch_rows,
        description="Parquet shards: rows read per batch (bounds memory per shard)",
    )
    document_timeout_s: float = Field(
        RawDocumentsParams.document_timeout_s,
        description="Documents folders: seconds one document may take to parse (a safety net; "
        "a hit is a reader_timeout row, counted in the notes)",
    )
    document_memory_limit_bytes: int = Field(
        RawDocumentsParams.document_memory_limit_bytes,
        description="Documents folders: address-space limit of each parser worker process",
    )
    document_workers: int = Field(
        RawDocumentsParams.document_workers,
        description="Documents folders: parser worker processes per shard",
    )
    document_max_pages: int = Field(
        RawDocumentsParams.document_max_pages,
        description="Documents folders: pages (PDF), slides (PPTX) or spine files (EPUB) read "
        "per document; the rest is counted in the notes",
    )
    document_max_images_per_page: int = Field(
        RawDocumentsParams.document_max_images_per_page,
        description="Documents folders: images kept per PDF page; the rest is counted",
    )
    document_max_render_pixels: int = Field(
        RawDocumentsParams.document_max_render_pixels,
        description="Documents folders: pixel budget of a PDF image rendered from its page box",
    )


def _metadata(storage, shard, config, result, tables, stats, drift_md, manifest):
    """The asset page: counts, the record funnel, items per document, previews."""
    rejected = tables["rejected"].head(5).to_dicts()
    records = {**stats, "records": stats["documents"] + stats["rejected_records"]}
    reasons = [k for k in stats if k.startswith("rejected_") and k != "rejected_records"]
    n_items = tables["documents"]["n_texts"] + tables["documents"]["n_images"]
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(records, "records", ["documents", "rejected_records"]),
            "source_format": result.source_format,
            "params": dg.MetadataValue.json(config.model_dump()),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    records, "records", ["records", "documents", "rejected_records"] + reasons
                )
            ),
            "items_per_document": dg.MetadataValue.md(
                histogram_markdown_svg(n_items.to_list(), "items (texts + images) per document")
            ),
            "preview": dg.MetadataValue.md(
                preview_markdown(
                    tables["documents"].head(5).to_dicts(), ["url", "n_texts", "n_images"]
                )
            ),
            "rejected_preview": dg.MetadataValue.md(
                preview_markdown(rejected, ["record_index", "reason", "detail"])
            ),
            "location": dg.MetadataValue.path(storage.get().uri(partition_prefix(ASSET, shard))),
            "version": manifest["version"],
        }
    )


@dg.asset(
    name=ASSET,
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    check_specs=[*check_specs(ASSET, RAW_DOCUMENTS_SUITE), drift_spec(ASSET)],
    code_version="1",
    group_name="ingest",
    kinds={"parquet", "python"},
)
@retry_transient_io
def raw_documents(
    context: dg.AssetExecutionContext,
    config: RawDocumentsConfig,
    stage_params: StageParamsResource,
    corpus: StorageResource,
    storage: StorageResource,
    drift: DriftResource,
) -> dg.MaterializeResult:
    """Interleaved documents of one input shard: documents, ordered items, rejected records."""
    config = stage_params.apply("raw_documents", config)
    shard = context.partition_key
    params = RawDocumentsParams(**config.model_dump())
    try:
        result = read_shard(corpus.get(), shard, params)
    except ShardError as err:  # the shard as a whole is unreadable: fail clearly, no retry
        raise dg.Failure(description=str(err), allow_retries=False) from err
    tables = result.tables()
    stats = result.stats()
    manifest = write_partition(storage.get(), ASSET, shard, tables, info={"stats": stats})
    context.log.info(f"{shard}: {stats}")
    drift_md, drift_checks = drift_outputs(
        context,
        ASSET,
        documents_profile(tables["documents"], tables["items"], tables["rejected"], vars(params)),
        drift.params(),
    )
    return dg.MaterializeResult(
        metadata=_metadata(storage, shard, config, result, tables, stats, drift_md, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(ASSET, RAW_DOCUMENTS_SUITE, tables) + drift_checks,
    )
