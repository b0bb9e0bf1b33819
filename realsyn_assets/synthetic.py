"""synthetic_texts: one syn_text per retrieved pair (caption + CLIP tags + LLM fusion)."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import polars as pl

from checks.dagster_checks import check_results, check_specs
from checks.gx import CheckDef, Expect
from realsyn.captioner import SynText, ZeroShotTagger, synthesize
from realsyn.clip import encode_texts
from realsyn.embeddings import vectors_from_bytes
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, preview_markdown
from realsyn.schemas import image_blob_key
from realsyn.storage import (
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
SYNTHETIC_SUITE = (
    CheckDef(
        name="synthetic_texts_applied",
        table="syn",
        description="Every pair got a syn_text; a warning when no captioner is configured or "
        "an endpoint failed (the reason column says which).",
        expectations=lambda t, p: [Expect("ExpectColumnValuesToNotBeNull", {"column": "syn_text"})],
        severity="WARN",
        blocking=False,
    ),
)


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=["retrieval_pairs", "image_embeddings", "clean_images", "clip_training"],
    check_specs=check_specs("synthetic_texts", SYNTHETIC_SUITE),
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
        tags = (
            tagger.tags(vectors[[row[s] for s in pairs["sha256"].to_list()]])
            if pairs.height
            else []
        )
        formats = dict(
            read_partition_table(store, "clean_images", shard, "images")
            .select("sha256", "format")
            .iter_rows()
        )
        progress = progress_logger(context.log.info, f"{shard} synthetic texts")

        def one(i: int) -> SynText:
            rec = pairs.row(i, named=True)
            image = store.read_bytes(image_blob_key(rec["sha256"]))
            return synthesize(
                *clients,
                image,
                MIME.get(formats.get(rec["sha256"]), "image/jpeg"),
                rec["text1"],
                tags[i],
            )

        results = []
        with ThreadPoolExecutor(max_workers=max(1, captioner.concurrency)) as pool:
            for n, res in enumerate(pool.map(one, range(pairs.height)), 1):
                results.append(res)
                progress(n, pairs.height)
    table = pl.DataFrame(
        {
            "image_id": pairs["image_id"],
            "syn_text": [r.syn_text for r in results],
            "caption": [r.caption for r in results],
            "tags": [r.tags for r in results],
            "reason": [r.reason for r in results],
        },
        schema={
            "image_id": pl.String,
            "syn_text": pl.String,
            "caption": pl.String,
            "tags": pl.List(pl.String),
            "reason": pl.String,
        },
    )
    stats = {"pairs": table.height, "with_syn_text": int(table["syn_text"].is_not_null().sum())}
    stats.update(
        {f"failed_{r}": n for r, n in table.group_by("reason").len().drop_nulls().iter_rows()}
    )
    manifest = write_partition(
        store,
        "synthetic_texts",
        shard,
        {"syn": table},
        info={"stats": stats, "captioner": captioner.identity()},
    )
    return dg.MaterializeResult(
        metadata=ui_order(
            {
                **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
                **share_values(stats, "pairs", [k for k in stats if k != "pairs"]),
                "captioner_applied": clients is not None,
                "captioner": captioner.identity(),
                "funnel": dg.MetadataValue.md(
                    funnel_markdown(stats, "pairs", ["pairs", *[k for k in stats if k != "pairs"]])
                ),
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
                        table.head(5).to_dicts(),
                        ["syn_text", "caption", "tags", "reason"],
                        width=70,
                    )
                ),
                "location": dg.MetadataValue.path(
                    store.uri(partition_prefix("synthetic_texts", shard))
                ),
                "version": manifest["version"],
            }
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            "synthetic_texts", SYNTHETIC_SUITE, {"syn": table.drop("tags")}
        ),
    )
