"""sentence_clusters (k-means over the sentence pool) and retrieval_pairs (top_k texts per image),
both on the bucketed path (realsyn.codebook, realsyn.buckets) run by the ``engine`` resource
(``REALSYN_ENGINE=local|ray``): the pool is stored per coarse bucket, never as one file."""

import dataclasses
from typing import Literal

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from checks.retrieval_suites import RETRIEVAL_PAIRS_SUITE, SENTENCE_CLUSTERS_SUITE
from realsyn.codebook import flat_pool, read_codebook
from realsyn.drift import cluster_profile, retrieval_profile
from realsyn.embeddings import vectors_from_bytes, vectors_to_bytes
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, histogram_markdown, preview_markdown
from realsyn.retrieval import (
    ClusterParams,
    RetrievalParams,
    SentenceClusters,
    clusters_report,
    pairs_report,
)
from realsyn.schemas import MAX_TOP_K, RELEASE_TEXTS
from realsyn.scope import (
    ScopedResult,
    ScopeParams,
    apply_scope,
    document_topk,
    empty_document,
    empty_result,
)
from realsyn.storage import (
    partition_prefix,
    read_manifest,
    read_partition_file,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import ACCELERATOR_POOL, SHARD_BACKFILL, retry_transient_io
from realsyn_assets.bucketed import (
    POOL,
    cluster_buckets,
    document_sentences,
    embedded_shards,
    retrieve_shard,
    shard_image_dedup,
)
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from resources.drift import DriftResource
from resources.engine import EngineResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource


class SentenceClustersConfig(dg.Config):
    sentences_per_cluster: int = Field(
        default=ClusterParams.sentences_per_cluster,
        ge=1,
        description="Sentences per k-means cluster when n_clusters is unset (the paper's "
        "0.84B sentences / 2M clusters: ~420).",
    )
    n_clusters: int | None = Field(
        default=ClusterParams.n_clusters,
        description="Number of clusters; unset: sentences / sentences_per_cluster.",
    )
    iterations: int = Field(
        default=ClusterParams.iterations, ge=1, description="k-means iterations (faiss)."
    )
    seed: int = Field(
        default=ClusterParams.seed, description="k-means seed: same seed, same clusters."
    )


@dg.asset(
    deps=["sentence_dedup", "sentence_embeddings", "sentence_semantics"],
    check_specs=[
        *check_specs("sentence_clusters", SENTENCE_CLUSTERS_SUITE),
        drift_spec("sentence_clusters"),
    ],
    code_version="2",
    group_name="retrieval",
    kinds={"faiss", "numpy"},
    pool=ACCELERATOR_POOL,
)
@retry_transient_io
def sentence_clusters(
    context: dg.AssetExecutionContext,
    config: SentenceClustersConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    drift: DriftResource,
    engine: EngineResource,
) -> dg.MaterializeResult:
    """k-means over the surviving sentences' embeddings: centroids and cluster members."""
    config = stage_params.apply("sentence_clusters", config)
    store = storage.get()
    shards, model, survivors = _cluster_inputs(context, store)
    params = params_from_config(config, ClusterParams)
    context.log.info(f"sentence_clusters: {len(shards)} shard(s) on the {engine.engine} engine")
    book, members = cluster_buckets(engine.get(), store, shards, params)
    labels = members["cluster"].to_numpy()
    offsets = np.searchsorted(labels, np.arange(len(book.fine) + 1))
    clusters = SentenceClusters(book.fine, labels, np.arange(len(labels)), offsets)
    report = clusters_report(
        members.select("sentence_id", "shard"), clusters, members.select("sentence_id", "text")
    )
    manifest = write_partition(
        store,
        "sentence_clusters",
        None,
        {"members": report.members},
        info={"model": model, "stats": report.stats, "buckets": len(book.coarse), "pool": POOL},
        files={
            "centroids.npy": vectors_to_bytes(book.fine),
            "offsets.npy": _int_bytes(offsets),
        },
    )
    drift_md, drift_checks = drift_outputs(
        context, "sentence_clusters", cluster_profile(report.sizes, vars(params)), drift.params()
    )
    return dg.MaterializeResult(
        metadata=_clusters_metadata(report, drift_md, model, config, survivors, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            "sentence_clusters",
            SENTENCE_CLUSTERS_SUITE,
            {"members": report.members},
            {"k": report.stats["clusters"], "survivors": survivors},
        )
        + drift_checks,
    )


def _cluster_inputs(context, store) -> tuple[list[str], str, int]:
    """(the shards with sentence embeddings, their model, how many sentences survive dedup);
    the map tasks read each shard's vectors, survivors and texts themselves."""
    shards = embedded_shards(
        store, list(context.instance.get_dynamic_partitions(shard_partitions.name))
    )
    models = {read_manifest(store, "sentence_embeddings", s)["info"].get("model") for s in shards}
    if not shards:
        raise dg.Failure(description="no sentence_embeddings partition is materialized yet")
    if len(models) > 1:
        raise dg.Failure(
            description=f"sentence_embeddings partitions were made by different models "
            f"{sorted(map(str, models))}: re-materialize them with one model"
        )
    survivors = read_manifest(store, "sentence_dedup", None)["info"]["stats"]["survivors"]
    return shards, models.pop(), int(survivors)


def _clusters_metadata(report, drift_md, model, config, survivors: int, manifest) -> dict:
    sizes, stats = report.sizes, report.stats
    return ui_order(
        {
            **drift_md,
            **{k_: dg.MetadataValue.int(v) for k_, v in stats.items()},
            "model": model,
            "params": dg.MetadataValue.json(config.model_dump()),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    {"surviving sentences": survivors, "clustered": stats["sentences"]},
                    "surviving sentences",
                    ["surviving sentences", "clustered"],
                )
            ),
            "cluster_size_plot": dg.MetadataValue.md(
                histogram_markdown_svg(sizes.tolist(), "sentences per cluster")
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    report.members.group_by("cluster", maintain_order=True)
                    .head(2)
                    .head(10)
                    .to_dicts(),
                    ["cluster", "text"],
                    width=90,
                )
            ),
            "cluster_sizes": dg.MetadataValue.md(
                histogram_markdown(
                    sizes.tolist(), [0, 1, 2, 5, 10, 50, 100, 420, 1000, 10**9], "size"
                )
            ),
            "version": manifest["version"],
        }
    )


