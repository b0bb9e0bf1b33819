"""synthetic_texts: one syn_text per retrieved pair (caption + CLIP tags + LLM fusion)."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import polars as pl

from checks.dagster_checks import check_results, check_specs
from checks.synthetic_suites import SYNTHETIC_TEXTS_SUITE
from realsyn.captioner import SynText, ZeroShotTagger, syn_table, synthesize
from realsyn.clip import encode_texts
from realsyn.embeddings import vectors_from_bytes
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    partition_prefix,
    read_partition_file,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from resources.captioner import CaptionerResource
from resources.clip_model import ClipModelResource
from resources.storage import StorageResource

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def with_syn_text(store, shard: str, pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` of ``shard`` with the ``syn_text`` synthetic_texts made for them (null where
    none was made, or synthetic_texts has not run on the shard)."""
    try:
        syn = read_partition_table(store, "synthetic_texts", shard, "syn")
    except PartitionNotFound:
        return pairs.with_columns(pl.lit(None, dtype=pl.String).alias("syn_text"))
    return pairs.join(syn.select("image_id", "syn_text"), on="image_id", how="left")


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=["retrieval_pairs", "image_embeddings", "clean_images", "clip_training"],
    check_specs=check_specs("synthetic_texts", SYNTHETIC_TEXTS_SUITE),
    code_version="1",
    group_name="release",
    kinds={"parquet", "openai"},
)
@retry_transient_io
def synthetic_texts(
    context: dg.AssetExecutionContext,
    storage: StorageResource,
    captioner: CaptionerResource,
    clip_model: ClipModelResource,
) -> dg.MaterializeResult:
    """syn_text for each image of the shard from text1, a VLM caption and CLIP tags."""
    shard, store = context.partition_key, storage.get()
    pairs = read_partition_table(store, "retrieval_pairs", shard, "pairs")
    clients = captioner.clients()
    if clients is None:
        context.log.warning("no captioner endpoint configured: syn_text stays null")
        results = [SynText(None, None, [], "no_captioner") for _ in range(pairs.height)]
    else:
        tags = _tags(store, shard, pairs, captioner, clip_model)
        results = _synthesize(context, store, shard, pairs, tags, clients, captioner.concurrency)
    table, stats = syn_table(pairs["image_id"].to_list(), results)
    manifest = write_partition(
        store,
        "synthetic_texts",
        shard,
        {"syn": table},
        info={"stats": stats, "captioner": captioner.identity()},
    )
    return dg.MaterializeResult(
        metadata=_metadata(
            table,
            stats,
            clients is not None,
            captioner.identity(),
            store.uri(partition_prefix("synthetic_texts", shard)),
            manifest,
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            "synthetic_texts", SYNTHETIC_TEXTS_SUITE, {"syn": table.drop("tags")}
        ),
    )


def _tags(store, shard: str, pairs: pl.DataFrame, captioner, clip_model) -> list[list[str]]:
    """CLIP zero-shot tags of each pair's image, from the shard's stored image vectors."""
    bundle = clip_model.get()
    vocabulary = captioner.vocabulary()
    tagger = ZeroShotTagger(
        encode_texts(bundle, [f"a photo of a {w}" for w in vocabulary]),
        vocabulary,
        captioner.top_tags,
    )
    keys = read_partition_table(store, "image_embeddings", shard, "keys")["key"].to_list()
    vectors = vectors_from_bytes(
        read_partition_file(store, "image_embeddings", shard, "vectors.npy")
    )
    row = {k: i for i, k in enumerate(keys)}
    return tagger.tags(vectors[[row[s] for s in pairs["sha256"].to_list()]]) if pairs.height else []


def _synthesize(context, store, shard, pairs, tags, clients, concurrency: int) -> list[SynText]:
    """One syn_text per pair, ``concurrency`` endpoint calls at a time, results in pair order."""
    formats = dict(
        read_partition_table(store, "clean_images", shard, "images")
        .select("sha256", "format")
        .iter_rows()
    )
    progress = progress_logger(context.log.info, f"{shard} synthetic texts")

    def one(i: int) -> SynText:
        rec = pairs.row(i, named=True)
        image = store.read_bytes(image_blob_key(rec["sha256"]))
        mime = MIME.get(formats.get(rec["sha256"]), "image/jpeg")
        return synthesize(*clients, image, mime, rec["text1"], tags[i])

    results = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for n, res in enumerate(pool.map(one, range(pairs.height)), 1):
            results.append(res)
            progress(n, pairs.height)
    return results


def _metadata(table, stats, applied: bool, identity: str, location: str, manifest: dict) -> dict:
    others = [k for k in stats if k != "pairs"]
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(stats, "pairs", others),
            "captioner_applied": applied,
            "captioner": identity,
            "funnel": dg.MetadataValue.md(funnel_markdown(stats, "pairs", ["pairs", *others])),
            "syn_text_length_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    [len(t.split()) for t in table["syn_text"].drop_nulls().to_list()],
                    "words per syn_text",
                )
                if stats["with_syn_text"]
                else "no syn_text in this partition (see `failed_*`)"
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    table.head(5).to_dicts(), ["syn_text", "caption", "tags", "reason"], width=70
                )
            ),
            "location": dg.MetadataValue.path(location),
            "version": manifest["version"],
        }
    )
