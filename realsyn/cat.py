"""The CAT rule (Complexity, Action, Text) with CMU link-grammar: a real parser, offline.

CAT (Radenovic et al., 2023, used by RealSyn) keeps captions whose scene graph has at least one
relation between objects (complexity >= C1) and that describe an action. Our definition on a
link-grammar parse (words tagged ``.n``/``.v``/...; links typed S, O, J, MV, M, ...):

* **objects**: nouns (tags ``n*``, plural ``p``, names ``f``/``m``/``b``, guessed ``[?].n``,
  capitalised unknown words) and personal pronouns;
* **relations**: subject links (``S*``: object -> verb), object links (``O*``: verb -> object)
  and prepositional relations (a ``J*`` link from a preposition to an object, where the
  preposition itself attaches to a verb or noun by ``MV*``/``M*``); attributes (``A``, ``AN``)
  are not relations, as in a scene graph;
* **complexity** = the number of relations (C0: none, C1: at least one, ...);
* **action**: a verb or gerund (tags ``v*``, ``g``) that is not a form of *be* and takes part
  in at least one link.

Parsing web text is costly when no complete linkage exists. So a sentence is first parsed
strictly; only short ones (<= ``fallback_max_words`` words: fragments such as captions) that
fail are parsed again allowing up to ``max_null_count`` unlinked words (bracketed by
link-grammar; they count for nothing). A sentence of more than ``whole_max_words`` words, or a
shorter one without a complete linkage, is scored clause by clause (split at , ; : ( ) and
dashes; objects and relations add up, one action suffices): run-on web sentences are usually
several well-formed clauses, and a failed whole parse of a long sentence is the costliest parse
there is. A sentence for which nothing links fails CAT as ``no_linkage``.

Every bound that decides is a count (unlinked words, words per parse), so a decision is the
same on a quiet or a loaded machine; link-grammar's ``max_parse_time`` is only a safety net
whose hits are recorded as ``parse_timeout`` (never cached). ``score_many`` parses in worker
processes (``realsyn.isolation``): a sentence that crashes link-grammar (it can die with SIGILL
on a failed assertion) gets a :class:`ParseFailure` and costs nothing else; ``parse_distinct``
parses each distinct sentence once and skips those a :class:`ParseCache` of the same parser
identity (decisive settings + link-grammar version) already holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from realsyn.isolation import IsolatedPool, Outcome

BE_FORMS = frozenset("be is are was were been being am 's 're 'm".split())
PRONOUNS = frozenset("i you he she it we they me him her us them".split())
CLAUSE_SPLIT = re.compile(r"\s*(?:[,;:()\[\]–—]|\s-\s)\s*")
_TAG = re.compile(r"^(?P<word>.+?)(?:\[[^\]]*\])?(?:\.(?P<tag>[a-z][\w-]*))?$")


_LOG = logging.getLogger(__name__)
LG_WARNING = 3  # link-grammar severities: 1 fatal, 2 error, 3 warning, 4 info, 5 debug


def _forward_lg_message(err, _data) -> None:
    if getattr(err, "severity", LG_WARNING) <= LG_WARNING:
        _LOG.warning("link-grammar: %s", str(getattr(err, "text", err)).strip())


class ParserUnavailable(RuntimeError):
    """link-grammar (python3-link-grammar) is not importable here."""


@dataclass(frozen=True)
class CatScore:
    n_objects: int
    n_relations: int
    has_action: bool
    null_words: int
    timed_out: bool
    clauses: int = 0  # > 0: scored clause by clause (no linkage for the whole sentence)

    def columns(self) -> dict:
        """The sentences table's parse columns for this score."""
        if self.timed_out:
            return {"parse_status": "parse_timeout"}
        return {
            "n_objects": self.n_objects,
            "n_relations": self.n_relations,
            "has_action": self.has_action,
            "null_words": self.null_words,
            "parse_status": "parsed_clauses" if self.clauses else "parsed",
        }


def _split(word: str) -> tuple[str, str, bool]:
    """(surface word, tag, unlinked) of a link-grammar word like ``dogs.n`` or ``[the]``."""
    if word.startswith("[") and word.endswith("]"):
        return word[1:-1].lower(), "", True
    m = _TAG.match(word)
    surface = (m.group("word") if m else word).lower()
    tag = (m.group("tag") or "") if m else ""
    if "<CAPITALIZED-WORDS>" in word or "[?]" in word and not tag:
        tag = tag or "n"
    return surface, tag, False


