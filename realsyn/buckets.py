"""Retrieval co-partitioned with the bucketed pool (:mod:`realsyn.codebook`), and the streaming
word counts: corpus-wide steps as map tasks plus a small reduce.

Retrieval is :func:`realsyn.retrieval.retrieve` in three rounds, with the same result when run on
the same codebook (:func:`realsyn.codebook.flat_pool`; the tests compare them):

1. **Route** (map per image shard): each image's ``clusters_searched`` nearest fine centroids;
   the (image, cluster) pairs are written sorted by the bucket that owns the cluster.
2. **Score** (map per bucket): the bucket's pool is read once; its pairs from every shard are
   sorted by cluster and scored with one matrix product per cluster (as ``retrieve``); each
   pair keeps its top-k (global pool row, cosine), written sorted by image shard.
3. **Merge** (map per image shard): its pairs' lists from the buckets it touched are merged
   into the top-k per image (ties: the lower pool row, as ``retrieve``).

No task reads the whole pool: a bucket task holds one bucket and its pairs, a shard task one
shard's images and their pairs' lists; the driver holds per (shard, bucket) pair counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl

from realsyn.bucket_io import npy_bytes, npy_from_bytes, open_sorted, write_sorted
from realsyn.codebook import Codebook, ShardSource, bucket_key, read_codebook
from realsyn.engine import Engine
from realsyn.retrieval import (
    RetrievalParams,
    RetrievalResult,
    _top_k_columns,
    _top_k_rows,
    nearest_centroids,
)
from realsyn.semantic import word_probabilities


def nearest_fine(
    vectors: np.ndarray, book: Codebook, c: int, probe: int | None = None
) -> np.ndarray:
    """(m, c) nearest fine centroids, nearest first (ties: lower id). ``probe=None`` (or at least
    the buckets): exact over every fine centroid, as :func:`realsyn.retrieval.retrieve`. Else
    only the fine centroids of each image's ``probe`` nearest coarse buckets: cost per image
    ``C + probe * K / C`` instead of ``K`` (at the paper's ~2M clusters, ~4k products instead of
    2M, and no index over every centroid to build)."""
    c = min(c, len(book.fine))
    if probe is None or probe >= len(book.coarse) or not len(vectors):
        return nearest_centroids(vectors, book.fine, c)
    coarse = nearest_centroids(vectors, book.coarse, probe)
    m, probe = coarse.shape
    order, groups = _by_cluster(coarse.ravel())
    cand_i = np.full((m * probe, c), -1, dtype=np.int64)
    cand_s = np.full((m * probe, c), -np.inf, dtype=np.float32)
    for b, a, e in groups:
        lo, hi = int(book.cluster_base[b]), int(book.cluster_base[b + 1])
        if hi == lo:
            continue
        at = order[a:e]
        sims = vectors[at // probe] @ np.asarray(book.fine[lo:hi], dtype=np.float32).T
        kk = min(c, hi - lo)
        part = _top_k_columns(sims, kk)
        cand_i[at, :kk] = part + lo
        cand_s[at, :kk] = np.take_along_axis(sims, part, 1)
    return _top_k_rows(cand_i.reshape(m, probe * c), cand_s.reshape(m, probe * c), c)[0]


def route_shard(
    images: ShardSource,
    store,
    prefix: str,
    work: str,
    clusters_searched: int,
    probe: int | None,
    shard: str,
) -> np.ndarray:
    """Round 1 for one image shard (pool ``prefix``, routes under ``<work>_routes``); returns its
    pairs per bucket."""
    book = read_codebook(store, prefix)
    _frame, vectors = images.load(shard)
    vectors = np.asarray(vectors, dtype=np.float32)
    m = len(vectors)
    near = (
        nearest_fine(vectors, book, clusters_searched, probe)
        if m
        else np.zeros((0, min(clusters_searched, len(book.fine))), dtype=np.int64)
    )
    width = near.shape[1]
    pair = np.arange(m * width, dtype=np.int64)
    cluster = near.ravel()
    return write_sorted(
        store,
        f"{work}_routes",
        shard,
        pl.DataFrame(
            {"pair": pair, "cluster": cluster}, schema={"pair": pl.Int64, "cluster": pl.Int64}
        ),
        vectors[pair // max(width, 1)],
        book.bucket_of_cluster(cluster),
        len(book.coarse),
        info={"images": m, "width": width},
        files={"nearest.npy": npy_bytes(near[:, 0] if width else np.zeros(0, np.int64))},
    )


@dataclass(frozen=True)
class ScoreTask:
    bucket: int
    shards: tuple[tuple[int, str], ...]  # (shard index, shard) with pairs in this bucket
    row_base: int  # global pool row of the bucket's first sentence


def score_bucket(
    store, prefix: str, work: str, top_k: int, carry: tuple[str, ...], task: ScoreTask
) -> int:
    """Round 2 for one bucket; returns the pairs scored."""
    with open_sorted(store, f"{prefix}_pool", bucket_key(task.bucket)) as pool:
        members, sentences = pool.all()
        offsets, base = pool.offsets, int(pool.info["cluster_base"])
    frames, blocks = [], []
    for index, shard in task.shards:
        with open_sorted(store, f"{work}_routes", shard) as routes:
            frame, vectors = routes.group(task.bucket)
        frames.append(frame.with_columns(pl.lit(index, dtype=pl.Int64).alias("shard_index")))
        blocks.append(vectors)
    pairs, images = pl.concat(frames), np.concatenate(blocks)
    order, cluster = _by_cluster(pairs["cluster"].to_numpy() - base)
    out: dict[str, list[np.ndarray]] = {"at": [], "slot": [], "row": [], "score": [], "n": []}
    for cl, a, b in cluster:
        lo, hi = int(offsets[cl]), int(offsets[cl + 1])
        if hi == lo:
            continue
        at = order[a:b]
        sims = images[at] @ sentences[lo:hi].T  # one product per cluster, as retrieve
        kk = min(top_k, hi - lo)
        part = _top_k_columns(sims, kk)
        out["at"].append(np.repeat(at, kk))
        out["slot"].append(np.tile(np.arange(kk), len(at)))
        out["row"].append((part + lo).ravel())
        out["score"].append(np.take_along_axis(sims, part, 1).ravel().astype(np.float32))
        out["n"].append(np.full(len(at) * kk, hi - lo))
    cols = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}
    at = cols["at"].astype(np.int64)
    local = cols["row"].astype(np.int64)
    hits = pl.DataFrame(
        {
            "shard_index": pairs["shard_index"].to_numpy()[at],
            "pair": pairs["pair"].to_numpy()[at],
            "slot": cols["slot"].astype(np.int64),
            "row": local + task.row_base,
            "score": cols["score"].astype(np.float32),
            "n": cols["n"].astype(np.int64),
        }
    )
    if carry:
        hits = pl.concat([hits, members.select(list(carry))[local]], how="horizontal")
    write_sorted(
        store,
        f"{work}_hits",
        bucket_key(task.bucket),
        hits,
        np.zeros((hits.height, 0), np.float16),
        hits["shard_index"].to_numpy(),
        int(pairs["shard_index"].max()) + 1 if pairs.height else 1,
    )
    return pairs.height


def _by_cluster(cluster: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    order = np.argsort(cluster, kind="stable")
    todo, starts = np.unique(cluster[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    return order, list(zip(todo.tolist(), starts.tolist(), ends.tolist(), strict=True))


@dataclass(frozen=True)
class MergeTask:
    index: int
    shard: str
    buckets: tuple[int, ...]  # buckets holding this shard's pairs


@dataclass
class ShardRetrieval:
    shard: str
    result: RetrievalResult  # indices: global pool rows
    sentences: pl.DataFrame  # row + the carried columns of every row in result.indices


def merge_shard(store, work: str, top_k: int, carry: tuple[str, ...], task: MergeTask):
    """Round 3 for one image shard."""
    with open_sorted(store, f"{work}_routes", task.shard, extra=("nearest.npy",)) as routes:
        m, width = int(routes.info["images"]), int(routes.info["width"])
        nearest = npy_from_bytes(routes.files["nearest.npy"])
    pair_i = np.full((m * width, top_k), -1, dtype=np.int64)
    pair_s = np.full((m * width, top_k), -np.inf, dtype=np.float32)
    pair_n = np.zeros(m * width, dtype=np.int64)
    found = []
    for bucket in task.buckets:
        with open_sorted(store, f"{work}_hits", bucket_key(bucket)) as hits:
            frame = hits.group(task.index)[0] if task.index < len(hits.offsets) - 1 else None
        if frame is None or not frame.height:
            continue
        pair, slot = frame["pair"].to_numpy(), frame["slot"].to_numpy()
        pair_i[pair, slot] = frame["row"].to_numpy()
        pair_s[pair, slot] = frame["score"].to_numpy()
        pair_n[pair] = frame["n"].to_numpy()
        found.append(frame.select("row", *carry))
    cols = width * top_k
    best_i, best_s = _top_k_rows(pair_i.reshape(m, cols), pair_s.reshape(m, cols), top_k)
    candidates = pair_n.reshape(m, width).sum(axis=1)
    used = set(best_i[best_i >= 0].tolist())
    sentences = (
        pl.concat(found).unique("row").filter(pl.col("row").is_in(list(used))).sort("row")
        if found
        else pl.DataFrame(  # a shard with no images (or no hits): no rows, same columns
            schema={"row": pl.Int64, **{c: pl.String for c in carry}}
        )
    )
    result = RetrievalResult(best_i, best_s, nearest.astype(np.int64), candidates)
    return ShardRetrieval(task.shard, result, sentences)


def retrieve_bucketed(
    engine: Engine,
    images: ShardSource,
    shards: list[str],
    store,
    prefix: str,
    params: RetrievalParams,
    carry: tuple[str, ...] = ("sentence_id",),
    probe: int | None = None,
    work: str | None = None,
) -> Iterator[ShardRetrieval]:
    """Top-k pool sentences per image of each shard (shards in sorted order), the three rounds
    on ``engine``; ``carry``: pool columns returned with the rows found; ``probe``: coarse
    buckets searched for the nearest fine centroids (None: all, exactly as ``retrieve``);
    ``work``: where the routes and hits go (default: beside the pool)."""
    shards, work = sorted(shards), work or prefix
    book: Codebook = read_codebook(store, prefix)
    route = partial(route_shard, images, store, prefix, work, params.clusters_searched, probe)
    counts = np.stack(list(engine.map(route, shards)))  # (shards, C) pairs
    tasks = [
        ScoreTask(
            b, tuple((i, shards[i]) for i in np.nonzero(counts[:, b])[0]), int(book.row_base[b])
        )
        for b in np.nonzero(counts.sum(axis=0))[0].tolist()
    ]
    for _ in engine.map(partial(score_bucket, store, prefix, work, params.top_k, carry), tasks):
        pass
    merges = [
        MergeTask(i, s, tuple(np.nonzero(counts[i])[0].tolist())) for i, s in enumerate(shards)
    ]
    yield from engine.map(partial(merge_shard, store, work, params.top_k, carry), merges)


def compact(found: ShardRetrieval, column: str) -> tuple[RetrievalResult, list]:
    """The result re-indexed into its own rows' ``column`` values (for
    :func:`realsyn.retrieval.pairs_report`: indices into a small list, not the whole pool)."""
    rows = found.sentences["row"].to_numpy()
    idx = found.result.indices
    local = np.where(idx >= 0, np.searchsorted(rows, np.maximum(idx, 0)), -1)
    r = found.result
    return RetrievalResult(local, r.scores, r.cluster, r.candidates), found.sentences[
        column
    ].to_list()


def _word_keys(table: pl.DataFrame) -> list[str]:
    """The key of a word count: ``(lang, word)`` when counted per language (Japanese words are
    morphemes, counted apart from English words; ``realsyn.language``), else ``word``."""
    return ["lang", "word"] if "lang" in table.columns else ["word"]


def count_shard(load, shard: str) -> pl.DataFrame:
    """(word, count) of one shard, summed (a shard's own table may repeat words); per language
    (lang, word, count) when the shard's table has ``lang``."""
    table = load(shard)
    return table.group_by(_word_keys(table)).agg(pl.col("count").sum())


def sum_word_counts(engine: Engine, load, shards: list[str]) -> pl.DataFrame:
    """``word_frequencies``' table as a streaming sum: each shard's (word, count) is added to
    the running vocabulary as it arrives, so memory is the vocabulary plus one shard's counts.
    ``load(shard)`` returns the shard's (word, count) frame, or (lang, word, count) (then p is
    within each language, as ``realsyn.semantic.entropy_scores`` reads it; it must pickle for
    Ray)."""
    total: pl.DataFrame | None = None
    for part in engine.map(partial(count_shard, load), sorted(shards)):
        if total is None:
            total = part
        else:
            total = pl.concat([total, part]).group_by(_word_keys(part)).agg(pl.col("count").sum())
    if total is None:
        raise ValueError("no shard to count words in")
    keys = _word_keys(total)
    return word_probabilities(total).sort(["count", *keys], descending=[True, *[False] * len(keys)])
