"""Language per item and per sentence, and each language's text rules (words, bounds, CAT).

**Identification** (:class:`LanguageIdentifier`): the script decides where it can, py3langid
(its bundled model, 140 languages) where it cannot. Kana exist only in Japanese, so a text with
kana whose Japanese characters outweigh its Latin words (two kana/kanji per Latin word) is
``ja``; such a text with Latin words too (``Cargoでビルドします``, common in technical
documents) is ``ja`` and marked ``mixed``, and the Japanese rules handle its Latin words
(SudachiPy and GiNZA tokenise them as nouns). Hangul is ``ko``. Otherwise py3langid classifies
the text; a sentence too short to classify (fewer than ``min_chars`` letters: a heading, a
button label) or classified below ``min_confidence`` takes its item's language (``method`` =
``item``), unless the scripts cannot match: a text without kana, kanji or hangul never takes
a CJK language from its context. Latin-script text left without a language that way (no
confident classification, no usable context: ``Home | Gallery | Shop``, ``Next page »``) takes
``default`` (``en``, the paper's language; ``method`` = ``default``), so it meets the English
rules as before rather than escaping CAT as an unparsed language. Text without letters is
``und``. An English-majority sentence that quotes Japanese is ``en`` and ``mixed``. Items are classified on their first ``item_chars`` characters,
with the document's language (all its text items together) as their fallback.

**Rules** (:func:`rules_for`): the paper's 3..81-word bound counts English words; Japanese has
no spaces, so its words are morphemes (``realsyn.ja.Morphology``) and the bound is mapped by
the number of morphemes per English word on parallel sentences,
``(round(3 r), round(81 r))`` with ``r`` = :data:`JA_MORPHEMES_PER_EN_WORD` (re-measured by
``tests/test_language.py`` on ``tests/ja_parallel.py``). English is parsed by link-grammar,
Japanese by GiNZA; every other language has no CAT parser and its rows are reported as
:data:`CAT_NOT_APPLIED`, never scored by a parser that does not know the language. Languages
written without spaces that have no tokenizer here (Chinese, Thai, ...) get no word bound
either (:data:`WORDS_NOT_APPLIED`) rather than a whitespace count that means nothing.

**Entropy per language**: token counts are keyed by (lang, word) and probabilities are
normalised within each language, so a minority language's words are not made rare by the
majority's total.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ftfy
import polars as pl

WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")  # as realsyn.sentences.WORD_RE
KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\uff66-\uff9f]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")
HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
CODE_MARKS = re.compile(r"[{};]|//|::|=>|->|==| = ")
UNDETERMINED = "und"
CAT_NOT_APPLIED = "no_parser_for_language"
WORDS_NOT_APPLIED = "no_word_counter_for_language"


def repair(text: str | None) -> str:
    """The text as the sentence stage stores it: ftfy's repairs (mojibake; full-width Latin and
    punctuation folded to half-width, ``！`` -> ``!``) and NFC. Evaluations match truth texts
    through it."""
    return ftfy.fix_text(text or "", normalization="NFC")


PAPER_MIN_WORDS, PAPER_MAX_WORDS = 3, 81
JA_MORPHEMES_PER_EN_WORD = 1.26
CJK_LANGS = frozenset({"ja", "zh", "yue", "wuu", "ko"})
CONTINUOUS_SCRIPT = frozenset({"zh", "yue", "wuu", "th", "lo", "km", "my", "bo"})


@dataclass(frozen=True)
class LanguageTag:
    lang: str  # ISO 639-1 where py3langid has one; "und" when undetermined
    method: Literal["script", "langid", "item", "default", "none"]
    mixed: bool = False  # Japanese and Latin-script words in one text


class LanguageIdentifier:
    """Script rules + py3langid's bundled model; load once per process (~0.3 s)."""

    def __init__(
        self,
        min_chars: int = 12,
        min_confidence: float = 0.5,
        item_chars: int = 5000,
        default: str = "en",
    ):
        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as _Model

        self._model = _Model.from_model_file(MODEL_FILE, norm_probs=True)
        self.min_chars, self.min_confidence, self.item_chars = min_chars, min_confidence, item_chars
        self.default = default

    def detect_item(self, text: str, fallback: str = UNDETERMINED) -> LanguageTag:
        """The language of a whole text item or document (its first ``item_chars``
        characters); ``fallback`` (the document's language) as in :meth:`detect`."""
        return self.detect(text[: self.item_chars], fallback)

    def detect(self, text: str, fallback: str = UNDETERMINED) -> LanguageTag:
        """The language of ``text``; ``fallback`` (the item's language) for text too short or
        too uncertain to classify."""
        kana, han = len(KANA.findall(text)), len(HAN.findall(text))
        latin = len(LATIN_WORD.findall(text))
        if kana and (kana + han) / 2 >= latin:
            return LanguageTag("ja", "script", mixed=latin > 0)
        if len(HANGUL.findall(text)) * 2 >= latin + han and HANGUL.search(text):
            return LanguageTag("ko", "script")
        letters = sum(1 for ch in text if ch.isalpha())
        fallback_tag = LanguageTag(fallback, "item" if fallback != UNDETERMINED else "none")
        if han and not kana and fallback in ("ja", "zh") and han >= latin:
            return LanguageTag(fallback, "item", mixed=fallback == "ja" and latin > 0)
        if letters == 0:
            return fallback_tag
        cjk = kana or han or HANGUL.search(text)
        if fallback in CJK_LANGS and not cjk:
            fallback_tag = LanguageTag(UNDETERMINED, "none")  # Latin text is never ja by context
        if fallback_tag.lang == UNDETERMINED and latin and not cjk:
            fallback_tag = LanguageTag(self.default, "default")
        if letters < self.min_chars and fallback_tag.lang != UNDETERMINED:
            return fallback_tag
        lang, confidence = self._model.classify(text)
        if confidence < self.min_confidence and fallback_tag.lang != UNDETERMINED:
            return fallback_tag
        return LanguageTag(lang, "langid", mixed=lang != "ja" and kana + han > 0)