def _is_object(surface: str, tag: str) -> bool:
    return tag.startswith("n") or tag in ("p", "f", "m", "b", "s") or surface in PRONOUNS


def _is_verb(tag: str) -> bool:
    return tag.startswith("v") or tag == "g"


class CatParser:
    """Scores sentences with link-grammar; one dictionary per instance (load once)."""

    DEFAULT_WHOLE_MAX_WORDS = 20

    def __init__(
        self,
        max_null_count: int = 2,
        max_parse_time: int = 30,
        fallback_max_words: int = 20,
        whole_max_words: int = DEFAULT_WHOLE_MAX_WORDS,
    ):
        try:
            from linkgrammar import Dictionary, LG_TimerExhausted, ParseOptions, Sentence
            from linkgrammar import clinkgrammar as clg
        except ImportError as err:
            raise ParserUnavailable(
                "link-grammar is not importable: install Debian's python3-link-grammar and "
                "link-grammar-dictionaries-en (scripts/env.sh links it into the venv)"
            ) from err
        from linkgrammar import LG_Error

        # link-grammar reports through one process-wide handler; its default prints Info and
        # Debug lines (e.g. about the locale) to stderr on every dictionary load. Keep warnings
        # and errors (severity <= 3), through logging.
        LG_Error.set_handler(_forward_lg_message)
        self._sentence = Sentence
        self._clg = clg
        self._timeout = LG_TimerExhausted
        self._dictionary = Dictionary("en")
        # max_parse_time is a safety net, not a rule: a sentence that reaches it is recorded as
        # parse_timeout (its outcome would depend on the machine's load); the bounds that
        # decide are counts (null words, words per parse), the same on any machine.
        self._strict = ParseOptions(
            min_null_count=0,
            max_null_count=0,
            linkage_limit=1,
            max_parse_time=max_parse_time,
            verbosity=0,
        )
        self._loose = ParseOptions(
            min_null_count=1,
            max_null_count=max_null_count,
            linkage_limit=1,
            max_parse_time=max_parse_time,
            verbosity=0,
        )
        self.fallback_max_words = fallback_max_words
        self.whole_max_words = whole_max_words
        self.max_parse_time = max_parse_time
        self.settings = (max_null_count, max_parse_time, fallback_max_words, whole_max_words)
        # what the scores depend on (the time limit only decides whether there is one)
        decisive = [clg.linkgrammar_get_version(), max_null_count, fallback_max_words]
        decisive.append(whole_max_words)
        self.identity = hashlib.sha256(json.dumps(decisive).encode()).hexdigest()[:16]

    def score(self, text: str) -> CatScore | None:
        """None when neither the sentence nor any of its clauses gets a linkage. A sentence of
        more than ``whole_max_words`` words is scored clause by clause without trying the
        whole (a failed whole-sentence parse of a long run-on sentence is the costliest
        parse there is, and its clauses usually decide the same)."""
        try:
            n_words = len(text.split())
            score = None if n_words > self.whole_max_words else self._score_one(text)
            if score is None and n_words > self.fallback_max_words:
                score = self._score_clauses(text)
        except self._timeout:
            return CatScore(0, 0, False, 0, timed_out=True)
        return score

    def _score_clauses(self, text: str) -> CatScore | None:
        """A long sentence without a complete linkage, scored clause by clause."""
        parts = [c for c in CLAUSE_SPLIT.split(text) if len(c.split()) >= 2]
        scores = [s for s in (self._score_one(c) for c in parts) if s is not None]
        if not scores:
            return None
        return CatScore(
            sum(s.n_objects for s in scores),
            sum(s.n_relations for s in scores),
            any(s.has_action for s in scores),
            sum(s.null_words for s in scores),
            False,
            clauses=len(scores),
        )

    def _score_one(self, text: str) -> CatScore | None:
        linkage = next(iter(self._sentence(text, self._dictionary, self._strict).parse()), None)
        if linkage is None and len(text.split()) <= self.fallback_max_words:
            sentence = self._sentence(text, self._dictionary, self._loose)
            linkage = next(iter(sentence.parse()), None)
        if linkage is None:
            return None
        timed_out = False
        words = [_split(w) for w in linkage.words()]
        linked: set[int] = set()
        attached: set[int] = set()  # prepositions attached to a verb/noun by M/MV
        prepositional: list[int] = []  # prepositions with a J link to an object
        relations = 0
        for link in linkage.links():
            lw, rw = _index(self._clg, linkage, link)
            linked.update((lw, rw))
            kind = re.match(r"[A-Z]*", link.left_label).group(0)
            (ls, lt, _), (rs, rt, _) = words[lw], words[rw]
            if kind == "S" and _is_object(ls, lt) and _is_verb(rt):
                relations += 1
            elif kind == "O" and _is_verb(lt) and _is_object(rs, rt):
                relations += 1
            elif kind in ("MV", "M"):
                attached.add(rw)
            elif kind == "J" and _is_object(rs, rt):
                prepositional.append(lw)
        relations += sum(1 for prep in prepositional if prep in attached)
        n_objects = sum(
            1
            for i, (w, t, null) in enumerate(words)
            if not null and i in linked and _is_object(w, t)
        )
        has_action = any(
            _is_verb(t) and not null and w not in BE_FORMS and i in linked
            for i, (w, t, null) in enumerate(words)
        )
        null_words = sum(1 for _w, _t, null in words if null)
        return CatScore(n_objects, relations, has_action, null_words, timed_out)


