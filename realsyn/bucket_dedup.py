"""Sentence de-duplication without one process holding every sentence: exact duplicates by
hash range, semantic ones within coarse buckets, one union-find reduce over the found edges.

1. **Keys** (map per shard): each sentence's normalised key (:func:`realsyn.text_dedup.norm_key`);
   rows written sorted by the key's hash range.
2. **Exact** (map per range): all copies of a normalised text share a range, so each range finds
   its texts' smallest ``sentence_id`` (the exact representative) alone.
3. **Semantic** (map per coarse bucket, the rows :func:`realsyn.codebook.assign_all` sorted by
   bucket): one sentence per normalised text of the bucket, searched with the bounded
   :func:`realsyn.semantic_dedup.cosine_pairs`; the links come back as (key, key) edges.
4. **Reduce**: the connected components of the edges (small: near duplicates only), each
   component's survivor the smallest exact representative of its keys (looked up per range).
5. **Survival** (map per range): one row per sentence, as :func:`realsyn.text_dedup.dedup_sentences`.

Given the same semantic pairs the survivors, ``duplicate_of`` and reasons are exactly
``dedup_sentences``' (tested). Pairs whose two sentences fell in different coarse buckets are
not searched: that loss is the price of bounded memory and is measured by ``bench/scale.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl

from realsyn.bucket_io import open_sorted, write_sorted
from realsyn.codebook import ShardSource
from realsyn.engine import Engine
from realsyn.schemas import SENTENCE_DEDUP_SCHEMA
from realsyn.semantic_dedup import NEIGHBOURS, components, cosine_pairs
from realsyn.storage import PartitionNotFound, Storage, read_partition_table, write_partition
from realsyn.text_dedup import norm_key, normalized_keys


@dataclass(frozen=True)
class BucketDedupParams:
    """``ranges`` of the normalised-key hash (exact step's parallelism), the semantic
    ``threshold`` (None: exact only) and the ``neighbours`` linked per sentence."""

    ranges: int = 16
    threshold: float | None = None
    neighbours: int = NEIGHBOURS


def range_key(r: int) -> str:
    return f"range-{r:05d}"


def _range_of(keys: pl.Series, ranges: int) -> np.ndarray:
    top = keys.str.slice(0, 8).str.to_integer(base=16).to_numpy().astype(np.uint64)
    return ((top * np.uint64(ranges)) >> np.uint64(32)).astype(np.int64)


def key_shard(source: ShardSource, store: Storage, prefix: str, ranges: int, shard: str):
    frame, _ = source.load(shard)
    keyed = normalized_keys(frame.select("sentence_id", "text").with_columns(shard=pl.lit(shard)))
    groups = _range_of(keyed["norm_key"], ranges)
    empty = np.zeros((keyed.height, 0), np.float16)
    return write_sorted(store, f"{prefix}_keys", shard, keyed, empty, groups, ranges)


def exact_range(store: Storage, prefix: str, task: tuple[int, tuple[str, ...]]) -> int:
    r, shards = task
    frames = []
    for shard in shards:
        with open_sorted(store, f"{prefix}_keys", shard) as part:
            frames.append(part.group(r)[0])
    rows = pl.concat(frames).with_columns(
        pl.col("sentence_id").min().over("norm_key").alias("exact_rep")
    )
    write_partition(store, f"{prefix}_exact", range_key(r), {"rows": rows.sort("sentence_id")})
    return rows.height


def semantic_bucket(
    store: Storage, prefix: str, params: BucketDedupParams, task: tuple[int, tuple[str, ...]]
) -> pl.DataFrame:
    """Edges (id_a, id_b, key_a, key_b, cosine) among one bucket's distinct normalised texts."""
    bucket, shards = task
    frames, blocks = [], []
    for shard in shards:
        with open_sorted(store, f"{prefix}_assign", shard) as part:
            frame, vectors = part.group(bucket)
        frames.append(frame.select("sentence_id", "text"))
        blocks.append(vectors)
    frame = pl.concat(frames).with_columns(
        pl.col("text").map_elements(norm_key, return_dtype=pl.String).alias("norm_key"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("i"),
    )
    reps = frame.sort("sentence_id").group_by("norm_key", maintain_order=True).first().sort("i")
    found = cosine_pairs(
        np.concatenate(blocks)[reps["i"].to_numpy()], params.threshold, params.neighbours
    )
    a, b = found[:, 0].astype(np.int64), found[:, 1].astype(np.int64)
    return pl.DataFrame(
        {
            "id_a": reps["sentence_id"].gather(a),
            "id_b": reps["sentence_id"].gather(b),
            "key_a": reps["norm_key"].gather(a),
            "key_b": reps["norm_key"].gather(b),
            "cosine": found[:, 2],
        },
        schema={
            "id_a": pl.String,
            "id_b": pl.String,
            "key_a": pl.String,
            "key_b": pl.String,
            "cosine": pl.Float64,
        },
    )


def range_reps(store: Storage, prefix: str, task: tuple[int, tuple[str, ...]]) -> pl.DataFrame:
    r, keys = task
    rows = read_partition_table(store, f"{prefix}_exact", range_key(r), "rows")
    return (
        rows.filter(pl.col("norm_key").is_in(list(keys)))
        .group_by("norm_key")
        .agg(pl.col("exact_rep").first())
    )


def survival_range(store: Storage, prefix: str, task: tuple[int, pl.DataFrame]) -> dict[str, int]:
    """Step 5 for one range; ``task``'s frame maps norm_key -> (survivor, survivor_key) for the
    keys of semantic components (every other key's survivor is its exact representative)."""
    r, merged = task
    rows = read_partition_table(store, f"{prefix}_exact", range_key(r), "rows")
    out = (
        rows.join(merged, on="norm_key", how="left")
        .with_columns(
            pl.coalesce("survivor", "exact_rep").alias("survivor"),
            pl.coalesce("survivor_key", "norm_key").alias("survivor_key"),
        )
        .with_columns((pl.col("sentence_id") == pl.col("survivor")).alias("survives"))
        .with_columns(
            pl.when(pl.col("survives"))
            .then(None)
            .otherwise(pl.col("survivor"))
            .alias("duplicate_of"),
            pl.when(pl.col("survives"))
            .then(None)
            .when(pl.col("norm_key") == pl.col("survivor_key"))
            .then(pl.lit("exact_dup"))
            .otherwise(pl.lit("semantic_dup"))
            .alias("reason"),
        )
        .select(list(SENTENCE_DEDUP_SCHEMA))
        .cast(SENTENCE_DEDUP_SCHEMA)
        .sort("sentence_id")
    )
    write_partition(store, f"{prefix}_survival", range_key(r), {"survival": out})
    reasons = out["reason"]
    return {
        "total": out.height,
        "exact_dup": int((reasons == "exact_dup").sum()),
        "semantic_dup": int((reasons == "semantic_dup").sum()),
        "survivors": int(out["survives"].sum()),
    }


def _components(edges: pl.DataFrame) -> pl.DataFrame:
    """(norm_key, comp) for every key of an edge."""
    keys = pl.concat([edges["key_a"], edges["key_b"]]).unique().sort()
    pos = pl.DataFrame({"norm_key": keys, "k": np.arange(len(keys))})
    a = edges.select(norm_key="key_a").join(pos, on="norm_key", maintain_order="left")["k"]
    b = edges.select(norm_key="key_b").join(pos, on="norm_key", maintain_order="left")["k"]
    label = components(len(keys), np.stack([a.to_numpy(), b.to_numpy()], axis=1))
    return pos.select("norm_key", pl.Series("comp", label))


def dedup_bucketed(
    engine: Engine,
    source: ShardSource,
    shards: list[str],
    store: Storage,
    prefix: str,
    params: BucketDedupParams,
    assign_counts: np.ndarray | None = None,
) -> tuple[dict[str, int], pl.DataFrame]:
    """Survival rows written per range under ``<prefix>_survival``; returns the summed stats and
    the semantic edges. ``assign_counts``: rows per (shard, bucket) of ``<prefix>_assign``
    (:func:`realsyn.codebook.assign_all`), needed when ``params.threshold`` is set."""
    shards = sorted(shards)
    counts = np.stack(
        list(engine.map(partial(key_shard, source, store, prefix, params.ranges), shards))
    )
    tasks = [
        (r, tuple(s for s, c in zip(shards, counts[:, r], strict=True) if c))
        for r in range(params.ranges)
    ]
    tasks = [t for t in tasks if t[1]]
    list(engine.map(partial(exact_range, store, prefix), tasks))
    edges = pl.DataFrame(
        schema={
            "id_a": pl.String,
            "id_b": pl.String,
            "key_a": pl.String,
            "key_b": pl.String,
            "cosine": pl.Float64,
        }
    )
    if params.threshold is not None:
        if assign_counts is None:
            raise ValueError("a semantic threshold needs the rows assigned to buckets (assign_all)")
        buckets = [
            (b, tuple(s for s, c in zip(shards, assign_counts[:, b], strict=True) if c))
            for b in np.nonzero(assign_counts.sum(axis=0))[0].tolist()
        ]
        edges = pl.concat(
            [edges, *engine.map(partial(semantic_bucket, store, prefix, params), buckets)]
        )
    merged = pl.DataFrame(
        schema={"norm_key": pl.String, "survivor": pl.String, "survivor_key": pl.String}
    )
    if edges.height:
        comp = _components(edges)
        comp = comp.with_columns(pl.Series("r", _range_of(comp["norm_key"], params.ranges)))
        asks = [
            (r, tuple(g["norm_key"].to_list()))
            for (r,), g in comp.group_by("r", maintain_order=True)
        ]
        reps = pl.concat(engine.map(partial(range_reps, store, prefix), asks))
        comp = comp.join(reps, on="norm_key")
        best = comp.sort("exact_rep").group_by("comp", maintain_order=True).first()
        merged = comp.join(
            best.select("comp", survivor="exact_rep", survivor_key="norm_key"), on="comp"
        ).select("norm_key", "survivor", "survivor_key")
    by_range = merged.with_columns(pl.Series("r", _range_of(merged["norm_key"], params.ranges)))
    todo = [(r, by_range.filter(pl.col("r") == r).drop("r")) for r, _ in tasks]
    stats: dict[str, int] = {}
    for part in engine.map(partial(survival_range, store, prefix), todo):
        for k, v in part.items():
            stats[k] = stats.get(k, 0) + v
    stats["semantic_pairs"] = edges.height
    return stats, edges


def read_survival(store: Storage, prefix: str, ranges: int) -> pl.DataFrame:
    """Every range's survival rows, by ``sentence_id`` (tests and small corpora only)."""
    frames = []
    for r in range(ranges):
        try:
            frames.append(
                read_partition_table(store, f"{prefix}_survival", range_key(r), "survival")
            )
        except PartitionNotFound:  # no sentence hashed to this range
            continue
    return pl.concat(frames).sort("sentence_id")
