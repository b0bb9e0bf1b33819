from __future__ import annotations

import polars as pl
import pytest

from realsyn.cat import CatParser, load_cat_parser
from realsyn.schemas import SENTENCE_REASONS
from realsyn.sentences import (
    SentenceParams,
    Splitter,
    count_words,
    curate_sentences,
    decide_sentences,
    sentence_stats,
    words,
)


@pytest.fixture(scope="module")
def parser() -> CatParser:
    parser, why = load_cat_parser()
    assert parser is not None, f"link-grammar must be installed for the suite: {why}"
    return parser


def items(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": ["d"] * len(texts),
            "position": list(range(len(texts))),
            "kind": ["text"] * len(texts),
            "text": texts,
        },
        schema_overrides={"position": pl.Int32},
    )


@pytest.mark.parametrize("kind", ["punkt", "pysbd"])
def test_splitter_keeps_abbreviations_and_splits_paragraphs(kind):
    out = Splitter(kind=kind).split(
        "Dr. Smith went to Washington. He arrived at 5 p.m. on Monday.\nNew paragraph here"
    )
    assert out == [
        "Dr. Smith went to Washington.",
        "He arrived at 5 p.m. on Monday.",
        "New paragraph here",
    ]


def test_unknown_splitter_is_refused():
    with pytest.raises(ValueError, match="unknown sentence splitter"):
        Splitter(kind="regex")


def test_splitter_repairs_mojibake_and_splits_cjk():
    assert Splitter().split("The cafÃ© is open.") == ["The café is open."]
    assert Splitter().split("猫が寝ている。犬が走る。") == ["猫が寝ている。", "犬が走る。"]


def test_the_splitter_chunks_a_long_paragraph_between_sentences():
    """A paragraph longer than a chunk is cut after a sentence end, never inside a sentence
    (a cut at the last space made fragments such as "A red bus stops at the" other texts)."""
    sentence = "A red bus stops at the corner of the quiet street."
    out = Splitter(chunk_chars=200).split(" ".join([sentence] * 50))
    assert out == [sentence] * 50
    # no sentence end in the window: the last space, then a hard cut
    pieces = Splitter(chunk_chars=200).split("word " * 100)
    assert len(pieces) == 3 and all(len(p) <= 200 for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 100  # no word cut in two


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "x" * 1_000_000,
        ("word " * 200_000),
        "שלום עולם. זה משפט בעברית.",
        "def f(x):\n    return x + 1\n" * 50,
        "1234 5678 9012 3456. 42. 7",
        "\ufffd\ufffd broken bytes \ufffd.",
    ],
)
def test_bad_input_never_crashes(parser, text):
    result = curate_sentences(items([text, "A man rides a horse on the beach."]), "s", parser)
    assert result.table["reason"].drop_nulls().is_in(list(SENTENCE_REASONS)).all()
    kept = result.table.filter(pl.col("decision") == "keep")["text"].to_list()
    assert "A man rides a horse on the beach." in kept


def test_huge_single_line_is_chunked_not_superlinear():
    import time

    t0 = time.perf_counter()
    out = Splitter().split("This is a sentence. " * 50_000)  # 1 MB, one line
    assert len(out) >= 49_000 and time.perf_counter() - t0 < 60


def test_quality_reasons_and_provenance(parser):
    texts = [
        "Visit https://example.com for the best deals on shoes today.",
        "Our team loves this product so much 😍 and you will too.",
        "Great photo.",
        " ".join(["word"] * 90) + ".",
        "A red car near the old church.",  # no complete relation, no verb
        "She is happy.",  # a relation, but no action (copula)
        "Two dogs are playing with children in the snow.",
    ]
    table = curate_sentences(items(texts), "s", parser).table
    assert table["reason"].to_list() == [
        "has_url",
        "has_emoji",
        "too_few_words",
        "too_many_words",
        "cat_low_complexity",
        "cat_no_action",
        None,
    ]
    row = table.row(6, named=True)
    assert (row["doc_id"], row["position"], row["sentence_index"], row["shard"]) == ("d", 6, 0, "s")
    assert row["n_relations"] >= 1 and row["has_action"] and row["parse_status"] == "parsed"
    assert table["sentence_id"].n_unique() == len(texts)


def test_cat_scores_on_real_sentences(parser):
    score = parser.score("Greek coins excavated at Pompeii lie in rows on a dark museum tray.")
    assert score.n_relations >= 3 and score.has_action and score.n_objects >= 4
    assert parser.score("Product Features.").n_relations == 0
    low = parser.score("A red car.")
    assert low.n_relations == 0 and not low.has_action


def test_thresholds_change_without_rescoring(parser):
    table = curate_sentences(
        items(["Great photo of a dog.", "The cat sleeps on the warm mat all day."]), "s", parser
    ).table
    strict = decide_sentences(table, SentenceParams(min_words=6))
    assert strict["reason"].to_list()[0] == "too_few_words"
    loose = decide_sentences(
        table, SentenceParams(min_words=1, require_action=False, min_complexity=0)
    )
    assert sentence_stats(loose)["kept"] >= sentence_stats(table)["kept"]


def test_without_a_parser_cat_is_reported_not_applied():
    result = curate_sentences(items(["A red car.", "Two dogs play."]), "s", parser=None)
    assert not result.cat_applied
    assert set(result.table["parse_status"]) == {"unavailable"}
    assert result.table["decision"].to_list() == ["keep", "keep"]


def test_word_counts_cover_every_sentence(parser):
    result = curate_sentences(
        items(["The cat sleeps. The cat eats!", "Visit www.cats.com now"]), "s", parser
    )
    counts = dict(count_words(result.table).select("word", "count").iter_rows())
    assert counts["the"] == 2 and counts["cat"] == 2 and counts["now"] == 1
    assert words("Don't stop-me now, 2 times") == ["don't", "stop-me", "now", "2", "times"]


def test_parallel_parsing_matches_serial(parser):
    texts = [f"The dog number {i} runs across the green field quickly." for i in range(250)]
    serial = curate_sentences(items(texts), "s", parser, workers=1).table
    parallel = curate_sentences(items(texts), "s", parser, workers=2).table
    assert serial.equals(parallel)


def test_parser_load_prints_no_info_or_debug_lines(capfd):
    CatParser()  # a fresh dictionary load; the default handler prints its locale chatter
    err = capfd.readouterr().err
    assert "link-grammar: Info" not in err and "Debug: Dictionary" not in err
