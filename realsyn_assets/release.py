"""balanced_pool, scaled_subsets and release: RealSyn's stage 4 and the export.

``build_release_assets(scales)`` makes the scale-partitioned assets for the configured caps.
"""

import json

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from checks.release_suites import BALANCED_POOL_SUITE, RELEASE_SUITE, SCALED_SUBSETS_SUITE
from realsyn.balance import BalanceParams, balance_pool, gini, scaled_subset
from realsyn.clip import encode_texts
from realsyn.drift import pool_profile
from realsyn.plots import histogram_markdown_svg
from realsyn.release import ShardSpec, dataset_card, release_funnel, webdataset_shards
from realsyn.report import funnel_markdown, histogram_markdown, preview_markdown
from realsyn.schemas import RELEASE_SCHEMA, image_blob_key
from realsyn.storage import (
    PartitionNotFound,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import retry_transient_io
from realsyn_assets.metadata import ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.synthetic import with_syn_text
from realsyn_assets.vectors import is_random_model, load_all_vectors
from resources.clip_model import ClipModelResource
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource


class BalancedPoolConfig(dg.Config):
    images_per_cluster: int = Field(
        default=BalanceParams.images_per_cluster,
        ge=1,
        description="Images per image cluster when n_clusters is unset (the concept clusters "
        "whose ranks the scaled subsets cap).",
    )
    n_clusters: int | None = Field(
        default=BalanceParams.n_clusters,
        description="Number of image clusters; unset: images / images_per_cluster.",
    )
    seed: int = Field(
        default=BalanceParams.seed,
        description="Seed of the image k-means and of the hash ranks within each cluster.",
    )
    pair_band_low: float | None = Field(
        default=None,
        description="Lowest cosine(image, syn_text, or text1 without one) kept; unset: the "
        "band is not applied.",
    )
    pair_band_high: float | None = Field(
        default=None,
        description="Highest cosine(image, syn_text or text1) kept (near-copies of the image's "
        "own text above it); unset: not applied.",
    )


def _pairs(context, store) -> pl.DataFrame:
    """Every shard's retrieval pairs with its syn_text (null where none was made)."""
    frames = []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            pairs = read_partition_table(store, "retrieval_pairs", shard, "pairs")
        except PartitionNotFound:
            context.log.warning(f"{shard} has no retrieval_pairs yet")
            continue
        pairs = with_syn_text(store, shard, pairs)
        if "scope" not in pairs.columns:  # made before the scope setting: the corpus scope
            pairs = pairs.with_columns(scope=pl.lit("corpus"))
        frames.append(pairs)
    if not frames:
        raise dg.Failure(description="no retrieval_pairs partition is materialized yet")
    return pl.concat(frames, how="diagonal_relaxed")  # shards run with top_k > 3 add text4..


@dg.asset(
    deps=[
        "retrieval_pairs",
        "synthetic_texts",
        "image_embeddings",
        "sentence_embeddings",
        "clip_training",  # the clip_model resource's checkpoint encodes syn_text
    ],
    check_specs=[*check_specs("balanced_pool", BALANCED_POOL_SUITE), drift_spec("balanced_pool")],
    code_version="1",
    group_name="release",
    kinds={"parquet", "faiss"},
)
@retry_transient_io
def balanced_pool(
    context: dg.AssetExecutionContext,
    config: BalancedPoolConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    clip_model: ClipModelResource,
    drift: DriftResource,
) -> dg.MaterializeResult:
    """Pairs after the image-text cosine band, with image clusters and seeded ranks."""
    config = stage_params.apply("balanced_pool", config)
    store = storage.get()
    pairs = _pairs(context, store)
    images, texts, has_syn, model = _pair_vectors(context, store, pairs, clip_model)
    band_applied = (
        config.pair_band_low is not None
        and config.pair_band_high is not None
        and not is_random_model(model or "")
    )
    if not band_applied:
        context.log.warning("pair filter not applied (no band configured, or random CLIP weights)")
    params = params_from_config(config, BalanceParams)
    report = balance_pool(
        pairs,
        images,
        texts,
        has_syn,
        params,
        (config.pair_band_low, config.pair_band_high) if band_applied else None,
    )
    manifest = write_partition(
        store,
        "balanced_pool",
        None,
        {"pool": report.pool},
        info={"stats": report.stats, "model": model, "band_applied": band_applied},
    )
    drift_md, drift_checks = drift_outputs(
        context,
        "balanced_pool",
        pool_profile(
            report.cosine,
            report.sizes,
            {**vars(params), "band": [config.pair_band_low, config.pair_band_high]},
        ),
        drift.params(),
    )
    band = {  # None: the band was not applied (no band configured, or random CLIP weights)
        "band_low": config.pair_band_low if band_applied else None,
        "band_high": config.pair_band_high if band_applied else None,
    }
    checks = check_results("balanced_pool", BALANCED_POOL_SUITE, {"pool": report.pool}, band)
    return dg.MaterializeResult(
        check_results=checks + drift_checks,
        metadata=_pool_metadata(report, drift_md, model, config, band_applied, manifest),
        data_version=dg.DataVersion(manifest["version"]),
    )


def _pair_vectors(context, store, pairs: pl.DataFrame, clip_model: ClipModelResource):
    """(image vectors, pair-text vectors, has syn_text, model) per pair: the pair text is
    syn_text where there is one (the paper's filter is on (image, syn_text)), else text1."""
    img_keys, img_vecs, model = load_all_vectors(context, store, "image_embeddings")
    sent_keys, sent_vecs, _ = load_all_vectors(context, store, "sentence_embeddings")
    img_row = {k: i for i, k in enumerate(img_keys["key"].to_list())}
    sent_row = {k: i for i, k in enumerate(sent_keys["sentence_id"].to_list())}
    images = img_vecs[[img_row[s] for s in pairs["sha256"].to_list()]]
    text1 = (
        np.stack(
            [
                sent_vecs[sent_row[s]] if s in sent_row else np.zeros(img_vecs.shape[1])
                for s in pairs["sentence_id1"].to_list()
            ]
        )
        if pairs.height
        else images
    )
    has_syn = pairs["syn_text"].is_not_null().to_numpy() if pairs.height else np.zeros(0, bool)
    if has_syn.any():
        syn = pairs["syn_text"].filter(pl.Series(has_syn)).to_list()
        text1[has_syn] = encode_texts(clip_model.get(), syn)
    return images, text1, has_syn, model


def _pool_metadata(report, drift_md, model, config, band_applied: bool, manifest) -> dict:
    stats, cosine, sizes = report.stats, report.cosine, report.sizes
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **{k: dg.MetadataValue.float(v) for k, v in report.quantiles.items()},
            "cluster_gini": dg.MetadataValue.float(gini(sizes)),
            "kept_share": dg.MetadataValue.float(stats["kept"] / max(stats["pairs"], 1)),
            "model": model or "none",
            "params": dg.MetadataValue.json(config.model_dump()),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    {
                        **stats,
                        "dropped_outside_band": stats["pairs"] - stats["kept"] - stats["no_text"],
                    },
                    "pairs",
                    ["pairs", "no_text", "dropped_outside_band", "kept"],
                )
            ),
            "pair_cosine_plot": dg.MetadataValue.md(
                histogram_markdown_svg(cosine.tolist(), "cosine(image, pair text)")
                if len(cosine)
                else "no pairs"
            ),
            "cluster_size_plot": dg.MetadataValue.md(
                histogram_markdown_svg(sizes.tolist(), "images per image cluster")
                if len(sizes)
                else "no clusters"
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    report.pool.sort("image_id").head(6).to_dicts(),
                    ["image_cluster", "cluster_rank", "pair_text", "pair_cosine", "text1"],
                    width=60,
                )
            ),
            "pair_filter_applied": band_applied,
            "share_in_paper_band_0.51_0.61": dg.MetadataValue.float(report.in_paper_band),
            "calibration_histogram": dg.MetadataValue.md(
                histogram_markdown(
                    cosine.tolist(),
                    [-1, 0, 0.1, 0.2, 0.3, 0.4, 0.51, 0.61, 0.7, 0.8, 1.01],
                    "cosine",
                )
            ),
            "version": manifest["version"],
        }
    )


