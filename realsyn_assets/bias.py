"""bias_report per scale: what the release over- and under-represents, and who was filtered out.

Human precision head vs tail is in each review round's ``human_validation`` (its strata carry
the image-cluster size class), not here: reading it would make a failed blocking check of a
round block the release's report.

``build_bias_assets(scales)`` makes it with the same scale partitions as ``scaled_subsets``.
"""

import dagster as dg
import polars as pl
from pydantic import Field

from checks.bias_suites import BIAS_REPORT_SUITE
from checks.dagster_checks import check_results, check_specs
from realsyn.bias import (
    cluster_report,
    concept_labels,
    share_shift,
    share_table,
    source_funnel,
    stage_counts,
)
from realsyn.plots import histogram_markdown_svg
from realsyn.report import preview_markdown
from realsyn.storage import PartitionNotFound, read_manifest, read_partition_table, write_partition
from realsyn_assets.bucketed import all_image_dedup
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from resources.storage import StorageResource

ALL_SHARDS = dg.AllPartitionMapping()


def _doc_sources(context, store) -> tuple[dict, list[pl.DataFrame], list[pl.DataFrame], list]:
    """doc_id -> source format, every shard's clean_images rows, the dedup rows, and every
    shard's retrieval pairs' doc ids (the pairs before the cosine band)."""
    sources: dict[str, str] = {}
    images, dedup, pairs = [], [], []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            docs = read_partition_table(store, "raw_documents", shard, "documents")
            images.append(
                read_partition_table(store, "clean_images", shard, "images").select(
                    "image_id", "doc_id", "decision"
                )
            )
        except PartitionNotFound:
            continue
        try:
            pairs += read_partition_table(store, "retrieval_pairs", shard, "pairs")[
                "doc_id"
            ].to_list()
        except PartitionNotFound:
            pass  # not retrieved yet: it has no pairs to count
        sources.update(dict(docs.select("doc_id", "source_format").iter_rows()))
    try:
        dedup.append(all_image_dedup(store))
    except PartitionNotFound:
        context.log.warning("no image_dedup yet: its drop rates are left out")
    return sources, images, dedup, pairs


