"""Japanese sentences of a real documentation site through the sentence stage and the semantic
filter, as the pipeline runs them.

    python bench/ja_sentences.py [HTML_FOLDER] [--sample 20] [--seed 0]

Default folder: the Japanese *Rust by Example* that rustup installs with the rust-docs
component (``share/doc/rust/html/rust-by-example/ja`` of any toolchain; MIT/Apache-2.0). The
folder is read as one ``html_folder`` shard by the project's reader (``read_shard``), its text
items go through ``realsyn.sentences.curate_sentences`` (language per document, item and
sentence; Japanese split by ``realsyn.ja``, morpheme bounds, the code filter, CAT with GiNZA)
and the kept sentences through ``realsyn.semantic.score_semantics`` (entropy over the site's
words, per language; the perplexity model is English and is not applied to Japanese). Prints
the languages, the funnel of the Japanese sentences (default ``SentenceParams`` and
``SemanticParams``) and a seeded sample of distinct kept and dropped sentences with reasons.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

import polars as pl

from realsyn.ja import GinzaCatParser
from realsyn.language import WordCounter, rules_for
from realsyn.readers import read_shard
from realsyn.semantic import SemanticParams, score_semantics, word_probabilities
from realsyn.sentences import SentenceParams, curate_sentences
from realsyn.storage import LocalStorage

RBE_JA = "share/doc/rust/html/rust-by-example/ja"


def default_folder() -> Path | None:
    found = sorted((Path.home() / ".rustup/toolchains").glob(f"*/{RBE_JA}"))
    stable = [p for p in found if "/stable-" in str(p)]
    return (stable or found or [None])[0]


def run_stage(folder: Path) -> tuple[pl.DataFrame, dict]:
    """Every sentence of the site with its final decision: the sentence stage's reason, or the
    semantic filter's for sentences the stage kept (``entropy`` where scored)."""
    started = time.perf_counter()
    items = read_shard(LocalStorage(folder), "").tables()["items"]
    result = curate_sentences(items, "site", None, ja_parser=GinzaCatParser())
    table = result.table
    kept = table.filter(pl.col("decision") == "keep")
    semantics = score_semantics(
        kept, word_probabilities(result.word_counts), None, SemanticParams()
    ).select("sentence_id", "entropy", pl.col("reason").alias("semantic_reason"))
    table = table.join(semantics, on="sentence_id", how="left").with_columns(
        pl.coalesce("reason", "semantic_reason").alias("final_reason")
    )
    stats = {
        "documents": items["doc_id"].n_unique(),
        "seconds": round(time.perf_counter() - started, 1),
        **{k: v for k, v in result.stats.items() if k.startswith(("lang_", "parsed"))},
    }
    return table, stats


def sample(table: pl.DataFrame, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """``n`` distinct kept and ``n`` distinct dropped Japanese sentences, drawn with ``seed``."""
    distinct = table.unique("text", keep="first", maintain_order=True).to_dicts()
    rng = random.Random(seed)
    kept = [r for r in distinct if r["final_reason"] is None]
    dropped = [r for r in distinct if r["final_reason"] is not None]
    return rng.sample(kept, min(n, len(kept))), rng.sample(dropped, min(n, len(dropped)))


def _line(r: dict) -> str:
    detail = f"{r['n_words']} morphemes"
    if r["n_relations"] is not None:
        detail += f", rel={r['n_relations']} act={r['has_action']}"
    if r["entropy"] is not None:
        detail += f", entropy={r['entropy']:.2f}"
    return f"  [{r['final_reason'] or 'kept'}] ({detail}) {r['text']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, default=default_folder())
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.folder is None or not args.folder.is_dir():
        raise SystemExit(f"no folder {args.folder}: rustup component add rust-docs")
    table, stats = run_stage(args.folder)
    print(f"{args.folder}: {stats}")
    print("sentences per language:", dict(Counter(table["lang"].to_list()).most_common(8)))
    ja = table.filter(pl.col("lang") == "ja")
    total = ja.height
    after_rules = ja.filter(pl.col("decision") == "keep").height
    kept = ja.filter(pl.col("final_reason").is_null()).height
    print(f"Japanese sentences: {total}; rules: {rules_for('ja', **_bounds())}")
    print(f"survive the sentence stage: {after_rules} ({after_rules / total:.1%})")
    print(f"survive the semantic filter too: {kept} ({kept / total:.1%})")
    funnel = Counter(r or "kept" for r in ja["final_reason"].to_list())
    print("funnel:", dict(funnel.most_common()))
    counter, english = WordCounter(), rules_for("en")
    few = sum(len(counter.tokens(t, "en")) < english.min_words for t in ja["text"])
    print(f"counted as English words: {few} too_few_words ({few / total:.1%})")
    distinct = ja.unique("text")
    n_kept = distinct.filter(pl.col("final_reason").is_null()).height
    print(f"distinct sentences: {distinct.height}, kept {n_kept}")
    picked_kept, picked_dropped = sample(ja, args.sample, args.seed)
    for title, rows in (("KEPT", picked_kept), ("DROPPED", picked_dropped)):
        print(f"\n{title} (seed {args.seed}):")
        for r in rows:
            print(_line(r))


def _bounds() -> dict:
    p = SentenceParams()
    return {"min_words": p.min_words, "max_words": p.max_words}


if __name__ == "__main__":
    main()
