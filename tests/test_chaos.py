"""Issue 19's chaos test: the main job over the demo's real shards plus hostile ones runs to the
end, every problem recorded as a reason, and no process of the run over a memory ceiling.

The hostile shards (written by the test, a few KB each but the giant page):
- ``html/giant``: one page holding one sentence 200,000 times (8.6 MB);
- ``mmc4/boilerplate-00000.jsonl``: documents that all repeat shop and cookie-banner sentences;
- ``html/hostile``: a doctest line that crashes link-grammar (caught by the code filter first
  with the default settings) and a PNG declaring a 60,000 x 60,000 canvas;
- ``obelics/corrupt-00000.parquet``: an OBELICS parquet whose third row group is unreadable;
- ``warc/truncated-00000.warc``: a WARC whose last record is cut mid-payload.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from realsyn.storage import LocalStorage, read_manifest, read_partition_table
from realsyn_assets.bucketed import shard_dedup
from tests.conftest import REPO
from tests.hostile_fixtures import obelics_rows, parquet_with_corrupt_row_group, truncated_warc
from tests.image_fixtures import bomb_png
from tests.test_cat_isolation import CRASHER

# The ceiling: no single process of the run (the run itself, its step workers, the parser and
# decoder workers) above 3 GB resident; the whole process tree (PSS, summed) above 4 GB.
MAX_PROCESS_RSS_MB = 3000
MAX_TREE_PSS_MB = 4000
GIANT_SENTENCE = "A red bus stops by the corner of the road. "  # x 200,000: 8.6 MB
GIANT_COPIES = 200_000
BOILERPLATE = [
    "Add to cart.",
    "We use cookies to improve your experience on our website.",
    "Accept all cookies to continue browsing this site.",
    "Free shipping on all orders over fifty dollars.",
]
BOILERPLATE_DOCS = 400


def _write_hostile_corpus(corpus: Path) -> None:
    shutil.copytree(REPO / "demo" / "corpus", corpus)
    giant = corpus / "html" / "giant"
    giant.mkdir()
    body = GIANT_SENTENCE * GIANT_COPIES
    (giant / "page.html").write_text(f"<html><body><h1>Buses</h1><p>{body}</p></body></html>")

    hostile = corpus / "html" / "hostile"
    hostile.mkdir()
    (hostile / "bomb.png").write_bytes(bomb_png())
    (hostile / "docs.html").write_text(
        "<html><head><title>KMeans</title></head><body>"
        "<p>A grey heron stands in the shallow river at dawn.</p>"
        f"<pre>{CRASHER}</pre><p>{CRASHER}</p>"
        '<img src="bomb.png" alt="A heron wading in a river">'
        "<p>The heron waits for a fish to swim past its long legs.</p></body></html>"
    )

    lines = []
    for i in range(BOILERPLATE_DOCS):
        texts = [*BOILERPLATE, f"Product {i} is a wooden chair with a woven seat.", *BOILERPLATE]
        images = [{"raw_url": "../images/coffee.jpg", "matched_text_index": 4}] if i < 3 else []
        lines.append(
            json.dumps(
                {"url": f"https://shop.invalid/{i}", "text_list": texts, "image_info": images}
            )
        )
    (corpus / "mmc4" / "boilerplate-00000.jsonl").write_text("\n".join(lines) + "\n")

    rows = obelics_rows(40)
    (corpus / "obelics" / "corrupt-00000.parquet").write_bytes(
        parquet_with_corrupt_row_group(rows, rows_per_group=10, bad_group=2)
    )
    page = "<html><body><p>A grey heron stands in the shallow river at dawn.</p></body></html>"
    (corpus / "warc" / "truncated-00000.warc").write_bytes(truncated_warc([page]))


def _tree_rss(root_pid: int) -> dict[int, tuple[float, float, str]]:
    """pid -> (RSS MB, PSS MB, command line) for ``root_pid`` and its descendants (/proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    out = {}
    for pid in tree:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        kb = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:] if ":" in line}
        out[pid] = (kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024, cmd[:120])
    return out


