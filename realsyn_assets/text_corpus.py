"""Corpus-wide text assets: word frequencies (for entropy), the semantic filter per shard,
and exact sentence de-duplication across shards."""

import math
from dataclasses import replace
from functools import partial

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs, merged_check_results
from checks.drift import drift_outputs, drift_spec
from checks.text_corpus_suites import (
    SENTENCE_DEDUP_SUITE,
    SENTENCE_SEMANTICS_SUITE,
    WORD_FREQUENCIES_SUITE,
    check_dedup_range,
)
from realsyn.bucket_dedup import (
    GROUP_CAP,
    BucketDedupParams,
    crowded_edges,
    delete_scratch,
    find_duplicates,
    range_key,
    write_survival,
)
from realsyn.buckets import sum_word_counts
from realsyn.codebook import CodebookParams, assign_all
from realsyn.drift import semantics_profile
from realsyn.plots import histogram_markdown_svg, histogram_svg, line_svg, svg_markdown
from realsyn.report import funnel_markdown, histogram_markdown, preview_markdown
from realsyn.schemas import SEMANTIC_REASONS
from realsyn.semantic import SemanticParams, decide_semantic, score_semantics, semantic_stats
from realsyn.storage import (
    PartitionNotFound,
    partition_prefix,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.bucketed import (
    DEDUP,
    KeptSentences,
    embedded_shards,
    materialized_shards,
    shard_word_counts,
)
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.rescoring import stored_scores, upstream_version
from realsyn_assets.sentences import sentences
from realsyn_assets.vectors import dedup_threshold
from resources.drift import DriftResource
from resources.engine import EngineResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource
from resources.text_models import LanguageModelResource


def materialized(context, store, asset: str, table: str) -> tuple[list[pl.DataFrame], list[str]]:
    """``table`` of every shard's materialized ``asset`` partition, and the shards without one
    (warned); fails when no shard has one."""
    frames, missing = [], []
    for shard in sorted(context.instance.get_dynamic_partitions(shard_partitions.name)):
        try:
            frames.append(read_partition_table(store, asset, shard, table))
        except PartitionNotFound:
            missing.append(shard)
    if missing:
        context.log.warning(f"{len(missing)} shard(s) have no {asset} yet: {missing[:10]}")
    if not frames:
        raise dg.Failure(description=f"no {asset} partition is materialized yet")
    return frames, missing


def _zipf_markdown(counts: list[int]) -> str:
    """log10(count) over log10(rank) of the vocabulary: a straight line is Zipf's law."""
    if not counts:
        return "no words"
    xs = [math.log10(rank) for rank in range(1, len(counts) + 1)]
    return svg_markdown(
        line_svg(xs, [math.log10(c) for c in counts], "log10 count by log10 rank"), "Zipf plot"
    )


@dg.asset(
    deps=[sentences],
    check_specs=check_specs("word_frequencies", WORD_FREQUENCIES_SUITE),
    code_version="1",
    group_name="text",
    kinds={"parquet"},
)
@retry_transient_io
def word_frequencies(
    context: dg.AssetExecutionContext, storage: StorageResource, engine: EngineResource
) -> dg.MaterializeResult:
    """Word counts and probabilities over every sentence of every shard (for the entropy filter)."""
    store = storage.get()
    shards, missing = materialized_shards(context, store, "sentences")
    # a streaming sum of the shards' counts (map tasks on the engine): the vocabulary, not
    # every shard's table, is what this step holds
    table = sum_word_counts(engine.get(), partial(shard_word_counts, store), shards)
    manifest = write_partition(
        store, "word_frequencies", None, {"words": table}, info={"shards": len(shards)}
    )
    top = table.head(15).to_dicts()
    return dg.MaterializeResult(
        check_results=check_results("word_frequencies", WORD_FREQUENCIES_SUITE, {"words": table}),
        metadata=ui_order(
            {
                "vocabulary": dg.MetadataValue.int(table.height),
                "total_words": dg.MetadataValue.int(int(table["count"].sum())),
                "shards": dg.MetadataValue.int(len(shards)),
                "shards_missing": dg.MetadataValue.int(len(missing)),
                "funnel": dg.MetadataValue.md(
                    funnel_markdown(
                        {"words": int(table["count"].sum()), "distinct_words": table.height},
                        "words",
                        ["words", "distinct_words"],
                    )
                ),
                "top_words": dg.MetadataValue.md(preview_markdown(top, ["word", "count", "p"])),
                "zipf_plot": dg.MetadataValue.md(_zipf_markdown(table["count"].to_list())),
                "version": manifest["version"],
            }
        ),
        data_version=dg.DataVersion(manifest["version"]),
    )


class SentenceSemanticsConfig(dg.Config):
    min_entropy: float = Field(
        default=SemanticParams.min_entropy,
        description="Word-frequency entropy below which a sentence is dropped (low_entropy).",
    )
    min_perplexity: float = Field(
        default=SemanticParams.min_perplexity,
        description="Language-model perplexity below which a sentence is dropped (applied only "
        "with REALSYN_LANGUAGE_MODEL).",
    )
    max_perplexity: float = Field(
        default=SemanticParams.max_perplexity,
        description="Perplexity above which a sentence is dropped (with a language model).",
    )


def _semantic_scorer(context, store, shard: str, language_model: LanguageModelResource):
    """(scoring_key, the perplexity scorer or None, warned): what the scores depend on."""
    scoring_key = {
        "sentences": upstream_version(store, "sentences", shard),
        "word_frequencies": upstream_version(store, "word_frequencies", None),
        "language_model": language_model.model,
    }
    scorer = language_model.get()
    if scorer is None:
        context.log.warning("perplexity filter not applied: no language model configured")
    return scoring_key, scorer


def _semantics_table(context, store, shard: str, params, scorer, scoring_key):
    """(table, rescored): re-decided from stored scores, or the kept sentences scored anew."""
    stored = stored_scores(store, "sentence_semantics", shard, "semantics", scoring_key)
    if stored is not None:  # only thresholds changed: re-decide, no language-model pass
        return decide_semantic(stored, params), False
    kept = read_partition_table(store, "sentences", shard, "sentences").filter(
        pl.col("decision") == "keep"
    )
    probabilities = read_partition_table(store, "word_frequencies", None, "words")
    table = score_semantics(
        kept,
        probabilities,
        scorer,
        params,
        progress_logger(context.log.info, f"{shard} perplexity"),
    )
    return table, True


def _semantics_metadata(
    store, shard, config, language_model, scorer, table, stats, drift_md, manifest
):
    """The asset page: entropy plot and histogram, examples, funnel, counts, shares, params."""
    entropy = table["entropy"].to_list()
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(stats, "total", ["kept", *[f"dropped_{r}" for r in SEMANTIC_REASONS]]),
            "perplexity_applied": scorer is not None,
            "language_model": language_model.model or "none",
            "params": dg.MetadataValue.json(config.model_dump()),
            "entropy_plot": dg.MetadataValue.md(
                histogram_markdown_svg(
                    [min(e, 2.0) for e in entropy if e is not None],
                    "word entropy (2 = 2+)",
                    [i / 10 for i in range(21)],
                )
            ),
            "examples": dg.MetadataValue.md(
                preview_markdown(
                    table.sample(min(table.height, 8), seed=0).sort("decision").to_dicts(),
                    ["decision", "reason", "entropy", "text"],
                    width=90,
                )
            ),
            "entropy_median": dg.MetadataValue.float(float(table["entropy"].median() or 0.0)),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(
                    stats,
                    "total",
                    ["total", *[f"dropped_{r}" for r in SEMANTIC_REASONS], "kept"],
                )
            ),
            "entropy_histogram": dg.MetadataValue.md(
                histogram_markdown(entropy, [0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 10], "entropy")
            ),
            "location": dg.MetadataValue.path(
                store.uri(partition_prefix("sentence_semantics", shard))
            ),
            "version": manifest["version"],
        }
    )


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[sentences, word_frequencies],
    check_specs=[
        *check_specs("sentence_semantics", SENTENCE_SEMANTICS_SUITE),
        drift_spec("sentence_semantics"),
    ],
    code_version="1",
    group_name="text",
    kinds={"parquet", "pytorch"},
)
@retry_transient_io
def sentence_semantics(
    context: dg.AssetExecutionContext,
    config: SentenceSemanticsConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    language_model: LanguageModelResource,
    drift: DriftResource,
) -> dg.MaterializeResult:
    """Entropy and perplexity of a shard's quality-kept sentences, and the semantic decision."""
    config = stage_params.apply("sentence_semantics", config)
    shard = context.partition_key
    store = storage.get()
    params = params_from_config(config, SemanticParams)
    scoring_key, scorer = _semantic_scorer(context, store, shard, language_model)
    table, rescored = _semantics_table(context, store, shard, params, scorer, scoring_key)
    stats = {**semantic_stats(table), "rescored": int(rescored)}
    manifest = write_partition(
        store,
        "sentence_semantics",
        shard,
        {"semantics": table},
        info={
            "stats": stats,
            "perplexity_applied": scorer is not None,
            "scoring_key": scoring_key,
        },
    )
    drift_md, drift_checks = drift_outputs(
        context, "sentence_semantics", semantics_profile(table, vars(params)), drift.params()
    )
    return dg.MaterializeResult(
        metadata=_semantics_metadata(
            store, shard, config, language_model, scorer, table, stats, drift_md, manifest
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            "sentence_semantics", SENTENCE_SEMANTICS_SUITE, {"semantics": table}, vars(params)
        )
        + drift_checks,
    )


