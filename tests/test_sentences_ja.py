"""The sentence stage on Japanese and other non-English text (realsyn.language, realsyn.ja)."""

from __future__ import annotations

import polars as pl
import pytest

from realsyn.cat import CatParser, load_cat_parser
from realsyn.ja import GinzaCatParser, load_ginza_parser
from realsyn.language import rules_for
from realsyn.semantic import SemanticParams, score_semantics, word_probabilities
from realsyn.sentences import SentenceParams, curate_sentences, decide_sentences


@pytest.fixture(scope="module")
def parser() -> CatParser:
    parser, why = load_cat_parser()
    assert parser is not None, why
    return parser


@pytest.fixture(scope="module")
def ja_parser() -> GinzaCatParser:
    parser, why = load_ginza_parser()
    assert parser is not None, why
    return parser


def items(texts: list[str], doc_ids: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": doc_ids or ["d"] * len(texts),
            "position": list(range(len(texts))),
            "kind": ["text"] * len(texts),
            "text": texts,
        },
        schema_overrides={"position": pl.Int32},
    )


JA_DOC = [
    "このマニュアルについて",
    "誰かが縞模様の紙に二つの赤い円を描いた。これはペンです。猫がいる。",
    "・Cargoを使ってプロジェクトをビルドします",
    "static NUM: i32 = 18; // `NUM`への参照を返します。",
]


def test_japanese_sentences_get_japanese_rules(parser, ja_parser):
    result = curate_sentences(items(JA_DOC), "s", parser, ja_parser=ja_parser)
    t = {r["text"]: r for r in result.table.iter_rows(named=True)}
    assert {r["lang"] for r in t.values()} == {"ja"}
    assert t["このマニュアルについて"]["n_words"] == 5  # morphemes, not 1 "word"
    assert t["このマニュアルについて"]["reason"] == "cat_low_complexity"
    assert t["誰かが縞模様の紙に二つの赤い円を描いた。"]["decision"] == "keep"
    assert t["これはペンです。"]["reason"] == "cat_no_action"
    assert t["猫がいる。"]["reason"] == "too_few_words"  # 3 morphemes < 4
    assert t["Cargoを使ってプロジェクトをビルドします"]["decision"] == "keep"  # a list item
    assert t["static NUM: i32 = 18; // `NUM`への参照を返します。"]["reason"] == "code_like"
    assert result.stats["lang_ja"] == 6 and result.stats["parsed_ja"] == 4


def test_without_ginza_japanese_cat_is_reported_not_applied(parser):
    table = curate_sentences(items(JA_DOC[1:2]), "s", parser).table
    ok = table.filter(pl.col("n_words") >= 4)
    assert ok["parse_status"].to_list() == ["unavailable", "unavailable"]


def test_a_language_without_parser_is_never_parsed_by_another(parser, ja_parser):
    texts = [
        "Le chat noir dort sur le canapé rouge près de la fenêtre ouverte.",
        "A man rides a horse on the beach.",
    ]
    result = curate_sentences(items(texts, ["fr", "en"]), "s", parser, ja_parser=ja_parser)
    fr, en = result.table.sort("doc_id", descending=True).iter_rows(named=True)
    assert (fr["lang"], fr["parse_status"], fr["decision"]) == (
        "fr",
        "no_parser_for_language",
        "keep",
    )
    assert fr["n_relations"] is None  # never scored by link-grammar
    assert (en["lang"], en["parse_status"]) == ("en", "parsed")
    assert result.stats["cat_not_applied"] == 1


def test_japanese_bounds_follow_the_english_params(parser, ja_parser):
    table = curate_sentences(items(JA_DOC[1:2]), "s", parser, ja_parser=ja_parser).table
    drawn = table.filter(pl.col("text").str.starts_with("誰かが"))
    n = drawn["n_words"].item()  # 16 morphemes
    for min_words in range(3, 20):
        lo = rules_for("ja", min_words=min_words).min_words
        decided = decide_sentences(drawn, SentenceParams(min_words=min_words))
        assert (decided["reason"].item() == "too_few_words") == (n < lo), (min_words, lo)
    assert rules_for("ja", min_words=14).min_words > n >= rules_for("ja", min_words=12).min_words


def test_tables_stored_before_languages_decide_as_english(parser):
    table = curate_sentences(items(["A man rides a horse on the beach."]), "s", parser).table
    old = table.drop("lang")
    assert decide_sentences(old, SentenceParams())["decision"].to_list() == ["keep"]


class _FixedPerplexity:
    """A scorer with the PerplexityScorer interface that returns 100 for every text."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def score(self, texts, progress=None) -> list[float]:
        self.seen.extend(texts)
        return [100.0] * len(texts)


def test_entropy_per_language_and_perplexity_only_for_english(parser, ja_parser):
    texts = [
        "誰かが縞模様の紙に二つの赤い円を描いた。画家はポスターのために三つの青い星を描いた。",
        "A man rides a horse on the beach. Two dogs play in the park.",
    ]
    result = curate_sentences(items(texts, ["ja", "en"]), "s", parser, ja_parser=ja_parser)
    assert set(result.word_counts["lang"]) == {"ja", "en"}
    probabilities = word_probabilities(result.word_counts)
    kept = result.table.filter(pl.col("decision") == "keep")
    assert sorted(kept["lang"]) == ["en", "en", "ja", "ja"]
    scorer = _FixedPerplexity()
    table = score_semantics(kept, probabilities, scorer, SemanticParams())
    by_text = dict(zip(kept["text"], kept["lang"], strict=True))
    for row in table.iter_rows(named=True):
        assert row["entropy"] > SemanticParams().min_entropy, row
        assert (row["perplexity"] is None) == (by_text[row["text"]] == "ja")
    assert all(by_text[t] == "en" for t in scorer.seen)
