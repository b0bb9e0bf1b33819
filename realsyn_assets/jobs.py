"""Jobs: ``ingest_shards`` runs every shard-partitioned asset for one or more shards."""

import dagster as dg

from realsyn_assets.partitions import shard_partitions

SHARD_ASSETS = dg.AssetSelection.assets("raw_documents")

ingest_job = dg.define_asset_job(
    "ingest_shards",
    selection=SHARD_ASSETS,
    partitions_def=shard_partitions,
    description="Materialize every shard-partitioned asset for the requested shard(s).",
)
