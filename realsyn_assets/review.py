"""Review rounds: review_sample, review_labels (observed by a sensor) and human_validation.

A round is a dynamic partition (``r001``, ``r002``, ...; ``realsyn review new`` adds one). Its
folder ``review/<round>/`` under the data root holds what people need: ``tasks.json`` (Label
Studio import), ``label_config.xml``, ``RATER_GUIDE.md``, ``images/`` (copied out of the blob
store), and ``labels/``, where the raters' exports go. ``review_labels_sensor`` (stopped by
default) parses new or changed exports into the ``review_labels`` partition and asks for
``human_validation`` of the round.
"""

import dataclasses
import io
import json

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from realsyn.balance import BalanceParams, cluster_images
from realsyn.clip import encode_texts
from realsyn.label_studio import RATER_GUIDE, label_config, tasks
from realsyn.report import preview_markdown
from realsyn.retrieval import RetrievalResult, brute_force
from realsyn.review import (
    ReviewParams,
    default_band,
    gold_table,
    sample_review,
    with_scope_texts,
    world_labels,
)
from realsyn.schemas import image_blob_key
from realsyn.scope import ScopeParams, empty_result, result_from_rows, scope_rows
from realsyn.storage import (
    PartitionNotFound,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn.world_docs import TRUTH_DIR
from realsyn_assets.bucketed import document_sentences, embedded_shards
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.release import BalancedPoolConfig
from realsyn_assets.retrieval import RetrievalConfig
from realsyn_assets.synthetic import with_syn_text
from realsyn_assets.vectors import is_random_model, load_all_vectors
from resources.clip_model import ClipModelResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource

review_rounds = dg.DynamicPartitionsDefinition(name="review_rounds")
SENTENCE_COLUMNS = {"sentence_id": pl.String, "doc_id": pl.String, "position": pl.Int32,
                    "text": pl.String}  # fmt: skip


def review_folder(round_key: str) -> str:
    return f"review/{round_key}"


def _shard_frames(context, store) -> pl.DataFrame:
    """Every shard's retrieval pairs with syn_text, source format and image format."""
    frames = []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            pairs = read_partition_table(store, "retrieval_pairs", shard, "pairs")
            docs = read_partition_table(store, "raw_documents", shard, "documents")
            images = read_partition_table(store, "clean_images", shard, "images")
        except PartitionNotFound:
            context.log.warning(f"{shard}: no retrieval_pairs yet, not sampled")
            continue
        pairs = with_syn_text(store, shard, pairs)
        if "scope" not in pairs.columns:  # made before the scope setting: the corpus scope
            pairs = pairs.with_columns(scope=pl.lit("corpus"))
        fmt = images.select("sha256", "format").unique("sha256", keep="first")
        frames.append(
            pairs.join(docs.select("doc_id", "source_format"), on="doc_id", how="left")
            .join(fmt, on="sha256", how="left")
            .select(
                "image_id",
                "sha256",
                "doc_id",
                "shard",
                "source_format",
                "format",
                "text1",
                "text2",
                "text3",
                "syn_text",
                "sentence_id1",
                "position",
                "sentence_id2",
                "sentence_id3",
                "score1",
                "score2",
                "score3",
                "scope",
            )  # fmt: skip
        )
    if not frames:
        raise dg.Failure(description="no retrieval_pairs partition is materialized yet")
    return pl.concat(frames)


def pairs_before_band(context, store, clip_model: ClipModelResource, balance: BalancedPoolConfig):
    """Every pair with its cosine as balanced_pool computes it (image vs syn_text, text1 where
    there is none) and its image cluster (the pool's k-means over every pair's image)."""
    pairs = _shard_frames(context, store)
    img_keys, img_vecs, model = load_all_vectors(context, store, "image_embeddings")
    sent_keys, sent_vecs, _ = load_all_vectors(context, store, "sentence_embeddings")
    img_row = {k: i for i, k in enumerate(img_keys["key"].to_list())}
    sent_row = {k: i for i, k in enumerate(sent_keys["sentence_id"].to_list())}
    pairs = pairs.filter(pl.col("sha256").is_in(list(img_row)))
    images = img_vecs[[img_row[s] for s in pairs["sha256"].to_list()]]
    texts = np.zeros_like(images)
    for i, sid in enumerate(pairs["sentence_id1"].to_list()):
        if sid in sent_row:
            texts[i] = sent_vecs[sent_row[sid]]
    has_syn = pairs["syn_text"].is_not_null().to_numpy()
    if has_syn.any():
        texts[has_syn] = encode_texts(clip_model.get(), pairs["syn_text"].filter(has_syn).to_list())
    params = BalanceParams(balance.images_per_cluster, balance.n_clusters, balance.seed)
    return pairs.with_columns(
        pl.Series("pair_cosine", (images * texts).sum(axis=1).astype(np.float64)),
        pl.Series("pair_text", np.where(has_syn, "syn_text", "text1")),
        pl.Series("image_cluster", cluster_images(images, params), dtype=pl.Int64),
    ), model


def _earlier_items(store, rounds: list[str], current: str) -> pl.DataFrame | None:
    frames = []
    for key in rounds:
        if key >= current:
            continue
        try:
            frames.append(read_partition_table(store, "review_sample", key, "items"))
        except PartitionNotFound:
            continue
    return pl.concat(frames) if frames else None


def _gold(corpus, store, pairs: pl.DataFrame) -> tuple[dict, str]:
    """Known answers: the generated world's truth, else ``review/gold.json`` if a person wrote
    one (``{image_id: {field: label}}``), else none."""
    if corpus.exists(f"{TRUTH_DIR}/images.parquet"):
        ti, ts = (
            pl.read_parquet(io.BytesIO(corpus.read_bytes(f"{TRUTH_DIR}/{n}.parquet")))
            for n in ("images", "sentences")
        )
        answers = world_labels(pairs, ti, ts)
        full = {k: v for k, v in answers.items() if {"text1", "text2", "text3"} <= set(v)}
        return full, "the generated world's truth"
    if store.exists("review/gold.json"):
        return json.loads(store.read_bytes("review/gold.json")), "review/gold.json"
    return {}, "none"


def _pool_sentences(store, shards: list[str], docs: set[str] | None):
    """The pool's sentences (sentence_id, doc_id, position, text) and vectors of ``shards``,
    only those of ``docs`` unless None."""
    frames, blocks = [], []
    for shard in shards:
        frame, vectors = document_sentences(store, shard)
        if docs is not None:
            keep = frame["doc_id"].is_in(list(docs)).to_numpy()
            frame, vectors = frame.filter(pl.Series(keep)), vectors[keep]
        frames.append(frame)
        blocks.append(vectors)
    if not frames:
        return pl.DataFrame(schema=SENTENCE_COLUMNS), np.zeros((0, 0), np.float32)
    return pl.concat(frames), np.concatenate(blocks)


def _corpus_top3(store, sampled: pl.DataFrame, vectors: np.ndarray, released: str, shards):
    """The sampled images' corpus top-3: their retrieval_pairs rows when those are the corpus
    scope, else an exact search over every shard's pool sentences (a pilot-sized pool)."""
    if released == "corpus":
        return result_from_rows(sampled, 3)
    pool, pool_vectors = _pool_sentences(store, shards, None)
    if not pool.height:
        return empty_result(sampled.height, 3), [], []
    idx, scores = brute_force(vectors, pool_vectors, 3)
    m = sampled.height
    full_i = np.full((m, 3), -1, np.int64)
    full_s = np.full((m, 3), -np.inf, np.float32)
    full_i[:, : idx.shape[1]], full_s[:, : idx.shape[1]] = idx, scores
    none = np.full(m, -1, np.int64)
    result = RetrievalResult(full_i, full_s, none, np.full(m, pool.height))
    return result, pool["sentence_id"].to_list(), pool["text"].to_list()


def ran_scope(context, store, pairs, stage_params: StageParamsResource) -> ScopeParams:
    """The scope setting retrieval_pairs ran with (its manifests), so the compared scopes use the
    released hybrid prior, not whatever REALSYN_PARAMS says now. Shards that disagree: an error
    (re-run retrieval_pairs); manifests from before the setting was recorded: REALSYN_PARAMS."""
    ran = {}
    for shard in sorted(set(pairs["shard"].to_list())):
        info = read_manifest(store, "retrieval_pairs", shard)["info"]
        if "scope_params" in info:
            ran[shard] = ScopeParams(**info["scope_params"])
    if len(set(ran.values())) > 1:
        seen = {p: sorted(s for s in ran if ran[s] == p) for p in set(ran.values())}
        raise dg.Failure(
            description="retrieval_pairs ran with different scope settings across shards: "
            + "; ".join(f"{vars(p)} on {', '.join(s)}" for p, s in seen.items())
            + ". Re-run retrieval_pairs so the round compares one setting."
        )
    if ran:
        return next(iter(ran.values()))
    context.log.warning("retrieval_pairs recorded no scope setting: using REALSYN_PARAMS'")
    return params_from_config(stage_params.apply("retrieval_pairs", RetrievalConfig()), ScopeParams)


def scope_texts(context, store, items, pairs, retrieval: ScopeParams) -> dict[str, pl.DataFrame]:
    """Each compared scope's top-3 for the round's items of that scope (not the released one),
    from the images' vectors, their documents' pool sentences (their shards' only) and their
    corpus top-3; the hybrid prior is retrieval_pairs' setting."""
    released = items.filter("released")["scope"][0] if items["released"].any() else "corpus"
    alt = items.filter(~pl.col("released"))
    if not alt.height:
        return {}
    sampled = pairs.filter(pl.col("image_id").is_in(alt["image_id"].to_list())).sort("image_id")
    keys, vecs, _ = load_all_vectors(context, store, "image_embeddings")
    row = {k: i for i, k in enumerate(keys["key"].to_list())}
    vectors = np.asarray(vecs[[row[s] for s in sampled["sha256"].to_list()]], dtype=np.float32)
    shards = sorted(set(sampled["shard"].to_list()))
    all_shards = sorted(context.instance.get_dynamic_partitions(shard_partitions.name))
    corpus = _corpus_top3(store, sampled, vectors, released, embedded_shards(store, all_shards))
    docs, doc_vectors = _pool_sentences(store, shards, set(sampled["doc_id"].to_list()))
    out = {}
    for scope in sorted(set(alt["scope"].to_list())):
        params = dataclasses.replace(retrieval, scope=scope)
        out[scope] = scope_rows(params, sampled, vectors, corpus, docs, doc_vectors, 3)
    return out


class ReviewSampleConfig(dg.Config):
    per_stratum: int = Field(
        ReviewParams.per_stratum, description="Images per stratum (cosine bin x source x size)."
    )
    double_share: float = Field(
        ReviewParams.double_share, description="Share of items shown twice (Cohen's kappa)."
    )
    gold_items: int = Field(
        ReviewParams.gold_items, description="Items with a known answer (rater accuracy)."
    )
    gold_repeats: int = Field(ReviewParams.gold_repeats, description="Tasks per gold item.")
    seed: int = Field(ReviewParams.seed, description="Seed of the sample and the task order.")
    scopes: list[str] = Field(
        list(ReviewParams.scopes),
        description="Retrieval scopes compared side by side (a stratum dimension, blind to the "
        "raters): each stratum gives per_stratum images per scope, retrieval_pairs' own scope "
        "always among them; human_validation names the one with the higher precision@1. "
        "One of corpus, document, hybrid each.",
    )
    image_url_prefix: str = Field(
        "/data/local-files/?d={folder}/",
        description="What Label Studio loads an image from, before images/<file>; {folder} is "
        "the round's folder relative to the data root (Label Studio's local-files document root).",
    )


def _params(config: ReviewSampleConfig) -> ReviewParams:
    return ReviewParams(
        per_stratum=config.per_stratum,
        double_share=config.double_share,
        gold_items=config.gold_items,
        gold_repeats=config.gold_repeats,
        seed=config.seed,
        scopes=tuple(config.scopes),
    )


def _write_folder(store, key: str, items: pl.DataFrame, config: ReviewSampleConfig) -> int:
    """The round's folder for people: tasks, config, guide, images. Returns the task count."""
    folder = review_folder(key)
    task_list = tasks(items, config.image_url_prefix.format(folder=folder), config.seed)
    store.write_bytes(f"{folder}/tasks.json", json.dumps(task_list, indent=1).encode())
    store.write_bytes(f"{folder}/label_config.xml", label_config().encode())
    store.write_bytes(f"{folder}/RATER_GUIDE.md", RATER_GUIDE.encode())
    store.write_bytes(
        f"{folder}/labels/README.md", b"Put Label Studio exports (JSON or JSON-MIN) here.\n"
    )
    for sha, name in items.select("sha256", "image_file").unique().iter_rows():
        if not store.exists(f"{folder}/{name}"):
            store.write_bytes(f"{folder}/{name}", store.read_bytes(image_blob_key(sha)))
    return len(task_list)


def _band(balance, model, pairs):
    """The cosine band the sample is stratified around, and where it came from."""
    band_set = balance.pair_band_low is not None and balance.pair_band_high is not None
    if band_set and not is_random_model(model or ""):
        band, band_source = (balance.pair_band_low, balance.pair_band_high), "balanced_pool's band"
    else:
        band = default_band(pairs["pair_cosine"].to_numpy())
        band_source = "the middle half of the cosines (no band configured)"
    return band, band_source


def _already_reviewed(context, store, key: str):
    """Images and blobs earlier rounds already sent for review (gold excluded), and how many."""
    earlier = _earlier_items(
        store, context.instance.get_dynamic_partitions(review_rounds.name), key
    )
    reviewed, n_reviewed = set(), 0
    if earlier is not None:
        old = earlier.filter(~pl.col("is_gold"))
        reviewed, n_reviewed = set(old["image_id"]) | set(old["sha256"]), old.height
    return reviewed, n_reviewed


def _with_image_files(items: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Each item's image file name in the review folder (images/<sha256>.<format>)."""
    ext = dict(pairs.select("sha256", "format").iter_rows())
    return items.with_columns(
        pl.col("sha256")
        .map_elements(
            lambda s: f"images/{s}.{(ext.get(s) or 'bin').lower()}", return_dtype=pl.String
        )
        .alias("image_file")
    )


def _sample_stats(items, n_tasks, pairs, n_reviewed):
    """Items per stratum (gold excluded) and the sample's counts."""
    strata = (
        items.filter(~pl.col("is_gold"))
        .group_by("stratum")
        .agg(pl.len().alias("items"), pl.first("stratum_population").alias("population"))
        .sort("stratum")
    )
    stats = {
        "items": items.height,
        "tasks": n_tasks,
        "double_labelled": int(((items["copies"] == 2) & ~items["is_gold"]).sum()),
        "gold_items": int(items["is_gold"].sum()),
        "strata": strata.height,
        "eligible_pairs": pairs.height,
        "already_reviewed": n_reviewed,
    }
    return strata, stats


def _metadata(store, key, config, stats, band, band_source, gold_source, strata, items, manifest):
    """The asset page: counts, the band, strata and examples."""
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "band_low": dg.MetadataValue.float(band[0]),
            "band_high": dg.MetadataValue.float(band[1]),
            "band_source": band_source,
            "gold_source": gold_source,
            "strata_preview": dg.MetadataValue.md(
                preview_markdown(strata.to_dicts(), ["stratum", "items", "population"])
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    items.head(6).to_dicts(), ["item_id", "stratum", "pair_cosine", "text1"]
                )
            ),
            "params": dg.MetadataValue.json(config.model_dump()),
            "location": dg.MetadataValue.path(store.uri(review_folder(key))),
            "version": manifest["version"],
        }
    )


