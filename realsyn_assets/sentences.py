"""sentences: split a shard's text into sentences; URL/emoji/length/CAT quality filter."""

import io
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from checks.dagster_checks import check_results, check_specs
from checks.drift import drift_outputs, drift_spec
from checks.sentences_suites import SENTENCES_SUITE
from realsyn.cat import ParseCache
from realsyn.drift import sentences_profile
from realsyn.isolation import default_workers
from realsyn.plots import histogram_markdown_svg
from realsyn.report import funnel_markdown, histogram_markdown, preview_markdown
from realsyn.schemas import SENTENCE_REASONS
from realsyn.sentences import (
    LIMIT_STATS,
    SentenceParams,
    curate_sentences,
    decide_sentences,
    needs_parsing,
    sentence_stats,
)
from realsyn.storage import (
    PartitionNotFound,
    parquet_bytes,
    partition_prefix,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn_assets.automation import SHARD_BACKFILL, retry_transient_io
from realsyn_assets.metadata import share_values, ui_order
from realsyn_assets.partitions import shard_partitions
from realsyn_assets.progress import progress_logger
from realsyn_assets.raw_documents import raw_documents
from realsyn_assets.rescoring import stored_scores, upstream_version
from resources.drift import DriftResource
from resources.stage_params import StageParamsResource, params_from_config
from resources.storage import StorageResource
from resources.text_models import CatParserResource

ASSET = "sentences"
SCORING_FIELDS = (
    "parse_max_words",
    "splitter",
    "max_item_chars",
    "max_document_chars",
    "max_document_sentences",
    "max_sentence_repeats",
    "code_filter",
)
SHARED_CACHE = "sentences_parse_cache"  # storage prefix of the corpus-wide parse table
SHARED_CACHE_ENTRIES = 200_000  # the most requested sentences (boilerplate) across shards
RUN_STATS = (*LIMIT_STATS, "parse_requests", "parse_distinct", "parse_cache_hits", "parsed")
LENGTH_BINS = [0, 3, 5, 10, 20, 40, 82, 200, 10**6]


P = SentenceParams


class SentencesConfig(dg.Config):
    min_words: int = Field(P.min_words, description="Fewer words: too_few_words.")
    max_words: int = Field(P.max_words, description="More words: too_many_words.")
    min_complexity: int = Field(
        P.min_complexity, description="CAT: fewer relations than this fail (1 = C1)."
    )
    require_action: bool = Field(P.require_action, description="CAT: an action verb is needed.")
    parse_max_words: int = Field(
        P.parse_max_words,
        description="Longer sentences are not parsed: too_long_to_parse (a deterministic bound "
        "on the parser's cost).",
    )
    splitter: Literal["punkt", "pysbd"] = Field("punkt", description="Sentence splitter.")
    max_item_chars: int = Field(
        P.max_item_chars, description="A text item is cut after this many characters (counted)."
    )
    max_document_chars: int = Field(
        P.max_document_chars,
        description="A document's text is cut after this many characters (counted).",
    )
    max_document_sentences: int = Field(
        P.max_document_sentences,
        description="Sentences of a document beyond this many are counted, not kept as rows.",
    )
    max_sentence_repeats: int = Field(
        P.max_sentence_repeats,
        description="Copies of one sentence in a document beyond this: repeated_in_document.",
    )
    code_filter: bool = Field(
        P.code_filter,
        description="Reject code-like text (prompts, operators, number arrays) before the parse.",
    )


def _previous_parses(store, shard: str, identity: str) -> ParseCache:
    """The partition's stored parses as a cache, when the same parser made them."""
    try:
        if read_manifest(store, ASSET, shard)["info"].get("parser_identity") != identity:
            return ParseCache(identity)
        return ParseCache.from_table(
            identity, read_partition_table(store, ASSET, shard, "sentences")
        )
    except PartitionNotFound:
        return ParseCache(identity)


def _shared_key(identity: str) -> str:
    return f"{SHARED_CACHE}/{identity}.parquet"


def _shared_parses(store, identity: str) -> ParseCache:
    """The corpus-wide table of the most requested sentences' parses (same parser only)."""
    if not store.exists(_shared_key(identity)):
        return ParseCache(identity)
    frame = pl.read_parquet(io.BytesIO(store.read_bytes(_shared_key(identity))))
    return ParseCache.from_frame(identity, frame)


def _run_cache(store, shard: str, identity: str) -> ParseCache:
    """This shard's earlier parses and the corpus-wide ones; ``uses`` start at zero so that
    they count this run's requests only."""
    cache = _previous_parses(store, shard, identity)
    cache.entries = {**_shared_parses(store, identity).entries, **cache.entries}
    return cache


def _save_shared(store, cache: ParseCache) -> None:
    """Merge this run's parses into the corpus-wide table, keep the most used, write it
    atomically. Shards finishing at the same moment may drop each other's new entries: it is a
    cache (a parse never depends on it), so that costs parses later, never a different row."""
    shared = _shared_parses(store, cache.identity)
    shared.merge(cache)
    store.write_bytes(
        _shared_key(cache.identity), parquet_bytes(shared.to_frame(SHARED_CACHE_ENTRIES))
    )


def _parsers(context, cat_parser: CatParserResource):
    """The CAT parser and the Japanese one (each None, warned, when unavailable)."""
    parser = cat_parser.get()
    if parser is None:
        context.log.warning(f"CAT rule not applied: {cat_parser.unavailable_reason()}")
    ja_parser = cat_parser.get_japanese()
    if ja_parser is None:
        context.log.warning(
            f"CAT rule not applied to Japanese: {cat_parser.japanese_unavailable_reason()}"
        )
    return parser, ja_parser


def _scoring_key(store, shard: str, config: SentencesConfig, parser, ja_parser) -> dict:
    """What the rows and scores depend on; word-count bounds only re-decide."""
    return {
        "raw_documents": upstream_version(store, "raw_documents", shard),
        **{k: getattr(config, k) for k in SCORING_FIELDS},
        "parser": list(parser.settings) if parser else None,
        "ja_parser": ja_parser.identity if ja_parser else None,
    }


def _rows(context, store, shard, params, cat_parser, parser, ja_parser, scoring_key):
    """(table, word_counts, run_stats, rescored): re-decide stored scores, or split and score."""
    stored = stored_scores(store, ASSET, shard, "sentences", scoring_key)
    previous = (
        read_manifest(store, ASSET, shard)["info"].get("stats", {}) if stored is not None else {}
    )
    if stored is not None and not needs_parsing(stored, params):
        context.log.info(f"{shard}: scores unchanged, re-deciding with {params}")
        table = decide_sentences(stored, params)
        word_counts = read_partition_table(store, ASSET, shard, "word_counts")
        run_stats = {k: previous.get(k, 0) for k in LIMIT_STATS} | {"parsed": 0}
        return table, word_counts, run_stats, False
    # split and score; sentences parsed by the same parser before are not parsed again
    items = read_partition_table(store, "raw_documents", shard, "items")
    cache = _run_cache(store, shard, parser.identity) if parser else None
    result = curate_sentences(
        items,
        shard,
        parser,
        params,
        progress=progress_logger(context.log.info, f"{shard} sentences parsed"),
        workers=cat_parser.workers or default_workers(),
        cache=cache,
        ja_parser=ja_parser,
    )
    if cache is not None:
        _save_shared(store, cache)
    run_stats = {k: v for k, v in result.stats.items() if k in RUN_STATS}
    return result.table, result.word_counts, run_stats, True


def _log_stats(context, shard: str, stats: dict, parser) -> None:
    """The stats, and a warning per crashed parse, an error per safety-net hit (never silent)."""
    context.log.info(f"{shard}: {stats}")
    if stats.get("dropped_parser_crashed"):
        context.log.warning(
            f"{shard}: link-grammar crashed on {stats['dropped_parser_crashed']} sentence(s) "
            "(isolated; the rows carry the reason parser_crashed)"
        )
    if stats.get("dropped_parse_timeout"):  # a load-dependent outcome: never silent
        context.log.error(
            f"{shard}: {stats['dropped_parse_timeout']} sentence(s) hit the parser's "
            f"{parser.max_parse_time if parser else '?'} s safety net (reason parse_timeout); "
            "their decision depends on the machine's load: re-materialize on a quieter machine"
        )


def _metadata(store, shard, config, parser, table, stats, drift_md, manifest) -> dict:
    """The asset page: funnel, length plot and histogram, examples, counts, shares, params."""
    total = max(stats["total"], 1)
    sample = table.sample(min(table.height, 8), seed=0) if table.height else table
    return ui_order(
        {
            **drift_md,
            **{k: dg.MetadataValue.int(v) for k, v in stats.items()},
            "kept_ratio": dg.MetadataValue.float(stats["kept"] / total),
            **share_values(stats, "total", [f"dropped_{r}" for r in SENTENCE_REASONS]),
            "cat_applied": parser is not None,
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
    )


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
    params = params_from_config(config, SentenceParams)
    parser, ja_parser = _parsers(context, cat_parser)
    scoring_key = _scoring_key(store, shard, config, parser, ja_parser)
    table, word_counts, run_stats, rescored = _rows(
        context, store, shard, params, cat_parser, parser, ja_parser, scoring_key
    )
    stats = {
        **sentence_stats(table),
        **run_stats,
        "vocabulary": word_counts.height,
        "rescored": int(rescored),
    }
    manifest = write_partition(
        store,
        ASSET,
        shard,
        {"sentences": table, "word_counts": word_counts},
        info={
            "stats": stats,
            "cat_applied": parser is not None,
            "scoring_key": scoring_key,
            "parser_identity": parser.identity if parser else None,
        },
    )
    _log_stats(context, shard, stats, parser)
    drift_md, drift_checks = drift_outputs(
        context, ASSET, sentences_profile(table, vars(params)), drift.params()
    )
    return dg.MaterializeResult(
        metadata=_metadata(store, shard, config, parser, table, stats, drift_md, manifest),
        data_version=dg.DataVersion(manifest["version"]),
        check_results=check_results(
            ASSET,
            SENTENCES_SUITE,
            {"sentences": table},
            {"min_words": config.min_words, "max_words": config.max_words},
        )
        + drift_checks,
    )
