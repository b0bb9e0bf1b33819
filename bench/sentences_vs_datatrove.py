"""Sentence stage (split + quality filter) throughput: ours against datatrove's closest pipeline.

    python bench/sentences_vs_datatrove.py [--docs 10000] [--cat-docs 300]

Input: the text items of the 107 real MMC4 documents in ../shared/data/mmc4, replicated (cycled,
with fresh ids) to ``--docs`` documents (``--cat-docs`` for the CAT row).

ours           = ``curate_sentences(items, shard, parser=None)``: ftfy (NFC) + per-line pysbd split
                 + URL regex / emoji / 3..81-word rules, into the sentences table; one process.
ours + CAT     = the same with ``CatParser()`` (link-grammar) and ``workers=2``: every sentence of
                 1..100 words is parsed (the CAT rule); worker start-up (dictionary load) is timed.
datatrove C4   = datatrove 0.10.1, in its own venv (bench/.venv-datatrove; ``pip install
                 datatrove==0.10.1 spacy ftfy regex``), run by ``LocalPipelineExecutor`` (1 task,
                 1 worker) on one datatrove ``Document`` per text item: ``FTFYFormatter(
                 normalization="NFC")`` -> ``C4QualityFilter(split_paragraph=False, ...)`` with
                 every rule off except the per-sentence ``min_words_per_line=3`` (and its
                 1000-char max word length). This is datatrove's only stock filter that splits text
                 into sentences and filters sentence by sentence (Gopher/FineWeb filters score whole
                 documents); its English splitter (``split_into_sentences``) is spaCy
                 ``blank("en")`` + ``sentencizer``, which needs no download (NLTK punkt would).
datatrove rules= the same executor, FTFYFormatter, then a ``BaseFilter`` that applies our rules with
                 datatrove's utilities: per line, ``split_into_sentences``, our URL regex (passed
                 in from realsyn.sentences), 3..81 words counted with ``split_into_words`` (spaCy
                 tokens that hold a letter or digit). The closest rule-for-rule equivalent.

What differs: datatrove has no CAT parser (no syntactic filter at all) and no emoji rule (emoji
are not checked in either datatrove row); its stock C4 row has no URL or max-words rule; spaCy's
sentencizer splits only at . ! ? and the like, pysbd (ours) knows abbreviations, so sentence
counts differ a little; ours also builds a typed polars table with ids and scores, the datatrove
rows keep the sentences in ``Document.text`` and count them in the step stats. Loading inputs
(polars frame / Document list) and the spaCy / link-grammar dictionaries in the parent is not
timed; each pipeline runs once (the inputs are large enough).
ratio = ours / datatrove documents/s (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MMC4 = "mmc4/docs_no_face_shard_151_v3.partial.jsonl"
DT_PYTHON = ROOT / "bench" / ".venv-datatrove" / "bin" / "python"


# ---------------------------------------------------------------- ours (project venv)


def load_items(n_docs: int):
    """The sample's items cycled to ``n_docs`` documents, each with a fresh doc_id / item_id."""
    import polars as pl

    from realsyn.readers import read_shard
    from realsyn.storage import LocalStorage

    items = read_shard(LocalStorage(SHARED), MMC4).tables()["items"]
    doc_ids = items["doc_id"].unique(maintain_order=True).to_list()
    mapping = pl.DataFrame(
        {
            "doc_id": [doc_ids[i % len(doc_ids)] for i in range(n_docs)],
            "new_id": [f"{doc_ids[i % len(doc_ids)]}-r{i}" for i in range(n_docs)],
            "order": list(range(n_docs)),
        }
    )
    return (
        mapping.join(items, on="doc_id", how="inner")
        .sort("order", "position")
        .with_columns(
            pl.col("new_id").alias("doc_id"),
            pl.format("{}:{}", "new_id", "position").alias("item_id"),
        )
        .select(items.columns)
    )


def run_ours(items, parser, workers: int) -> dict:
    from realsyn.sentences import curate_sentences

    t0 = time.perf_counter()
    result = curate_sentences(items, "bench", parser=parser, workers=workers)
    seconds = time.perf_counter() - t0
    return {
        "docs": items["doc_id"].n_unique(),
        "sentences": result.stats["total"],
        "kept": result.stats["kept"],
        "seconds": seconds,
    }