def looks_like_code(text: str, min_marks: int = 2) -> bool:
    """Source code rather than prose: at least ``min_marks`` of ``{ } ; // :: => -> ==`` and
    `` = ``. Technical documents put code (with comments in their language) in text blocks;
    ``static N: i32 = 18; // 参照を返します。`` is not a sentence about anything visible."""
    return len(CODE_MARKS.findall(text)) >= min_marks


@dataclass(frozen=True)
class LanguageRules:
    lang: str
    word_unit: Literal["word", "morpheme"] | None  # None: no word counter (bound not applied)
    min_words: int
    max_words: int
    cat_parser: Literal["link-grammar", "ginza"] | None  # None: CAT not applied


def map_word_bounds(
    units_per_en_word: float, lo: int = PAPER_MIN_WORDS, hi: int = PAPER_MAX_WORDS
) -> tuple[int, int]:
    """The paper's English word bound in another language's units."""
    return max(1, round(lo * units_per_en_word)), round(hi * units_per_en_word)


def rules_for(
    lang: str, min_words: int = PAPER_MIN_WORDS, max_words: int = PAPER_MAX_WORDS
) -> LanguageRules:
    """The text rules for ``lang``; ``min_words``/``max_words`` are the English bounds (the
    stage's params), mapped for Japanese."""
    if lang == "ja":
        lo, hi = map_word_bounds(JA_MORPHEMES_PER_EN_WORD, min_words, max_words)
        return LanguageRules("ja", "morpheme", lo, hi, "ginza")
    if lang in CONTINUOUS_SCRIPT:
        return LanguageRules(lang, None, min_words, max_words, None)
    return LanguageRules(
        lang, "word", min_words, max_words, "link-grammar" if lang == "en" else None
    )


