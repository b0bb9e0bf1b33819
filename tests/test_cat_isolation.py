"""The sentences stage survives a sentence that crashes link-grammar, parses each distinct
sentence once, and bounds the cost of a giant repetitive page."""

from __future__ import annotations

import subprocess
import sys
import time

import polars as pl
import pytest

from realsyn.cat import CatParser, ParseCache, load_cat_parser, parse_distinct
from realsyn.sentences import SentenceParams, curate_sentences, is_code_like

# A doctest block from a documentation page: CMU link-grammar 5.12 dies on it with SIGILL
# ("Assertion (!right_wall_encountered) failed in flatten_wordgraph()").
CRASHER = (
    ">>> from sklearn import cluster, datasets >>> X_iris, y_iris = "
    "datasets.load_iris(return_X_y=True) >>> k_means = cluster.KMeans(n_clusters=3) >>> "
    "k_means.fit(X_iris) KMeans(n_clusters=3) >>> print(k_means.labels_[::10]) "
    "[1 1 1 1 1 0 0 0 0 0 2 2 2 2 2] >>> print(y_iris[::10]) [0 0 0 0 0 1 1 1 1 1 2 2 2 2 2]"
)
GOOD = [
    "A man rides a horse on the beach.",
    "Two dogs are playing with children in the snow.",
    "The old fisherman repairs his nets near the harbour.",
]


@pytest.fixture(scope="module")
def parser() -> CatParser:
    parser, why = load_cat_parser()
    assert parser is not None, f"link-grammar must be installed for the suite: {why}"
    return parser


def page(texts: list[str], doc_id: str = "d") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": [doc_id] * len(texts),
            "position": list(range(len(texts))),
            "kind": ["text"] * len(texts),
            "text": texts,
        },
        schema_overrides={"position": pl.Int32},
    )