def run_datatrove(items, tmp: Path) -> list[dict] | str:
    """Rows from the datatrove venv, or why there are none."""
    if not DT_PYTHON.exists():
        return f"datatrove skipped: {DT_PYTHON} is absent (python3 -m venv bench/.venv-datatrove && bench/.venv-datatrove/bin/pip install datatrove==0.10.1 spacy ftfy regex)"
    import polars as pl

    from realsyn.sentences import URL_RE

    path = tmp / "items.jsonl"
    items.filter(pl.col("kind") == "text").select(
        pl.col("item_id").alias("id"), "doc_id", "text"
    ).write_ndjson(path)
    proc = subprocess.run(
        [str(DT_PYTHON), __file__, "--datatrove-worker", str(path), "--url-re", URL_RE.pattern],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return f"datatrove failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- datatrove (its own venv)


def datatrove_worker(path: str, url_re: str) -> None:
    """Runs inside bench/.venv-datatrove; prints one JSON line with both pipelines' timings."""
    import re

    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.pipeline.formatters import FTFYFormatter
    from datatrove.utils.text import split_into_sentences, split_into_words

    url = re.compile(url_re)

    class SentenceRules(BaseFilter):
        """Our URL and 3..81-word rules, sentence by sentence, with datatrove's splitters."""

        name = "RealSyn-like sentence rules"

        def filter(self, doc: Document) -> bool:
            kept = []
            for line in doc.text.splitlines():
                if not line.strip():
                    continue
                for sentence in split_into_sentences(line):
                    sentence = sentence.strip()
                    if not sentence:
                        continue
                    self.stat_update("sentence-total")
                    if url.search(sentence):
                        self.stat_update("sentence-filter-url")
                        continue
                    n = sum(any(c.isalnum() for c in w) for w in split_into_words(sentence))
                    if not 3 <= n <= 81:
                        self.stat_update("sentence-filter-words")
                        continue
                    kept.append(sentence)
                    self.stat_update("sentence-kept")
            doc.text = "\n".join(kept)
            return True

    with open(path) as fh:
        rows = [json.loads(line) for line in fh]
    docs = [Document(text=r["text"], id=r["id"], metadata={"doc_id": r["doc_id"]}) for r in rows]
    n_docs = len({r["doc_id"] for r in rows})
    split_into_sentences("Load spaCy first. Then time.")  # tokenizer load is not timed
    split_into_words("Load spaCy first.")

    def source(data, rank: int = 0, world_size: int = 1):
        for d in docs:  # fresh copies: the filters rewrite doc.text
            yield Document(text=d.text, id=d.id, metadata=d.metadata)

    c4 = C4QualityFilter(
        split_paragraph=False,
        remove_citations=False,
        filter_no_terminal_punct=False,
        min_num_sentences=-1,
        min_words_per_line=3,
        filter_lorem_ipsum=False,
        filter_javascript=False,
        filter_curly_bracket=False,
        filter_policy=False,
    )
    pipelines = {
        "datatrove C4": ([source, FTFYFormatter(normalization="NFC"), c4], "line"),
        "datatrove rules": (
            [source, FTFYFormatter(normalization="NFC"), SentenceRules()],
            "sentence",
        ),
    }
    out = []
    for name, (pipeline, key) in pipelines.items():
        with tempfile.TemporaryDirectory() as logs:
            executor = LocalPipelineExecutor(
                pipeline, tasks=1, workers=1, logging_dir=logs, skip_completed=False
            )
            t0 = time.perf_counter()
            stats = executor.run()
            seconds = time.perf_counter() - t0
        counts = {k: v.total for s in stats.stats for k, v in s.stats.items()}
        out.append(
            {
                "name": name,
                "docs": n_docs,
                "sentences": counts.get(f"{key}-total", 0),
                "kept": counts.get(f"{key}-kept", 0),
                "seconds": seconds,
            }
        )
    print(json.dumps(out))


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--cat-docs", type=int, default=300)
    parser.add_argument("--datatrove-worker", help=argparse.SUPPRESS)
    parser.add_argument("--url-re", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.datatrove_worker:
        datatrove_worker(args.datatrove_worker, args.url_re)
        return

    from realsyn.cat import load_cat_parser

    items = load_items(args.docs)
    run_ours(load_items(5), None, 1)  # warm-up: imports, emoji database, pysbd rules
    rows = {"ours (no CAT)": run_ours(items, None, 1)}
    cat, why = load_cat_parser()
    if cat is None:
        print(f"ours + CAT skipped: {why}")
    else:
        rows["ours + CAT (2 workers)"] = run_ours(load_items(args.cat_docs), cat, 2)
    with tempfile.TemporaryDirectory() as tmp:
        dt = run_datatrove(items, Path(tmp))
    if isinstance(dt, str):
        print(dt)
        dt = []
    for r in dt:
        rows[r["name"]] = r
    refs = [r for r in dt if r["seconds"] > 0]

    head = f"{'pipeline':<24} {'docs':>6} {'sentences':>10} {'kept':>8} {'docs/s':>8} {'sent/s':>8}"
    print(head + "".join(f" {'vs ' + r['name'].split()[-1]:>9}" for r in refs))
    for name, r in rows.items():
        dps, sps = r["docs"] / r["seconds"], r["sentences"] / r["seconds"]
        line = f"{name:<24} {r['docs']:>6} {r['sentences']:>10} {r['kept']:>8} {dps:>8,.0f} {sps:>8,.0f}"
        print(line + "".join(f" {dps / (ref['docs'] / ref['seconds']):>9.3f}" for ref in refs))


if __name__ == "__main__":
    main()