def word_bound_exprs(
    min_words: int, max_words: int, lang: pl.Expr | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """Per-row (lower, upper) word bounds for a sentences table with a ``lang`` column: the
    English bounds, mapped for Japanese; no bound (0, 2**31 - 1) where the language has no
    word counter."""
    lang = pl.col("lang") if lang is None else lang
    ja = rules_for("ja", min_words, max_words)
    none = lang.is_in(sorted(CONTINUOUS_SCRIPT))
    lo = pl.when(lang == "ja").then(ja.min_words).when(none).then(0).otherwise(min_words)
    hi = pl.when(lang == "ja").then(ja.max_words).when(none).then(2**31 - 1).otherwise(max_words)
    return lo, hi


class LanguageSplitter:
    """Splits a text item by its language: Japanese with ``realsyn.ja.split_sentences``, the
    rest with ``default`` (the stage's splitter); tags every sentence."""

    def __init__(self, default: Callable[[str], list[str]], ident: LanguageIdentifier) -> None:
        self.default, self.ident = default, ident

    def document_language(self, texts: list[str]) -> LanguageTag:
        """A document's language from its text items (their first ``item_chars`` together)."""
        joined, size = [], 0
        for text in texts:
            joined.append(text[: self.ident.item_chars - size])
            size += len(joined[-1])
            if size >= self.ident.item_chars:
                break
        return self.ident.detect_item(" ".join(joined))

    def split(
        self, text: str, doc_lang: str = UNDETERMINED
    ) -> tuple[LanguageTag, list[tuple[str, LanguageTag]]]:
        """(the item's language, [(sentence, its language)]); ``doc_lang`` is the fallback."""
        item = self.ident.detect_item(text, doc_lang)
        if item.lang == "ja":
            from realsyn import ja

            pieces = ja.split_sentences(repair(text))
        else:
            pieces = self.default(text)
        return item, [(s, self.ident.detect(s, item.lang)) for s in pieces]


class WordCounter:
    """Words of a text in its language: morphemes for Japanese (SudachiPy, loaded on first
    use), ``WORD_RE`` runs for the rest. One instance per process."""

    def __init__(self) -> None:
        self._ja = None

    def tokens(self, text: str, lang: str) -> list[str]:
        if lang == "ja":
            if self._ja is None:
                from realsyn.ja import Morphology

                self._ja = Morphology()
            return self._ja.tokens(text)
        return WORD_RE.findall(text.lower())


def token_counts(sentences: pl.DataFrame, counter: WordCounter) -> pl.DataFrame:
    """(text, lang) rows -> (lang, word, count): the corpus statistics for entropy, per
    language; partitions' tables add up by (lang, word)."""
    counts: Counter[tuple[str, str]] = Counter()
    for text, lang in sentences.select("text", "lang").iter_rows():
        counts.update((lang, word) for word in counter.tokens(text, lang))
    return pl.DataFrame(
        [(lang, word, n) for (lang, word), n in sorted(counts.items())],
        schema={"lang": pl.String(), "word": pl.String(), "count": pl.Int64()},
        orient="row",
    )


def language_probabilities(counts: pl.DataFrame) -> pl.DataFrame:
    """(lang, word, count) summed over partitions -> (lang, word, p), p within the language."""
    summed = counts.group_by("lang", "word").agg(pl.col("count").sum())
    return summed.with_columns((pl.col("count") / pl.col("count").sum().over("lang")).alias("p"))


def entropy_scores(
    sentences: pl.DataFrame, probabilities: pl.DataFrame, counter: WordCounter
) -> pl.Series:
    """The paper's theta = -sum p ln p over each sentence's words (every occurrence counts),
    p from the sentence's own language; rows in order, 0.0 for a sentence without words."""
    rows = [
        (row, lang, word)
        for row, (text, lang) in enumerate(sentences.select("text", "lang").iter_rows())
        for word in counter.tokens(text, lang)
    ]
    tokens = pl.DataFrame(
        rows, schema={"row": pl.Int64(), "lang": pl.String(), "word": pl.String()}, orient="row"
    ).join(probabilities.select("lang", "word", "p"), on=["lang", "word"], how="left")
    per_row = tokens.group_by("row").agg(
        (-(pl.col("p") * pl.col("p").log())).fill_null(0.0).sum().alias("entropy")
    )
    return (
        pl.DataFrame({"row": pl.int_range(sentences.height, eager=True, dtype=pl.Int64)})
        .join(per_row, on="row", how="left")
        .sort("row")["entropy"]
        .fill_null(0.0)
    )


def language_stats(langs: list[str] | pl.Series, prefix: str = "lang") -> dict[str, int]:
    """``{"lang_en": 12, "lang_ja": 30, ...}`` for a stage's funnel (sorted by code)."""
    counts = Counter(list(langs))
    return {f"{prefix}_{lang}": counts[lang] for lang in sorted(counts)}
