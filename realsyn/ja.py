"""Japanese text: sentence splitting, morpheme counts, dedup normalisation, CAT with GiNZA.

* **Splitting** (:func:`split_sentences`): every line is split on its own (list items and
  headings end at the line, full stop or not); inside a line a sentence ends at 。｡．！？ (and
  ASCII ! ? when a space or the end follows: ``Hello World!を表示``), together with the stops and closing
  brackets/quotes right after it (``」』）】”``). A stop inside brackets (``「はい。」と言った``)
  ends nothing; a bracket that closes after a stop ends the sentence unless hiragana (a
  particle: と, って), a stop or an opening parenthesis (an annotation) follows. A line whose brackets never balance is split without them.
  Leading bullet marks (・●■※ ...) are dropped.
* **Words are morphemes** (:class:`Morphology`): SudachiPy with its core dictionary, split
  mode A (short units, the UD word), punctuation and whitespace not counted, surfaces NFKC
  folded and case-folded. A morpheme is not an English word: the per-language bounds live in
  ``realsyn.language``.
* **Dedup key** (:func:`normalize_for_dedup`): NFKC (full/half-width folding: ＡＢＣ, ｶﾀｶﾅ),
  case-folded, punctuation and symbols removed, whitespace next to Japanese removed (Japanese
  has no word spaces, so ``赤い 円`` and ``赤い円`` are one sentence).
* **CAT** (:class:`GinzaCatParser`): GiNZA's Universal Dependencies parse (``ja_ginza``, spaCy).
  Objects are nominals (NOUN, PROPN, PRON); a relation is an ``nsubj``/``obj``/``iobj``/``obl``
  link (``:pass`` etc. included) from a nominal to a predicate (a VERB or ADJ, or any word with
  a ``cop`` child: ``これはペンです``); the action is a VERB that is not part of a fixed
  expression (``について``'s つく) and not the existential ある/いる (the analogue of English
  *be*, which the English rule excludes); copulas and auxiliaries are AUX in UD and never count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata

from realsyn.cat import CatScore

STOPS = frozenset("。｡．！？")
ASCII_STOPS = frozenset("!?")
OPENERS = "「『（(【〔［《〈“‘"
CLOSERS = "」』）)】〕］》〉”’"
_CLOSER_OF = dict(zip(OPENERS, CLOSERS, strict=True))
_CLOSERS = frozenset(CLOSERS)
BULLET = re.compile(r"^[\s・•●○■□◆◇▪▶►※\-*]+")
JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ー]")
HIRAGANA = re.compile(r"[\u3040-\u309f]")
MAX_MORPHEME_CHARS = 4000  # longer text: only this prefix is analysed (it is far over any bound)


def _ends_at(line: str, i: int, brackets: bool, depth: list[str]) -> bool:
    """Whether a sentence ends after ``line[i]``; ``depth`` is the open-bracket stack."""
    ch = line[i]
    nxt = line[i + 1] if i + 1 < len(line) else ""
    if brackets and ch in _CLOSER_OF:
        depth.append(_CLOSER_OF[ch])
        return False
    if brackets and ch in _CLOSERS:
        if depth and depth[-1] == ch:
            depth.pop()
        if depth or i == 0:
            return False
        j = i - 1
        while j >= 0 and line[j] in _CLOSERS:
            j -= 1
        stopped = j >= 0 and (line[j] in STOPS or line[j] in ASCII_STOPS)
        continues = nxt in _CLOSERS or nxt in STOPS or nxt in ASCII_STOPS or nxt in "（("
        return stopped and not continues and not HIRAGANA.match(nxt or "x")
    if depth:
        return False
    if ch in STOPS or (ch in ASCII_STOPS and (not nxt or nxt.isspace())):
        return not nxt or (nxt not in STOPS and nxt not in ASCII_STOPS and nxt not in _CLOSERS)
    return False


def _split_line(line: str, brackets: bool) -> tuple[list[str], bool]:
    """(sentences, whether every bracket closed)."""
    out: list[str] = []
    depth: list[str] = []
    start = 0
    for i in range(len(line)):
        if _ends_at(line, i, brackets, depth):
            out.append(line[start : i + 1])
            start = i + 1
    out.append(line[start:])
    return out, not depth


def split_sentences(text: str) -> list[str]:
    """Japanese text -> sentences, in order (see the module docstring for the rules)."""
    out: list[str] = []
    for raw in (text or "").splitlines():
        line = BULLET.sub("", raw).strip()
        if not line:
            continue
        pieces, balanced = _split_line(line, brackets=True)
        if not balanced:
            pieces, _ = _split_line(line, brackets=False)
        out.extend(p.strip() for p in pieces if p.strip())
    return out


class Morphology:
    """SudachiPy (core dictionary, split mode A); load once per process and reuse."""

    SKIP_POS = frozenset({"補助記号", "空白"})  # punctuation, whitespace

    def __init__(self) -> None:
        from sudachipy import Dictionary, SplitMode

        self._tokenizer = Dictionary(dict="core").create(SplitMode.A)

    def tokens(self, text: str) -> list[str]:
        """Morphemes of ``text`` (NFKC, case-folded), punctuation and spaces left out."""
        return [
            unicodedata.normalize("NFKC", m.surface()).casefold()
            for m in self._tokenizer.tokenize(text[:MAX_MORPHEME_CHARS])
            if m.part_of_speech()[0] not in self.SKIP_POS and m.surface().strip()
        ]

    def count(self, text: str) -> int:
        return len(self.tokens(text))


_DROP = {i for i in range(0x110000) if unicodedata.category(chr(i))[0] in "PS"}
_TABLE = dict.fromkeys(_DROP, " ")
_SPACE_NEAR_JA = re.compile(rf"(?<={JA_CHAR.pattern})\s+|\s+(?={JA_CHAR.pattern})")


def normalize_for_dedup(text: str) -> str:
    """Exact-dedup key text: NFKC width folding, case-folded, no punctuation/symbols, no
    spaces next to Japanese characters, other whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TABLE)
    text = " ".join(text.split())
    return _SPACE_NEAR_JA.sub("", text)