def _int_bytes(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a.astype(np.int64), allow_pickle=False)
    return buf.getvalue()


def _load_clusters(store) -> tuple[SentenceClusters, np.ndarray, pl.DataFrame, str]:
    """The whole bucketed pool as one cluster-sorted matrix (benchmarks at small scale only)."""
    manifest = read_manifest(store, "sentence_clusters", None)
    clusters, vectors, members = flat_pool(store, POOL, read_codebook(store, POOL))
    return clusters, vectors, members, manifest["info"]["model"]


class RetrievalConfig(dg.Config):
    top_k: int = Field(
        default=RetrievalParams.top_k,
        ge=RELEASE_TEXTS,
        le=MAX_TOP_K,
        description="Sentences kept per image, best first (text1..). The release publishes "
        f"text1..text{RELEASE_TEXTS}, so at least {RELEASE_TEXTS}; up to {MAX_TOP_K} adds "
        "text4.. to retrieval_pairs only.",
    )
    clusters_searched: int = Field(
        default=RetrievalParams.clusters_searched,
        ge=1,
        description="Nearest sentence clusters searched per image (the paper: 1). Each more "
        "costs one small matrix product per image and finds the sentences of images that sit "
        "between clusters; measured precision per value: README, retrieval_pairs.",
    )
    scope: Literal["corpus", "document", "hybrid"] = Field(
        default=ScopeParams.scope,
        description="Where an image's texts come from: corpus (the paper: the whole pool, needs "
        "a strong CLIP), document (MMC4-style: only the image's own document's sentences) or "
        "hybrid (corpus cosine + scope_prior_weight for its own document's sentences). "
        "Recorded per row (scope); review rounds compare all three (README, pilot loop).",
    )
    scope_prior_weight: float = Field(
        default=ScopeParams.scope_prior_weight,
        ge=0.0,
        description="hybrid: added to the cosine of the image's own document's sentences.",
    )
    scope_prior_halflife: float | None = Field(
        default=ScopeParams.scope_prior_halflife,
        gt=0.0,
        description="hybrid: item positions between image and sentence over which the prior "
        "halves; unset: the same prior over the whole document.",
    )


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[
        "clean_images",
        "image_dedup",
        "image_embeddings",
        sentence_clusters,
        "sentences",  # document and hybrid scope: the shard's sentences and their documents
        "sentence_embeddings",
        "sentence_dedup",
        "sentence_semantics",
    ],
    check_specs=[
        *check_specs("retrieval_pairs", RETRIEVAL_PAIRS_SUITE),
        drift_spec("retrieval_pairs"),
    ],
    code_version="2",
    group_name="retrieval",
    kinds={"parquet", "numpy"},
)
@retry_transient_io
def retrieval_pairs(
    context: dg.AssetExecutionContext,
    config: RetrievalConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    drift: DriftResource,
    engine: EngineResource,
) -> dg.MaterializeResult:
    """Each surviving image of the shard with its top_k (3) most similar sentences of the
    corpus (or of its own document: ``scope``)."""
    config = stage_params.apply("retrieval_pairs", config)
    shard, store = context.partition_key, storage.get()
    model = read_manifest(store, "sentence_clusters", None)["info"]["model"]
    images, vectors = _shard_images(store, shard, model)
    params = params_from_config(config, RetrievalParams)
    scope = params_from_config(config, ScopeParams)
    found = _scoped_retrieval(engine, store, shard, model, params, scope, images, vectors)
    report = pairs_report(
        images, found.result, found.sentence_ids, found.texts, model, scope.scope,
        found.short_reason,
    )  # fmt: skip
    manifest = write_partition(
        store,
        "retrieval_pairs",
        shard,
        {"pairs": report.table},
        info={
            "stats": report.stats,
            "quantiles": report.quantiles,
            "model": model,
            "scope": scope.scope,
            "scope_params": dataclasses.asdict(scope),  # what review_sample compares against
        },
    )
    survivor_ids = images["image_id"].to_list()
    drift_md, drift_checks = drift_outputs(
        context, "retrieval_pairs", retrieval_profile(report.table, vars(params)), drift.params()
    )
    location = store.uri(partition_prefix("retrieval_pairs", shard))
    return dg.MaterializeResult(
        metadata=_pairs_metadata(report, drift_md, model, config, params, location, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            "retrieval_pairs",
            RETRIEVAL_PAIRS_SUITE,
            {"pairs": report.table},
            {"survivors": len(survivor_ids), "survivor_ids": survivor_ids, "top_k": params.top_k},
        )
        + drift_checks,
    )


