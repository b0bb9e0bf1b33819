"""The two-level sentence codebook: the paper's ~2M sentence clusters without one process ever
holding every sentence.

1. **Sample** (map per shard, merge): a seeded bottom-k sample: each sentence's priority is a
   keyed hash of its id, each shard keeps its ``sample_size`` smallest, the merge keeps the
   smallest overall. The same as a reservoir sample drawn shard by shard, but independent of the
   order shards are read in, so any engine draws the same rows.
2. **Coarse** (one process, the sample only): spherical k-means (faiss) into
   ``ceil(sqrt(K))`` buckets, K = sentences / ``sentences_per_cluster``.
3. **Assign** (map per shard): each sentence to its nearest coarse centroid; the shard's rows
   are written sorted by bucket (:mod:`realsyn.bucket_io`), so a bucket reads only its slices.
4. **Fine** (map per bucket): :func:`realsyn.retrieval.fit_clusters` on the bucket's rows,
   ``sentences_per_cluster`` per cluster as the flat path; the pool is written per bucket
   (members sorted by cluster, vectors, fine centroids), never as one file.
5. **Codebook** (reduce): the coarse centroids, every fine centroid (K x d: the small state),
   and per bucket its first global cluster id and first global pool row. Global clusters and
   pool rows are numbered bucket by bucket, so the concatenated buckets are exactly the
   cluster-sorted pool the flat :func:`realsyn.retrieval.retrieve` reads (:func:`flat_pool`).

Memory: a shard task holds one shard, a bucket task one bucket, the driver the sample and the
centroids. Same seed, same shards: the same codebook on any engine.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

import numpy as np
import polars as pl

from realsyn.bucket_io import npy_bytes, npy_from_bytes, open_sorted, write_sorted
from realsyn.engine import Engine
from realsyn.retrieval import ClusterParams, SentenceClusters, assign_clusters, fit_clusters
from realsyn.storage import Storage, read_manifest, read_partition_file, write_partition


class ShardSource(Protocol):
    """Rows and unit vectors of one shard: a frame with ``id_column`` (plus columns carried into
    the pool, e.g. ``text``) and a (rows, d) array in the frame's order. Must pickle (Ray)."""

    id_column: str

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]: ...


@dataclass(frozen=True)
class StoredShards:
    """A ``ShardSource`` over plain partitions: ``table`` and the ``vectors`` npy file of
    ``asset``'s partition per shard (what the bench and tests write)."""

    store: Storage
    asset: str
    table: str = "members"
    vectors: str = "vectors.npy"
    id_column: str = "sentence_id"

    def load(self, shard: str) -> tuple[pl.DataFrame, np.ndarray]:
        from realsyn.storage import read_partition_table

        frame = read_partition_table(self.store, self.asset, shard, self.table)
        vectors = npy_from_bytes(read_partition_file(self.store, self.asset, shard, self.vectors))
        return frame, np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class CodebookParams:
    """``sentences_per_cluster`` (fine), ``coarse_clusters`` (None: one bucket up to
    ``flat_up_to`` sentences, so a corpus one worker can cluster gets exactly the flat path's
    clusters; above it ceil(sqrt(fine K))), ``sample_size`` rows the coarse level is trained on,
    k-means ``iterations`` and ``seed``; ``n_clusters``: a total number of fine clusters instead
    of ``sentences_per_cluster`` (exact with one bucket, as a share of rows per cluster else)."""

    sentences_per_cluster: int = 420
    coarse_clusters: int | None = None
    flat_up_to: int = 1_000_000
    n_clusters: int | None = None
    sample_size: int = 100_000
    iterations: int = 20
    max_points_per_centroid: int = 256
    seed: int = 0

    def coarse_for(self, n: int) -> int:
        if self.coarse_clusters is None and n <= self.flat_up_to:
            return 1  # one bucket: exactly the flat k-means (fit_clusters on every row)
        fine = max(1, math.ceil(n / self.sentences_per_cluster))
        return max(1, min(self.coarse_clusters or math.ceil(math.sqrt(fine)), n))

    def fine_params(self) -> ClusterParams:
        return ClusterParams(
            sentences_per_cluster=self.sentences_per_cluster,
            n_clusters=self.n_clusters,
            iterations=self.iterations,
            max_points_per_centroid=self.max_points_per_centroid,
            seed=self.seed,
        )


def priorities(ids: list[str], seed: int) -> np.ndarray:
    """A keyed 64-bit hash of each id: the sample's order (stable across runs and machines)."""
    key = seed.to_bytes(8, "little", signed=True)
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8, key=key).digest(), "little")
            for i in ids
        ],
        dtype=np.uint64,
    )