def _index(clg, linkage, link) -> tuple[int, int]:
    """Word indices of a link's two ends (from link-grammar's C API)."""
    return (
        clg.linkage_get_link_lword(linkage._obj, link.index),
        clg.linkage_get_link_rword(linkage._obj, link.index),
    )


_WORKER: CatParser | None = None
# Address space of a parser worker (RLIMIT_AS): a worker needs well under 100 MB; a parse that
# needs gigabytes is a runaway, recorded as parser_crashed instead of starving the machine.
PARSER_MEMORY_LIMIT = 2 << 30


def _init_worker(settings: tuple) -> None:
    global _WORKER  # one parser per worker process, loaded once
    _WORKER = CatParser(*settings)


def _score_in_worker(text: str) -> CatScore | None:
    assert _WORKER is not None
    return _WORKER.score(text)


@dataclass(frozen=True)
class ParseFailure:
    """A sentence the parser could not score: ``parser_crashed`` (link-grammar killed its
    worker process, e.g. SIGILL on a failed assertion) or ``parse_timeout`` (the wall-clock
    safety net)."""

    status: str
    detail: str = ""

    def columns(self) -> dict:
        return {"parse_status": self.status}


NO_LINKAGE = ParseFailure("no_linkage")
Parse = CatScore | ParseFailure


