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
5. **Survival** (map per range): one row per sentence, as :func:`realsyn.text_dedup.dedup_sentences`,
   written sorted by shard, so a shard's consumer reads its slice of each range
   (:func:`shard_survival`), never the whole table. Each range also returns what the caller's
   summary needs (counts, group sizes, the first duplicates, an optional check of its rows), so
   no step holds every row.

Given the same semantic pairs the survivors, ``duplicate_of`` and reasons are exactly
``dedup_sentences``' (tested). Pairs whose two sentences fell in different coarse buckets are
not searched: that loss is the price of bounded memory and is measured by ``bench/scale.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from realsyn.bucket_io import open_sorted, write_sorted
from realsyn.codebook import ShardSource, holders
from realsyn.engine import Engine
from realsyn.schemas import SENTENCE_DEDUP_SCHEMA
from realsyn.semantic_dedup import NEIGHBOURS, components, cosine_pairs, crowded
from realsyn.storage import (
    PartitionNotFound,
    Storage,
    read_manifest,
    read_partition_table,
    write_partition,
)
from realsyn.text_dedup import norm_key, normalized_keys


@dataclass(frozen=True)
class BucketDedupParams:
    """``ranges`` of the normalised-key hash (exact step's parallelism), the semantic
    ``threshold`` (None: exact only) and the ``neighbours`` linked per sentence."""

    ranges: int = 16
    threshold: float | None = None
    neighbours: int = NEIGHBOURS


EDGE_SCHEMA = {
    "id_a": pl.String,
    "id_b": pl.String,
    "key_a": pl.String,
    "key_b": pl.String,
    "cosine": pl.Float64,
}
MERGED_SCHEMA = {
    "norm_key": pl.String,
    "survivor": pl.String,
    "survivor_key": pl.String,
    "survivor_shard": pl.String,
}
GROUP_CAP = 20  # group sizes are summarised as counts of 1..GROUP_CAP (the last: GROUP_CAP+)
PREVIEW = 8  # duplicates returned per range for the caller's preview (the smallest ids)


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


def exact_range(store: Storage, prefix: str, task: tuple[int, tuple[str, ...]]) -> tuple[int, int]:
    """Step 2 for one range; returns (rows, distinct normalised texts)."""
    r, shards = task
    frames = []
    for shard in shards:
        with open_sorted(store, f"{prefix}_keys", shard) as part:
            frames.append(part.group(r)[0])
    rows = pl.concat(frames).with_columns(
        pl.col("sentence_id").min().over("norm_key").alias("exact_rep")
    )
    write_partition(store, f"{prefix}_exact", range_key(r), {"rows": rows.sort("sentence_id")})
    return rows.height, rows["norm_key"].n_unique()


def semantic_bucket(
    store: Storage, prefix: str, params: BucketDedupParams, task: tuple[int, tuple[str, ...]]
) -> tuple[pl.DataFrame, int]:
    """Edges (id_a, id_b, key_a, key_b, cosine) among one bucket's distinct normalised texts,
    and how many texts were searched."""
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
    # one row per normalised text (its smallest id), in id order: the row order of the
    # single-process search, so one bucket searches exactly its matrix
    reps = frame.sort("sentence_id").group_by("norm_key", maintain_order=True).first()
    found = cosine_pairs(
        np.concatenate(blocks)[reps["i"].to_numpy()], params.threshold, params.neighbours
    )
    a, b = found[:, 0].astype(np.int64), found[:, 1].astype(np.int64)
    edges = pl.DataFrame(
        {
            "id_a": reps["sentence_id"].gather(a),
            "id_b": reps["sentence_id"].gather(b),
            "key_a": reps["norm_key"].gather(a),
            "key_b": reps["norm_key"].gather(b),
            "cosine": found[:, 2],
        },
        schema=EDGE_SCHEMA,
    )
    return edges, reps.height