@dataclass
class Sample:
    priority: np.ndarray  # uint64, ascending
    ids: np.ndarray  # object
    vectors: np.ndarray
    rows: int  # rows seen (all shards merged so far)


def _smallest(sample: Sample, size: int) -> Sample:
    # stable: equal priorities (the same id twice) keep the merge order, which is shard order
    order = np.argsort(sample.priority, kind="stable")[:size]
    return Sample(sample.priority[order], sample.ids[order], sample.vectors[order], sample.rows)


def sample_shard(source: ShardSource, size: int, seed: int, shard: str) -> Sample:
    frame, vectors = source.load(shard)
    ids = frame[source.id_column].to_list()
    full = Sample(priorities(ids, seed), np.asarray(ids, dtype=object), vectors, len(ids))
    return _smallest(full, size)


def draw_sample(
    engine: Engine, source: ShardSource, shards: list[str], size: int, seed: int
) -> Sample:
    """The ``size`` rows of smallest priority over all shards, merged as results arrive."""
    merged: Sample | None = None
    for part in engine.map(partial(sample_shard, source, size, seed), shards):
        if merged is None:
            merged = part
            continue
        both = Sample(
            np.concatenate([merged.priority, part.priority]),
            np.concatenate([merged.ids, part.ids]),
            np.concatenate([merged.vectors, part.vectors]),
            merged.rows + part.rows,
        )
        merged = _smallest(both, size)
    if merged is None or merged.rows == 0:
        raise ValueError("no rows in any shard: nothing to cluster")
    return merged


def train_coarse(sample: np.ndarray, k: int, params: CodebookParams) -> np.ndarray:
    """(k, d) unit coarse centroids by spherical k-means on the sample."""
    if k == 1:  # every row in bucket 0, whatever the sample
        return np.ones((1, sample.shape[1]), dtype=np.float32) / np.sqrt(sample.shape[1])
    flat = replace(params.fine_params(), n_clusters=k)
    return fit_clusters(sample, flat).centroids


def assign_shard(
    source: ShardSource, store: Storage, asset: str, coarse: np.ndarray, shard: str
) -> np.ndarray:
    """Write the shard's rows (plus ``shard``, ``row``) sorted by nearest coarse centroid under
    ``asset``/shard; returns the rows per bucket."""
    frame, vectors = source.load(shard)
    buckets = assign_clusters(np.asarray(vectors, dtype=np.float32), coarse)
    frame = frame.with_columns(
        pl.lit(shard).alias("shard"), pl.int_range(pl.len(), dtype=pl.Int64).alias("row")
    )
    return write_sorted(
        store, asset, shard, frame, vectors.astype(np.float16), buckets, len(coarse)
    )


