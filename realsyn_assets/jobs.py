"""Jobs: per-shard work, then the corpus-wide steps that read every shard."""

import dagster as dg

from realsyn_assets.partitions import shard_partitions

SHARD_ASSETS = dg.AssetSelection.assets("raw_documents", "clean_images")
CORPUS_ASSETS = dg.AssetSelection.assets("image_dedup")

ingest_job = dg.define_asset_job(
    "ingest_shards",
    selection=SHARD_ASSETS,
    partitions_def=shard_partitions,
    description="Materialize every shard-partitioned asset for the requested shard(s).",
)

corpus_job = dg.define_asset_job(
    "corpus_wide",
    selection=CORPUS_ASSETS,
    description="Cross-shard steps (de-duplication, ...) over every materialized shard.",
)
