"""image_embeddings and sentence_embeddings: CLIP vectors per shard, encoded once per model."""

import hashlib

import dagster as dg
import numpy as np
import polars as pl

from checks.dagster_checks import check_results, check_specs
from checks.embeddings_suites import IMAGE_EMBEDDINGS_SUITE, SENTENCE_EMBEDDINGS_SUITE, health_frame
from realsyn.clip import encode_images, encode_texts
from realsyn.embeddings import embed_with_cache, vectors_from_bytes, vectors_to_bytes
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    partition_prefix,
    read_manifest,
    read_partition_file,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import ACCELERATOR_POOL, SHARD_BACKFILL, retry_transient_io
from realsyn_assets.clean_images import clean_images
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.text_corpus import sentence_semantics
from resources.clip_model import ClipModelResource
from resources.storage import StorageResource


def _cache(store, asset: str, shard: str, identity: str) -> dict[str, np.ndarray]:
    """The partition's previous vectors by key, when made by the same model."""
    try:
        if read_manifest(store, asset, shard)["info"].get("model") != identity:
            return {}
        keys = read_partition_table(store, asset, shard, "keys")["key"].to_list()
        return dict(
            zip(
                keys,
                vectors_from_bytes(read_partition_file(store, asset, shard, "vectors.npy")),
                strict=True,
            )
        )
    except PartitionNotFound:
        return {}


def _model_params(clip_model: ClipModelResource, identity: str) -> dict:
    """What made the vectors: the model identity and the encoder's settings (no storage)."""
    fields = ["model_name", "pretrained", "checkpoint_path", "device", "precision", "seed"]
    return {
        "identity": identity,
        **{f: getattr(clip_model, f) for f in fields},
        "image_batch_size": clip_model.image_batch_size,
        "text_batch_size": clip_model.text_batch_size,
    }


def _spread_markdown(vectors: np.ndarray) -> str:
    """Histogram of each vector's cosine to the partition's mean direction (O(n)).

    A tight peak near 1 means the vectors collapsed onto one direction (a broken or random
    model); a trained model spreads them.
    """
    if len(vectors) == 0:
        return "no vectors"
    v = np.asarray(vectors, dtype=np.float32)
    mean = v.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    cos = np.clip(v @ mean, -1.0, 1.0).tolist()
    return histogram_markdown_svg(
        cos, "cosine to the mean direction", [i / 10 - 1 for i in range(21)]
    )


def _publish(context, store, asset, shard, table, vectors, identity, encoded, suite, dim, params):
    manifest = write_partition(
        store,
        asset,
        shard,
        {"keys": table},
        info={"model": identity, "stats": {"rows": len(vectors), "encoded": encoded}},
        files={"vectors.npy": vectors_to_bytes(vectors)},
    )
    context.log.info(f"{asset}[{shard}]: {len(vectors)} vectors, {encoded} encoded with {identity}")
    return dg.MaterializeResult(
        metadata=ui_order(
            {
                "rows": dg.MetadataValue.int(len(vectors)),
                "encoded": dg.MetadataValue.int(encoded),
                "reused_from_cache": dg.MetadataValue.int(len(vectors) - encoded),
                "reused_share": dg.MetadataValue.float(
                    (len(vectors) - encoded) / max(len(vectors), 1)
                ),
                "model": identity,
                "params": dg.MetadataValue.json(params),
                "dim": dg.MetadataValue.int(dim),
                "funnel": dg.MetadataValue.md(
                    funnel_markdown(
                        {
                            "rows": len(vectors),
                            "encoded": encoded,
                            "reused_from_cache": len(vectors) - encoded,
                        },
                        "rows",
                        ["rows", "encoded", "reused_from_cache"],
                    )
                ),
                "spread_plot": dg.MetadataValue.md(_spread_markdown(vectors)),
                "location": dg.MetadataValue.path(store.uri(partition_prefix(asset, shard))),
                "version": manifest["version"],
            }
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(asset, suite, {"health": health_frame(vectors)}, {"dim": dim}),
    )


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[clean_images, "clip_training"],
    check_specs=check_specs("image_embeddings", IMAGE_EMBEDDINGS_SUITE),
    code_version="1",
    group_name="embeddings",
    kinds={"pytorch", "numpy"},
    pool=ACCELERATOR_POOL,
)
@retry_transient_io
def image_embeddings(
    context: dg.AssetExecutionContext, storage: StorageResource, clip_model: ClipModelResource
) -> dg.MaterializeResult:
    """One CLIP vector per distinct kept image of the shard (float16, unit norm)."""
    shard, store = context.partition_key, storage.get()
    bundle = clip_model.get()
    images = read_partition_table(store, "clean_images", shard, "images")
    keys = images.filter(pl.col("decision") == "keep")["sha256"].unique().sort().to_list()

    def encode(rows: list[int]) -> np.ndarray:
        payloads = [store.read_bytes(image_blob_key(keys[i])) for i in rows]
        return encode_images(
            bundle,
            payloads,
            clip_model.image_batch_size,
            progress_logger(context.log.info, f"{shard} images encoded"),
        )

    cache = _cache(store, "image_embeddings", shard, bundle.identity)
    vectors, encoded = embed_with_cache(keys, encode, bundle.embed_dim, cache)
    table = pl.DataFrame({"key": keys}, schema={"key": pl.String})
    return _publish(
        context,
        store,
        "image_embeddings",
        shard,
        table,
        vectors,
        bundle.identity,
        encoded,
        IMAGE_EMBEDDINGS_SUITE,
        bundle.embed_dim,
        _model_params(clip_model, bundle.identity),
    )


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[sentence_semantics, "clip_training"],
    check_specs=check_specs("sentence_embeddings", SENTENCE_EMBEDDINGS_SUITE),
    code_version="1",
    group_name="embeddings",
    kinds={"pytorch", "numpy"},
    pool=ACCELERATOR_POOL,
)
@retry_transient_io
def sentence_embeddings(
    context: dg.AssetExecutionContext, storage: StorageResource, clip_model: ClipModelResource
) -> dg.MaterializeResult:
    """One CLIP text vector per sentence kept by the semantic filter (float16, unit norm)."""
    shard, store = context.partition_key, storage.get()
    bundle = clip_model.get()
    kept = (
        read_partition_table(store, "sentence_semantics", shard, "semantics")
        .filter(pl.col("decision") == "keep")
        .sort("sentence_id")
    )
    texts = kept["text"].to_list()
    keys = [text_key(t) for t in texts]

    def encode(rows: list[int]) -> np.ndarray:
        return encode_texts(
            bundle,
            [texts[i] for i in rows],
            clip_model.text_batch_size,
            progress_logger(context.log.info, f"{shard} sentences encoded"),
        )

    cache = _cache(store, "sentence_embeddings", shard, bundle.identity)
    vectors, encoded = embed_with_cache(keys, encode, bundle.embed_dim, cache)
    table = pl.DataFrame({"sentence_id": kept["sentence_id"], "key": keys})
    return _publish(
        context,
        store,
        "sentence_embeddings",
        shard,
        table,
        vectors,
        bundle.identity,
        encoded,
        SENTENCE_EMBEDDINGS_SUITE,
        bundle.embed_dim,
        _model_params(clip_model, bundle.identity),
    )
