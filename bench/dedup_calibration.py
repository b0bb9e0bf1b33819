"""Calibrate the semantic-dedup cosine threshold of a CLIP model on a generated world.

    python bench/dedup_calibration.py --corpus demo --checkpoint data/clip_training/.../checkpoint.pt

For images: cosine of every injected near-duplicate pair (the world's truth) against each
image's nearest *distinct* image; for sentences: each distinct world sentence's nearest other
sentence. At each candidate threshold it prints pair precision/recall (images), the share of
distinct sentences that would be merged, and the largest transitive group (union-find over the
pairs above the threshold), which is what decides whether semantic dedup is usable.
Baseline side by side: pHash at radius 10 (the perceptual dedup) on the same images.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import imagehash
import numpy as np
import polars as pl
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from realsyn.clip import encode_images, encode_texts, load_clip
from realsyn.embeddings import vectors_from_bytes, vectors_to_bytes

THRESHOLDS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.997, 0.998, 0.999, 0.9995)


def largest_group(sims: np.ndarray, thr: float) -> int:
    i, j = np.nonzero(np.triu(sims >= thr, 1))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=sims.shape)
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="demo")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--model", default="realsyn-tiny")
    args = ap.parse_args()
    root = Path(args.corpus)
    model = load_clip(args.model, checkpoint_path=args.checkpoint)
    truth = pl.read_parquet(root / "_world/images.parquet")
    data = [(root / f).read_bytes() for f in truth["file"]]
    emb = encode_images(model, data)
    emb16 = vectors_from_bytes(vectors_to_bytes(emb)).astype(np.float32)  # as stored
    groups = np.array(truth["dup_group"].to_list())
    same = groups[:, None] == groups[None, :]
    np.fill_diagonal(same, False)
    hashes = [imagehash.phash(Image.open(io.BytesIO(d))) for d in data]
    print(
        f"model {model.identity}; {len(data)} images, {int(same.sum()) // 2} near-duplicate pairs"
    )
    for name, vecs in (("float32", emb), ("float16 (stored)", emb16)):
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -1)
        print(f"\nimages, {name} vectors")
        print(" threshold  pairs  precision  recall  largest_group")
        for thr in THRESHOLDS:
            above = np.triu(sims >= thr, 1)
            tp = int((above & same).sum())
            n = int(above.sum())
            print(
                f" {thr:9.4f}  {n:5d}  {tp / max(n, 1):9.3f}  {tp / max(int(same.sum()) // 2, 1):6.3f}  {largest_group(sims, thr):13d}"
            )
    ph = np.array([[a - b for b in hashes] for a in hashes])
    np.fill_diagonal(ph, 99)
    above = np.triu(ph <= 10, 1)
    tp = int((above & same).sum())
    print(
        f"\nbaseline pHash radius 10: {int(above.sum())} pairs, precision {tp / max(int(above.sum()), 1):.3f}, recall {tp / max(int(same.sum()) // 2, 1):.3f}"
    )
    sents = pl.read_parquet(root / "_world/sentences.parquet").filter(
        pl.col("label") != "boilerplate"
    )
    t = encode_texts(model, sents["text"].to_list())
    sims = t @ t.T
    np.fill_diagonal(sims, -1)
    nn = sims.max(axis=1)
    print(
        f"\nsentences: {len(nn)} distinct; nearest-neighbour cosine quantiles 50/90/99/max: "
        f"{np.quantile(nn, [0.5, 0.9, 0.99, 1]).round(4).tolist()}"
    )
    # a merged pair is right when both sentences state the same concepts (paraphrases);
    # narrative sentences state none and are never the same meaning as another
    concepts = [frozenset(c) for c in sents["concepts"].to_list()]
    print(" threshold  merged_distinct_share  pairs  same_meaning  largest_group")
    for thr in THRESHOLDS:
        i, j = np.nonzero(np.triu(sims >= thr, 1))
        right = sum(
            bool(concepts[a]) and concepts[a] == concepts[b] for a, b in zip(i, j, strict=True)
        )
        print(
            f" {thr:9.4f}  {float((nn >= thr).mean()):21.3f}  {len(i):5d}  "
            f"{right / max(len(i), 1):12.3f}  {largest_group(sims, thr):13d}"
        )


if __name__ == "__main__":
    main()