def range_reps(store: Storage, prefix: str, task: tuple[int, tuple[str, ...]]) -> pl.DataFrame:
    """(norm_key, exact_rep, rep_shard) of the asked keys of one range."""
    r, keys = task
    rows = read_partition_table(store, f"{prefix}_exact", range_key(r), "rows")
    return (
        rows.filter(pl.col("norm_key").is_in(list(keys)))
        .filter(pl.col("sentence_id") == pl.col("exact_rep"))
        .select("norm_key", "exact_rep", rep_shard="shard")
        .unique("norm_key", keep="first", maintain_order=True)
    )


@dataclass
class RangeSummary:
    """What one range's survival task returns: small whatever the range holds."""

    range: int
    version: str  # of its survival partition
    stats: dict[str, int]  # total, exact_dup, semantic_dup, survivors
    sizes: np.ndarray  # groups wholly in this range by size (index GROUP_CAP: that or more)
    partial_sizes: pl.DataFrame  # (survivor, len): rows of semantic groups (may span ranges)
    preview: pl.DataFrame  # its first PREVIEW duplicates: sentence_id, shard, duplicate_of,
    # reason, kept_shard (the survivor's shard)
    checked: Any = None  # check(rows, survivors of other ranges named here), when given


def survival_range(
    store: Storage,
    prefix: str,
    shards: tuple[str, ...],
    check: Callable[[pl.DataFrame, pl.Series], Any] | None,
    task: tuple[int, pl.DataFrame],
) -> RangeSummary:
    """Step 5 for one range; ``task``'s frame maps norm_key -> (survivor, survivor_key) for the
    keys of semantic components (every other key's survivor is its exact representative). The
    rows are written sorted by their shard's index in ``shards``."""
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
    index = pl.DataFrame({"shard": list(shards), "g": np.arange(len(shards), dtype=np.int64)})
    groups = out.select("shard").join(index, on="shard", how="left", maintain_order="left")["g"]
    if groups.null_count():
        raise ValueError(f"range {r}: rows of a shard not in the shard list")
    empty = np.zeros((out.height, 0), np.float16)
    write_sorted(
        store, f"{prefix}_survival", range_key(r), out, empty, groups.to_numpy(), len(shards)
    )
    version = read_manifest(store, f"{prefix}_survival", range_key(r))["version"]
    reasons = out["reason"]
    semantic = merged["survivor"].unique()
    group_rows = out.group_by(pl.coalesce("duplicate_of", "sentence_id").alias("survivor")).len()
    spans = group_rows["survivor"].is_in(semantic.implode())
    whole = np.minimum(group_rows.filter(~spans)["len"].to_numpy(), GROUP_CAP)
    return RangeSummary(
        r,
        version,
        {
            "total": out.height,
            "exact_dup": int((reasons == "exact_dup").sum()),
            "semantic_dup": int((reasons == "semantic_dup").sum()),
            "survivors": int(out["survives"].sum()),
        },
        np.bincount(whole.astype(np.int64), minlength=GROUP_CAP + 1),
        group_rows.filter(spans),
        _preview(out, merged),
        check(out, semantic) if check is not None else None,
    )


def _preview(out: pl.DataFrame, merged: pl.DataFrame) -> pl.DataFrame:
    """The first PREVIEW duplicates of a range's rows, with their survivor's shard (a row of
    this range for an exact duplicate, ``merged``'s for a semantic one)."""
    where = pl.concat(
        [
            out.select(duplicate_of="sentence_id", kept_shard="shard"),
            merged.select(duplicate_of="survivor", kept_shard="survivor_shard"),
        ]
    ).unique("duplicate_of", keep="first")
    return (
        out.filter(pl.col("duplicate_of").is_not_null())
        .head(PREVIEW)
        .select("sentence_id", "shard", "duplicate_of", "reason")
        .join(where, on="duplicate_of", how="left", maintain_order="left")
    )


def _components(edges: pl.DataFrame) -> pl.DataFrame:
    """(norm_key, comp) for every key of an edge."""
    keys = pl.concat([edges["key_a"], edges["key_b"]]).unique().sort()
    pos = pl.DataFrame({"norm_key": keys, "k": np.arange(len(keys))})
    a = edges.select(norm_key="key_a").join(pos, on="norm_key", maintain_order="left")["k"]
    b = edges.select(norm_key="key_b").join(pos, on="norm_key", maintain_order="left")["k"]
    label = components(len(keys), np.stack([a.to_numpy(), b.to_numpy()], axis=1))
    return pos.select("norm_key", pl.Series("comp", label))