@dg.asset(
    partitions_def=review_rounds,
    deps=[
        "retrieval_pairs",
        "synthetic_texts",
        "image_embeddings",
        "sentence_embeddings",
        "raw_documents",
        "clean_images",
        "balanced_pool",
        "clip_training",  # the clip_model resource's checkpoint encodes syn_text
        "sentences",  # the other scopes' texts: the sampled images' documents' sentences
        "sentence_dedup",
        "sentence_semantics",
    ],  # fmt: skip
    code_version="1",
    group_name="review",
    kinds={"parquet", "json"},
)
def review_sample(
    context: dg.AssetExecutionContext,
    config: ReviewSampleConfig,
    storage: StorageResource,
    corpus: StorageResource,
    clip_model: ClipModelResource,
    stage_params: StageParamsResource,
) -> dg.MaterializeResult:
    """A seeded, stratified sample of pairs before the cosine band, as Label Studio tasks."""
    store, key = storage.get(), context.partition_key
    balance = stage_params.apply("balanced_pool", BalancedPoolConfig())
    pairs, model = pairs_before_band(context, store, clip_model, balance)
    band, band_source = _band(balance, model, pairs)
    reviewed, n_reviewed = _already_reviewed(context, store, key)
    gold, gold_source = _gold(corpus.get(), store, pairs)
    items = sample_review(pairs, band, _params(config), key, reviewed, gold)
    retrieval = ran_scope(context, store, pairs, stage_params)
    items = with_scope_texts(items, scope_texts(context, store, items, pairs, retrieval))
    items = _with_image_files(items, pairs)
    n_tasks = _write_folder(store, key, items, config)
    strata, stats = _sample_stats(items, n_tasks, pairs, n_reviewed)
    manifest = write_partition(
        store, "review_sample", key, {"items": items, "gold": gold_table(items, gold)},
        info={"stats": stats, "band": list(band), "band_source": band_source, "model": model,
              "scope_params": dataclasses.asdict(retrieval)},
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata=_metadata(
            store, key, config, stats, band, band_source, gold_source, strata, items, manifest
        ),
        data_version=dg.DataVersion(manifest["version"]),
    )