def test_the_sentence_really_crashes_link_grammar_in_process():
    code = (
        "import sys; from realsyn.cat import CatParser; "
        "CatParser(whole_max_words=1000).score(sys.stdin.read()); print('survived')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], input=CRASHER, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == -4, (run.returncode, run.stdout, run.stderr[-500:])  # SIGILL
    assert "survived" not in run.stdout


@pytest.fixture(scope="module")
def whole_parser() -> CatParser:
    """Parses even long sentences whole first: the path on which the sentence crashes (by
    default a sentence over 20 words is parsed clause by clause, and its clauses do not)."""
    return CatParser(whole_max_words=1000)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_page_with_a_crashing_sentence_completes_with_one_parser_crashed_row(
    whole_parser, workers
):
    parser = whole_parser
    texts = [GOOD[0], GOOD[1] + " " + CRASHER, GOOD[2], GOOD[0]]
    params = SentenceParams(code_filter=False, max_words=200)  # reach the parser with it
    table = curate_sentences(page(texts), "s", parser, params, workers=workers).table
    crashed = table.filter(pl.col("parse_status") == "parser_crashed")
    assert crashed.height == 1 and crashed["text"][0].startswith(">>> from sklearn")
    assert crashed["reason"].to_list() == ["parser_crashed"]
    assert set(table.filter(pl.col("decision") == "keep")["text"]) == set(GOOD)


def test_code_like_text_is_rejected_before_the_parse(parser):
    result = curate_sentences(page([CRASHER, GOOD[0]]), "s", parser)
    assert result.table["reason"].to_list() == ["code_like", None]
    assert result.stats["parsed"] == 1 and result.stats["dropped_code_like"] == 1
    assert is_code_like("$ pip install realsyn") and is_code_like("x = [1, 2, 3, 4, 5]")
    assert is_code_like("if (a == b && c) { return; }")
    assert not is_code_like("The museum costs $ 5 and opens at 9 a.m. (closed on Mondays).")
    assert not is_code_like("Greek coins excavated at Pompeii lie in rows on a dark tray.")


def test_cheap_rules_come_first_and_duplicates_are_parsed_once(parser):
    texts = ["Visit https://example.com for deals on shoes today.", "Great photo.", *GOOD * 3]
    result = curate_sentences(page(texts), "s", parser)
    table = result.table
    assert table["parse_status"].to_list()[:2] == ["not_parsed", "not_parsed"]
    assert table["reason"].to_list()[:2] == ["has_url", "too_few_words"]
    assert result.stats["parse_requests"] == 9 and result.stats["parsed"] == 3
    assert table.filter(pl.col("text") == GOOD[1])["n_relations"].n_unique() == 1


def test_the_parse_cache_makes_a_rerun_parse_nothing(parser):
    table = curate_sentences(page(GOOD), "s", parser).table
    cache = ParseCache.from_table(parser.identity, table)
    assert len(cache) == 3
    again = curate_sentences(
        page([*GOOD, "A cat sleeps on the warm mat."]), "s", parser, cache=cache
    )
    assert again.stats["parse_cache_hits"] == 3 and again.stats["parsed"] == 1
    assert again.table.head(3).equals(table)
    # another parser identity (settings or link-grammar version): the cache is not used
    scores, counts = parse_distinct(parser, GOOD, ParseCache("other", cache.entries))
    assert counts["parsed"] == 3 and [s.columns() for s in scores] == [
        r
        for r in table.select(
            "n_objects", "n_relations", "has_action", "null_words", "parse_status"
        ).to_dicts()
    ]


def test_a_giant_repetitive_page_is_cut_and_counted_in_seconds(parser):
    sentence = "The quick brown fox jumps over the lazy dog near the river bank."
    giant = " ".join([sentence] * 20_000)  # ~1.3 MB in one text item
    params = SentenceParams(
        max_item_chars=400_000, max_document_chars=600_000, max_document_sentences=5_000
    )
    second = GOOD[1] + " " + giant[:300_000]
    texts = [GOOD[0], giant, second, GOOD[2]]
    t0 = time.perf_counter()
    result = curate_sentences(page(texts), "s", parser, params)
    elapsed = time.perf_counter() - t0
    stats = result.stats
    assert stats["items_cut"] == 1 and stats["item_chars_cut"] == len(giant) - 400_000
    room = 600_000 - len(GOOD[0]) - 400_000  # what the document had left for the third item
    assert stats["documents_cut"] == 1
    assert stats["document_chars_cut"] == len(second) - room + len(GOOD[2])
    assert stats["total"] == 5_000 and stats["document_sentences_cut"] > 1_000
    # the item and document cuts leave a fragment of a copy: other texts
    copies = result.table.group_by("text").len()["len"].cast(pl.Int64)
    repeated = (result.table["parse_status"] == "repeated").sum()
    assert repeated == (copies - 3).clip(lower_bound=0).sum()  # beyond 3 copies, never parsed
    assert stats["dropped_repeated_in_document"] > 4_500  # the rest fail an earlier rule
    assert stats["parsed"] == stats["parse_distinct"] <= copies.len() < 300
    dropped = sum(v for k, v in stats.items() if k.startswith("dropped_"))
    assert stats["total"] == stats["kept"] + dropped
    table = result.table
    assert table["text"][0] == GOOD[0] and table["decision"][0] == "keep"
    assert elapsed < 30, elapsed


def test_a_safety_net_hit_is_its_own_reason_and_is_not_cached(parser):
    from realsyn.cat import parse_distinct
    from realsyn.sentences import decide_sentences

    table = curate_sentences(page(GOOD[:2]), "s", parser).table
    hit = table.with_columns(pl.Series("parse_status", ["parse_timeout", "parsed"]))
    assert decide_sentences(hit, SentenceParams())["reason"].to_list() == ["parse_timeout", None]
    cache = ParseCache.from_table(parser.identity, hit)
    assert len(cache) == 1  # a timeout depends on the machine's load: parsed again next time
    _, counts = parse_distinct(parser, GOOD[:2], cache)
    assert counts["parsed"] == 1


def test_parser_identity_ignores_the_time_limit_but_not_the_decisive_settings():
    assert CatParser(max_parse_time=5).identity == CatParser(max_parse_time=60).identity
    assert CatParser(whole_max_words=30).identity != CatParser().identity


def test_the_asset_completes_a_shard_with_a_crashing_sentence_and_reuses_its_parses(
    dagster_home, tmp_path
):
    import json

    import dagster as dg

    from realsyn.storage import LocalStorage, read_manifest, read_partition_table
    from realsyn_assets.partitions import shard_partitions
    from realsyn_assets.raw_documents import raw_documents
    from realsyn_assets.sentences import sentences
    from resources.drift import DriftResource
    from resources.stage_params import StageParamsResource
    from resources.storage import StorageResource
    from resources.text_models import CatParserResource

    shard, other = "mmc4/crash-00000.jsonl", "mmc4/crash-00001.jsonl"
    corpus = tmp_path / "corpus"
    (corpus / "mmc4").mkdir(parents=True)
    record = {"url": "https://docs.invalid/kmeans", "text_list": [*GOOD, CRASHER], "image_info": []}
    (corpus / shard).write_text(json.dumps(record) + "\n")
    record = {"url": "https://docs.invalid/b", "text_list": [GOOD[1], "A cat sleeps on the mat."]}
    (corpus / other).write_text(json.dumps({**record, "image_info": []}) + "\n")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(shard_partitions.name, [shard, other])
    resources = {
        "corpus": StorageResource(root=str(corpus)),
        "storage": StorageResource(root=str(tmp_path / "data")),
        "drift": DriftResource(),
        "stage_params": StageParamsResource(),
        "cat_parser": CatParserResource(workers=1, whole_max_words=1000),
    }
    store = LocalStorage(tmp_path / "data")

    def run(selection, config, partition=shard):
        result = dg.materialize(
            selection,
            partition_key=partition,
            instance=instance,
            resources=resources,
            run_config={"ops": {"sentences": {"config": config}}},
        )
        assert result.success

    run([raw_documents, sentences], {"code_filter": False, "max_words": 200})
    table = read_partition_table(store, "sentences", shard, "sentences")
    assert table["reason"].to_list() == [None, None, None, "parser_crashed"]
    stats = read_manifest(store, "sentences", shard)["info"]["stats"]
    assert stats["dropped_parser_crashed"] == 1 and stats["parsed"] == 4
    # A scoring setting changes: the shard is split again, but nothing is parsed again.
    run([sentences], {"code_filter": False, "max_words": 200, "max_sentence_repeats": 2})
    stats = read_manifest(store, "sentences", shard)["info"]["stats"]
    assert stats["rescored"] == 1 and stats["parsed"] == 0 and stats["parse_cache_hits"] == 4
    # Another shard: a sentence the first one parsed comes from the corpus-wide table.
    run([raw_documents, sentences], {"code_filter": False, "max_words": 200}, other)
    stats = read_manifest(store, "sentences", other)["info"]["stats"]
    assert stats["parse_cache_hits"] == 1 and stats["parsed"] == 1


def test_the_corpus_wide_table_keeps_the_most_used_parses(parser):
    cache = ParseCache(parser.identity)
    parse_distinct(parser, [GOOD[0], GOOD[1]], cache)
    parse_distinct(parser, [GOOD[1], GOOD[2], GOOD[1]], cache)
    frame = cache.to_frame(limit=2)
    assert frame.height == 2 and frame["uses"].to_list() == [2, 1]  # GOOD[1], then a tie by key
    again = ParseCache.from_frame(parser.identity, frame)
    _, counts = parse_distinct(parser, GOOD, again)
    assert counts["parse_cache_hits"] == 2 and counts["parsed"] == 1
    assert again.to_frame(10).filter(pl.col("uses") > 0).height == 3