def assign_all(
    engine: Engine,
    source: ShardSource,
    shards: list[str],
    store: Storage,
    prefix: str,
    params: CodebookParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3: the coarse centroids, and each shard's rows written under ``<prefix>_assign``
    sorted by bucket; returns (coarse centroids, rows per (shard, bucket))."""
    shards = sorted(shards)
    sample = draw_sample(engine, source, shards, params.sample_size, params.seed)
    coarse = train_coarse(sample.vectors, params.coarse_for(sample.rows), params)
    assign = partial(assign_shard, source, store, f"{prefix}_assign", coarse)
    return coarse, np.stack(list(engine.map(assign, shards)))


def bucket_key(bucket: int) -> str:
    return f"bucket-{bucket:06d}"


@dataclass(frozen=True)
class FineTask:
    bucket: int
    shards: tuple[str, ...]  # shards with rows in this bucket, sorted
    cluster_base: int  # global id of the bucket's first fine cluster


def fine_bucket(
    store: Storage, prefix: str, params: CodebookParams, task: FineTask
) -> tuple[int, np.ndarray]:
    """Fine k-means of one bucket (rows gathered shard by shard, in shard order); writes the
    bucket's pool. Returns (rows, fine centroids)."""
    frames, blocks = [], []
    for shard in task.shards:
        with open_sorted(store, f"{prefix}_assign", shard) as part:
            frame, vectors = part.group(task.bucket)
        frames.append(frame)
        blocks.append(vectors)
    frame, x = pl.concat(frames), np.concatenate(blocks)
    clusters = fit_clusters(x, params.fine_params())
    frame = frame.with_columns(
        pl.Series("cluster", clusters.labels + task.cluster_base, dtype=pl.Int64)
    )
    write_sorted(
        store,
        f"{prefix}_pool",
        bucket_key(task.bucket),
        frame,
        x.astype(np.float16),
        clusters.labels,
        len(clusters.centroids),
        info={"bucket": int(task.bucket), "cluster_base": int(task.cluster_base)},
        files={"centroids.npy": npy_bytes(clusters.centroids.astype(np.float32))},
    )
    return len(x), clusters.centroids.astype(np.float32)


@dataclass
class Codebook:
    coarse: np.ndarray  # (C, d)
    fine: np.ndarray  # (K, d): every bucket's fine centroids, bucket by bucket
    bucket_rows: np.ndarray  # (C,)
    cluster_base: np.ndarray  # (C + 1,): bucket b owns clusters cluster_base[b]:cluster_base[b+1]
    row_base: np.ndarray  # (C + 1,): and pool rows row_base[b]:row_base[b+1]

    def bucket_of_cluster(self, clusters: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cluster_base, clusters, side="right") - 1


def holders(names, counts: np.ndarray, column: int) -> tuple:
    """The ``names`` (shards, ranges) whose row of ``counts`` has rows in ``column``: the inputs
    of one range's or bucket's task, in ``names``' order."""
    return tuple(n for n, c in zip(names, counts[:, column], strict=True) if c)


def build_codebook(
    engine: Engine,
    source: ShardSource,
    shards: list[str],
    store: Storage,
    prefix: str,
    params: CodebookParams,
) -> Codebook:
    """Sample, coarse, assign (per shard), fine (per bucket); writes ``<prefix>_assign`` per
    shard, ``<prefix>_pool`` per bucket and ``<prefix>_codebook``; returns the codebook."""
    shards = sorted(shards)
    coarse, counts = assign_all(engine, source, shards, store, prefix, params)
    rows = counts.sum(axis=0)
    if params.n_clusters and len(coarse) > 1:  # a total k: the same share of rows per cluster
        per = max(1, math.ceil(int(rows.sum()) / params.n_clusters))
        params = replace(params, n_clusters=None, sentences_per_cluster=per)
    k = np.array([params.fine_params().k_for(int(n)) if n else 0 for n in rows], dtype=np.int64)
    cluster_base = np.concatenate([[0], np.cumsum(k)])
    tasks = [
        FineTask(b, holders(shards, counts, b), int(base))
        for b, base in enumerate(cluster_base[:-1])
        if rows[b]
    ]
    fine = [c for _, c in engine.map(partial(fine_bucket, store, prefix, params), tasks)]
    book = Codebook(
        coarse,
        np.concatenate(fine) if fine else np.zeros((0, coarse.shape[1]), np.float32),
        rows,
        cluster_base,
        np.concatenate([[0], np.cumsum(rows)]),
    )
    write_codebook(store, prefix, book)
    return read_codebook(store, prefix)  # as stored: what the retrieval tasks read


def write_codebook(store: Storage, prefix: str, book: Codebook) -> None:
    write_partition(
        store,
        f"{prefix}_codebook",
        None,
        {},
        info={"buckets": len(book.coarse), "clusters": len(book.fine)},
        files={
            # float16 as every stored vector (the flat path's centroids.npy too)
            "coarse.npy": npy_bytes(book.coarse.astype(np.float16)),
            "fine.npy": npy_bytes(book.fine.astype(np.float16)),
            "bucket_rows.npy": npy_bytes(book.bucket_rows),
            "cluster_base.npy": npy_bytes(book.cluster_base),
            "row_base.npy": npy_bytes(book.row_base),
        },
    )


def read_codebook(store: Storage, prefix: str) -> Codebook:
    asset = f"{prefix}_codebook"
    read_manifest(store, asset, None)

    def load(name: str) -> np.ndarray:
        return npy_from_bytes(read_partition_file(store, asset, None, name))

    return Codebook(
        load("coarse.npy").astype(np.float32),
        load("fine.npy").astype(np.float32),
        load("bucket_rows.npy"),
        load("cluster_base.npy"),
        load("row_base.npy"),
    )


def flat_pool(
    store: Storage, prefix: str, book: Codebook
) -> tuple[SentenceClusters, np.ndarray, pl.DataFrame]:
    """The buckets concatenated as the flat path's cluster-sorted pool (tests, evaluation at
    small scale only: it holds every sentence)."""
    frames, blocks = [], []
    for b in np.nonzero(book.bucket_rows)[0]:
        with open_sorted(store, f"{prefix}_pool", bucket_key(int(b))) as part:
            frame, vectors = part.all()
        frames.append(frame)
        blocks.append(vectors)
    members, vectors = pl.concat(frames), np.concatenate(blocks)
    labels = members["cluster"].to_numpy()
    offsets = np.searchsorted(labels, np.arange(len(book.fine) + 1))
    return SentenceClusters(book.fine, labels, np.arange(len(labels)), offsets), vectors, members