def _scoped_retrieval(
    engine, store, shard, model, params, scope: ScopeParams, images, vectors
) -> ScopedResult:
    """The shard's result in ``scope``: the bucketed corpus retrieval (corpus, hybrid) and the
    shard's own documents' sentences (document, hybrid; read per shard, never the pool)."""
    if scope.scope == "document":
        corpus, ids, texts = empty_result(images.height, params.top_k), [], []
    else:
        corpus, ids, texts = retrieve_shard(engine.get(), store, shard, model, params)
    if scope.scope == "corpus":
        return apply_scope(
            scope, corpus, ids, texts, empty_document(images.height, params.top_k), [], []
        )
    frame, sentence_vectors = document_sentences(store, shard)
    document = document_topk(
        images["doc_id"].to_list(),
        images["position"].to_numpy(),
        vectors,
        frame["doc_id"].to_list(),
        frame["position"].to_numpy(),
        sentence_vectors,
        params.top_k,
        scope if scope.scope == "hybrid" else None,
    )
    return apply_scope(
        scope, corpus, ids, texts, document, frame["sentence_id"].to_list(), frame["text"].to_list()
    )


def _shard_images(store, shard: str, model: str) -> tuple[pl.DataFrame, np.ndarray]:
    """The shard's images that survive dedup (by id) and their vectors; the vectors must come
    from the sentence clusters' model."""
    image_model = read_manifest(store, "image_embeddings", shard)["info"]["model"]
    if image_model != model:
        raise dg.Failure(
            description=f"image_embeddings[{shard}] use {image_model}, the sentence clusters {model}"
        )
    survival = shard_image_dedup(store, shard)  # the shard's slices, not the whole table
    images = (
        read_partition_table(store, "clean_images", shard, "images")
        .join(survival.filter(pl.col("survives")).select("image_id"), on="image_id")
        .sort("image_id")
    )
    keys = read_partition_table(store, "image_embeddings", shard, "keys")["key"].to_list()
    vectors = vectors_from_bytes(
        read_partition_file(store, "image_embeddings", shard, "vectors.npy")
    )
    row_of = {k: i for i, k in enumerate(keys)}
    image_vectors = (
        vectors[[row_of[s] for s in images["sha256"].to_list()]]
        if images.height
        else np.zeros((0, vectors.shape[1]), np.float32)
    )
    return images, image_vectors


def _pairs_metadata(report, drift_md, model, config, params, location: str, manifest) -> dict:
    table, stats = report.table, report.stats
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **{k: dg.MetadataValue.float(v) for k, v in report.quantiles.items()},
            "model": model,
            "params": dg.MetadataValue.json(config.model_dump()),
            "short_share": dg.MetadataValue.float(stats["short"] / max(table.height, 1)),
            "score1_mean": dg.MetadataValue.float(float(table["score1"].mean() or 0.0)),
            "score_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    table["score1"].drop_nulls().to_list(), "cosine of the best sentence"
                )
            ),
            "clusters_searched": params.clusters_searched,
            "scope": str(config.scope),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    {
                        "surviving images": table.height,
                        f"with {params.top_k} texts": table.height - stats["short"],
                    },
                    "surviving images",
                    ["surviving images", f"with {params.top_k} texts"],
                )
            ),
            "preview": dg.MetadataValue.md(
                preview_markdown(
                    table.head(5).to_dicts(),
                    ["raw_image_url", "text1", "score1", "text2", "text3"],
                    width=50,
                )
            ),
            "location": dg.MetadataValue.path(location),
            "version": manifest["version"],
        }
    )