class SentenceDedupConfig(dg.Config):
    semantic_threshold: float | None = Field(
        default=None,
        description="Cosine of sentence embeddings at or above which two sentences are "
        "duplicates; unset: calibrated for the model that made them; above 1: off.",
    )
    use_embeddings: bool = Field(
        default=True,
        description="Also de-duplicate by sentence embeddings, not only exact text.",
    )
    rows_per_range: int = Field(
        default=1_000_000,
        description="Sentences per hash range of the exact step (one task each; "
        "ranges = ceil(sentence_semantics rows / this)).",
    )
    bucket_rows: int = Field(
        default=1_000_000,
        description="Embedded sentences per coarse bucket of the semantic search (one task "
        "each); a corpus up to this many is one bucket, exactly the single-process search. "
        "Pairs split across buckets are not found (the recall lost: bench/scale.py).",
    )


def _dedup_plan(store, config: SentenceDedupConfig, shards: list[str], threshold):
    """(BucketDedupParams, the shards with embeddings, coarse CodebookParams), sized from the
    manifests (scored and embedded sentences), never from the rows."""
    rows = sum(
        read_manifest(store, "sentence_semantics", s)["tables"]["semantics"]["rows"] for s in shards
    )  # scored sentences: an upper bound of the kept ones
    params = BucketDedupParams(
        ranges=max(1, math.ceil(rows / config.rows_per_range)), threshold=threshold
    )
    embedded = embedded_shards(store, shards) if threshold is not None else []
    rows = sum(
        read_manifest(store, "sentence_embeddings", s)["tables"]["keys"]["rows"] for s in embedded
    )
    if not rows:  # no vector to search: exact duplicates only
        params, embedded = replace(params, threshold=None), []
    buckets = 1 if rows <= config.bucket_rows else math.ceil(rows / config.bucket_rows)
    return params, embedded, CodebookParams(coarse_clusters=buckets, flat_up_to=0)


