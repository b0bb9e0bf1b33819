"""The generated world in Japanese: the same scenes, sentences and alt texts as ``realsyn.world``.

Every function mirrors its English counterpart template for template and draws from ``rng``
exactly as it does, so the same seed gives the same choice in both languages:
``describe_ja(scene, Random(s))`` states the same concepts as ``describe(scene, Random(s))``
(a test checks it), and :func:`parallel_sentences` pairs them (the parallel text on which the
Japanese word bounds are measured, see ``realsyn.language``). Sign words stay in Latin letters
(they are painted in the image), so some sentences are mixed Japanese-English on purpose.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from realsyn import world as w

SHAPES_JA = {
    "circle": "円",
    "square": "正方形",
    "triangle": "三角形",
    "star": "星",
    "heart": "ハート",
    "cross": "十字",
    "ring": "輪",
    "arrow": "矢印",
    "crescent": "三日月",
    "diamond": "ひし形",
}
COLOURS_JA = {
    "red": "赤い",
    "green": "緑の",
    "blue": "青い",
    "yellow": "黄色い",
    "purple": "紫の",
    "orange": "オレンジ色の",
    "pink": "ピンクの",
    "black": "黒い",
}
BACKGROUNDS_JA = {
    "plain": "無地",
    "striped": "縞模様",
    "dotted": "水玉模様",
    "checkered": "市松模様",
}
SIZES_JA = {"small": "小さな", "large": "大きな"}
POSITIONS_JA = {"left": "左側", "right": "右側", "top": "上部", "bottom": "下部", "centre": "中央"}
COUNTS_JA = {1: "一つの", 2: "二つの", 3: "三つの"}


def _np(scene: w.Scene, with_size: bool) -> str:
    """``二つの小さな赤い円`` (Japanese nouns do not inflect for number)."""
    size = SIZES_JA[scene.size] if with_size else ""
    return f"{COUNTS_JA[scene.count]}{size}{COLOURS_JA[scene.colour]}{SHAPES_JA[scene.shape]}"


def alt_text_ja(scene: w.Scene, style: int = 0) -> str:
    """:meth:`realsyn.world.Scene.alt_text` in Japanese (the same concepts, both styles)."""
    head = _np(scene, False)
    bg = BACKGROUNDS_JA[scene.bg]
    if style == 0:
        sign = f"、看板「{scene.sign}」" if scene.sign else ""
        return f"{head}、{bg}の背景{sign}"
    sign = f"と「{scene.sign}」と書かれた看板" if scene.sign else ""
    return f"{bg}の背景に{head}{sign}"


def describe_options_ja(scene: w.Scene) -> list[tuple[str, frozenset[str]]]:
    """The Japanese templates, in the order of ``realsyn.world.describe``'s options."""
    base = {f"shape:{scene.shape}", f"colour:{scene.colour}", f"count:{scene.count}"}
    sized = base | {f"size:{scene.size}"}
    bg = BACKGROUNDS_JA[scene.bg]
    np_sized, np_plain = _np(scene, True), _np(scene, False)
    shape_np = f"{COUNTS_JA[scene.count]}{SHAPES_JA[scene.shape]}"
    options = [
        (f"{np_sized}が{bg}の背景の上に描かれている。", sized | {f"bg:{scene.bg}"}),
        (f"この絵は{bg}の背景の上の{np_plain}を示している。", base | {f"bg:{scene.bg}"}),
        (f"誰かが{bg}の紙に{np_plain}を描いた。", base | {f"bg:{scene.bg}"}),
        (f"この写真には{np_sized}が写っている。", sized),
        (f"画家はポスターのために{np_plain}を描いた。", base),
        (
            f"私たちはこの画像の中に{shape_np}を見つけた。",
            {f"shape:{scene.shape}", f"count:{scene.count}"},
        ),
    ]
    if scene.pos:
        options.append(
            (
                f"{np_plain}が画面の{POSITIONS_JA[scene.pos]}に浮かんでいる。",
                base | {f"pos:{scene.pos}"},
            )
        )
    if scene.sign:
        them = "それら" if scene.count > 1 else "それ"
        options.append(
            (
                f"{np_plain}の横に「{scene.sign}」と書かれた看板が掛かっている。",
                base | {f"text:{scene.sign}"},
            )
        )
        options.append(
            (f"{them}の上に{scene.sign}という文字が大きく書かれている。", {f"text:{scene.sign}"})
        )
    return [(text, frozenset(stated)) for text, stated in options]


def describe_ja(scene: w.Scene, rng: random.Random) -> w.Sentence:
    """One true Japanese sentence about ``scene``; the same template as ``describe`` draws."""
    text, stated = rng.choice(describe_options_ja(scene))
    assert stated <= scene.concepts, (text, stated, scene.concepts)
    return w.Sentence(text, "description", stated)