def _run_measured(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` and measure its memory: ``largest_mb``, the largest single process's peak RSS
    (``ru_maxrss`` of the waited-for children: the run and every worker process it waited for,
    exact); ``tree_pss_mb``, the process tree's proportional set size summed (shared pages
    counted once), sampled every 0.5 s; ``peaks``, the sampled peak RSS per command line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree_pss = [0.0]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
            tree = _tree_rss(proc.pid)
            tree_pss[0] = max(tree_pss[0], sum(pss for _, pss, _ in tree.values()))
            for rss, _, line in tree.values():
                peaks[line] = max(peaks.get(line, 0.0), rss)
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=900)
    finally:
        done.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert largest >= before  # the max over all children: a later, larger child raises it
    done_proc = subprocess.CompletedProcess(cmd, proc.returncode, out.decode(), err.decode())
    top = dict(sorted(peaks.items(), key=lambda kv: -kv[1])[:5])
    return done_proc, {"largest_mb": largest / 1024, "tree_pss_mb": tree_pss[0], "peaks": top}


def _stats(store: LocalStorage, asset: str, shard: str | None) -> dict:
    return read_manifest(store, asset, shard)["info"]["stats"]


@pytest.mark.slow
def test_the_main_job_survives_hostile_shards_within_a_memory_ceiling(tmp_path):
    corpus = tmp_path / "corpus"
    _write_hostile_corpus(corpus)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "REALSYN_DATA_ROOT": str(tmp_path / "data"),
    }
    for var in ("REALSYN_CORPUS", "REALSYN_CAPTIONER_URL", "REALSYN_CLIP_CHECKPOINT"):
        env.pop(var, None)
    cmd = [str(Path(sys.executable).parent / "realsyn"), "run", "--corpus", str(corpus)]
    cmd += ["--no-world", "--train-epochs", "1"]
    start = time.monotonic()
    proc, memory = _run_measured(cmd, env)
    wall = time.monotonic() - start
    (tmp_path / "run.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    print(f"\nchaos run: {wall:.0f} s; memory (MB): {json.dumps(memory, indent=1)}")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    out = proc.stdout
    runs = next(line for line in out.splitlines() if "run(s) succeeded" in line)
    done, total = runs.split()[0].split("/")
    assert done == total, runs
    store = LocalStorage(tmp_path / "data")

    # The giant page: cut and counted, its copies rows with a reason, never parsed one by one.
    giant = read_partition_table(store, "sentences", "html/giant", "sentences")
    stats = _stats(store, "sentences", "html/giant")
    assert giant.height < 25_000, giant.height  # not 200,000 rows
    assert set(giant["text"]) <= {"Buses", GIANT_SENTENCE.strip(), giant["text"][-1]}
    copies = giant.filter(pl.col("text") == GIANT_SENTENCE.strip()).height
    repeated = giant.filter(pl.col("reason") == "repeated_in_document").height
    assert repeated == copies - 3 > 3_000  # beyond 3 copies a reason, never parsed
    assert stats["items_cut"] == 1 and stats["item_chars_cut"] > 8_000_000
    assert stats["parsed"] <= 3, stats  # the sentence, the heading, the cut's fragment

    # Boilerplate: each shop sentence once in the corpus, its copies exact duplicates.
    shop = shard_dedup(store, "mmc4/boilerplate-00000.jsonl")
    assert shop.height > 0
    survivors = shop.filter(pl.col("survives"))
    assert survivors.height <= BOILERPLATE_DOCS + len(BOILERPLATE), survivors.height
    assert set(shop.filter(~pl.col("survives"))["reason"]) <= {"exact_dup", "semantic_dup"}

    # The crashing parser's sentence: caught by the code filter, the shard complete.
    docs = read_partition_table(store, "sentences", "html/hostile", "sentences")
    crash = docs.filter(pl.col("text").str.contains(">>> from sklearn", literal=True))
    assert crash.height >= 1 and set(crash["reason"]) == {"code_like"}, crash
    assert docs.filter(pl.col("text").str.starts_with("A grey heron"))["reason"][0] is None

    # The bomb: refused by its declared size before any pixel is decoded.
    images = read_partition_table(store, "clean_images", "html/hostile", "images")
    assert images.height == 1 and images["reason"].to_list() == ["decompression_bomb"], images

    # The corrupt row group: its ten rows one rejection; the other thirty documents kept.
    rejected = read_partition_table(
        store, "raw_documents", "obelics/corrupt-00000.parquet", "rejected"
    )
    assert rejected["reason"].to_list() == ["parquet_row_group_corrupt"]
    assert _stats(store, "raw_documents", "obelics/corrupt-00000.parquet")["documents"] == 30

    # The truncated WARC record: rejected with its reason, the whole record before it kept.
    rejected = read_partition_table(store, "raw_documents", "warc/truncated-00000.warc", "rejected")
    assert rejected["reason"].to_list() == ["warc_truncated"]
    assert _stats(store, "raw_documents", "warc/truncated-00000.warc")["documents"] == 1

    assert memory["largest_mb"] < MAX_PROCESS_RSS_MB, memory
    assert memory["tree_pss_mb"] < MAX_TREE_PSS_MB, memory