def _accepted_edges(context, found, threshold, model):
    """The semantic edges, or none (warned) when they would form an implausibly large group."""
    giant = crowded_edges(found.edges, found.searched)
    if giant:
        context.log.warning(
            f"sentence_embeddings: at cosine >= {threshold} one group would hold {giant} of "
            f"{found.searched} items: {model}'s space is too crowded for this threshold "
            "(under-trained weights?); semantic dedup not applied. Calibrate with "
            "bench/dedup_calibration.py"
        )
        return found.edges.clear(), False
    return found.edges, threshold is not None


def _preview_texts(store, preview: pl.DataFrame) -> list[dict]:
    """The preview's duplicates with their text and their survivor's (from their shards only)."""
    shards = sorted(set(preview["shard"]) | set(preview["kept_shard"].drop_nulls()))
    texts = {}
    for shard in shards:
        table = read_partition_table(store, "sentence_semantics", shard, "semantics")
        texts.update(zip(table["sentence_id"].to_list(), table["text"].to_list(), strict=True))
    return [
        {**row, "text": texts.get(row["sentence_id"]), "kept_text": texts.get(row["duplicate_of"])}
        for row in preview.drop("kept_shard").to_dicts()
    ]


def _dedup_metadata(store, config, summary, stats, applied, threshold, manifest) -> dict:
    """The asset page: group sizes, duplicates with their kept text, funnel, counts, params."""
    edges = [x + 0.5 for x in range(GROUP_CAP + 1)]
    title = f"copies per distinct sentence ({GROUP_CAP} = {GROUP_CAP}+)"
    return ui_order(
        {
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            **share_values(stats, "total", ["exact_dup", "semantic_dup", "survivors"]),
            "params": dg.MetadataValue.json(config.model_dump()),
            "semantic_threshold": dg.MetadataValue.float(
                threshold if threshold is not None else float("nan")
            ),
            "semantic_applied": applied,
            "group_sizes": dg.MetadataValue.md(
                svg_markdown(histogram_svg(summary.group_sizes[1:].tolist(), edges, title), title)
            ),
            "duplicates_preview": dg.MetadataValue.md(
                preview_markdown(
                    _preview_texts(store, summary.preview), ["reason", "text", "kept_text"], 70
                )
            ),
            "funnel": dg.MetadataValue.md(
                funnel_markdown(stats, "total", ["total", "exact_dup", "semantic_dup", "survivors"])
            ),
            "location": dg.MetadataValue.path(store.uri(partition_prefix(DEDUP, None))),
            "version": manifest["version"],
        }
    )


