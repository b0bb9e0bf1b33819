"""realsyn.ja (splitting, morphemes, dedup key, CAT with GiNZA) and realsyn.world_ja."""

from __future__ import annotations

import random

import pytest

from realsyn import ja
from realsyn import world as w
from realsyn import world_ja as wj
from realsyn.language import WordCounter, rules_for
from realsyn.sentences import URL_RE
from realsyn.text_dedup import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "これはペンです。あれは本です！本当？はい。",
            ["これはペンです。", "あれは本です！", "本当？", "はい。"],
        ),
        ("全角のピリオド．半角の句点｡次の文", ["全角のピリオド．", "半角の句点｡", "次の文"]),
        ("本当ですか？！そうです。", ["本当ですか？！", "そうです。"]),
        # a stop inside brackets ends nothing; a particle after the bracket continues
        ("「はい。」と彼は言った。次の文です。", ["「はい。」と彼は言った。", "次の文です。"]),
        ("「はい。」「いいえ。」", ["「はい。」", "「いいえ。」"]),
        (
            "『吾輩は猫である。』（夏目漱石）を読んだ。",
            ["『吾輩は猫である。』（夏目漱石）を読んだ。"],
        ),
        ("彼はこう言った（嘘だ。）。そう。", ["彼はこう言った（嘘だ。）。", "そう。"]),
        # lines: list items and headings without a full stop; bullets dropped
        (
            "第3章 所有権\n・リスト項目\n■ 見出し\n\n本文です。",
            ["第3章 所有権", "リスト項目", "見出し", "本文です。"],
        ),
        # ASCII ! and ? end a sentence only before a space or the end
        (
            'println!("hi")を使います。Hello World!を表示します',
            ['println!("hi")を使います。', "Hello World!を表示します"],
        ),
        ("Is it OK? はい、大丈夫です。", ["Is it OK?", "はい、大丈夫です。"]),
        # a bracket that never closes is ignored rather than swallowing the line
        ("括弧が（閉じない。まま。", ["括弧が（閉じない。", "まま。"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert ja.split_sentences(text) == expected


@pytest.fixture(scope="module")
def morph() -> ja.Morphology:
    return ja.Morphology()


def test_morphemes_leave_out_punctuation_and_fold_width(morph):
    assert morph.tokens("誰かが、赤い円を描いた。") == [
        "誰",
        "か",
        "が",
        "赤い",
        "円",
        "を",
        "描い",
        "た",
    ]
    assert morph.tokens("ＳＡＬＥの看板") == morph.tokens("SALEの看板") == ["sale", "の", "看板"]
    assert morph.count("「」、。・") == 0
    assert morph.count("猫" * 10_000) <= ja.MAX_MORPHEME_CHARS  # bounded input


def test_dedup_key_folds_width_and_japanese_spacing():
    a = ja.normalize_for_dedup("赤い 円が、ＳＡＬＥの看板の横にある！")
    b = ja.normalize_for_dedup("赤い円が SALE の看板の横にある")
    assert a == b == "赤い円がsaleの看板の横にある"
    assert ja.normalize_for_dedup("ｶﾀｶﾅのテスト") == ja.normalize_for_dedup("カタカナのテスト")
    assert ja.normalize_for_dedup("赤い円") != ja.normalize_for_dedup("青い円")
    # English words keep their spaces
    assert ja.normalize_for_dedup("Two  red circles.") == "two red circles"
    # the project's exact dedup key already folds width; Japanese spacing is what it misses
    assert normalize("ＳＡＬＥ") == normalize("SALE")
    assert normalize("赤い 円") != normalize("赤い円")


@pytest.fixture(scope="module")
def ginza() -> ja.GinzaCatParser:
    parser, why = ja.load_ginza_parser()
    assert parser is not None, why  # ginza + ja-ginza are project dependencies
    return parser


def test_cat_relations_and_action(ginza):
    drew = ginza.score("誰かが縞模様の紙に二つの赤い円を描いた。")
    assert drew.has_action and drew.n_relations >= 2 and drew.n_objects >= 3
    copula = ginza.score("これはペンです。")  # a relation (subject of a nominal predicate)
    assert copula.n_relations == 1 and not copula.has_action
    exists = ginza.score("猫がいる。")  # existential いる: like English "be", no action
    assert exists.n_relations == 1 and not exists.has_action
    heading = ginza.score("このマニュアルについて")  # について's つく is a fixed expression
    assert heading.n_relations == 0 and not heading.has_action
    suru = ginza.score("Cargoを使ってプロジェクトをビルドします。")  # mixed Japanese-English
    assert suru.has_action and suru.n_relations >= 2


def test_score_many_parses_distinct_texts_in_order(ginza):
    texts = ["犬が走る。", "これはペンです。", "犬が走る。", "あ" * (ginza.settings.max_chars + 1)]
    seen: list[tuple[int, int]] = []
    scores = ginza.score_many(texts, progress=lambda done, total: seen.append((done, total)))
    assert scores[0] == scores[2] and scores[0].has_action
    assert not scores[1].has_action
    assert scores[3] is None  # over max_chars: not parsed
    assert seen[-1] == (2, 2)  # two distinct parseable texts


def test_world_ja_mirrors_the_english_world():
    for seed in range(200):
        scene = w.sample_scene(random.Random(seed), sign_rate=0.5)
        en, jp = (
            w.describe(scene, random.Random(seed + 7)),
            wj.describe_ja(scene, random.Random(seed + 7)),
        )
        assert en.concepts == jp.concepts and w.describes(jp.concepts, scene.concepts)
        english = w.narrative(random.Random(seed)).text
        i = next(i for i, x in enumerate(w._SUBJECTS) if english.startswith(x + " "))
        j = next(j for j, x in enumerate(w._VERBS) if f" {x} " in english)
        k = next(k for k, x in enumerate(w._TIMES) if english.endswith(f" {x}."))
        japanese = f"{wj._SUBJECTS_JA[i]}{wj._TIMES_JA[k]}{wj._VERBS_JA[j]}。"
        assert wj.narrative_ja(random.Random(seed)).text == japanese
    scene = w.Scene("circle", "red", 2, "small", "striped", sign="SALE")
    assert wj.alt_text_ja(scene, 0) == "二つの赤い円、縞模様の背景、看板「SALE」"
    assert wj.alt_text_ja(scene, 1) == "縞模様の背景に二つの赤い円と「SALE」と書かれた看板"
    assert wj.narrative_ja(random.Random(1)).text.endswith("。")


def test_world_ja_boilerplate_fails_where_the_english_does():
    for en, jp in zip(w.BOILERPLATE, wj.BOILERPLATE_JA, strict=True):
        assert bool(URL_RE.search(en)) == bool(URL_RE.search(jp)), (en, jp)


def test_world_ja_descriptions_pass_the_japanese_rules(ginza):
    """The Japanese world's true descriptions and narratives keep their English verdict: word
    bounds and CAT (relation + action) pass."""
    counter, rules = WordCounter(), rules_for("ja")
    pairs = wj.parallel_sentences(seed=11, n_scenes=12)
    texts = [jp for _, jp in pairs]
    for text, score in zip(texts, ginza.score_many(texts), strict=True):
        assert rules.min_words <= len(counter.tokens(text, "ja")) <= rules.max_words, text
        assert score.n_relations >= 1 and score.has_action, (text, score)


def test_parser_identity_names_model_and_settings(ginza):
    assert len(ginza.identity) == 16
    other = ja.GinzaCatParser(ja.GinzaSettings(max_chars=ginza.settings.max_chars + 1))
    assert other.identity != ginza.identity
    assert ja.GinzaCatParser(ginza.settings).identity == ginza.identity


def test_pipeline_loads_on_the_first_parse_only():
    parser = ja.GinzaCatParser()
    assert parser._nlp is None  # constructing costs nothing: a corpus without Japanese
    assert parser.score_many([]) == [] and parser._nlp is None
    assert parser.score("犬が走る。").has_action and parser._nlp is not None


def test_world_texts_per_language_are_aligned():
    scene = w.Scene("star", "blue", 1, "large", "dotted", pos="left", sign="OPEN")
    en, jp = wj.TEXTS["en"], wj.TEXTS["ja"]
    assert en.describe(scene, random.Random(4)) == w.describe(scene, random.Random(4))
    assert en.alt_text(scene, 1) == scene.alt_text(1)
    assert jp.alt_text(scene, 1) == wj.alt_text_ja(scene, 1)
    same = (
        jp.describe(scene, random.Random(4)).concepts
        == en.describe(scene, random.Random(4)).concepts
    )
    assert same
    assert len(en.boilerplate) == len(jp.boilerplate)
    assert "|" in en.boilerplate[0] and "|" in jp.boilerplate[0]  # the navigation bar
    assert URL_RE.search(en.boilerplate[2]) and URL_RE.search(jp.boilerplate[2])
