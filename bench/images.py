"""Images/s of clean_images' decode path against a naive loop, and cross-shard dedup time.

    python bench/images.py [--copies 12] [--hashes 100000]

Input: the real photos in ../shared/data/images re-encoded as JPEGs at 1024-1600 px on the long
side (what a crawl mostly serves), ``--copies`` variants each, written to a temp corpus.
ours  = curate_images: read from disk + safe decode (JPEG draft-mode DCT downscale) + quality
        filter + pHash + SHA-256, on 1 and on 2 threads;
naive = for each file: PIL full decode (.convert("RGB")) + imagehash.phash + size check.
Then: update_index + group_images for ``--hashes`` synthetic pHashes (10% near copies) in 10
shards arriving one by one, against one from-scratch run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
import polars as pl
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from realsyn.dedup import DedupParams, PhashIndex, group_images, update_index  # noqa: E402
from realsyn.images import curate_images  # noqa: E402
from realsyn.storage import LocalStorage  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"


def make_corpus(root: Path, copies: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    paths = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".png", ".jpg"))
    rows = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        for c in range(copies):
            side = int(rng.integers(1024, 1600))
            scale = side / max(img.size)
            out = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))))
            buf = io.BytesIO()
            out.save(buf, "JPEG", quality=int(rng.integers(75, 95)))
            name = f"img/{p.stem}-{c}.jpg"
            (root / name).write_bytes(buf.getvalue())
            rows.append(
                {
                    "doc_id": "d",
                    "item_id": f"d:{len(rows)}",
                    "position": len(rows),
                    "kind": "image",
                    "image_path": name,
                }
            )
    return pl.DataFrame(rows)


def naive(root: Path, items: pl.DataFrame) -> int:
    kept = 0
    for name in items["image_path"]:
        data = (root / name).read_bytes()
        hashlib.sha256(data).hexdigest()
        img = Image.open(io.BytesIO(data)).convert("RGB")
        imagehash.phash(img)
        w, h = img.size
        kept += min(w, h) >= 100 and 1 / 3 <= w / h <= 3
    return kept


def bench_decode(copies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "img").mkdir()
        items = make_corpus(root, copies)
        storage = LocalStorage(root)
        n = items.height
        mb = sum((root / p).stat().st_size for p in items["image_path"]) / 1e6
        t0 = time.perf_counter()
        naive_kept = naive(root, items)
        t_naive = time.perf_counter() - t0
        print(f"{n} JPEGs, {mb:.0f} MB, 1024-1600 px")
        print(f"{'path':<26} {'images/s':>9} {'ratio':>6}")
        print(f"{'naive (full decode)':<26} {n / t_naive:>9.1f} {1.0:>6.2f}")
        for workers in (1, 2):
            t0 = time.perf_counter()
            result = curate_images(items, "bench", storage, None, workers=workers)
            t = time.perf_counter() - t0
            assert result.stats["kept"] == naive_kept, (result.stats, naive_kept)
            print(f"{f'ours, {workers} thread(s)':<26} {n / t:>9.1f} {t_naive / t:>6.2f}")


def bench_dedup(n: int) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    copies = base[: n // 10].copy()
    for bit in (3, 17, 40):
        copies ^= np.uint64(1) << np.uint64(bit)
    hashes = np.concatenate([base, copies])
    m = len(hashes)
    frame = pl.DataFrame(
        {
            "image_id": [f"i{i:07d}" for i in range(m)],
            "shard": [f"s{i % 10}" for i in range(m)],
            "sha256": [f"h{i}" for i in range(m)],
            "phash": hashes,
            "width": np.full(m, 256, np.int32),
            "height": np.full(m, 256, np.int32),
            "n_bytes": np.arange(m),
            "decision": ["keep"] * m,
            "reason": [None] * m,
        },
        schema_overrides={"reason": pl.String},
    )
    params = DedupParams()
    t0 = time.perf_counter()
    state, _ = update_index(PhashIndex.empty(), frame, params)
    table = group_images(frame, state, params)
    t_full = time.perf_counter() - t0
    near = table["reason"].to_list().count("near_dup")
    print(
        f"\ndedup of {m:,} pHashes ({n // 10:,} planted near copies): full run {t_full:.1f} s, "
        f"near_dup found {near:,}"
    )
    state, seen, times = PhashIndex.empty(), None, []
    for shard in frame.partition_by("shard", maintain_order=True):
        seen = shard if seen is None else pl.concat([seen, shard])
        t0 = time.perf_counter()
        state, _ = update_index(state, seen, params)
        group_images(seen, state, params)
        times.append(time.perf_counter() - t0)
    print(
        f"incremental, 10 shards arriving one by one: last shard {times[-1]:.1f} s, "
        f"all {sum(times):.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--hashes", type=int, default=100_000)
    args = parser.parse_args()
    bench_decode(args.copies)
    bench_dedup(args.hashes)


if __name__ == "__main__":
    main()