def _funnel(read: tuple, pool: pl.DataFrame, subset: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per source and filter: entered, kept, drop rate (``read`` is :func:`_doc_sources`')."""
    sources, images, dedup, pairs = read

    def src(doc_ids) -> list[str | None]:
        return [sources.get(d) for d in doc_ids]

    stages = []
    if images:
        im = pl.concat(images)
        kept = im.filter(pl.col("decision") == "keep")
        stages.append(stage_counts("clean_images", src(im["doc_id"]), src(kept["doc_id"])))
        if dedup:
            doc_of = dict(im.select("image_id", "doc_id").iter_rows())
            surv = dedup[0].filter(pl.col("image_id").is_in(kept["image_id"]))
            alive = surv.filter(pl.col("survives"))
            stages.append(
                stage_counts(
                    "image_dedup",
                    src(doc_of.get(i) for i in surv["image_id"]),
                    src(doc_of.get(i) for i in alive["image_id"]),
                )
            )
    stages.append(stage_counts("cosine_band", src(pairs), src(pool["doc_id"])))
    stages.append(stage_counts(f"cap_{key}", src(pool["doc_id"]), src(subset["doc_id"])))
    return source_funnel(stages)


class BiasReportConfig(dg.Config):
    max_over_uniform: float = Field(
        3.0,
        description="Warn when one image cluster holds more than this many times its fair "
        "share (1 / clusters) of the release.",
    )
    max_source_share_shift: float = Field(
        0.1,
        description="Warn when a source's release share moved more than this since the "
        "previous materialization.",
    )


def _report_tables(context, store, key: str, t: int):
    """Shares per image cluster, concept and source in the pool vs the release; drop rates."""
    pool = read_partition_table(store, "balanced_pool", None, "pool")
    subset = read_partition_table(store, "scaled_subsets", key, "subset")
    clusters, stats = cluster_report(
        pool["image_cluster"].to_numpy(), subset["image_cluster"].to_numpy(), t
    )
    names = concept_labels(pool["text1"].to_list(), pool["cluster_id"].to_list())
    concepts = share_table(
        [names.get(c, str(c)) for c in pool["cluster_id"].to_list()],
        [names.get(c, str(c)) for c in subset["sentence_cluster"].to_list()],
        "concept",
    )
    read = _doc_sources(context, store)
    sources_of = read[0]
    sources = share_table(
        [sources_of.get(d, "unknown") for d in pool["doc_id"].to_list()],
        [sources_of.get(d, "unknown") for d in subset["doc_id"].to_list()],
        "source",
    )
    funnel = _funnel(read, pool, subset, key)
    return clusters, stats, concepts, sources, funnel


def _source_drift(store, key: str, now: dict):
    """How far each source's release share moved since the previous materialization."""
    try:
        previous = read_manifest(store, "bias_report", key)["info"].get("source_shares", {})
    except PartitionNotFound:
        previous = {}
    drift = share_shift(previous, now) if previous else pl.DataFrame()
    drift_stats = (
        {"max_source_share_shift": float(drift["abs_delta"].max() or 0.0)} if previous else {}
    )
    return drift, drift_stats


def _drift_check(config, drift, drift_stats) -> dg.AssetCheckResult:
    """bias_report_source_shares_stable: warns when a source's release share moved too far."""
    shift = drift_stats.get("max_source_share_shift")
    drift_check = dg.AssetCheckResult(
        check_name="bias_report_source_shares_stable",
        passed=shift is None or shift <= config.max_source_share_shift,
        severity=dg.AssetCheckSeverity.WARN,
        description="A source's release share moved by at most max_source_share_shift since "
        "the previous materialization (none before: passes, says so).",
        metadata={"observed": dg.MetadataValue.json(
            drift.to_dicts() if drift.height else {"previous": None})},
    )  # fmt: skip
    return drift_check


def _metadata(config, key, t, clusters, concepts, sources, funnel, stats, drift_stats, manifest):
    """The asset page: cluster shares, over-represented clusters, concepts, sources, drop rates."""
    return ui_order(
        {
            "cluster_share_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    (clusters["release_share"] * 100).to_list(),
                    f"release share per image cluster (%), t={t}",
                )
                if clusters.height
                else "no clusters"
            ),
            "over_represented_preview": dg.MetadataValue.md(
                preview_markdown(
                    clusters.head(10).to_dicts(),
                    ["image_cluster", "pool", "release", "over_uniform", "release_share"],
                )
            ),
            "concepts_preview": dg.MetadataValue.md(
                preview_markdown(
                    concepts.head(15).to_dicts(),
                    ["concept", "pool_share", "release_share", "ratio"],
                )
            ),
            "sources_preview": dg.MetadataValue.md(
                preview_markdown(
                    sources.to_dicts(), ["source", "pool_share", "release_share", "ratio"]
                )
            ),
            "drop_rates_preview": dg.MetadataValue.md(
                preview_markdown(
                    funnel.to_dicts(), ["stage", "source", "entered", "kept", "drop_rate"]
                )
            ),
            **{k: dg.MetadataValue.float(float(v)) for k, v in stats.items()},
            **{k: dg.MetadataValue.float(v) for k, v in drift_stats.items()},
            "params": dg.MetadataValue.json({**config.model_dump(), "scale": key}),
            "version": manifest["version"],
        }
    )


def build_bias_assets(scales: tuple[int, ...]) -> list:
    keys = [f"t{t}" for t in sorted(scales)]

    @dg.asset(
        partitions_def=dg.StaticPartitionsDefinition(keys),
        deps=[
            "scaled_subsets",
            "balanced_pool",
            dg.AssetDep("raw_documents", partition_mapping=ALL_SHARDS),
            dg.AssetDep("clean_images", partition_mapping=ALL_SHARDS),
            dg.AssetDep("retrieval_pairs", partition_mapping=ALL_SHARDS),
            "image_dedup",
        ],
        check_specs=check_specs("bias_report", BIAS_REPORT_SUITE)
        + [dg.AssetCheckSpec("bias_report_source_shares_stable", asset="bias_report")],
        code_version="1",
        group_name="release",
        kinds={"parquet"},
    )
    def bias_report(
        context: dg.AssetExecutionContext, config: BiasReportConfig, storage: StorageResource
    ) -> dg.MaterializeResult:
        """Shares per image cluster, source and concept in the pool vs the release; drop rates."""
        store, key = storage.get(), context.partition_key
        t = int(key[1:])
        clusters, stats, concepts, sources, funnel = _report_tables(context, store, key, t)
        now = dict(zip(sources["source"], sources["release_share"], strict=True))
        drift, drift_stats = _source_drift(store, key, now)
        tables = {"clusters": clusters, "concepts": concepts, "sources": sources, "funnel": funnel}
        manifest = write_partition(
            store, "bias_report", key, tables,
            info={"stats": stats, "source_shares": now},
        )  # fmt: skip
        drift_check = _drift_check(config, drift, drift_stats)
        return dg.MaterializeResult(
            metadata=_metadata(
                config, key, t, clusters, concepts, sources, funnel, stats, drift_stats, manifest
            ),
            data_version=dg.DataVersion(manifest["version"]),
            check_results=check_results(
                "bias_report", BIAS_REPORT_SUITE, tables, {**config.model_dump(), "t": t}
            )
            + [drift_check],
        )

    return [bias_report]