@dataclass
class FoundDuplicates:
    """Steps 1-3's result: the ranges with rows and the shards in them, the semantic edges,
    the distinct normalised texts and the texts searched semantically."""

    shards: list[str]
    tasks: list[tuple[int, tuple[str, ...]]]
    edges: pl.DataFrame
    distinct: int
    searched: int


def find_duplicates(
    engine: Engine,
    source: ShardSource,
    shards: list[str],
    store: Storage,
    prefix: str,
    params: BucketDedupParams,
    assign_counts: np.ndarray | None = None,
    assigned: list[str] | None = None,
) -> FoundDuplicates:
    """Steps 1-3: keys per shard, exact representatives per range, and (with a threshold) the
    semantic edges per coarse bucket of ``<prefix>_assign``; ``assign_counts``: its rows per
    (shard, bucket) (:func:`realsyn.codebook.assign_all`) of the ``assigned`` shards (default:
    ``shards``; e.g. only those with vectors)."""
    shards = sorted(shards)
    assigned = sorted(assigned) if assigned is not None else shards
    counts = np.stack(
        list(engine.map(partial(key_shard, source, store, prefix, params.ranges), shards))
    )
    tasks = [(r, holders(shards, counts, r)) for r in range(params.ranges)]
    tasks = [t for t in tasks if t[1]]
    distinct = sum(k for _, k in engine.map(partial(exact_range, store, prefix), tasks))
    edges, searched = pl.DataFrame(schema=EDGE_SCHEMA), 0
    if params.threshold is not None:
        if assign_counts is None:
            raise ValueError("a semantic threshold needs the rows assigned to buckets (assign_all)")
        buckets = [
            (b, holders(assigned, assign_counts, b))
            for b in np.nonzero(assign_counts.sum(axis=0))[0].tolist()
        ]
        found = list(engine.map(partial(semantic_bucket, store, prefix, params), buckets))
        edges = pl.concat([edges, *(e for e, _ in found)])
        searched = sum(n for _, n in found)
    return FoundDuplicates(shards, tasks, edges, distinct, searched)


@dataclass
class DedupSummary:
    stats: dict[str, int]  # total, exact_dup, semantic_dup, survivors, semantic_pairs
    ranges: pl.DataFrame  # (range, version) of each survival partition written
    group_sizes: np.ndarray  # duplicate groups by size (index GROUP_CAP: that or more)
    preview: pl.DataFrame  # the PREVIEW duplicates of smallest sentence_id
    checked: list  # each range's check result, in range order


def crowded_edges(edges: pl.DataFrame, n: int) -> int:
    """:func:`realsyn.semantic_dedup.crowded` of the edges' key groups among ``n`` texts."""
    if not edges.height:
        return 0
    comp = _components(edges)
    pos = comp.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("k"))
    a = edges.select(norm_key="key_a").join(pos, on="norm_key", maintain_order="left")["k"]
    b = edges.select(norm_key="key_b").join(pos, on="norm_key", maintain_order="left")["k"]
    return crowded(max(n, pos.height), np.stack([a, b, edges["cosine"]], axis=1).astype(float))


def merge_edges(
    engine: Engine, store: Storage, prefix: str, params: BucketDedupParams, edges: pl.DataFrame
) -> pl.DataFrame:
    """Step 4: (norm_key, survivor, survivor_key) of every key of a semantic component."""
    if not edges.height:
        return pl.DataFrame(schema=MERGED_SCHEMA)
    comp = _components(edges)
    comp = comp.with_columns(pl.Series("r", _range_of(comp["norm_key"], params.ranges)))
    asks = [
        (r, tuple(g["norm_key"].to_list())) for (r,), g in comp.group_by("r", maintain_order=True)
    ]
    reps = pl.concat(engine.map(partial(range_reps, store, prefix), asks))
    comp = comp.join(reps, on="norm_key")
    best = comp.sort("exact_rep").group_by("comp", maintain_order=True).first()
    return comp.join(
        best.select(
            "comp", survivor="exact_rep", survivor_key="norm_key", survivor_shard="rep_shard"
        ),
        on="comp",
    ).select(list(MERGED_SCHEMA))


