"""Keep rates per sentence filter on the 107 real MMC4 documents, with examples to judge by.

    python bench/sentence_report.py [--examples 20] [--seed 0]

Runs the sentences stage (split, URL/emoji/length, CAT with link-grammar) and the semantic
entropy filter (word frequencies over this sample) exactly as the assets do, then prints the
funnel and randomly chosen kept and rejected sentences with their reasons.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.cat import CatParser  # noqa: E402
from realsyn.readers import read_shard  # noqa: E402
from realsyn.schemas import SENTENCE_REASONS  # noqa: E402
from realsyn.semantic import SemanticParams, score_semantics, word_probabilities  # noqa: E402
from realsyn.sentences import curate_sentences  # noqa: E402
from realsyn.storage import LocalStorage  # noqa: E402
from realsyn.text_dedup import dedup_sentences  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARD = "mmc4/docs_no_face_shard_151_v3.partial.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    items = read_shard(LocalStorage(SHARED), SHARD).tables()["items"]
    t0 = time.perf_counter()
    result = curate_sentences(items, SHARD, CatParser(), workers=2)
    t_quality = time.perf_counter() - t0
    table = result.table
    kept = table.filter(pl.col("decision") == "keep")
    semantics = score_semantics(
        kept, word_probabilities(result.word_counts), None, SemanticParams()
    )
    final = semantics.filter(pl.col("decision") == "keep")
    survivors = dedup_sentences(final).filter(pl.col("survives"))
    total = table.height
    print(
        f"{SHARD}: {items.filter(pl.col('kind') == 'text').height} text items -> {total} sentences "
        f"({t_quality:.1f} s for split + quality on 2 processes)\n"
    )
    print(f"{'stage / reason':<28} {'dropped':>8} {'remaining':>10} {'share kept':>10}")
    remaining = total
    for reason in SENTENCE_REASONS:
        n = int((table["reason"] == reason).sum())
        remaining -= n
        print(f"{reason:<28} {n:>8} {remaining:>10} {remaining / total:>10.1%}")
    for reason in ("low_entropy",):
        n = int((semantics["reason"] == reason).sum())
        remaining -= n
        print(f"{reason:<28} {n:>8} {remaining:>10} {remaining / total:>10.1%}")
    print(f"{'perplexity (no LM here)':<28} {'-':>8} {remaining:>10} {remaining / total:>10.1%}")
    dups = final.height - survivors.height
    print(f"{'exact_dup':<28} {dups:>8} {remaining - dups:>10} {(remaining - dups) / total:>10.1%}")
    print("\nparse status:", dict(table.group_by("parse_status").len().iter_rows()))

    def show(frame: pl.DataFrame, title: str) -> None:
        print(f"\n{title}")
        sample = frame.sample(min(args.examples, frame.height), seed=args.seed)
        for row in sample.iter_rows(named=True):
            print(f"  [{row['reason'] or 'kept'}] {row['text'][:160]}")

    rejected = table.filter(pl.col("decision") == "drop").select("text", "reason")
    low_entropy = semantics.filter(pl.col("decision") == "drop").select("text", "reason")
    show(final.select("text", "reason"), f"{args.examples} random kept sentences")
    show(pl.concat([rejected, low_entropy]), f"{args.examples} random rejected sentences")


if __name__ == "__main__":
    main()