_SUBJECTS_JA = (
    "私たちのクラスは",
    "先生は",
    "隣の人は",
    "美術館のガイドは",
    "若い学生は",
    "ワークショップのチームは",
    "祖母は",
    "学校の合唱団は",
    "地元の画家は",
    "図書館員は",
)
_VERBS_JA = (
    "スタジオを訪れた",
    "筆を洗った",
    "紙を分類した",
    "窓を開けた",
    "古い雑誌を集めた",
    "イーゼルを運んだ",
    "塀にペンキを塗った",
    "本を三冊借りた",
    "チューリップを植えた",
    "プリンターを修理した",
    "パンを焼いた",
    "自転車を直した",
)
_TIMES_JA = (
    "雨の火曜日に",
    "昼食の後で",
    "展覧会の前に",
    "休暇中に",
    "朝早くに",
    "先週末に",
    "晩秋に",
    "コンサートの後で",
)
assert (len(_SUBJECTS_JA), len(_VERBS_JA), len(_TIMES_JA)) == (
    len(w._SUBJECTS),
    len(w._VERBS),
    len(w._TIMES),
)


def narrative_ja(rng: random.Random) -> w.Sentence:
    """``realsyn.world.narrative`` in Japanese (same draws: subject, verb, time)."""
    subject, verb, time = rng.choice(_SUBJECTS_JA), rng.choice(_VERBS_JA), rng.choice(_TIMES_JA)
    return w.Sentence(f"{subject}{time}{verb}。", "narrative")


BOILERPLATE_JA = (
    "ホーム | ギャラリー | ショップ | お問い合わせ",
    "当サイトでは利便性向上のためにクッキーを使用しています。",
    "その他のプリントは https://shapes.example.com/shop をご覧ください。",
    "この色が大好き \U0001f60d\U0001f525",
    "ここをクリック！",
    "Facebook Twitter メールで共有",
    "© 2026 Shape Studio. All rights reserved.",
    "ニュースレターの登録は news@shapes.example.com までどうぞ。",
    "次のページ »",
    "カテゴリー: アート、図形",
)
assert len(BOILERPLATE_JA) == len(w.BOILERPLATE)


def boilerplate_ja(rng: random.Random) -> w.Sentence:
    return w.Sentence(rng.choice(BOILERPLATE_JA), "boilerplate")


@dataclass(frozen=True)
class WorldTexts:
    """One language's sentence makers, as ``realsyn.world_docs`` calls them (a bilingual shard
    picks ``TEXTS[language]``; ``boilerplate`` is index-aligned across languages: 0 is the
    navigation bar, 2 a URL, 3 emoji)."""

    describe: Callable[[w.Scene, random.Random], w.Sentence]
    narrative: Callable[[random.Random], w.Sentence]
    boilerplate: tuple[str, ...]
    alt_text: Callable[[w.Scene, int], str]
    page_title: str  # an HTML page's title, formatted with its number
    lost_caption: str  # the text beside the malformed record's missing image
    joiner: str  # between a paragraph's sentences (Japanese writes none)


TEXTS = {
    "en": WorldTexts(
        w.describe,
        w.narrative,
        w.BOILERPLATE,
        lambda scene, style: scene.alt_text(style),
        "Shapes {}",
        "Someone painted a shape on paper.",
        " ",
    ),
    "ja": WorldTexts(
        describe_ja,
        narrative_ja,
        BOILERPLATE_JA,
        alt_text_ja,
        "図形 {}",
        "誰かが紙に図形を描いた。",
        "",
    ),
}


def parallel_sentences(seed: int, n_scenes: int) -> list[tuple[str, str]]:
    """(English, Japanese) pairs: every description template of ``n_scenes`` sampled scenes
    (signs forced on every 4th, so those templates appear), and one narrative per scene."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    for i in range(n_scenes):
        scene = w.sample_scene(rng, sign_rate=1.0 if i % 4 == 0 else 0.0)
        english = _describe_options_en(scene)
        japanese = describe_options_ja(scene)
        pairs.extend((en, ja) for en, (ja, _) in zip(english, japanese, strict=True))
        state = rng.getstate()
        en_sentence = w.narrative(rng)
        rng.setstate(state)
        pairs.append((en_sentence.text, narrative_ja(rng).text))
    return pairs


def _describe_options_en(scene: w.Scene) -> list[str]:
    """Every English template for ``scene``: ``describe`` with each choice forced in turn."""
    n = len(describe_options_ja(scene))
    return [w.describe(scene, _Pick(i)).text for i in range(n)]


class _Pick(random.Random):
    """A ``Random`` whose ``choice`` returns item ``index`` (enumerates ``describe``'s options)."""

    def __init__(self, index: int) -> None:
        super().__init__(0)
        self.index = index

    def choice(self, seq):  # noqa: D102 - same contract as random.Random.choice
        return seq[self.index]