def _commit_dedup(store, summary, shards: list[str], stats: dict) -> dict:
    """The asset's partition: the hash ranges written (with their versions) and the shard list
    their rows are sorted by; ranges left from a run with more of them are deleted."""
    try:
        before = read_partition_table(store, DEDUP, None, "ranges")["range"].to_list()
    except PartitionNotFound:
        before = []
    manifest = write_partition(
        store,
        DEDUP,
        None,
        {"ranges": summary.ranges, "shards": pl.DataFrame({"shard": shards})},
        info={"stats": stats},
    )
    for r in set(before) - set(summary.ranges["range"].to_list()):
        store.delete_prefix(partition_prefix(f"{DEDUP}_survival", range_key(r)))
    return manifest


@dg.asset(
    deps=[sentence_semantics, "sentence_embeddings"],
    check_specs=check_specs("sentence_dedup", SENTENCE_DEDUP_SUITE),
    code_version="2",
    group_name="text",
    kinds={"parquet"},
)
@retry_transient_io
def sentence_dedup(
    context: dg.AssetExecutionContext,
    config: SentenceDedupConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    engine: EngineResource,
) -> dg.MaterializeResult:
    """Exact (normalised text) and semantic (embedding) duplicates among kept sentences."""
    config = stage_params.apply("sentence_dedup", config)
    store, run = storage.get(), engine.get()
    shards, missing = materialized_shards(context, store, "sentence_semantics")
    threshold, model = (
        dedup_threshold(context, store, "sentence_embeddings", config.semantic_threshold, shards)
        if config.use_embeddings
        else (None, None)
    )
    # exact by hash range, semantic within coarse buckets, one union-find reduce (map tasks on
    # the engine): no step holds every shard's rows or vectors
    params, embedded, coarse = _dedup_plan(store, config, shards, threshold)
    counts = None
    if params.threshold is not None:
        source = KeptSentences(store, vectors=True)
        counts = assign_all(run, source, embedded, store, DEDUP, coarse)[1]
    found = find_duplicates(
        run, KeptSentences(store), shards, store, DEDUP, params, counts, embedded
    )
    edges, applied = _accepted_edges(context, found, params.threshold, model)
    summary = write_survival(run, store, DEDUP, params, found, edges, check_dedup_range)
    delete_scratch(store, DEDUP)
    stats = {
        **summary.stats,
        "semantic_searched": found.searched,
        "shards": len(shards),
        "shards_missing": len(missing),
    }
    manifest = _commit_dedup(store, summary, found.shards, stats)
    return dg.MaterializeResult(
        metadata=_dedup_metadata(store, config, summary, stats, applied, threshold, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=merged_check_results("sentence_dedup", summary.checked),
    )
