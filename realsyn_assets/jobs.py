"""Jobs, and the order in which the main job runs them.

Per-shard work and corpus-wide steps alternate: the entropy filter needs word frequencies over
every shard, and the cross-shard de-duplications need every shard's survivors.
"""

import dagster as dg

from realsyn_assets.partitions import shard_partitions

ingest_job = dg.define_asset_job(
    "ingest_shards",
    selection=dg.AssetSelection.assets("raw_documents", "clean_images", "sentences"),
    partitions_def=shard_partitions,
    description="Per shard: parse documents, clean images, split and quality-filter sentences.",
)
corpus_stats_job = dg.define_asset_job(
    "corpus_stats",
    selection=dg.AssetSelection.assets("image_dedup", "word_frequencies"),
    description="Across shards: image de-duplication and corpus word frequencies.",
)
semantics_job = dg.define_asset_job(
    "semantic_shards",
    selection=dg.AssetSelection.assets("sentence_semantics"),
    partitions_def=shard_partitions,
    description="Per shard: entropy and perplexity filter (needs corpus_stats).",
)
corpus_dedup_job = dg.define_asset_job(
    "corpus_dedup",
    selection=dg.AssetSelection.assets("sentence_dedup"),
    description="Across shards: exact sentence de-duplication.",
)

JOBS = [ingest_job, corpus_stats_job, semantics_job, corpus_dedup_job]
# (job name, runs once per shard?) in the order the main job runs them
MAIN_JOB_PLAN = [
    ("ingest_shards", True),
    ("corpus_stats", False),
    ("semantic_shards", True),
    ("corpus_dedup", False),
]