FUNNEL_ASSETS = (
    "raw_documents",
    "clean_images",
    "sentences",
    "sentence_semantics",
    "retrieval_pairs",
)
GLOBAL_FUNNEL_ASSETS = ("image_dedup", "sentence_dedup", "sentence_clusters", "balanced_pool")
CARD_PARAMS = (
    "clean_images",
    "sentences",
    "sentence_semantics",
    "image_dedup",
    "sentence_dedup",
    "sentence_clusters",
    "retrieval_pairs",
    "balanced_pool",
)


def _stage_totals(instance: dg.DagsterInstance, store) -> tuple[dict, set]:
    """Each stage's stats summed over the shards, and the captioners that made syn_text."""
    shards = sorted(instance.get_dynamic_partitions(shard_partitions.name))
    totals: dict[str, dict] = {}
    captioners: set[str] = set()
    for asset in (*FUNNEL_ASSETS, "synthetic_texts"):
        for shard in shards:
            try:
                info = read_manifest(store, asset, shard)["info"]
            except PartitionNotFound:
                continue
            for k, v in info.get("stats", {}).items():
                if isinstance(v, int | float):
                    totals.setdefault(asset, {})[k] = totals.get(asset, {}).get(k, 0) + v
            if asset == "synthetic_texts" and info.get("stats", {}).get("with_syn_text"):
                captioners.add(info.get("captioner", "unknown"))
    for asset in GLOBAL_FUNNEL_ASSETS:
        try:
            totals[asset] = read_manifest(store, asset, None)["info"].get("stats", {})
        except PartitionNotFound:
            continue
    return totals, captioners