NOMINALS = frozenset({"NOUN", "PROPN", "PRON"})
RELATIONS = frozenset({"nsubj", "obj", "iobj", "obl"})
EXISTENTIAL = frozenset({"ある", "有る", "在る", "いる", "居る"})


def score_doc(doc) -> CatScore:
    """CAT scores of one parsed spaCy ``Doc`` (UD labels as GiNZA writes them)."""
    relations = 0
    for tok in doc:
        base = tok.dep_.split(":")[0]
        head = tok.head
        if base in RELATIONS and tok.pos_ in NOMINALS and head is not tok:
            if head.pos_ in ("VERB", "ADJ") or any(c.dep_ == "cop" for c in head.children):
                relations += 1
    has_action = any(
        tok.pos_ == "VERB" and tok.dep_ != "fixed" and tok.lemma_ not in EXISTENTIAL for tok in doc
    )
    n_objects = sum(1 for tok in doc if tok.pos_ in NOMINALS)
    return CatScore(n_objects, relations, has_action, null_words=0, timed_out=False)


class ParserUnavailable(RuntimeError):
    """GiNZA (``ginza`` + ``ja-ginza``) is not importable here."""


@dataclass(frozen=True)
class GinzaSettings:
    batch_size: int = 64
    max_chars: int = 400  # longer sentences are not parsed (their status says so)


class GinzaCatParser:
    """CAT for Japanese with GiNZA. The pipeline loads on the first parse (a few seconds, and
    spaCy's thinc imports torch), so a corpus without Japanese never pays for it; the
    constructor only checks that the packages are installed."""

    PACKAGES = ("ja-ginza", "ginza", "spacy", "sudachipy")

    def __init__(self, settings: GinzaSettings | None = None) -> None:
        try:
            versions = [metadata.version(p) for p in self.PACKAGES]
        except metadata.PackageNotFoundError as err:
            raise ParserUnavailable(
                "GiNZA is not installed: pip install ginza==5.3.0 ja-ginza==5.3.0 "
                f"(pyproject's dependencies) ({err})"
            ) from err
        self.settings = settings or GinzaSettings()
        key = json.dumps([versions, dataclasses.astuple(self.settings)]).encode()
        self.identity = hashlib.sha256(key).hexdigest()[:16]  # for parse caches
        self._nlp = None

    def _pipeline(self):
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load("ja_ginza", exclude=["ner"])  # NER is not used by CAT
        return self._nlp

    def score(self, text: str) -> CatScore | None:
        """None for text over ``max_chars`` (not parsed)."""
        return self.score_many([text])[0]

    def score_many(
        self, texts: Iterable[str], progress: Callable[[int, int], None] | None = None
    ) -> list[CatScore | None]:
        """Scores in input order; each distinct text is parsed once."""
        texts = list(texts)
        distinct = sorted({t for t in texts if len(t) <= self.settings.max_chars})
        scores: dict[str, CatScore] = {}
        if not distinct:
            return [None] * len(texts)
        docs = self._pipeline().pipe(distinct, batch_size=self.settings.batch_size)
        for done, (text, doc) in enumerate(zip(distinct, docs, strict=True), 1):
            scores[text] = score_doc(doc)
            if progress and (done % 256 == 0 or done == len(distinct)):
                progress(done, len(distinct))
        return [scores.get(t) for t in texts]


def load_ginza_parser(
    settings: GinzaSettings | None = None,
) -> tuple[GinzaCatParser | None, str | None]:
    """(parser, None) or (None, why it is unavailable)."""
    try:
        return GinzaCatParser(settings), None
    except ParserUnavailable as err:
        return None, str(err)
