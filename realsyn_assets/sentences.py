"""sentences: split a shard's text into sentences; URL/emoji/length/CAT quality filter."""

from typing import Literal

import dagster as dg

from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from checks.text_suites import SENTENCES_SUITE
from realsyn.drift import sentences_profile
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, histogram_markdown, preview_markdown
from realsyn.schemas import SENTENCE_REASONS
from realsyn.sentences import SentenceParams, curate_sentences, decide_sentences, sentence_stats
from realsyn.storage import partition_prefix, read_partition_table, write_partition
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.rescoring import stored_scores, upstream_version
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource
from resources.storage import StorageResource
from resources.text_models import CatParserResource

ASSET = "sentences"
LENGTH_BINS = [0, 3, 5, 10, 20, 40, 82, 200, 10**6]


class SentencesConfig(dg.Config):
    min_words: int = SentenceParams.min_words
    max_words: int = SentenceParams.max_words
    min_complexity: int = SentenceParams.min_complexity
    require_action: bool = SentenceParams.require_action
    parse_max_words: int = SentenceParams.parse_max_words
    splitter: Literal["punkt", "pysbd"] = "punkt"


@dg.asset(
    name=ASSET,
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL,
    deps=[raw_documents],
    check_specs=[*check_specs(ASSET, SENTENCES_SUITE), drift_spec(ASSET)],
    code_version="1",
    group_name="text",
    kinds={"parquet", "python"},
)
@retry_transient_io
def sentences(
    context: dg.AssetExecutionContext,
    config: SentencesConfig,
    stage_params: StageParamsResource,
    storage: StorageResource,
    cat_parser: CatParserResource,
    drift: DriftResource,
) -> dg.MaterializeResult:
    """Sentences of one shard with provenance, quality scores and keep/drop with a reason."""
    config = stage_params.apply("sentences", config)
    shard = context.partition_key
    store = storage.get()
    params = SentenceParams(
        config.min_words,
        config.max_words,
        config.min_complexity,
        config.require_action,
        config.parse_max_words,
        splitter=config.splitter,
    )
    parser = cat_parser.get()
    if parser is None:
        context.log.warning(f"CAT rule not applied: {cat_parser.unavailable_reason()}")
    scoring_key = {
        "raw_documents": upstream_version(store, "raw_documents", shard),
        "parse_max_words": config.parse_max_words,
        "splitter": config.splitter,
        "parser": list(parser.settings) if parser else None,
    }
    stored = stored_scores(store, ASSET, shard, "sentences", scoring_key)
    if stored is not None:  # only thresholds changed: re-decide, no splitting or parsing
        context.log.info(f"{shard}: scores unchanged, re-deciding with {params}")
        table = decide_sentences(stored, params)
        word_counts = read_partition_table(store, ASSET, shard, "word_counts")
    else:
        items = read_partition_table(store, "raw_documents", shard, "items")
        result = curate_sentences(
            items,
            shard,
            parser,
            params,
            progress=progress_logger(context.log.info, f"{shard} sentences parsed"),
            workers=cat_parser.workers,
        )
        table, word_counts = result.table, result.word_counts
    cat_applied = parser is not None
    stats = {
        **sentence_stats(table),
        "vocabulary": word_counts.height,
        "rescored": int(stored is None),
    }
    manifest = write_partition(
        store,
        ASSET,
        shard,
        {"sentences": table, "word_counts": word_counts},
        info={"stats": stats, "cat_applied": cat_applied, "scoring_key": scoring_key},
    )
    context.log.info(f"{shard}: {stats}")
    total = max(stats["total"], 1)
    sample = table.sample(min(table.height, 8), seed=0) if table.height else table
    drift_md, drift_checks = drift_outputs(
        context, ASSET, sentences_profile(table, vars(params)), drift.params()
    )
    return dg.MaterializeResult(
        metadata=ui_order(
            {
                **drift_md,
                **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
                "kept_ratio": dg.MetadataValue.float(stats["kept"] / total),
                **share_values(stats, "total", [f"dropped_{r}" for r in SENTENCE_REASONS]),
                "cat_applied": cat_applied,
                "params": dg.MetadataValue.json(
                    {**config.model_dump(), "parser": list(parser.settings) if parser else None}
                ),
                "length_plot": dg.MetadataValue.md(
                    histogram_markdown_svg(
                        [min(n, 100) for n in table["n_words"].to_list()],
                        "words per sentence (100 = 100+)",
                        list(range(0, 101, 5)),
                    )
                ),
                "funnel": dg.MetadataValue.md(
                    funnel_markdown(
                        stats,
                        "total",
                        ["total", *[f"dropped_{r}" for r in SENTENCE_REASONS], "kept"],
                    )
                ),
                "length_histogram": dg.MetadataValue.md(
                    histogram_markdown(table["n_words"].to_list(), LENGTH_BINS, "words")
                ),
                "examples": dg.MetadataValue.md(
                    preview_markdown(
                        sample.sort("decision").to_dicts(), ["decision", "reason", "text"], width=90
                    )
                ),
                "location": dg.MetadataValue.path(store.uri(partition_prefix(ASSET, shard))),
                "version": manifest["version"],
            }
        ),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            ASSET,
            SENTENCES_SUITE,
            {"sentences": table},
            {"min_words": config.min_words, "max_words": config.max_words},
        )
        + drift_checks,
    )