def write_survival(
    engine: Engine,
    store: Storage,
    prefix: str,
    params: BucketDedupParams,
    found: FoundDuplicates,
    edges: pl.DataFrame,
    check: Callable[[pl.DataFrame, pl.Series], Any] | None = None,
) -> DedupSummary:
    """Steps 4-5 with ``edges`` (``found.edges`` or a subset: none when semantic dedup is
    refused); ``check``: run by each range task on its rows."""
    merged = merge_edges(engine, store, prefix, params, edges)
    by_range = merged.with_columns(pl.Series("r", _range_of(merged["norm_key"], params.ranges)))
    todo = [(r, by_range.filter(pl.col("r") == r).drop("r")) for r, _ in found.tasks]
    task = partial(survival_range, store, prefix, tuple(found.shards), check)
    stats: dict[str, int] = {}
    sizes = np.zeros(GROUP_CAP + 1, dtype=np.int64)
    partial_sizes, previews, versions, checked = [], [], [], []
    for part in engine.map(task, todo):
        for k, v in part.stats.items():
            stats[k] = stats.get(k, 0) + v
        sizes += part.sizes
        partial_sizes.append(part.partial_sizes)
        previews.append(part.preview)
        versions.append((part.range, part.version))
        checked.append(part.checked)
    spans = pl.concat(partial_sizes).group_by("survivor").agg(pl.col("len").sum())["len"]
    sizes += np.bincount(
        np.minimum(spans.to_numpy(), GROUP_CAP).astype(np.int64), minlength=GROUP_CAP + 1
    )
    stats["semantic_pairs"] = edges.height
    return DedupSummary(
        stats,
        pl.DataFrame(versions, schema={"range": pl.Int64, "version": pl.String}, orient="row"),
        sizes,
        pl.concat(previews).sort("sentence_id").head(PREVIEW),
        checked,
    )


def dedup_bucketed(
    engine: Engine,
    source: ShardSource,
    shards: list[str],
    store: Storage,
    prefix: str,
    params: BucketDedupParams,
    assign_counts: np.ndarray | None = None,
) -> tuple[dict[str, int], pl.DataFrame]:
    """Steps 1-5: survival rows written per range under ``<prefix>_survival``; returns the
    summed stats and the semantic edges. ``assign_counts``: rows per (shard, bucket) of
    ``<prefix>_assign`` (:func:`realsyn.codebook.assign_all`), needed when ``params.threshold``
    is set."""
    found = find_duplicates(engine, source, shards, store, prefix, params, assign_counts)
    summary = write_survival(engine, store, prefix, params, found, found.edges)
    return summary.stats, found.edges


def delete_scratch(store: Storage, prefix: str) -> None:
    """Steps 1-3's partitions (keys, exact representatives, bucketed vectors): not kept."""
    for part in ("keys", "exact", "assign"):
        store.delete_prefix(f"{prefix}_{part}")


def shard_survival(store: Storage, prefix: str, ranges: list[int], index: int) -> pl.DataFrame:
    """The survival rows of the shard at ``index`` of the shard list the ranges were written
    with: its slice of each range, by ``sentence_id``."""
    frames = []
    for r in ranges:
        with open_sorted(store, f"{prefix}_survival", range_key(r)) as part:
            if index < len(part.offsets) - 1:
                frames.append(part.group(index)[0])
    if not frames:
        return pl.DataFrame(schema=SENTENCE_DEDUP_SCHEMA)
    return pl.concat(frames).sort("sentence_id")


def read_survival(store: Storage, prefix: str, ranges: int) -> pl.DataFrame:
    """Every range's survival rows, by ``sentence_id`` (tests and small corpora only)."""
    frames = []
    for r in range(ranges):
        try:
            with open_sorted(store, f"{prefix}_survival", range_key(r)) as part:
                frames.append(part.all()[0])
        except PartitionNotFound:  # no sentence hashed to this range
            continue
    return pl.concat(frames).sort("sentence_id")