def _stage_params(instance: dg.DagsterInstance) -> dict[str, str]:
    """The parameters each filtering stage last ran with (its ``params`` metadata)."""
    out = {}
    for asset in CARD_PARAMS:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
        mat = records[0].asset_materialization if records else None
        value = mat.metadata.get("params") if mat else None
        if value is not None:
            out[asset] = json.dumps(getattr(value, "data", value), sort_keys=True)
    return out


def _card_deps() -> list[dg.AssetDep]:
    """What the release reads besides its subset: clean_images (each image's format, for the
    webdataset extension) and every stage the dataset card summarises (stats from manifests,
    params from the event log). Shard-partitioned ones map all their shards to each scale."""
    shard_assets = {*FUNNEL_ASSETS, "synthetic_texts"}
    names = sorted(shard_assets | {*GLOBAL_FUNNEL_ASSETS, *CARD_PARAMS})
    return [
        dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping())
        if name in shard_assets
        else dg.AssetDep(name)
        for name in names
    ]


def build_release_assets(scales: tuple[int, ...]) -> list:
    """scaled_subsets and release, one partition per cap ``t`` (keys ``t20``, ``t35``, ...)."""
    keys = [f"t{t}" for t in sorted(scales)]
    scale_partitions = dg.StaticPartitionsDefinition(keys)

    @dg.asset(
        partitions_def=scale_partitions,
        deps=[balanced_pool],
        check_specs=check_specs("scaled_subsets", SCALED_SUBSETS_SUITE),
        code_version="1",
        group_name="release",
        kinds={"parquet"},
    )
    @retry_transient_io
    def scaled_subsets(
        context: dg.AssetExecutionContext, storage: StorageResource
    ) -> dg.MaterializeResult:
        """Per image cluster at most t images (seeded hash rank): nested subsets per scale."""
        store, key = storage.get(), context.partition_key
        t = int(key[1:])
        pool = read_partition_table(store, "balanced_pool", None, "pool")
        report = scaled_subset(pool, t, RELEASE_SCHEMA)
        smaller = [k for k in keys if int(k[1:]) < t]
        try:
            previous = (
                read_partition_table(store, "scaled_subsets", smaller[-1], "subset")
                if smaller
                else report.subset.head(0)
            )
        except PartitionNotFound:
            previous = report.subset.head(0)
        manifest = write_partition(
            store, "scaled_subsets", key, {"subset": report.subset}, info={"stats": report.stats}
        )
        return dg.MaterializeResult(
            metadata=_subset_metadata(report, t, manifest),
            data_version=dg.DataVersion(manifest["version"]),
            check_results=check_results(
                "scaled_subsets",
                SCALED_SUBSETS_SUITE,
                {"subset": report.subset, "smaller": previous},
                {"t": t},
            ),
        )

    class ReleaseConfig(dg.Config):
        samples_per_shard: int = Field(
            default=1000, ge=1, description="Samples per webdataset .tar shard of the release."
        )

    @dg.asset(
        partitions_def=scale_partitions,
        deps=[scaled_subsets, *_card_deps()],
        check_specs=check_specs("release", RELEASE_SUITE),
        code_version="1",
        group_name="release",
        kinds={"parquet", "webdataset"},
    )
    @retry_transient_io
    def release(
        context: dg.AssetExecutionContext, config: ReleaseConfig, storage: StorageResource
    ) -> dg.MaterializeResult:
        """Parquet (published schema + provenance), webdataset shards and a dataset card."""
        store, key = storage.get(), context.partition_key
        subset = read_partition_table(store, "scaled_subsets", key, "subset")
        base = f"release/{key}"
        shards = _write_release(store, base, key, subset, config.samples_per_shard)
        with_syn = int(subset["syn_text"].is_not_null().sum())
        stats = {"rows": subset.height, "shards": len(shards), "rows with syn_text": with_syn}
        totals, captioners = _stage_totals(context.instance, store)
        models = {
            "clip": subset["model"][0] if subset.height else "none",
            "captioner": ", ".join(sorted(captioners)) or "none",
        }
        if not with_syn:
            models["captioner"] += " (syn_text is null: no captioner configured or none answered)"
        card = dataset_card(
            key,
            stats,
            {"per-cluster cap t": key[1:], **_stage_params(context.instance)},
            models,
            release_funnel(totals, key, subset.height),
        )
        store.write_bytes(f"{base}/DATASET_CARD.md", card.encode())
        checks = check_results(
            "release",
            RELEASE_SUITE,
            {
                "release": subset,
                "shards": pl.DataFrame(
                    {"samples": [n for _, n in shards]}, schema={"samples": pl.Int64}
                ),
            },
            {"rows": subset.height},
        )
        return dg.MaterializeResult(
            check_results=checks,
            metadata=_release_metadata(
                subset, shards, models, {**config.model_dump(), "scale": key}, store.uri(base), card
            ),
        )

    return [scaled_subsets, release]


