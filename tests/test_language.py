"""realsyn.language: language identification, per-language rules, per-language entropy."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest

from realsyn import world as w
from realsyn import world_ja as wj
from realsyn.language import (
    CAT_NOT_APPLIED,
    JA_MORPHEMES_PER_EN_WORD,
    LanguageIdentifier,
    LanguageSplitter,
    LanguageTag,
    WordCounter,
    entropy_scores,
    language_probabilities,
    language_stats,
    looks_like_code,
    map_word_bounds,
    rules_for,
    token_counts,
    word_bound_exprs,
)
from tests.ja_parallel import PAIRS


@pytest.fixture(scope="module")
def ident() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.fixture(scope="module")
def counter() -> WordCounter:
    return WordCounter()


def test_script_and_model_decide(ident):
    tag = ident.detect("誰かが縞模様の紙に二つの赤い円を描いた。")
    assert (tag.lang, tag.method, tag.mixed) == ("ja", "script", False)
    tag = ident.detect("The compiler checks the types of all arguments before it runs.")
    assert (tag.lang, tag.method) == ("en", "langid")
    assert ident.detect("오늘은 날씨가 좋습니다.").lang == "ko"
    assert ident.detect("变量默认是不可变的，这是语言的一个重要特性。").lang == "zh"


def test_mixed_sentences_on_purpose(ident):
    ja = ident.detect("Cargoを使ってプロジェクトをビルドします。")
    assert (ja.lang, ja.mixed) == ("ja", True)
    en = ident.detect("The word すし is written in hiragana in most restaurants in Tokyo.")
    assert (en.lang, en.mixed) == ("en", True)
    sign = ident.detect("それの上にSTOPという文字が大きく書かれている。")
    assert (sign.lang, sign.mixed) == ("ja", True)


def test_short_text_takes_its_items_language_when_scripts_agree(ident):
    # a kanji-only heading in a Japanese document is Japanese, not Chinese
    assert ident.detect("所有権", fallback="ja").lang == "ja"
    assert ident.detect("所有権", fallback="ja").method == "item"
    assert ident.detect("Home", fallback="en").lang == "en"
    # Latin text never becomes Japanese by context
    assert ident.detect("Keyboard shortcuts", fallback="ja") == LanguageTag("en", "default")
    assert ident.detect("Result", fallback="ja").lang == "en"


def test_unconfident_latin_text_meets_the_default_rules_not_none(ident):
    """Boilerplate that py3langid calls Nigerian Pidgin or French with low confidence would
    otherwise escape CAT as a language without a parser."""
    for text in (
        "Home | Gallery | Shop | Contact",
        "Share on Facebook Twitter Email",
        "Next page »",
    ):
        assert ident.detect(text) == LanguageTag("en", "default"), text
    french = ident.detect("Le chat noir dort sur le canapé rouge près de la fenêtre ouverte.")
    assert (french.lang, french.method) == ("fr", "langid")
    assert LanguageIdentifier(default="de").detect("Next page »").lang == "de"
    assert ident.detect("1, 2, 3 ...").lang == "und"
    assert ident.detect("1, 2, 3 ...", fallback="en").lang == "en"


def test_detect_item_reads_a_bounded_prefix(ident):
    japanese, english = "これは日本語の文書です。" * 500, " the English tail goes on and on" * 2000
    text = japanese + english
    assert len(japanese) > ident.item_chars and ident.detect(english).lang == "en"
    assert ident.detect_item(text).lang == "ja"  # only the first item_chars are read


def test_rules_per_language():
    en, ja, zh, fr = rules_for("en"), rules_for("ja"), rules_for("zh"), rules_for("fr")
    assert (en.word_unit, en.min_words, en.max_words, en.cat_parser) == (
        "word",
        3,
        81,
        "link-grammar",
    )
    assert (ja.word_unit, ja.cat_parser) == ("morpheme", "ginza")
    assert (ja.min_words, ja.max_words) == map_word_bounds(JA_MORPHEMES_PER_EN_WORD)
    assert (ja.min_words, ja.max_words) == (4, 102)
    assert zh.word_unit is None and zh.cat_parser is None  # no tokenizer: not a whitespace count
    assert fr.word_unit == "word" and fr.cat_parser is None  # CAT not applied, never link-grammar
    assert CAT_NOT_APPLIED == "no_parser_for_language"
    assert rules_for("ja", 5, 50).min_words == round(5 * JA_MORPHEMES_PER_EN_WORD)


def test_map_word_bounds():
    assert map_word_bounds(1.0) == (3, 81)
    assert map_word_bounds(2.0) == (6, 162)
    assert map_word_bounds(0.1) == (1, 8)


def test_japanese_bound_remeasured_on_parallel_sentences(counter):
    """The constant is what the parallel set measures; a change to the tokenizer or the set
    that moves it must move the constant (and the README) too."""
    en = sum(len(counter.tokens(e, "en")) for e, _ in PAIRS)
    ja = sum(len(counter.tokens(j, "ja")) for _, j in PAIRS)
    assert len(PAIRS) >= 40
    assert abs(ja / en - JA_MORPHEMES_PER_EN_WORD) < 0.01, ja / en
    assert map_word_bounds(ja / en) == (rules_for("ja").min_words, rules_for("ja").max_words)


def test_world_sentences_keep_their_verdict_across_languages(counter):
    """Every world sentence passes its language's bound in both languages (the mapping keeps
    the English decisions on parallel text)."""
    en_rules, ja_rules = rules_for("en"), rules_for("ja")
    for en, ja in wj.parallel_sentences(seed=3, n_scenes=40):
        n_en, n_ja = len(counter.tokens(en, "en")), len(counter.tokens(ja, "ja"))
        assert en_rules.min_words <= n_en <= en_rules.max_words, en
        assert ja_rules.min_words <= n_ja <= ja_rules.max_words, ja
    for _en, ja in PAIRS:
        assert len(counter.tokens(ja, "ja")) >= rules_for("ja").min_words, ja


def test_word_counter(counter):
    assert counter.tokens("Rust's ownership, explained!", "en") == [
        "rust's",
        "ownership",
        "explained",
    ]
    assert counter.tokens("このマニュアルについて", "ja") == [
        "この",
        "マニュアル",
        "に",
        "つい",
        "て",
    ]
    assert counter.tokens("ＲｕｓｔをＣａｒｇｏで　ビルド。", "ja") == [
        "rust",
        "を",
        "cargo",
        "で",
        "ビルド",
    ]


def test_entropy_probabilities_are_per_language(counter):
    ja = pl.DataFrame({"text": ["猫が庭で寝ている。", "犬が公園で走る。"], "lang": ["ja", "ja"]})
    en = pl.DataFrame(
        {
            "text": [f"Sentence number {i} about other things." for i in range(50)],
            "lang": ["en"] * 50,
        }
    )
    alone = language_probabilities(token_counts(ja, counter))
    mixed = language_probabilities(
        pl.concat([token_counts(ja, counter), token_counts(en, counter)])
    )
    sums = mixed.group_by("lang").agg(pl.col("p").sum()).sort("lang")
    assert sums["p"].to_list() == pytest.approx([1.0, 1.0])
    a = entropy_scores(ja, alone, counter).to_list()
    b = entropy_scores(ja, mixed, counter).to_list()
    assert a == pytest.approx(b)  # 50 English sentences do not make Japanese words rare
    # theta by hand for the first sentence: 猫/が/庭/で/寝/て/いる over 14 tokens
    toks = counter.tokens("猫が庭で寝ている。", "ja")
    counts = {t: sum(counter.tokens(s, "ja").count(t) for s in ja["text"]) for t in toks}
    total = sum(len(counter.tokens(s, "ja")) for s in ja["text"])
    expected = -sum(counts[t] / total * math.log(counts[t] / total) for t in toks)
    assert a[0] == pytest.approx(expected)


def test_entropy_of_a_sentence_without_words_is_zero(counter):
    frame = pl.DataFrame({"text": ["。。。", "猫が寝る。"], "lang": ["ja", "ja"]})
    probabilities = language_probabilities(token_counts(frame, counter))
    scores = entropy_scores(frame, probabilities, counter).to_list()
    assert scores[0] == 0.0 and scores[1] > 0.0


def test_looks_like_code():
    assert looks_like_code("static NUM: i32 = 18; // `NUM`への参照を返します。")
    assert looks_like_code("impl List { fn new() -> List {")
    assert not looks_like_code("partition()を使って全ての正常な値と失敗をまとめる")
    assert not looks_like_code("iterator::anyは、条件を満たす要素があればtrueを返します。")
    assert not looks_like_code("The dog jumped over the fence and ran into the garden.")


def test_language_stats():
    assert language_stats(["ja", "en", "ja", "und"]) == {"lang_en": 1, "lang_ja": 2, "lang_und": 1}


def test_world_ja_is_identified_as_japanese(ident):
    rng = random.Random(5)
    for _ in range(30):
        scene = w.sample_scene(rng, sign_rate=0.5)
        for text in (
            wj.describe_ja(scene, rng).text,
            wj.alt_text_ja(scene, 0),
            wj.alt_text_ja(scene, 1),
        ):
            assert ident.detect(text).lang == "ja", text


def test_language_splitter_routes_items_by_language(ident):
    calls: list[str] = []

    def english(text: str) -> list[str]:
        calls.append(text)
        return [p.strip() + "." for p in text.split(".") if p.strip()]

    splitter = LanguageSplitter(english, ident)
    doc = splitter.document_language(["第1章 はじめに", "この本はRustの入門書です。例を示します。"])
    assert doc.lang == "ja"
    item, sentences = splitter.split("「はい。」と彼は言った。Cargoでビルドします。", doc.lang)
    assert item.lang == "ja" and not calls  # the Japanese splitter, not the default one
    assert [s for s, _ in sentences] == ["「はい。」と彼は言った。", "Cargoでビルドします。"]
    assert [(t.lang, t.mixed) for _, t in sentences] == [("ja", False), ("ja", True)]
    heading, sentences = splitter.split("所有権", doc.lang)
    assert heading.lang == "ja" and sentences[0][1].method == "item"
    item, sentences = splitter.split("The dog runs in the park. The cat sleeps on the sofa.", "ja")
    assert item.lang == "en" and calls and [t.lang for _, t in sentences] == ["en", "en"]


def test_word_bound_exprs_per_row():
    frame = pl.DataFrame({"lang": ["en", "ja", "zh", "fr"], "n_words": [3, 3, 1, 90]})
    lo, hi = word_bound_exprs(3, 81)
    out = frame.select(lo.alias("lo"), hi.alias("hi"), pl.col("n_words").is_between(lo, hi))
    assert out["lo"].to_list() == [3, 4, 0, 3]
    assert out["hi"].to_list() == [81, 102, 2**31 - 1, 81]
    assert out["n_words"].to_list() == [True, False, True, False]
