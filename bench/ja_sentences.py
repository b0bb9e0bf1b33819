"""Japanese sentences of a real documentation site through the language-aware text rules.

    python bench/ja_sentences.py [HTML_FOLDER] [--sample 20]

Default folder: the Japanese *Rust by Example* that rustup installs with the rust-docs
component (``share/doc/rust/html/rust-by-example/ja``; MIT/Apache-2.0). Every page is read
with the project's HTML reader; each page's language, then each text item's and each
sentence's, comes from ``realsyn.language``; Japanese items are split with
``realsyn.ja.split_sentences``. The Japanese sentences then meet the rules in order: URL,
emoji, code (``realsyn.language.looks_like_code``), morpheme bounds, CAT with GiNZA (each distinct sentence parsed once), then the
entropy filter (theta >= 0.3; probabilities over every Japanese sentence of the site, per
language). Prints the funnel and a seeded sample of kept and dropped sentences with reasons.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import Counter
from pathlib import Path

import emoji
import polars as pl

from realsyn import ja
from realsyn.language import (
    LanguageIdentifier,
    WordCounter,
    entropy_scores,
    language_probabilities,
    looks_like_code,
    rules_for,
    token_counts,
)
from realsyn.readers.html import extract_blocks
from realsyn.sentences import URL_RE

RUSTUP_RBE_JA = (
    Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html"
    "/rust-by-example/ja"
)
MIN_ENTROPY = 0.3


def japanese_sentences(folder: Path, ident: LanguageIdentifier) -> tuple[list[dict], Counter]:
    rows, counts = [], Counter()
    for page in sorted(folder.rglob("*.html")):
        _, blocks = extract_blocks(page.read_text(encoding="utf-8", errors="replace"))
        texts = [b["text"] for b in blocks if b["kind"] == "text"]
        page_lang = ident.detect_item(" ".join(texts)).lang
        counts[f"page_{page_lang}"] += 1
        for text in texts:
            item = ident.detect_item(text, page_lang)
            counts[f"item_{item.lang}"] += 1
            if item.lang != "ja":
                continue
            for sentence in ja.split_sentences(text):
                tag = ident.detect(sentence, item.lang)
                counts[f"sentence_{tag.lang}{'_mixed' if tag.mixed else ''}"] += 1
                if tag.lang == "ja":
                    rows.append({"page": page.name, "text": sentence, "lang": "ja"})
    return rows, counts


def decide(rows: list[dict], counter: WordCounter, parser: ja.GinzaCatParser) -> None:
    rules = rules_for("ja")
    for r in rows:
        r["n_words"] = len(counter.tokens(r["text"], "ja"))
        r["reason"] = (
            "has_url"
            if URL_RE.search(r["text"])
            else "has_emoji"
            if emoji.emoji_count(r["text"])
            else "looks_like_code"
            if looks_like_code(r["text"])
            else "too_few_words"
            if r["n_words"] < rules.min_words
            else "too_many_words"
            if r["n_words"] > rules.max_words
            else None
        )
    todo = [r for r in rows if r["reason"] is None]
    started = time.perf_counter()
    scores = parser.score_many([r["text"] for r in todo])
    distinct = len({r["text"] for r in todo})
    print(f"GiNZA: {distinct} distinct sentences in {time.perf_counter() - started:.1f} s")
    for r, score in zip(todo, scores, strict=True):
        if score is None:
            r["reason"] = "cat_too_long"
        elif score.n_relations < 1:
            r["reason"] = "cat_low_complexity"
        elif not score.has_action:
            r["reason"] = "cat_no_action"
        r["cat"] = score


def entropy_pass(rows: list[dict], counter: WordCounter) -> None:
    frame = pl.DataFrame({"text": [r["text"] for r in rows], "lang": [r["lang"] for r in rows]})
    probabilities = language_probabilities(token_counts(frame, counter))
    kept = [r for r in rows if r["reason"] is None]
    kept_frame = pl.DataFrame({"text": [r["text"] for r in kept], "lang": ["ja"] * len(kept)})
    for r, theta in zip(kept, entropy_scores(kept_frame, probabilities, counter), strict=True):
        r["entropy"] = theta
        if theta < MIN_ENTROPY:
            r["reason"] = "low_entropy"


def _order(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=RUSTUP_RBE_JA)
    ap.add_argument("--sample", type=int, default=20)
    args = ap.parse_args()
    ident, counter, parser = LanguageIdentifier(), WordCounter(), ja.GinzaCatParser()
    rows, counts = japanese_sentences(args.folder, ident)
    print("languages:", dict(sorted(counts.items(), key=lambda kv: -kv[1])))
    decide(rows, counter, parser)
    after_cat = sum(r["reason"] is None for r in rows)
    entropy_pass(rows, counter)
    reasons = Counter(r["reason"] or "kept" for r in rows)
    total = len(rows)
    print(f"Japanese sentences: {total}; rules: {rules_for('ja')}")
    print(f"survive URL/emoji/word bounds/CAT: {after_cat} ({after_cat / total:.1%})")
    print(f"survive the entropy filter too: {reasons['kept']} ({reasons['kept'] / total:.1%})")
    print("funnel:", dict(reasons.most_common()))
    english = rules_for("en")
    few = sum(len(counter.tokens(r["text"], "en")) < english.min_words for r in rows)
    print(
        f"counted as English words (whitespace/letter runs): {few} too_few_words ({few / total:.1%})"
    )
    distinct: dict[str, dict] = {}
    for r in rows:
        distinct.setdefault(r["text"], r)
    kept_distinct = sum(r["reason"] is None for r in distinct.values())
    print(f"distinct sentences: {len(distinct)}, kept {kept_distinct}")
    ranked = sorted(distinct.values(), key=lambda r: _order(r["text"]))
    for title, pick in (
        ("KEPT", lambda r: r["reason"] is None),
        ("DROPPED", lambda r: r["reason"]),
    ):
        print(f"\n{title}:")
        for r in [r for r in ranked if pick(r)][: args.sample]:
            cat = r.get("cat")
            detail = f"rel={cat.n_relations} act={cat.has_action}" if cat else ""
            print(f"  [{r['reason'] or 'kept'}] ({r['n_words']} morphemes {detail}) {r['text']}")


if __name__ == "__main__":
    main()