def _subset_metadata(report, t: int, manifest: dict) -> dict:
    subset, stats, before, after = report.subset, report.stats, report.before, report.after
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "gini_before": dg.MetadataValue.float(gini(before)),
            "gini_after": dg.MetadataValue.float(gini(after[after > 0])),
            "with_syn_text": dg.MetadataValue.int(int(subset["syn_text"].is_not_null().sum())),
            "kept_share": dg.MetadataValue.float(subset.height / max(stats["pool"], 1)),
            "params": dg.MetadataValue.json({"per_cluster_cap": t}),
            "model": subset["model"][0] if subset.height else "none",
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    {**stats, "over_cap": stats["pool"] - subset.height},
                    "pool",
                    ["pool", "over_cap", "rows"],
                )
            ),
            "cluster_size_plot": dg.MetadataValue.md(
                histogram_markdown_svg(after[after > 0].tolist(), f"images per cluster, t={t}")
                if subset.height
                else "empty subset"
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    subset.head(5).to_dicts(),
                    ["image_cluster", "raw_image_url", "text1", "syn_text"],
                    width=50,
                )
            ),
            "version": manifest["version"],
        }
    )


def _write_release(store, base: str, key: str, subset: pl.DataFrame, per_shard: int) -> list:
    """The webdataset shards (stale ones of an earlier, larger export removed) and the
    parquet under ``base``; returns (shard name, samples) in order."""
    from realsyn.storage import parquet_bytes

    formats: dict[str, str | None] = {}
    for shard in subset["shard"].unique().to_list():
        images = read_partition_table(store, "clean_images", shard, "images")
        formats.update(dict(images.select("sha256", "format").iter_rows()))
    shards = []
    for name, data, n in webdataset_shards(
        subset,
        lambda sha: store.read_bytes(image_blob_key(sha)),
        formats,
        ShardSpec(per_shard, f"realsyn-{key}"),
    ):
        store.write_bytes(f"{base}/wds/{name}", data)
        shards.append((name, n))
    names = {name for name, _ in shards}
    for old in store.list_keys(f"{base}/wds"):
        if old.rsplit("/", 1)[-1] not in names:
            store.delete_prefix(old)
    store.write_bytes(f"{base}/release.parquet", parquet_bytes(subset))
    return shards


def _release_metadata(subset, shards, models, params: dict, location: str, card: str) -> dict:
    return ui_order(
        {
            "rows": dg.MetadataValue.int(subset.height),
            "webdataset_shards": dg.MetadataValue.int(len(shards)),
            "model": models["clip"],
            "params": dg.MetadataValue.json(params),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    {
                        "rows": subset.height,
                        "with_text3": int(subset["text3"].is_not_null().sum()),
                        "with_syn_text": int(subset["syn_text"].is_not_null().sum()),
                    },
                    "rows",
                    ["rows", "with_text3", "with_syn_text"],
                )
            ),
            "score1_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    subset["score1"].drop_nulls().to_list(), "cosine(image, text1)"
                )
                if subset.height
                else "empty release"
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    subset.head(5).to_dicts(),
                    ["raw_image_url", "text1", "text2", "text3", "syn_text"],
                    width=40,
                )
            ),
            "location": dg.MetadataValue.path(location),
            "dataset_card": dg.MetadataValue.md(card[:3000]),
        }
    )
