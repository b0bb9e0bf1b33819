"""Sentences stage (split + rules + CAT) throughput: the old path and the new one side by side.

    python bench/sentences_throughput.py [--workers 1 2] [--web-copies 3] [--giant 200000]

Old path (kept here as a function, as it ran before the rewrite): every sentence of 1-100 words
parsed, duplicates and sentences the cheap rules reject included, whole sentence first, with
link-grammar's 1 s time limit; in-process with one worker, a fork pool with more. New path:
``curate_sentences`` as the asset runs it (cheap rules first, code-like filter, distinct texts
once, long sentences by clauses, isolated workers), without a cache, then again with the cache
the first run leaves (a re-run). Sets: the 107 real MMC4 documents (../shared/data), and a
web-like set: the real Common Crawl excerpt (16 pages) crawled ``--web-copies`` times (a
re-crawl repeats pages and their boilerplate) plus the MMC4 documents. Prints sentences/s per
CPU-second (this process and its workers, from /proc: robust to other load) and per wall
second, the ratio to the old path with the same worker count, and the share of identical
keep/drop decisions against the old path as a quiet machine decides (sentences that hit the
old 1 s limit in this run are parsed again without time pressure). ``--giant N``: one page holding one sentence N times (the issue's 8.8 MB page has
200,000), new path only (the old one took ~530 s on it).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.cat import CatParser, ParseCache  # noqa: E402
from realsyn.readers import read_shard  # noqa: E402
from realsyn.sentences import (  # noqa: E402
    URL_RE,
    SentenceParams,
    Splitter,
    curate_sentences,
    words,
)
from realsyn.storage import LocalStorage  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MMC4 = "mmc4/docs_no_face_shard_151_v3.partial.jsonl"
WARC = "warc/resiliparse/warcfile.warc.gz"
OLD_SETTINGS = (2, 1, 20, 10**6)  # max nulls, 1 s time limit, fallback words, whole always
_OLD: CatParser | None = None


def _old_init() -> None:
    global _OLD
    _OLD = CatParser(*OLD_SETTINGS)


def _old_score(text: str):
    return _OLD.score(text)


class CpuClock:
    """CPU seconds of this process and every process below it (parser workers, a forkserver),
    sampled from /proc: on a shared, loaded machine wall time says little about the code."""

    def __init__(self, period: float = 0.1):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.seen: dict[int, float] = {}
        self.period = period
        self._stop = threading.Event()

    def _stat(self, pid: int) -> tuple[int, float] | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick  # ppid, cpu

    def _sample(self) -> None:
        stats = {int(p): self._stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
        mine = {os.getpid()}
        grew = True
        while grew:
            below = {p for p, st in stats.items() if st and st[0] in mine} - mine
            grew = bool(below)
            mine |= below
        for pid in mine - {os.getpid()}:
            if stats.get(pid):
                self.seen[pid] = stats[pid][1]

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def __enter__(self) -> CpuClock:
        self.start = time.process_time()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = time.process_time() - self.start + sum(self.seen.values())


def old_scores(items: pl.DataFrame, workers: int) -> tuple[list[tuple[str, int]], dict]:
    """The stage before the rewrite: split, then parse every sentence of 1-100 words (the
    duplicates and the ones the cheap rules reject too). Returns (text, words) per sentence
    and the scores by text."""
    splitter = Splitter()
    rows = [
        (sentence, len(words(sentence)))
        for text in items.filter(pl.col("kind") == "text")["text"]
        for sentence in splitter.split(text)
    ]
    todo = [t for t, n in rows if 0 < n <= 100]
    if workers <= 1 or len(todo) < 200:
        _old_init()
        scores = [_OLD.score(t) for t in todo]
    else:
        with ProcessPoolExecutor(workers, get_context("fork"), initializer=_old_init) as pool:
            scores = list(pool.map(_old_score, todo, chunksize=32))
    return rows, dict(zip(todo, scores, strict=True))


def decide_old(rows: list[tuple[str, int]], by_text: dict) -> list[str]:
    import emoji

    out = []
    for text, n in rows:
        score = by_text.get(text)
        keep = not (
            URL_RE.search(text)
            or emoji.emoji_count(text) > 0
            or n < 3
            or n > 81
            or score is None
            or score.timed_out
            or score.n_relations < 1
            or not score.has_action
        )
        out.append("keep" if keep else "drop")
    return out


def quiet_rescore(by_text: dict) -> tuple[dict, int]:
    """The old scores as on a quiet machine: what hit the 1 s limit in this run, parsed again
    with a 60 s limit. Returns the scores and how many had hit the limit."""
    hit = [t for t, s in by_text.items() if s is not None and s.timed_out]
    if not hit:
        return by_text, 0
    quiet = CatParser(2, 60, 20, 10**6)
    return by_text | {t: quiet.score(t) for t in hit}, len(hit)


def web_like(mmc4: pl.DataFrame, copies: int) -> pl.DataFrame:
    warc = read_shard(LocalStorage(SHARED), WARC).tables()["items"]
    crawls = [
        warc.with_columns(pl.col("doc_id") + f"-crawl{i}").select(mmc4.columns)
        for i in range(copies)
    ]
    return pl.concat([*crawls, mmc4.select(mmc4.columns)])


def timed(fn):
    t0 = time.perf_counter()
    with CpuClock() as clock:
        out = fn()
    return out, time.perf_counter() - t0, clock.cpu


def run_set(name: str, items: pl.DataFrame, workers: list[int], whole_max_words: int) -> None:
    parser = CatParser(whole_max_words=whole_max_words)
    print(f"\n{name} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for w in workers:
        (rows, by_text), t_old, c_old = timed(lambda w=w: old_scores(items, w))
        old = decide_old(rows, by_text)
        quiet_scores, old_timeouts = quiet_rescore(by_text)
        quiet = decide_old(rows, quiet_scores)
        cache = ParseCache(parser.identity)
        params = SentenceParams()

        def run(w=w, c=cache, p=params):
            return curate_sentences(items, name, parser, p, workers=w, cache=c)

        result, t_new, c_new = timed(run)
        _, t_rerun, c_rerun = timed(run)
        new = result.table["decision"].to_list()
        n = len(old)
        assert len(new) == n, f"row counts differ: old {n}, new {len(new)}"
        same = sum(a == b for a, b in zip(quiet, new, strict=True)) / n
        same_loaded = sum(a == b for a, b in zip(old, new, strict=True)) / n
        s = result.stats
        print(
            f"  {w} worker(s), {n:,} sentences, {s['parsed']:,} parsed of "
            f"{s['parse_requests']:,} needing a parse; identical decisions {same:.2%} "
            f"(vs the old path as on a quiet machine; {same_loaded:.2%} vs this run's old "
            f"path, where {old_timeouts} sentence(s) hit the old 1 s limit)\n"
            f"    per CPU-second: old {n / c_old:7.1f}/s, new {n / c_new:7.1f}/s "
            f"= {c_old / c_new:4.2f}x, re-run {n / c_rerun:7.1f}/s\n"
            f"    wall: old {n / t_old:7.1f}/s ({t_old:5.1f} s), new {n / t_new:7.1f}/s "
            f"({t_new:5.1f} s) = {t_old / t_new:4.2f}x, re-run {n / t_rerun:7.1f}/s"
        )


def run_giant(repeats: int) -> None:
    """One page holding one sentence ``repeats`` times: as one text item, then as one item
    per copy (both shapes occur: a page of one huge paragraph, a page of many short ones)."""
    sentence = "Two dogs are playing with children in the snow near the old church."
    for shape, texts in [
        ("one item", [" ".join([sentence] * repeats)]),
        ("one item per copy", [sentence] * repeats),
    ]:
        items = pl.DataFrame(
            {
                "doc_id": ["giant"] * len(texts),
                "position": list(range(len(texts))),
                "kind": ["text"] * len(texts),
                "text": texts,
            },
            schema_overrides={"position": pl.Int32},
        )
        t0 = time.perf_counter()
        result = curate_sentences(items, "giant", CatParser(), SentenceParams(), workers=1)
        elapsed = time.perf_counter() - t0
        stats = {k: v for k, v in result.stats.items() if v and k != "sentence_ms"}
        mb = sum(len(t) for t in texts) / 1e6
        print(f"\ngiant page, {shape}: {mb:.1f} MB, {repeats:,} copies: {elapsed:.1f} s, {stats}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--web-copies", type=int, default=3)
    ap.add_argument("--giant", type=int, default=0)
    ap.add_argument("--sets", nargs="+", default=["mmc4", "web"])
    ap.add_argument("--whole-max-words", type=int, default=CatParser.DEFAULT_WHOLE_MAX_WORDS)
    args = ap.parse_args()
    mmc4 = read_shard(LocalStorage(SHARED), MMC4).tables()["items"]
    if "mmc4" in args.sets:
        run_set("MMC4 sample", mmc4, args.workers, args.whole_max_words)
    if "web" in args.sets:
        run_set(
            f"web-like ({args.web_copies} crawls + MMC4)",
            web_like(mmc4, args.web_copies),
            args.workers,
            args.whole_max_words,
        )
    if args.giant:
        run_giant(args.giant)


if __name__ == "__main__":
    main()
