"""Jobs, and the order in which the main job runs them.

Per-shard work and corpus-wide steps alternate: the entropy filter needs word frequencies over
every shard, the cross-shard de-duplications need every shard's survivors, retrieval needs the
sentence clusters of the whole pool.
"""

import dagster as dg

from realsyn_assets.partitions import shard_partitions


def _job(name: str, assets: list[str], per_shard: bool, description: str):
    """A job over ``assets``; shard-partitioned, or partitioned as its assets are (scales)."""
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=shard_partitions if per_shard else None,
        description=description,
    )


ingest_job = _job(
    "ingest_shards",
    ["raw_documents", "clean_images", "sentences"],
    True,
    "Per shard: parse documents, clean images, split and quality-filter sentences.",
)
JOBS = [
    ingest_job,
    _job(
        "clip_bootstrap",
        ["clip_training", "clip_evaluation"],
        False,
        "Train the CLIP model on the corpus's alt texts, then on the page sentences it finds per image; evaluate it (held-out world).",
    ),
    _job(
        "embed_images",
        ["image_embeddings"],
        True,
        "Per shard: CLIP vectors of the kept images (needs the model: clip_bootstrap or weights).",
    ),
    _job(
        "corpus_stats",
        ["image_dedup", "word_frequencies"],
        False,
        "Across shards: image de-duplication and corpus word frequencies.",
    ),
    _job(
        "semantic_shards",
        ["sentence_semantics", "sentence_embeddings"],
        True,
        "Per shard: entropy/perplexity filter and sentence embeddings (needs corpus_stats).",
    ),
    _job(
        "sentence_pool",
        ["sentence_dedup", "sentence_clusters"],
        False,
        "Across shards: sentence de-duplication and k-means clustering of the sentence pool.",
    ),
    _job(
        "retrieval_shards",
        ["retrieval_pairs", "synthetic_texts"],
        True,
        "Per shard: 3 retrieved sentences per surviving image, then its synthetic caption.",
    ),
    _job(
        "release_pool",
        ["balanced_pool"],
        False,
        "Across shards: image-text cosine band, image clusters and seeded ranks.",
    ),
    _job(
        "evaluation",
        ["pipeline_evaluation"],
        False,
        "Retrieval, dedup and filter quality against the generated world's ground truth.",
    ),
    _job(
        "release_scales",
        ["scaled_subsets", "release", "bias_report"],
        False,
        "Per scale: the nested balanced subset, its export (parquet, webdataset, card) and its "
        "bias report.",
    ),
    _job(
        "gain",
        ["clip_finetune", "gain_evaluation"],
        False,
        "Per scale: fine-tune the CLIP model on the release (3 seeds, held-out images kept "
        "out), then before vs after on held-out pairs. Not in the main job (minutes of CPU).",
    ),
]
# In the order the main job runs them: (job name, partitions: "shards", "scales" or None)
MAIN_JOB_PLAN = [
    ("ingest_shards", "shards"),
    ("clip_bootstrap", None),
    ("embed_images", "shards"),
    ("corpus_stats", None),
    ("semantic_shards", "shards"),
    ("sentence_pool", None),
    ("retrieval_shards", "shards"),
    ("release_pool", None),
    ("release_scales", "scales"),
    ("evaluation", None),
]
