"""Documents/s for each reader on the shared samples, beside a baseline on the same bytes.

    python bench/readers.py [--repeat N]

Samples are replicated N times (default 20) into a temp corpus so timings are not noise.
Baselines are what a quick script would do instead: ``json.loads`` per line (MMC4 / OBELICS
jsonl, no validation or normalization), ``polars.read_parquet().to_dicts()`` (OBELICS parquet),
and FastWARC + Resiliparse ``extract_plain_text(main_content=True)`` (WARC and HTML pages: a
common main-content extractor that, unlike ours, yields no ordered image references).
ratio = ours / baseline throughput (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.readers import read_shard  # noqa: E402
from realsyn.storage import LocalStorage  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(fn, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def build_corpus(root: Path, repeat: int) -> dict[str, int]:
    """Write replicated shards; return the number of documents in each."""
    mmc4 = (SHARED / "mmc4/docs_no_face_shard_151_v3.partial.jsonl").read_bytes()
    (root / "mmc4.jsonl").write_bytes(mmc4 * repeat)
    docs = [json.loads(line) for line in mmc4.splitlines() if line.strip()]
    rows = []
    for d in docs:  # the same documents in OBELICS layout
        texts, images = [], []
        for i, t in enumerate(d["text_list"]):
            for info in d["image_info"]:
                if info["matched_text_index"] == i:
                    texts.append(None)
                    images.append(info["raw_url"])
            texts.append(t)
            images.append(None)
        rows.append(
            {
                "texts": texts,
                "images": images,
                "metadata": None,
                "general_metadata": json.dumps({"url": d["url"]}),
            }
        )
    pl.DataFrame(rows * repeat).write_parquet(root / "obelics.parquet")
    warc = (SHARED / "warc/resiliparse/warcfile.warc.gz").read_bytes()
    (root / "crawl.warc.gz").write_bytes(warc * repeat)  # gzip members concatenate
    site = root / "site"
    site.mkdir()
    n = 0
    with open(SHARED / "warc/resiliparse/warcfile.warc.gz", "rb") as fh:
        pages = [
            r.reader.read()
            for r in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True)
        ]
    for _ in range(repeat):
        for page in pages:
            (site / f"p{n:05d}.html").write_bytes(page.decode("utf-8", "replace").encode())
            n += 1
    return {
        "mmc4.jsonl": len(docs) * repeat,
        "obelics.parquet": len(docs) * repeat,
        "crawl.warc.gz": 16 * repeat,
        "site": n,
    }


def baseline(root: Path, key: str) -> None:
    path = root / key
    if key.endswith(".jsonl"):
        with open(path, "rb") as fh:
            for line in fh:
                json.loads(line)
    elif key.endswith(".parquet"):
        pl.read_parquet(path).to_dicts()
    elif key.endswith(".warc.gz"):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                extract_plain_text(rec.reader.read().decode("utf-8", "replace"), main_content=True)
    else:
        for page in sorted(path.iterdir()):
            extract_plain_text(page.read_text(), main_content=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counts = build_corpus(root, args.repeat)
        storage = LocalStorage(root)
        print(f"{'shard':<16} {'docs':>7} {'ours docs/s':>12} {'base docs/s':>12} {'ratio':>6}")
        for key, n in counts.items():
            got = read_shard(storage, key).stats()["documents"]
            assert got == n, (key, got, n)
            ours = timed(lambda k=key: read_shard(storage, k))
            base = timed(lambda k=key: baseline(root, k))
            print(f"{key:<16} {n:>7} {n / ours:>12,.0f} {n / base:>12,.0f} {base / ours:>6.2f}")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