def score_many(
    parser: CatParser,
    texts: list[str],
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    timeout_s: float | None = None,
    chunksize: int = 32,
) -> list[Parse]:
    """Scores in input order, parsed in ``workers`` processes (never in the calling one: a
    sentence that crashes link-grammar costs its own score, not the run).

    ``parser`` gives the settings; each worker loads its own dictionary once.
    """
    if not texts:
        return []
    workers = max(1, min(workers, -(-len(texts) // chunksize)))
    if timeout_s is None:  # the outer safety net, beyond link-grammar's own time limit
        timeout_s = 4 * parser.max_parse_time + 10
    with IsolatedPool(
        _score_in_worker,
        workers=workers,
        chunksize=chunksize,
        initializer=_init_worker,
        initargs=(parser.settings,),
        timeout_s=timeout_s,
        memory_limit_bytes=PARSER_MEMORY_LIMIT,
    ) as pool:
        outcomes = pool.map(texts, progress)
    return [_from_outcome(o) for o in outcomes]


def _from_outcome(outcome: Outcome) -> Parse:
    if outcome.kind in ("crashed", "out_of_memory"):  # the sentence's parse, not the run
        return ParseFailure("parser_crashed", outcome.message)
    if outcome.kind == "timed_out":
        return ParseFailure("parse_timeout", outcome.message)
    score = outcome.unwrap()  # a Python error in the parser is a bug: raise it
    return NO_LINKAGE if score is None else score


def text_key(text: str) -> str:
    """Cache key of a sentence: its whitespace-collapsed text (link-grammar splits on any
    run of whitespace), hashed."""
    return hashlib.blake2b(" ".join(text.split()).encode(), digest_size=16).hexdigest()


CACHE_COLUMNS = ("key", "parse_status", "n_objects", "n_relations", "has_action", "null_words")


class ParseCache:
    """Parses by sentence for one parser identity (settings + link-grammar version).

    Built from a previous run's stored sentences (:meth:`from_table`) and from a corpus-wide
    table of the most requested sentences (:meth:`from_frame` / :meth:`to_frame`), so a re-run
    or another shard parses only sentences not seen before. ``uses`` counts, per sentence, the
    runs that asked for it (what the corpus-wide table keeps). Timeouts are not cached: they
    depend on the machine's load.
    """

    def __init__(self, identity: str, entries: dict[str, Parse] | None = None):
        self.identity = identity
        self.entries: dict[str, Parse] = dict(entries or {})
        self.uses: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def _add(self, key: str, status, n_obj, n_rel, action, nulls) -> None:
        if status in ("parsed", "parsed_clauses"):
            clauses = int(status == "parsed_clauses")
            self.entries[key] = CatScore(n_obj, n_rel, bool(action), nulls, False, clauses)
        elif status in ("no_linkage", "parser_crashed"):
            self.entries[key] = ParseFailure(status)

    @classmethod
    def from_table(cls, identity: str, table) -> ParseCache:
        """From a sentences table (columns text, parse_status and the scores)."""
        cache = cls(identity)
        columns = ["text", *CACHE_COLUMNS[1:]]
        for text, *row in table.select(columns).iter_rows():
            cache._add(text_key(text), *row)
        return cache

    @classmethod
    def from_frame(cls, identity: str, frame) -> ParseCache:
        """From :meth:`to_frame`'s table."""
        cache = cls(identity)
        for row in frame.select(*CACHE_COLUMNS, "uses").iter_rows():
            cache._add(*row[:-1])
            cache.uses[row[0]] = row[-1]
        return cache

    def merge(self, other: ParseCache) -> None:
        """Add ``other``'s entries (same identity only) and its use counts."""
        if other.identity != self.identity:
            return
        self.entries.update(other.entries)
        for key, n in other.uses.items():
            self.uses[key] = self.uses.get(key, 0) + n

    def to_frame(self, limit: int):
        """The ``limit`` most used entries (ties by key: the same table for the same cache)."""
        import polars as pl

        ranked = sorted(self.entries, key=lambda k: (-self.uses.get(k, 0), k))[:limit]
        rows = []
        for key in ranked:
            cols = self.entries[key].columns()
            rows.append([key, *(cols.get(c) for c in CACHE_COLUMNS[1:]), self.uses.get(key, 0)])
        schema = {
            "key": pl.String,
            "parse_status": pl.String,
            "n_objects": pl.Int16,
            "n_relations": pl.Int16,
            "has_action": pl.Boolean,
            "null_words": pl.Int16,
            "uses": pl.Int64,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")


def parse_distinct(
    parser: CatParser,
    texts: list[str],
    cache: ParseCache | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Parse], dict[str, int]]:
    """Parses of ``texts`` in order; each distinct text parsed once and only when ``cache``
    (same parser identity; updated in place) lacks it. Returns the parses and counts."""
    if cache is not None and cache.identity != parser.identity:
        cache = None  # made by other settings or another link-grammar: not valid here
    known = cache.entries if cache is not None else {}
    keys = [text_key(t) for t in texts]
    first: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        first.setdefault(key, text)
    if cache is not None:
        for key in first:
            cache.uses[key] = cache.uses.get(key, 0) + 1
    missing = [k for k in first if k not in known]
    fresh = score_many(parser, [first[k] for k in missing], workers, progress)
    parsed = dict(zip(missing, fresh, strict=True))
    if cache is not None:
        cache.entries.update(
            (k, p) for k, p in parsed.items() if p.columns()["parse_status"] != "parse_timeout"
        )
    out = [parsed[k] if k in parsed else known[k] for k in keys]
    counts = {
        "parse_requests": len(texts),
        "parse_distinct": len(first),
        "parse_cache_hits": len(first) - len(missing),
        "parsed": len(missing),
    }
    return out, counts


def load_cat_parser(**kwargs) -> tuple[CatParser | None, str | None]:
    """(parser, None) or (None, why it is unavailable)."""
    try:
        return CatParser(**kwargs), None
    except ParserUnavailable as err:
        return None, str(err)
